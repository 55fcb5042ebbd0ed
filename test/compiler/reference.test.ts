// The reference configs are the conformance suite: all 32 check clean (warnings allowed), and the
// 13 measured ones report PyTorch's exact parameter counts and shapes.
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { compile } from '../../compiler/program.js';
import { inspectJson } from '../../compiler/emit.js';
import { diskHost } from '../support/compile.js';
import { hasReference, referencePath, requireReference } from '../support/reference.js';
import { yamlFiles } from '../support/files.js';


interface CountsEntry {
  file: string;
  first_stage: string;
  first_stage_params: number;
  first_stage_parts: Record<string, number>;
  latent_shape: number[];
  unet_params?: number;
  unet_input_shape?: number[];
  unet_output_shape?: number[];
  cond_stage?: string;
  cond_stage_params?: number;
  effective_conditioning_key?: string;
  latent_diffusion_parameters_total?: number;
}

describe('reference configs', function () {
  const root = referencePath('ldm-configs');

  it('all 32 configs check without errors', function () {
    requireReference(this, 'ldm-configs');
    const files = yamlFiles(root);
    expect(files).to.have.length(32);
    for (const f of files) {
      const r = compile({ files: [f] }, diskHost);
      const errors = r.diagnostics.filter((d) => d.severity === 'error');
      expect(errors.map((d) => `${d.code} ${d.message} @${d.span?.line}`), relative(root, f)).to.deep.equal([]);
      expect(r.graph?.model, relative(root, f)).to.exist;
    }
  });

  const counts: CountsEntry[] = hasReference('param_counts.json')
    ? (JSON.parse(readFileSync(referencePath('param_counts.json'), 'utf8')) as { configs: CountsEntry[] }).configs
    : [];
  if (counts.length === 0) {
    it('param_counts.json', function () {
      requireReference(this, 'param_counts.json');
    });
  }
  for (const c of counts) {
    it(`${c.file}: counts and shapes equal PyTorch's`, function () {
      const r = compile({ files: [join(root, c.file)] }, diskHost);
      const j = inspectJson(r);
      const fs = j.components.first_stage!;
      expect(fs.target.endsWith(`.${c.first_stage}`)).to.equal(true);
      expect(fs.params).to.equal(c.first_stage_params);
      expect(fs.parts).to.deep.equal(c.first_stage_parts);
      // PyTorch measured the first stage alone, at its ddconfig.resolution.
      const n = r.inference!.firstStage!.node;
      const st = n.spec.statics;
      expect(st?.family === 'first_stage' ? st.facts(n.params).latentShape : null).to.deep.equal(c.latent_shape.slice(1));
      if (c.unet_params !== undefined) {
        // In a LatentDiffusion the latents are what the UNet denoises, image_size × image_size:
        // the same as the measured ones except where image_size × f is not the resolution (the
        // retrieval-augmented 768x768: a 256 VAE that samples 48×48 latents, 768px images).
        expect(fs.latent_shape).to.deep.equal([c.latent_shape[1], ...c.unet_input_shape!.slice(2)]);
        const u = j.components.unet!;
        expect(u.params).to.equal(c.unet_params);
        expect(u.input_shape).to.deep.equal(c.unet_input_shape!.slice(1));
        expect(u.output_shape).to.deep.equal(c.unet_output_shape!.slice(1));
        expect(j.components.cond_stage!.params).to.equal(c.cond_stage_params);
        const cs = j.components.cond_stage!.target;
        expect(cs === c.cond_stage || cs.endsWith(`.${c.cond_stage}`), cs).to.equal(true);
        if (c.effective_conditioning_key) expect(j.model!.conditioning_key).to.equal(c.effective_conditioning_key);
        if (c.cond_stage === '__is_unconditional__') expect(j.model!.conditioning_key).to.equal(null);
        if (c.latent_diffusion_parameters_total !== undefined) expect(j.model!.params).to.equal(c.latent_diffusion_parameters_total);
      } else {
        expect(fs.latent_shape).to.deep.equal(c.latent_shape.slice(1));
        expect(j.model!.params).to.equal(c.first_stage_params);
      }
    });
  }
});

describe('examples/celeba256.yaml', function () {
  const r = compile({ files: ['examples/celeba256.yaml'] }, diskHost);
  const j = inspectJson(r);

  it('checks clean', function () {
    expect(r.diagnostics).to.deep.equal([]);
  });

  it('attends at 32×32, 16×16 and 8×8 (attention_resolutions are downsampling factors)', function () {
    expect(j.components.unet!.attention_resolutions).to.deep.equal([32, 16, 8]);
    expect(j.components.unet!.attention.every((a) => a.head_channels === 32)).to.equal(true);
  });

  it("effective learning rate follows main.py's rule: 1 × 1 × 48 × 2e-6", function () {
    expect(j.effective_learning_rate).to.be.closeTo(9.6e-5, 1e-18);
    expect(j.learning_rate).to.deep.include({ batchSize: 48, ngpu: 1, accumulateGradBatches: 1, base: 2e-6 });
  });

  it('estimates training memory from weights, gradients, Adam, EMA and activations', function () {
    const m = j.memory!;
    expect(m.batchSize).to.equal(48);
    expect(m.trainableParams).to.equal(274056163);
    expect(m.frozenParams).to.equal(55322782);
    expect(m.weightsBytes).to.equal((274056163 + 55322782) * 4);
    expect(m.optimizerBytes).to.equal(274056163 * 8);
    expect(m.emaBytes).to.equal(274056163 * 4);
    expect(m.activationsBytes).to.be.greaterThan(0);
    expect(m.totalBytes).to.equal(m.weightsBytes + m.gradientsBytes + m.optimizerBytes + m.emaBytes + m.activationsBytes);
  });

  it('reports FLOPs of one UNet step', function () {
    // 2 × MACs; the 3×3 convs alone of the 224-wide first level are 2·64²·224²·9 ≈ 3.7 GFLOP each.
    expect(j.components.unet!.flops).to.be.within(1e11, 1e12);
  });
});
