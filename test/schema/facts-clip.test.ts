// Static facts of the SD conditioning stages (schema/facts/clip.ts): the public figures, the
// reference's own state-dict shapes (when ../shared/reference is there), unknown counts.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import {
  HF_CLIP_TEXT_MODELS,
  OPENAI_CLIP_MODELS,
  OPENCLIP_MODELS,
  admInChannelsIssues,
  admInputWidth,
  noiseLevelIssues,
  clipEmbeddingNoiseAugmentationFacts,
  clipImageEmbedderFacts,
  frozenCLIPEmbedderFacts,
  frozenOpenCLIPEmbedderFacts,
  frozenOpenCLIPImageEmbedderFacts,
  imageConcatWithNoiseAugmentationFacts,
  midasInferenceFacts,
} from '../../schema/facts/index.js';
import { referencePath, requireReference } from '../support/reference.js';

type ShapeList = Array<[string, number[]]>;
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function condStageShapes(file: string): ShapeList {
  return (JSON.parse(readFileSync(referencePath('sd-configs', 'state-dict-shapes', file), 'utf8')) as { cond_stage: ShapeList }).cond_stage;
}

describe('facts: CLIP-family conditioning stages', function () {
  it('FrozenCLIPEmbedder(openai/clip-vit-large-patch14): exactly 123,060,480 parameters, context [77, 768]', function () {
    const f = frozenCLIPEmbedderFacts({ version: 'openai/clip-vit-large-patch14', max_length: 77 });
    expect(f.paramCount).to.equal(123_060_480);
    expect(f.output).to.deep.equal({ kind: 'tokens', shape: [77, 768] });
    expect(f.parts).to.deep.equal({ embeddings: 37_945_344 + 59_136, encoder: 85_054_464, final_layer_norm: 1536 });
    expect(f.errors).to.deep.equal([]);
    expect(f.warnings).to.deep.equal([]);
  });

  it("FrozenCLIPEmbedder (sd2): 'pooled' gives one token, 'hidden' needs a layer_idx within ±12", function () {
    const v = 'openai/clip-vit-large-patch14';
    expect(frozenCLIPEmbedderFacts({ version: v, max_length: 77, layer: 'pooled' }).output).to.deep.equal({ kind: 'tokens', shape: [1, 768] });
    expect(frozenCLIPEmbedderFacts({ version: v, max_length: 77, layer: 'hidden', layer_idx: -2 }).errors).to.deep.equal([]);
    expect(frozenCLIPEmbedderFacts({ version: v, max_length: 77, layer: 'hidden', layer_idx: null }).errors.map((e) => e.code)).to.deep.equal(['clip/layer-idx']);
    expect(frozenCLIPEmbedderFacts({ version: v, max_length: 77, layer: 'hidden', layer_idx: 13 }).errors.map((e) => e.code)).to.deep.equal(['clip/layer-idx']);
    expect(frozenCLIPEmbedderFacts({ version: v, max_length: 100 }).warnings.map((e) => e.code)).to.deep.equal(['clip/max-length']);
  });

  it('FrozenCLIPEmbedder with a version ldmc has no table for: count unknown with a note, never a guess', function () {
    const f = frozenCLIPEmbedderFacts({ version: 'my-org/finetuned-clip', max_length: 77 });
    expect(f.paramCount).to.equal(null);
    expect(f.output).to.deep.equal({ kind: 'unknown' });
    expect(f.note).to.match(/my-org\/finetuned-clip/);
  });

  it("the oracle's tiny encoders by the names its YAML uses: 51,616 and 73,665 parameters (sd-parity README)", function () {
    expect(frozenCLIPEmbedderFacts({ version: 'sdparity/clip-text-tiny', max_length: 77 }).paramCount).to.equal(51_616);
    expect(frozenOpenCLIPEmbedderFacts({ arch: 'SDParity-TinyText', layer: 'penultimate' }).paramCount).to.equal(73_665);
  });

  it('the HF base text models come out at 63,165,952 (width 512, 8 heads, 12 layers)', function () {
    expect(HF_CLIP_TEXT_MODELS['openai/clip-vit-base-patch32']!.width).to.equal(512);
    expect(frozenCLIPEmbedderFacts({ version: 'openai/clip-vit-base-patch32', max_length: 77 }).paramCount).to.equal(63_165_952);
  });

  it('FrozenOpenCLIPEmbedder(ViT-H-14): 354,032,641 parameters (text tower, text_projection and logit_scale), context [77, 1024] for both layers', function () {
    for (const layer of ['last', 'penultimate'] as const) {
      const f = frozenOpenCLIPEmbedderFacts({ arch: 'ViT-H-14', layer });
      expect(f.paramCount, layer).to.equal(354_032_641);
      expect(f.output).to.deep.equal({ kind: 'tokens', shape: [77, 1024] });
      expect(f.parts.logit_scale).to.equal(1);
      expect(f.parts.text_projection).to.equal(1024 * 1024);
    }
    // The penultimate layer skips the last block: fewer FLOPs, the same parameters.
    expect(frozenOpenCLIPEmbedderFacts({ arch: 'ViT-H-14', layer: 'penultimate' }).flops!).to.be.lessThan(frozenOpenCLIPEmbedderFacts({ arch: 'ViT-H-14', layer: 'last' }).flops!);
    expect(frozenOpenCLIPEmbedderFacts({ arch: 'ViT-bigG-14', layer: 'last' }).paramCount).to.equal(null);
  });

  it("ClipImageEmbedder: clip.load's whole model, ViT-B/32 151,277,313 and ViT-L/14 427,616,513 (OpenAI's figures); output [768]", function () {
    expect(clipImageEmbedderFacts({ model: 'ViT-B/32' }).paramCount).to.equal(151_277_313);
    const l = clipImageEmbedderFacts({ model: 'ViT-L/14' });
    expect(l.paramCount).to.equal(427_616_513);
    expect(l.parts).to.deep.equal({ visual: 303_966_208, text: 123_650_305 });
    expect(l.output).to.deep.equal({ kind: 'vector', width: 768 });
    expect(OPENAI_CLIP_MODELS['ViT-L/14@336px']!.vision.imageSize).to.equal(336);
    expect(clipImageEmbedderFacts({ model: 'RN50' }).paramCount).to.equal(null);
  });

  it('FrozenOpenCLIPImageEmbedder(ViT-H-14): the visual tower (632,076,800) plus the text leftovers `del model.transformer` keeps', function () {
    const f = frozenOpenCLIPImageEmbedderFacts({ arch: 'ViT-H-14', layer: 'pooled' });
    const leftovers = 49408 * 1024 + 77 * 1024 + 2 * 1024 + 1024 * 1024 + 1;
    expect(f.parts).to.deep.equal({ visual: 632_076_800, text_leftovers: leftovers });
    expect(f.paramCount).to.equal(632_076_800 + leftovers);
    expect(f.output).to.deep.equal({ kind: 'vector', width: 1024 });
    expect(frozenOpenCLIPImageEmbedderFacts({ arch: 'ViT-H-14', layer: 'penultimate' }).errors.map((e) => e.code)).to.deep.equal(['clip/image-layer']);
    expect(OPENCLIP_MODELS['ViT-H-14']!.vision.layers).to.equal(32);
  });

  it('the noise augmentors have no parameters; unCLIP-L c_adm is 768 + 768 = 1536 wide', function () {
    const emb = clipImageEmbedderFacts({ model: 'ViT-L/14' });
    const aug = clipEmbeddingNoiseAugmentationFacts({ timestep_dim: 768, clip_stats_path: 'checkpoints/karlo_models/ViT-L-14_stats.th', max_noise_level: 1000 }, 768);
    expect(aug.paramCount).to.equal(0);
    expect(admInputWidth(emb, aug)).to.equal(1536);
    expect(admInputWidth(emb, undefined)).to.equal(768);
    expect(admInputWidth(clipImageEmbedderFacts({ model: 'RN50' }), aug)).to.equal(null);
    const bad = clipEmbeddingNoiseAugmentationFacts({ timestep_dim: 256, clip_stats_path: null, max_noise_level: 1000 }, 768);
    expect(bad.warnings.map((w) => w.code)).to.deep.equal(['clip/noise-aug-width']);
    const low = imageConcatWithNoiseAugmentationFacts({ max_noise_level: 350 }, [3, 128, 128]);
    expect(low.paramCount).to.equal(0);
    expect(low.output).to.deep.equal({ kind: 'spatial', shape: [3, 128, 128] });
    expect(low.noiseLevel).to.deep.equal({ kind: 'class-index', classes: 350 });
  });

  it('cross-module rules: adm_in_channels against c_adm, num_classes against the noise levels', function () {
    expect(admInChannelsIssues(1536, 1536, 'x')).to.deep.equal([]);
    expect(admInChannelsIssues(null, 1536, 'x')).to.deep.equal([]);
    expect(admInChannelsIssues(1536, null, 'x')).to.deep.equal([]);
    const bad = admInChannelsIssues(1024, 1536, 'ClipImageEmbedder 768 + noise level 768');
    expect(bad.map((i) => [i.code, i.severity, i.param, i.args])).to.deep.equal([['sd/adm-in-channels', 'error', 'adm_in_channels', [1024, 1536, 'ClipImageEmbedder 768 + noise level 768']]]);
    expect(noiseLevelIssues(1000, 350)).to.deep.equal([]);
    expect(noiseLevelIssues(350, 350)).to.deep.equal([]);
    expect(noiseLevelIssues(349, 350).map((i) => [i.code, i.args])).to.deep.equal([['sd/noise-levels', [349, 349]]]);
  });

  it('MiDaSInference: count unknown with a note naming the network; a 1-channel depth map', function () {
    const f = midasInferenceFacts({ model_type: 'dpt_hybrid' }, [3, 384, 384]);
    expect(f.paramCount).to.equal(null);
    expect(f.flops).to.equal(null);
    expect(f.note).to.match(/vitb_rn50_384/);
    expect(f.output).to.deep.equal({ kind: 'spatial', shape: [1, 384, 384] });
  });

  describe("against the reference's state-dict shapes (sd-configs/state-dict-shapes)", function () {
    it('v1-inference.json cond_stage sums to the FrozenCLIPEmbedder count', function () {
      requireReference(this, 'sd-configs', 'state-dict-shapes', 'v1-inference.json');
      const shapes = condStageShapes('v1-inference.json');
      const total = shapes.reduce((a, [, s]) => a + numel(s), 0);
      expect(total).to.equal(frozenCLIPEmbedderFacts({ version: 'openai/clip-vit-large-patch14', max_length: 77 }).paramCount);
      expect(total).to.equal(123_060_480);
    });

    it('v2-inference.json cond_stage sums to the FrozenOpenCLIPEmbedder(ViT-H-14) count, part by part', function () {
      requireReference(this, 'sd-configs', 'state-dict-shapes', 'v2-inference.json');
      const shapes = condStageShapes('v2-inference.json');
      const f = frozenOpenCLIPEmbedderFacts({ arch: 'ViT-H-14', layer: 'penultimate' });
      expect(shapes.reduce((a, [, s]) => a + numel(s), 0)).to.equal(f.paramCount);
      const byPart: Record<string, number> = {};
      for (const [name, s] of shapes) {
        const part = name.replace(/^model\./, '').split('.')[0]!;
        byPart[part] = (byPart[part] ?? 0) + numel(s);
      }
      expect(byPart).to.deep.equal(f.parts);
    });
  });
});
