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
import { FrozenCLIPEmbedder, FrozenOpenCLIPEmbedder } from '../../runtime/encoders/index.js';
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
});
