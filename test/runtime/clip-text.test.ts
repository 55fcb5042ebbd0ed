// The SD text encoders' module trees: state_dict names and shapes against the reference's own
// listing (sd-configs/state-dict-shapes, PyTorch 1.13), and parameter counts against the facts.
//
// The full-size modules are 123M and 354M parameters; most of it is 12 or 24 identical blocks.
// So each is built with its full-size architecture but ONE block, and the listing is checked as:
// every non-block entry equal, block 0's entries equal, and the reference's blocks 1..L-1 carry
// exactly block 0's suffixes and shapes. That is the whole listing, exactly, at ~1/3 the memory.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import { ClipTokenizer, FrozenCLIPEmbedder, FrozenOpenCLIPEmbedder } from '../../runtime/encoders/index.js';
import type { Module } from '../../runtime/module.js';
import { torchShape } from '../../runtime/weights/state-dict.js';
import {
  HF_CLIP_TEXT_MODELS,
  OPENCLIP_MODELS,
  frozenCLIPEmbedderFacts,
  frozenOpenCLIPEmbedderFacts,
  type ClipArch,
  type TextTowerArch,
} from '../../schema/facts/index.js';
import { referencePath, requireReference } from '../support/reference.js';

type ShapeList = Array<[string, number[]]>;

function listing(m: Module): ShapeList {
  return m.paramEntries().map((p) => [p.name, torchShape(p.variable.shape, p.layout)]);
}

/** Splits `…<blockPrefix>N.rest` names into block entries (by N) and the others. */
function byBlock(list: ShapeList, blockPrefix: string): { others: ShapeList; blocks: Map<number, ShapeList> } {
  const others: ShapeList = [], blocks = new Map<number, ShapeList>();
  for (const [name, shape] of list) {
    const i = name.indexOf(blockPrefix);
    if (i < 0) {
      others.push([name, shape]);
      continue;
    }
    const rest = name.slice(i + blockPrefix.length);
    const n = Number(rest.slice(0, rest.indexOf('.')));
    const suffix = rest.slice(rest.indexOf('.') + 1);
    if (!blocks.has(n)) blocks.set(n, []);
    blocks.get(n)!.push([suffix, shape]);
  }
  return { others, blocks };
}

const sorted = (l: ShapeList) => [...l].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

function compare(ours: Module, ref: ShapeList, blockPrefix: string, layers: number): void {
  const o = byBlock(listing(ours), blockPrefix), r = byBlock(ref, blockPrefix);
  expect(sorted(o.others)).to.deep.equal(sorted(r.others));
  expect([...o.blocks.keys()]).to.deep.equal([0]);
  expect([...r.blocks.keys()].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: layers }, (_, i) => i));
  for (const [n, entries] of r.blocks) expect(sorted(entries), `block ${n}`).to.deep.equal(sorted(o.blocks.get(0)!));
}

function condStageShapes(file: string): ShapeList {
  return (JSON.parse(readFileSync(referencePath('sd-configs', 'state-dict-shapes', file), 'utf8')) as { cond_stage: ShapeList }).cond_stage;
}

describe('SD text encoders: module trees', function () {
  before(async function () {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('FrozenCLIPEmbedder(openai/clip-vit-large-patch14): names and shapes are v1-inference.json cond_stage, exactly', function () {
    requireReference(this, 'sd-configs', 'state-dict-shapes', 'v1-inference.json');
    const arch = HF_CLIP_TEXT_MODELS['openai/clip-vit-large-patch14']!;
    const m = new FrozenCLIPEmbedder({ arch: { ...arch, layers: 1 } });
    try {
      compare(m, condStageShapes('v1-inference.json'), 'encoder.layers.', arch.layers);
    } finally {
      m.dispose();
    }
  });

  it('FrozenOpenCLIPEmbedder(ViT-H-14): names and shapes are v2-inference.json cond_stage, exactly', function () {
    requireReference(this, 'sd-configs', 'state-dict-shapes', 'v2-inference.json');
    const arch = OPENCLIP_MODELS['ViT-H-14']!;
    const m = new FrozenOpenCLIPEmbedder({ arch: { ...arch, text: { ...arch.text, layers: 1 } }, layer: 'penultimate' });
    try {
      compare(m, condStageShapes('v2-inference.json'), 'transformer.resblocks.', arch.text.layers);
    } finally {
      m.dispose();
    }
  });

  // Runs without ../shared: the module and the facts count the same parameters, part by part,
  // for small architectures (the facts of the named models then follow from the same formulas).
  const textArchs: TextTowerArch[] = [
    { vocabSize: 50, contextLength: 77, width: 16, heads: 2, layers: 1, mlpWidth: 64, act: 'quick_gelu' },
    { vocabSize: 97, contextLength: 9, width: 24, heads: 3, layers: 3, mlpWidth: 40, act: 'gelu' },
  ];
  for (const a of textArchs) {
    it(`module and facts agree: CLIPTextModel width ${a.width}, ${a.layers} layers`, function () {
      const m = new FrozenCLIPEmbedder({ arch: a });
      const facts = frozenCLIPEmbedderFacts({ version: 'test/tiny', max_length: a.contextLength }, a);
      expect(m.paramCount()).to.equal(facts.paramCount);
      const tm = m.transformer.text_model;
      expect(tm.embeddings.paramCount()).to.equal(facts.parts.embeddings);
      expect(tm.encoder.paramCount()).to.equal(facts.parts.encoder);
      expect(tm.final_layer_norm.paramCount()).to.equal(facts.parts.final_layer_norm);
      const ids = tf.tensor2d(Int32Array.from({ length: 2 * a.contextLength }, (_, i) => i % a.vocabSize), [2, a.contextLength], 'int32');
      const out = m.forward(ids);
      expect(facts.output).to.deep.equal({ kind: 'tokens', shape: out.shape.slice(1) });
      tf.dispose([ids, out]);
      m.dispose();
    });

    it(`module and facts agree: open_clip text tower width ${a.width}, ${a.layers} layers`, function () {
      const arch: ClipArch = { embedDim: 8, text: a, vision: { imageSize: 16, patchSize: 8, width: 16, heads: 1, layers: 1, mlpWidth: 64 }, source: 'test' };
      const m = new FrozenOpenCLIPEmbedder({ arch, layer: 'penultimate' });
      const facts = frozenOpenCLIPEmbedderFacts({ arch: 'test', layer: 'penultimate' }, arch);
      expect(m.paramCount()).to.equal(facts.paramCount);
      const parts: Record<string, number> = {};
      for (const p of m.model.paramEntries()) {
        const k = p.name.split('.')[0]!;
        parts[k] = (parts[k] ?? 0) + p.variable.size;
      }
      expect(parts).to.deep.equal(facts.parts);
      const ids = tf.tensor2d(Int32Array.from({ length: a.contextLength }, (_, i) => i % a.vocabSize), [1, a.contextLength], 'int32');
      const out = m.forward(ids);
      expect(facts.output).to.deep.equal({ kind: 'tokens', shape: out.shape.slice(1) });
      tf.dispose([ids, out]);
      m.dispose();
    });
  }

  // encodeText = the reference's forward(text): its tokenizer, then forward(ids). A small model
  // with CLIP's full 49,408-token vocabulary, so real prompts' ids fit.
  const vocabArch: TextTowerArch = { vocabSize: 49408, contextLength: 77, width: 8, heads: 2, layers: 1, mlpWidth: 16, act: 'quick_gelu' };
  const prompts = ['a photograph of an astronaut riding a horse', ''];

  function sameAsTokenized(m: { encodeText(p: string[]): tf.Tensor3D; forward(ids: tf.Tensor2D): tf.Tensor3D }, flavour: 'hf' | 'open_clip', length: number): number[] {
    const { ids, shape } = new ClipTokenizer(flavour).tokenize(prompts, length);
    const t = tf.tensor2d(ids, [shape[0], shape[1]], 'int32');
    const want = m.forward(t), got = m.encodeText(prompts);
    const diff = tf.max(tf.abs(tf.sub(want, got))).dataSync()[0]!;
    const out = [...got.shape, diff];
    tf.dispose([t, want, got]);
    return out;
  }

  it('FrozenCLIPEmbedder.encodeText tokenizes with HF\'s CLIPTokenizer at max_length, then runs forward', function () {
    const m = new FrozenCLIPEmbedder({ arch: vocabArch, max_length: 77 });
    expect(sameAsTokenized(m, 'hf', 77)).to.deep.equal([2, 77, 8, 0]);
    const short = new FrozenCLIPEmbedder({ arch: vocabArch, max_length: 10 });
    expect(sameAsTokenized(short, 'hf', 10)).to.deep.equal([2, 10, 8, 0]);
    const pooled = new FrozenCLIPEmbedder({ arch: vocabArch, layer: 'pooled' });
    const z = pooled.encodeText(prompts);
    expect(z.shape).to.deep.equal([2, 1, 8]);
    tf.dispose(z);
    for (const x of [m, short, pooled]) x.dispose();
  });

  it('FrozenOpenCLIPEmbedder.encodeText tokenizes with open_clip.tokenize (77, 0-padded), then runs forward', function () {
    const arch: ClipArch = { embedDim: 8, text: { ...vocabArch, act: 'gelu' }, vision: { imageSize: 16, patchSize: 8, width: 16, heads: 1, layers: 1, mlpWidth: 64 }, source: 'test' };
    const m = new FrozenOpenCLIPEmbedder({ arch, layer: 'last' });
    expect(sameAsTokenized(m, 'open_clip', 77)).to.deep.equal([2, 77, 8, 0]);
    m.dispose();
  });

  it('encodeText refuses a model whose vocabulary cannot hold CLIP\'s ids (the tiny test models)', function () {
    const m = new FrozenCLIPEmbedder({ arch: textArchs[0]! });
    expect(() => m.encodeText(['a'])).to.throw(/49,408-token vocabulary, but this model has 50 tokens/);
    m.dispose();
  });
});
