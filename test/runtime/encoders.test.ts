// Conditioning encoders. BERTEmbedder is checked against test/fixtures/encoders/bert_tiny.safetensors
// (float64 NumPy from x_transformer.py's semantics, make_bert_tiny.py); the interpolation modes
// against hand-derived values of torch's formulas.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../../runtime/backend.js';
import { BERTEmbedder, ClassEmbedder, SpatialRescaler, resampleMatrix } from '../../runtime/encoders/index.js';
import { parseSafetensors } from '../../runtime/weights/safetensors.js';
import { loadStateDict, stateDict } from '../../runtime/weights/state-dict.js';
import { repoRoot } from '../support/reference.js';

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('runtime/encoders: resampling matrices follow torch.nn.functional.interpolate', () => {
  const rows = (m: Float32Array, n: number): number[][] => Array.from({ length: m.length / n }, (_, i) => Array.from(m.subarray(i * n, i * n + n)));

  it('bilinear ×0.5 on 4 = mean of pairs; on 5 uses 1/scale, not in/out', () => {
    expect(rows(resampleMatrix(4, 0.5, 'bilinear'), 4)).to.deep.equal([[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]]);
    // out = floor(5·0.5) = 2; src = (o+0.5)·2 − 0.5 = 0.5, 2.5 (tfjs's 5/2 ratio would give 0.75, 3.25)
    expect(rows(resampleMatrix(5, 0.5, 'bilinear'), 5)).to.deep.equal([[0.5, 0.5, 0, 0, 0], [0, 0, 0.5, 0.5, 0]]);
  });

  it('bilinear ×2 clamps at the borders', () => {
    const m = rows(resampleMatrix(2, 2, 'bilinear'), 2);
    expect(m).to.deep.equal([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]]);
  });

  it('nearest, area, bicubic', () => {
    expect(rows(resampleMatrix(5, 0.5, 'nearest'), 5)).to.deep.equal([[1, 0, 0, 0, 0], [0, 0, 1, 0, 0]]);
    expect(rows(resampleMatrix(4, 2, 'nearest'), 4).map((r) => r.indexOf(1))).to.deep.equal([0, 0, 1, 1, 2, 2, 3, 3]);
    const area = rows(resampleMatrix(5, 0.5, 'area'), 5);
    // adaptive_avg_pool windows [floor(o·5/2), ceil((o+1)·5/2)) = [0, 3) and [2, 5): they overlap
    expect(area[0]!.map((v) => +v.toFixed(6))).to.deep.equal([0.333333, 0.333333, 0.333333, 0, 0]);
    expect(area[1]!.map((v) => +v.toFixed(6))).to.deep.equal([0, 0, 0.333333, 0.333333, 0.333333]);
    // bicubic ×0.5 on 8: src = (o + 0.5)·2 − 0.5, t = 0.5 → weights (−0.09375, 0.59375, 0.59375, −0.09375)
    const bc = rows(resampleMatrix(8, 0.5, 'bicubic'), 8);
    expect(bc[1]).to.deep.equal([0, -0.09375, 0.59375, 0.59375, -0.09375, 0, 0, 0].map(Math.fround)); // src 2.5: taps 1..4
    // first row clamps index −1 onto 0
    expect(bc[0]).to.deep.equal([0.5, 0.59375, -0.09375, 0, 0, 0, 0, 0].map(Math.fround));
    for (const r of [...bc, ...area]) expect(r.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-6);
    expect(() => resampleMatrix(4, 0.5, 'trilinear')).to.throw(/5-D/);
  });
});

for (const backend of ['cpu', 'wasm'] as BackendName[]) {
  describe(`runtime/encoders (${backend})`, function () {
    this.timeout(60000);
    before(async () => { await initBackend({ backend, quiet: true }); });

    it('BERTEmbedder matches the float64 x_transformer reference; names round-trip', () => {
      const f = parseSafetensors(readFileSync(join(repoRoot, 'test', 'fixtures', 'encoders', 'bert_tiny.safetensors'))).tensors;
      const weights = new Map([...f].filter(([k]) => k.startsWith('transformer.')));
      const model = new BERTEmbedder({ n_embed: 32, n_layer: 2, vocab_size: 50, max_seq_len: 8, use_tokenizer: false });
      loadStateDict(model, weights);
      expect([...stateDict(model).keys()].sort()).to.deep.equal([...weights.keys()].sort());
      const tokens = tf.tensor2d(Array.from(f.get('input.tokens')!.data), [2, 8], 'int32');
      const z = model.forward(tokens);
      expect(z.shape).to.deep.equal([2, 8, 32]);
      expect(maxAbs(z.dataSync(), f.get('expected.embeddings')!.data as Float32Array)).to.be.below(2e-5);
      const logits = model.transformer.forward(tokens as Tensor2D, false);
      expect(maxAbs(logits.dataSync(), f.get('expected.logits')!.data as Float32Array)).to.be.below(5e-5);
      expect(() => model.forward(['a photo of a cat'])).to.throw(/input must be token ids/);
      const withTok = new BERTEmbedder({ n_embed: 32, n_layer: 1, vocab_size: 50, max_seq_len: 8 });
      expect(() => withTok.forward(['a photo of a cat'])).to.throw(/tokenizer .* not supported yet/);
      tf.dispose([tokens, z, logits]);
      model.dispose(); withTok.dispose();
    });

    it('ClassEmbedder: batch[key] → [B, 1, D] rows of the table', () => {
      const m = new ClassEmbedder({ embed_dim: 4, n_classes: 10, key: 'class_label' });
      expect([...stateDict(m).keys()]).to.deep.equal(['embedding.weight']);
      const ids = tf.tensor1d([3, 0, 9], 'int32');
      const c = m.forward({ class_label: ids });
      expect(c.shape).to.deep.equal([3, 1, 4]);
      const table = m.embedding.weight.arraySync() as number[][];
      expect(c.arraySync()).to.deep.equal([[table[3]], [table[0]], [table[9]]]);
      expect(() => m.forward({ class: ids })).to.throw(/no 'class_label'/);
      tf.dispose([ids, c]); m.dispose();
    });

    it('SpatialRescaler: n_stages of bilinear ×0.5, then a bias-free 1×1 channel_mapper', () => {
      const m = new SpatialRescaler({ n_stages: 2, method: 'bilinear', multiplier: 0.5, in_channels: 3, out_channels: 5 });
      expect([...stateDict(m).keys()]).to.deep.equal(['channel_mapper.weight']);
      const x = tf.randomUniform([2, 8, 8, 3]) as Tensor4D;
      const y = m.forward(x);
      expect(y.shape).to.deep.equal([2, 2, 2, 5]);
      // two ×0.5 bilinear stages on even sizes = 4×4 block means
      const pooled = tf.tidy(() => tf.avgPool(x, 4, 4, 'valid'));
      const want = tf.tidy(() => tf.conv2d(pooled, m.channel_mapper!.weight as unknown as tf.Tensor4D, 1, 'valid'));
      expect(maxAbs(y.dataSync(), want.dataSync())).to.be.below(1e-6);
      const plain = new SpatialRescaler({ n_stages: 1, method: 'nearest', multiplier: 2 });
      const up = plain.forward(x);
      expect(up.shape).to.deep.equal([2, 16, 16, 3]);
      expect(() => new SpatialRescaler({ method: 'lanczos' as never })).to.throw(/not one of/);
      tf.dispose([x, y, pooled, want, up]); m.dispose();
    });
  });
}
