// nn building blocks against hand-written references, on cpu and wasm.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import {
  AttentionBlock, Conv2d, GroupNorm, QKVAttention, QKVAttentionLegacy, avgPool2x, conv2dTorch, timestepEmbedding,
  timestepFrequencies, upsampleNearest2x,
} from '../../runtime/nn/index.js';
import { requireReference } from '../support/reference.js';
import { get, readSafetensors } from './nn.helpers.js';

let seed = 7;
function rand(shape: number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1), a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 16807) % 2147483647;
    a[i] = seed / 2147483647 - 0.5;
  }
  return tf.tensor(a, shape);
}
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`nn (${backend})`, function () {
    before(async () => {
      await initBackend({ backend, quiet: true });
    });

    it('conv2dTorch: stride-2 padding 1 and the asymmetric (0,1,0,1) pad equal pad-then-valid-conv', () => {
      const x = rand([2, 8, 8, 3]) as Tensor4D, w = rand([3, 3, 3, 5]) as Tensor4D;
      const sym = conv2dTorch(x, w, 2, [1, 1, 1, 1]);
      const symRef = tf.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), w, 2, 'valid');
      expect(sym.shape).to.deep.equal([2, 4, 4, 5]);
      expect(maxDiff(sym, symRef)).to.be.lessThan(1e-6);
      const asym = conv2dTorch(x, w, 2, [0, 1, 0, 1]);
      const asymRef = tf.conv2d(tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]), w, 2, 'valid');
      expect(asym.shape).to.deep.equal([2, 4, 4, 5]);
      expect(maxDiff(asym, asymRef)).to.be.lessThan(1e-6);
      const conv = new Conv2d(3, 5, 3, { stride: 2, padding: [0, 1, 0, 1] });
      expect(conv.forward(x).shape).to.deep.equal([2, 4, 4, 5]);
      conv.dispose();
    });

    it('upsampleNearest2x: values and the gradient of every batch item', () => {
      const x = rand([2, 3, 4, 2]) as Tensor4D;
      const up = upsampleNearest2x(x);
      const ux = up.arraySync(), xx = x.arraySync();
      for (let b = 0; b < 2; b++) for (let i = 0; i < 6; i++) for (let j = 0; j < 8; j++) {
        expect(ux[b]![i]![j]).to.deep.equal(xx[b]![i >> 1]![j >> 1]);
      }
      // d/dx Σ up(x)·R = the sum of R over each 2×2 block — for batch item 1 too (the cpu
      // backend's ResizeNearestNeighborGrad gets items after the first wrong).
      const R = rand([2, 6, 8, 2]);
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(upsampleNearest2x(v as Tensor4D), R)))(x);
      const ref = tf.tidy(() => tf.sum(tf.reshape(R, [2, 3, 2, 4, 2, 2]), [2, 4]));
      expect(maxDiff(g, ref)).to.be.lessThan(1e-6);
    });

    it('avgPool2x: 2×2 means, floor mode on odd sizes, gradient', () => {
      const x = rand([2, 5, 4, 3]) as Tensor4D;
      const y = avgPool2x(x);
      expect(y.shape).to.deep.equal([2, 2, 2, 3]);
      const ref = tf.avgPool(tf.slice(x, [0, 0, 0, 0], [2, 4, 4, 3]), 2, 2, 'valid');
      expect(maxDiff(y, ref)).to.be.lessThan(1e-6);
      const g = tf.grad((v: tf.Tensor) => tf.sum(avgPool2x(v as Tensor4D)))(x);
      expect(maxDiff(tf.slice(g, [0, 4, 0, 0], [2, 1, 4, 3]), tf.zeros([2, 1, 4, 3]))).to.equal(0);
      expect(maxDiff(tf.slice(g, [0, 0, 0, 0], [2, 4, 4, 3]), tf.fill([2, 4, 4, 3], 0.25))).to.be.lessThan(1e-7);
    });

    it('GroupNorm matches a per-group formula', () => {
      const x = rand([2, 4, 4, 64]);
      const gn = new GroupNorm(32, 64, 1e-6);
      const y = gn.forward(x);
      const xs = x.arraySync() as number[][][][], ys = y.arraySync() as number[][][][];
      for (const [b, g] of [[0, 0], [1, 31]] as const) {
        const vals: number[] = [];
        for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) for (let c = 2 * g; c < 2 * g + 2; c++) vals.push(xs[b]![i]![j]![c]!);
        const m = vals.reduce((a, v) => a + v, 0) / vals.length;
        const v = vals.reduce((a, u) => a + (u - m) ** 2, 0) / vals.length;
        expect(ys[b]![2]![3]![2 * g + 1]).to.be.closeTo((xs[b]![2]![3]![2 * g + 1]! - m) / Math.sqrt(v + 1e-6), 1e-5);
      }
      gn.dispose();
    });

    it('QKVAttentionLegacy splits heads before q/k/v, QKVAttention after', () => {
      const B = 2, T = 5, H = 2, d = 4;
      const qkv = rand([B, T, 3 * H * d]) as Tensor3D;
      const arr = qkv.arraySync();
      // Reference: explicit loops. legacy: channel of (head h, part j, e) = h·3d + j·d + e;
      // new order: j·H·d + h·d + e.
      const ref = (legacy: boolean) => {
        const out: number[][][] = [];
        for (let b = 0; b < B; b++) {
          out.push(Array.from({ length: T }, () => new Array<number>(H * d).fill(0)));
          for (let h = 0; h < H; h++) {
            const ch = (j: number, e: number) => (legacy ? h * 3 * d + j * d + e : j * H * d + h * d + e);
            for (let t = 0; t < T; t++) {
              const logits = Array.from({ length: T }, (_, s) => {
                let acc = 0;
                for (let e = 0; e < d; e++) acc += arr[b]![t]![ch(0, e)]! * arr[b]![s]![ch(1, e)]!;
                return acc / Math.sqrt(d);
              });
              const mx = Math.max(...logits), ex = logits.map((l) => Math.exp(l - mx)), z = ex.reduce((a, v) => a + v, 0);
              for (let e = 0; e < d; e++) {
                out[b]![t]![h * d + e] = ex.reduce((a, w, s) => a + (w / z) * arr[b]![s]![ch(2, e)]!, 0);
              }
            }
          }
        }
        return tf.tensor(out);
      };
      expect(maxDiff(new QKVAttentionLegacy(H).forward(qkv), ref(true))).to.be.lessThan(1e-5);
      expect(maxDiff(new QKVAttention(H).forward(qkv), ref(false))).to.be.lessThan(1e-5);
    });

    it('AttentionBlock keeps PyTorch parameter names and shapes', () => {
      const a = new AttentionBlock({ channels: 64, numHeadChannels: 16 });
      expect(a.numHeads).to.equal(4);
      expect(a.namedParameters().map(([n, v]) => `${n}:${v.shape.join('x')}`)).to.deep.equal([
        'norm.weight:64', 'norm.bias:64', 'qkv.weight:64x192', 'qkv.bias:192', 'proj_out.weight:64x64', 'proj_out.bias:64',
      ]);
      const x = rand([1, 2, 2, 64]) as Tensor4D;
      expect(maxDiff(a.forward(x), x)).to.equal(0); // proj_out is zero-initialised
      a.dispose();
    });

    it('timestepEmbedding matches torch float32 within 5e-5 (frequencies within 1 ulp)', function () {
      requireReference(this, 'parity', 'timestep_freqs.safetensors');
      const ref = readSafetensors('parity', 'timestep_freqs.safetensors');
      const f = get(ref, 'freqs_32').data;
      const ours = timestepFrequencies(32);
      for (let i = 0; i < 16; i++) expect(Math.abs(ours[i]! - f[i]!)).to.be.at.most(Math.abs(f[i]!) * 1.2e-7);
      const t = tf.tensor1d(Array.from(get(ref, 't_emb_timesteps').data)) as Tensor1D;
      for (const dim of [32, 224]) {
        const emb = timestepEmbedding(t, dim), want = get(ref, `t_emb_${dim}`);
        expect(emb.shape).to.deep.equal([...want.shape]);
        expect(maxDiff(emb, tf.tensor(Float32Array.from(want.data), [...want.shape]))).to.be.lessThan(5e-5);
      }
      expect(timestepEmbedding(t, 5).shape).to.deep.equal([8, 5]);
    });
  });
}
