// The runtime/perf rewrites against the ops they replace: the closed-form GroupNorm gradient
// against autodiff through the unfused ops, the wasm BatchMatMul gradient and batched product
// against the cpu backend's native kernels, and the wasm Slice/Unpack/SplitV kernels against cpu.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor3D } from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import { AttentionBlock, CrossAttention, GroupNorm } from '../../runtime/nn/index.js';
import { groupNormFused } from '../../runtime/perf/group-norm.js';
import { batchMatMul, matMulFast } from '../../runtime/perf/matmul.js';
import { setNativeKernels } from '../../runtime/perf/native-kernels.js';
import { maxAbsBetween, seededData } from './nn.helpers.js';

const data = seededData;
const T = (shape: number[], seed: number) => tf.tensor(data(shape, seed), shape);
const maxAbs = maxAbsBetween;
const maxOf = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** The GroupNorm the runtime had before: autodiff through tf.moments. */
function groupNormUnfused(x: Tensor, g: Tensor | null, b: Tensor | null, G: number, eps: number): Tensor {
  const B = x.shape[0]!, C = x.shape[x.rank - 1]!;
  const xr = tf.reshape(x, [B, -1, G, C / G]);
  const { mean, variance } = tf.moments(xr, [1, 3], true);
  const xn = tf.reshape(tf.mul(tf.sub(xr, mean), tf.rsqrt(tf.add(variance, eps))), x.shape);
  return g && b ? tf.add(tf.mul(xn, g), b) : xn;
}

function gnGrads(fn: typeof groupNormFused, shape: number[], affine: boolean, G: number, eps: number): { y: Float32Array; g: Float32Array[] } {
  return tf.tidy(() => {
    const C = shape[shape.length - 1]!;
    const x = tf.add(tf.mul(T(shape, 3), 4), 1), gamma = tf.add(T([C], 5), 1), beta = T([C], 7), r = T(shape, 11);
    const y = fn(x, affine ? gamma : null, affine ? beta : null, G, eps).dataSync() as Float32Array;
    const inputs = affine ? [x, gamma, beta] : [x];
    const gs = tf.grads((...ts: Tensor[]) => tf.sum(tf.mul(fn(ts[0]!, affine ? ts[1]! : null, affine ? ts[2]! : null, G, eps), r)))(inputs);
    return { y, g: gs.map((t) => t.dataSync() as Float32Array) };
  });
}

describe('runtime/perf: GroupNorm with the closed-form gradient (cpu)', function () {
  // The tfjs closed form (the fallback every backend keeps); test/runtime/native-kernels.test.ts
  // compares the addon's GroupNorm with it.
  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
    setNativeKernels(false);
  });
  after(() => setNativeKernels(true));
  const cases: Array<[string, number[], boolean, number, number]> = [
    ['NHWC, affine, eps 1e-5', [2, 5, 3, 64], true, 32, 1e-5],
    ['NHWC, affine, eps 1e-6, 8 groups', [3, 4, 4, 16], true, 8, 1e-6],
    ['[B, T, C] sequence', [2, 7, 32], true, 32, 1e-5],
    ['no affine', [2, 3, 3, 64], false, 32, 1e-5],
  ];
  for (const [name, shape, affine, G, eps] of cases) {
    it(`${name}: same forward bits, gradients match autodiff through the unfused ops`, () => {
      const ours = gnGrads(groupNormFused, shape, affine, G, eps), ref = gnGrads(groupNormUnfused, shape, affine, G, eps);
      expect(maxAbs(ours.y, ref.y)).to.equal(0);
      ours.g.forEach((g, i) => expect(maxAbs(g, ref.g[i]!), `grad ${i}`).to.be.lessThan(1e-5 * Math.max(1, maxOf(ref.g[i]!))));
    });
  }

  it('matches central finite differences (float32, loose tolerance)', () => {
    const shape = [1, 2, 2, 8], G = 2, eps = 1e-5;
    const r = T(shape, 13), gamma = tf.add(T([8], 5), 1), beta = T([8], 7);
    const f = (x: Tensor) => tf.sum(tf.mul(groupNormFused(x, gamma, beta, G, eps), r));
    const x0 = data(shape, 17).map((v) => 3 * v);
    const dx = tf.grad(f)(tf.tensor(x0, shape)).dataSync();
    const h = 1e-2;
    for (const i of [0, 3, 9, 20, 31]) {
      const p = x0.slice(), m = x0.slice();
      p[i]! += h;
      m[i]! -= h;
      const fd = (f(tf.tensor(p, shape)).dataSync()[0]! - f(tf.tensor(m, shape)).dataSync()[0]!) / (2 * h);
      expect(Math.abs(fd - dx[i]!)).to.be.lessThan(2e-3);
    }
  });

  it('the GroupNorm module runs the fused op', () => {
    const gn = new GroupNorm(4, 8);
    const x = T([2, 3, 3, 8], 19);
    expect(maxAbs(gn.forward(x).dataSync(), groupNormUnfused(x, gn.weight, gn.bias, 4, 1e-5).dataSync())).to.equal(0);
  });
});

describe('runtime/perf: wasm matmul, gradient and kernels against cpu', function () {
  after(() => setNativeKernels(true));
  const onCpu = new Map<string, Float32Array[]>();
  const cases: Array<[string, () => Float32Array[]]> = [];
  const add = (name: string, f: () => Float32Array[]) => cases.push([name, f]);

  for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    for (const batch of [0, 3]) {
      const lead = batch ? [batch] : [];
      add(`matMul${batch ? ' (rank 3)' : ''} transposeA=${tA} transposeB=${tB}: value and both gradients`, () => tf.tidy(() => {
        const a = T([...lead, ...(tA ? [6, 5] : [5, 6])], 3), b = T([...lead, ...(tB ? [7, 6] : [6, 7])], 5), r = T([...lead, 5, 7], 7);
        const f = (x: Tensor, y: Tensor) => (batch ? batchMatMul(x as Tensor3D, y as Tensor3D, tA, tB) : matMulFast(x, y, tA, tB));
        const [ga, gb] = tf.grads((x: Tensor, y: Tensor) => tf.sum(tf.mul(f(x, y), r)))([a, b]);
        return [f(a, b), ga!, gb!].map((t) => t.dataSync() as Float32Array);
      }));
    }
  }
  add('Slice / Unpack / SplitV copies', () => tf.tidy(() => {
    const x = T([3, 4, 5, 6], 3);
    const outs = [tf.slice(x, [1, 0, 2, 0], [2, 4, 2, 6]), tf.slice(x, [0, 1, 0, 0], [3, 2, 5, 6]), tf.slice(x, [2, 3, 4, 5], [1, 1, 1, 1]),
      tf.slice(tf.reshape(x, [12, 30]), [3, 7], [5, 11]), ...tf.unstack(x, 2), ...tf.split(x, [1, 3, 2], 3), ...tf.split(x, 3, 0),
      tf.slice(tf.cast(x, 'int32'), [0, 1, 1, 1], [2, 2, 2, 2])];
    return outs.map((t) => Float32Array.from(t.dataSync()));
  }));
  add('gradients through tensors saved for the backward pass (tfjs clones them: Identity)', () => tf.tidy(() => {
    const a = T([3, 5, 7], 3), b = T([3, 5, 7], 5);
    const [ga, gb] = tf.grads((u: Tensor, v: Tensor) => tf.sum(tf.mul(tf.square(u), tf.mul(u, v))))([a, b]);
    return [ga!, gb!].map((t) => Float32Array.from(t.dataSync()));
  }));
  add('AttentionBlock (4 heads): output and gradients of x and every parameter', () => tf.tidy(() => {
    const blk = new AttentionBlock({ channels: 64, numHeads: 4 });
    blk.parameters().forEach((p, i) => p.assign(tf.mul(T(p.shape, 23 + i), 0.2)));
    const x = T([2, 4, 4, 64], 3), r = T([2, 4, 4, 64], 5);
    const gs = tf.grads((xx: Tensor) => tf.sum(tf.mul(blk.forward(xx as tf.Tensor4D), r)))([x]);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(blk.forward(x as tf.Tensor4D), r)) as tf.Scalar, blk.parameters());
    const out = [blk.forward(x as tf.Tensor4D), gs[0]!, ...Object.values(grads)].map((t) => t.dataSync() as Float32Array);
    blk.dispose();
    return out;
  }));
  add('CrossAttention with a context: output and gradients', () => tf.tidy(() => {
    const ca = new CrossAttention(32, 16, 2, 16);
    ca.parameters().forEach((p, i) => p.assign(tf.mul(T(p.shape, 41 + i), 0.3)));
    const x = T([2, 9, 32], 3) as Tensor3D, c = T([2, 3, 16], 5) as Tensor3D, r = T([2, 9, 32], 7);
    const [gx, gc] = tf.grads((a: Tensor, b: Tensor) => tf.sum(tf.mul(ca.forward(a as Tensor3D, b as Tensor3D), r)))([x, c]);
    const out = [ca.forward(x, c), gx!, gc!].map((t) => t.dataSync() as Float32Array);
    ca.dispose();
    return out;
  }));

  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
    for (const [name, f] of cases) onCpu.set(name, f());
    await initBackend({ backend: 'wasm', quiet: true });
    setNativeKernels(false); // these are the tfjs-only paths; test/runtime/native-kernels.test.ts covers the addon
  });

  it('Identity shares the buffer: a clone outlives its original, and the memory goes with the last of them', () => {
    const buffers = () => (tf.memory() as { numDataBuffers: number }).numDataBuffers;
    const before = buffers();
    const x = T([4, 8, 8, 16], 3);
    const want = Float32Array.from(x.dataSync());
    const c = tf.clone(x);
    expect(buffers() - before).to.equal(1); // one buffer for both, not two
    x.dispose();
    expect(maxAbs(c.dataSync(), want)).to.equal(0);
    c.dispose();
    expect(buffers()).to.equal(before);
  });

  for (const [name, f] of cases) {
    it(`${name}: wasm = cpu`, () => {
      const ours = f(), ref = onCpu.get(name)!;
      expect(ours.length).to.equal(ref.length);
      ours.forEach((o, i) => expect(maxAbs(o, ref[i]!), `output ${i}`).to.be.lessThan(name.startsWith('Slice') ? 1e-12 : 2e-5 * Math.max(1, maxOf(ref[i]!))));
    });
  }
});
