// Stable Diffusion's conditioning stages through the real compiler: counts in `inspect`, unknown
// counts shown as unknown with a partial total, dialects of the targets and their params.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { formatSummary, inspectJson } from '../../compiler/emit.js';
import { lookupTarget, paramDialects, targetDialects } from '../../schema/index.js';
import type { TSchema } from '@sinclair/typebox';
import { codes, compileText } from '../support/compile.js';
import { referencePath, requireReference } from '../support/reference.js';

/** v1-inference.yaml's model with its cond stage replaced (image_size 32 so no size warnings). */
function v1With(cond: string): string {
  const v1 = readFileSync(referencePath('sd-configs', 'CompVis-stable-diffusion', 'v1-inference.yaml'), 'utf8').replace('    image_size: 64\n', '    image_size: 32\n');
  return v1.slice(0, v1.indexOf('    cond_stage_config:')) + cond;
}

describe('SD conditioning stages in the compiler', function () {
  it('v1-inference.yaml: FrozenCLIPEmbedder 123,060,480, context [77, 768], total = UNet + VAE + text model', function () {
    requireReference(this, 'sd-configs', 'CompVis-stable-diffusion', 'v1-inference.yaml');
    const r = compileText(readFileSync(referencePath('sd-configs', 'CompVis-stable-diffusion', 'v1-inference.yaml'), 'utf8'));
    expect(r.diagnostics.filter((d) => d.severity === 'error')).to.deep.equal([]);
    const j = inspectJson(r);
    expect(j.components.cond_stage!.params).to.equal(123_060_480);
    expect(j.components.cond_stage!.output).to.deep.equal({ kind: 'tokens', shape: [77, 768] });
    expect(j.model!.params).to.equal(859_520_964 + 83_653_863 + 123_060_480);
    expect(j.model!.params_unknown).to.deep.equal([]);
  });

  it('a CLIP version ldmc has no table for: the cond stage is unknown and the total partial, in JSON and text', function () {
    requireReference(this, 'sd-configs', 'CompVis-stable-diffusion', 'v1-inference.yaml');
    const r = compileText(v1With('    cond_stage_config:\n      target: ldm.modules.encoders.modules.FrozenCLIPEmbedder\n      params:\n        version: my-org/finetuned-clip\n'));
    expect(r.diagnostics.filter((d) => d.severity === 'error')).to.deep.equal([]);
    const j = inspectJson(r);
    expect(j.components.cond_stage!.params).to.equal(null);
    expect(j.components.cond_stage!.note).to.match(/my-org\/finetuned-clip/);
    expect(j.model!.params).to.equal(859_520_964 + 83_653_863);
    expect(j.model!.params_unknown).to.have.length(1);
    expect(j.model!.params_unknown[0]).to.match(/^cond_stage_config: FrozenCLIPEmbedder/);
    const text = formatSummary(j);
    expect(text).to.match(/cond_stage\s+FrozenCLIPEmbedder\s+unknown/);
    expect(text).to.match(/total\s+LatentDiffusion\s+≥ 943,174,827/);
    expect(text).to.contain('partial');
  });

  it('context_dim is checked against the OpenCLIP-H width (1024) through the cond stage facts (LDMC507)', function () {
    requireReference(this, 'sd-configs', 'CompVis-stable-diffusion', 'v1-inference.yaml');
    const r = compileText(v1With('    cond_stage_config:\n      target: ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder\n      params:\n        layer: penultimate\n'));
    expect(codes(r)).to.include('LDMC507');
    const d = r.diagnostics.find((x) => x.code === 'LDMC507')!;
    expect(d.message).to.contain('768').and.contain('1024');
    expect(inspectJson(r).components.cond_stage!.params).to.equal(354_032_641);
  });

  it('dialects: FrozenCLIPEmbedder is sd1+sd2 with sd2-only freeze/layer/layer_idx; the others are sd2 only', function () {
    const clip = lookupTarget('ldm.modules.encoders.modules.FrozenCLIPEmbedder')!;
    expect(targetDialects(clip)).to.deep.equal(['sd1', 'sd2']);
    const props = clip.params.properties as Record<string, TSchema>;
    for (const k of ['freeze', 'layer', 'layer_idx']) expect(paramDialects(props[k]!), k).to.deep.equal(['sd2']);
    for (const k of ['version', 'device', 'max_length']) expect(paramDialects(props[k]!), k).to.deep.equal(['ldm', 'sd1', 'sd2']);
    for (const id of [
      'ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder',
      'ldm.modules.encoders.modules.FrozenOpenCLIPImageEmbedder',
      'ldm.modules.encoders.modules.ClipImageEmbedder',
      'ldm.modules.encoders.modules.CLIPEmbeddingNoiseAugmentation',
      'ldm.modules.diffusionmodules.upscaling.ImageConcatWithNoiseAugmentation',
      'ldm.modules.midas.api.MiDaSInference',
    ]) expect(targetDialects(lookupTarget(id)!), id).to.deep.equal(['sd2']);
  });
});
