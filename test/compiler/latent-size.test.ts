// Issue 10, "inspect shows the whole model and each component", with true facts: a LatentDiffusion
// samples image_size × image_size latents, so its first stage encodes and decodes images of
// image_size × f (f = 2^(len(ch_mult) - 1)), whatever the autoencoder's ddconfig.resolution records
// (ddpm.py never hands it on; the convolutional Encoder/Decoder read it only to place attention).
// SD's VAE records 256 while SD samples 64×64 latents, 512×512 images. inspect, graph.json, MODEL.md
// and the generated classes must all say so; celeba256 (64 × 4 = 256) and an autoencoder config of
// its own keep what they showed.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, type CompileResult } from '../../compiler/program.js';
import { emitArtifacts, inspectJson, type InspectJson } from '../../compiler/emit.js';
import { emitTypeScript } from '../../compiler/emit-ts.js';
import type { AutoencoderFacts } from '../../schema/facts/index.js';
import { compileText, diskHost } from '../support/compile.js';
import { repoRoot } from '../support/reference.js';

function ldmcInspect(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(repoRoot, 'bin', 'ldmc.js'), 'inspect', file], { cwd: repoRoot, timeout: 60_000, env: { ...process.env, NO_COLOR: '1', LDMC_DEBUG: '' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ldmc inspect ${file}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const example = (name: string): CompileResult => compile({ files: [join('examples', name)] }, diskHost);

/** The first stage's facts at its recorded ddconfig.resolution, as its own spec gives them. */
function recordedFacts(r: CompileResult): AutoencoderFacts {
  const n = r.inference!.firstStage!.node;
  const st = n.spec.statics;
  if (st?.family !== 'first_stage') throw new Error(`${n.target} is not a first stage`);
  return st.facts(n.params);
}

function emitted(r: CompileResult, name: string, file: string): Map<string, string> {
  return emitTypeScript(r, { name, files: [file], texts: [readFileSync(join(repoRoot, file), 'utf8')], overrides: [] });
}

describe('a LatentDiffusion first stage runs at image_size × f (issue 10, true facts)', function () {
  this.timeout(120_000);

  describe('examples/sd-v1-inference.yaml', function () {
    const r = example('sd-v1-inference.yaml');
    const j = inspectJson(r);
    const fs = j.components.first_stage!;

    it('checks with no diagnostic at all (no image_size warning: the VAE has no attention levels)', function () {
      expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).to.deep.equal([]);
    });

    it('inspect --json: 512×512 images ↔ [4, 64, 64] latents, while ddconfig.resolution still records 256', function () {
      expect((fs.config.ddconfig as { resolution: number }).resolution).to.equal(256);
      expect(fs.latent_shape).to.deep.equal([4, 64, 64]);
      expect(fs.input_shape).to.deep.equal([3, 512, 512]);
      expect(fs.output_shape).to.deep.equal([3, 512, 512]);
      // The latent the first stage gives is the one the UNet denoises.
      expect(fs.latent_shape).to.deep.equal(j.components.unet!.input_shape);
      // Only the mid blocks attend (attn_resolutions: []): over the 64×64 bottleneck of 512px images.
      expect(fs.attention_resolutions).to.deep.equal([64]);
    });

    it('encode/decode FLOPs are those of 512px images: more than 4× the recorded 256px figures (convs ×4, attention ×16)', function () {
      const at256 = recordedFacts(r);
      expect(at256.latentShape).to.deep.equal([4, 32, 32]);
      for (const k of ['encode', 'decode'] as const) {
        expect(fs.flops[k], k).to.be.greaterThan(4 * at256.flops[k]);
        expect(fs.flops[k], k).to.be.lessThan(16 * at256.flops[k]);
      }
      // The parameters do not depend on the image size.
      expect(fs.params).to.equal(at256.paramCount);
    });

    it('ldmc inspect prints 512×512 images → latent [4, 64, 64] and the first stage attending at 64×64', async function () {
      const out = await ldmcInspect('examples/sd-v1-inference.yaml');
      expect(out).to.match(/first_stage\s+AutoencoderKL\s+83,653,863\s+\[3, 512, 512\] → latent \[4, 64, 64\]/);
      expect(out).to.contain('; first stage at 64×64');
      expect(out).not.to.contain('[4, 32, 32]');
    });

    it('graph.json, MODEL.md and the generated classes say the same', function () {
      const graph = JSON.parse(emitArtifacts(r, 'sd-v1-inference').get('sd-v1-inference/graph.json')!) as { facts: InspectJson };
      expect(graph.facts.components.first_stage!.latent_shape).to.deep.equal([4, 64, 64]);
      expect(graph.facts.components.first_stage!.input_shape).to.deep.equal([3, 512, 512]);
      const files = emitted(r, 'sd-v1-inference', 'examples/sd-v1-inference.yaml');
      expect(files.get('sd-v1-inference/MODEL.md')).to.contain('| [3, 512, 512] → latent [4, 64, 64] |');
      const model = files.get('sd-v1-inference/model.ts')!;
      expect(model).to.contain('static readonly latentShape: readonly [4, 64, 64] = [4, 64, 64];');
      expect(model).to.contain('static readonly imageShape: readonly [3, 512, 512] = [3, 512, 512];');
      const firstStage = files.get('sd-v1-inference/first-stage.ts')!;
      expect(firstStage).to.contain('static readonly latentShape: readonly [4, 64, 64] = [4, 64, 64];');
      expect(firstStage).to.contain('[3, 512, 512] images ↔ [4, 64, 64] latents');
    });
  });

  it('examples/sd-v2-inference-v.yaml: [4, 64, 64] latents of 512px images too, and no diagnostic', function () {
    const r = example('sd-v2-inference-v.yaml');
    expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).to.deep.equal([]);
    const fs = inspectJson(r).components.first_stage!;
    expect([fs.input_shape, fs.latent_shape]).to.deep.equal([[3, 512, 512], [4, 64, 64]]);
  });

  describe('examples/celeba256.yaml (image_size 64 × the VQ-f4 factor = its resolution 256)', function () {
    const r = example('celeba256.yaml');
    const fs = inspectJson(r).components.first_stage!;

    it('is unchanged: 256px images ↔ [3, 64, 64] latents, attention at 64×64, the recorded-resolution figures', function () {
      expect(fs.input_shape).to.deep.equal([3, 256, 256]);
      expect(fs.latent_shape).to.deep.equal([3, 64, 64]);
      expect(fs.attention_resolutions).to.deep.equal([64]);
      expect(fs.flops).to.deep.equal(recordedFacts(r).flops);
    });

    it('ldmc inspect prints [3, 256, 256] → latent [3, 64, 64]', async function () {
      const out = await ldmcInspect('examples/celeba256.yaml');
      expect(out).to.match(/first_stage\s+VQModelInterface\s+55,322,782\s+\[3, 256, 256\] → latent \[3, 64, 64\]/);
      expect(out).to.contain('; first stage at 64×64');
    });
  });

  it('an autoencoder config of its own keeps its ddconfig.resolution (examples/fashion-kl-f4.yaml)', function () {
    const r = example('fashion-kl-f4.yaml');
    const fs = inspectJson(r).components.first_stage!;
    const res = (fs.config.ddconfig as { resolution: number }).resolution;
    expect(fs.input_shape).to.deep.equal([(fs.config.ddconfig as { in_channels: number }).in_channels, res, res]);
    expect(fs.flops).to.deep.equal(recordedFacts(r).flops);
  });

  it('where the resolution places attention levels, the image_size warning stays, and the sites run at image_size × f', function () {
    // SD v1 with an attention level at 32: the VAE's constructor places it at the level whose
    // recorded resolution (256 halved) is 32, so resolution now matters: 64×64 latents are not what
    // a 256px VAE gives (LDMC503). Sampling still runs at 512px: that level is 64×64 there.
    const text = readFileSync(join(repoRoot, 'examples', 'sd-v1-inference.yaml'), 'utf8');
    const r = compileText(text, ['model.params.first_stage_config.params.ddconfig.attn_resolutions=[32]'], 'examples/sd-v1-inference.yaml');
    expect(r.diagnostics.map((d) => d.code)).to.deep.equal(['LDMC503']);
    const site = r.inference!.firstStage!.facts.attention.find((a) => !a.path.includes('.mid.'))!;
    expect([site.path, site.resolution, site.side]).to.deep.equal(['encoder.down.3.attn.0', 32, 64]);
  });
});
