// The native kernels (runtime/perf/native-kernels.ts and native-cpu-kernels.ts, oneDNN addon)
// against the backend's own kernels and the runtime's pure-tfjs formulations, in one process, on
// the wasm and the cpu backend: every case runs with the native kernels on and off and the values
// and gradients are compared.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import { Conv2d, GroupNorm32, LayerNorm, Linear, SiLU, conv2dTorch, gelu, silu } from '../../runtime/nn/index.js';
import { LitEma } from '../../runtime/diffusion/ema.js';
import { Sequential } from '../../runtime/module.js';
import { groupNormFused } from '../../runtime/perf/group-norm.js';
import { cpuBufferPool, installNativeKernels, nativeKernelsActive, setNativeKernels, type NativeBackend } from '../../runtime/perf/native-kernels.js';
import { Adam } from '../../runtime/train/optim.js';
import { maxAbsBetween, seededData } from './nn.helpers.js';

const data = seededData;
const T = (shape: number[], seed: number) => tf.tensor(data(shape, seed), shape);
const maxAbs = maxAbsBetween;

/** f's value and its gradients w.r.t. every input, as Float32Arrays, with the native kernels on or off. */
function run(native: boolean, inputs: () => Tensor[], f: (...xs: Tensor[]) => Tensor): Float32Array[] {
  setNativeKernels(native);
  try {
    return tf.tidy(() => {
      const xs = inputs();
      const y = f(...xs);
      const r = T(y.shape, 99);
      const gs = tf.grads((...a: Tensor[]) => tf.sum(tf.mul(f(...a), r)))(xs);
      return [y, ...gs].map((t) => t.dataSync() as Float32Array);
    });
  } finally {
    setNativeKernels(true);
  }
}

function expectSame(name: string, inputs: () => Tensor[], f: (...xs: Tensor[]) => Tensor, tol = 2e-5): void {
  const on = run(true, inputs, f), off = run(false, inputs, f);
  on.forEach((a, i) => expect(maxAbs(a, off[i]!), `${name}: ${i === 0 ? 'value' : `gradient ${i}`}`).to.be.lessThan(tol));
}

for (const backend of ['wasm', 'cpu'] as NativeBackend[]) describe(`native kernels (oneDNN addon) against the ${backend} backend's own`, function () {
  before(async function () {
    await initBackend({ backend, quiet: true });
    const r = installNativeKernels(backend);
    if (!r.installed) {
      // eslint-disable-next-line no-console
      console.log(`      pending: ${r.why}`);
      this.skip();
    }
  });

  it(`are active on ${backend} once installed, and switch off`, () => {
    expect(nativeKernelsActive()).to.equal(true);
    setNativeKernels(false);
    expect(nativeKernelsActive()).to.equal(false);
    setNativeKernels(true);
  });

  type Shape4 = [number, number, number, number];
  const convs: Array<[string, Shape4, Shape4, number, Shape4]> = [
    ['3x3 s1 p1', [2, 9, 9, 8], [3, 3, 8, 12], 1, [1, 1, 1, 1]],
    ['3x3 s2 p1 (UNet Downsample)', [2, 8, 8, 8], [3, 3, 8, 12], 2, [1, 1, 1, 1]],
    ['3x3 s2 pad (0,1,0,1) (first-stage Downsample)', [2, 8, 8, 8], [3, 3, 8, 12], 2, [0, 1, 0, 1]],
    ['3x3 s2 valid, odd size', [2, 9, 9, 4], [3, 3, 4, 6], 2, [0, 0, 0, 0]],
    ['1x1 (as a matrix product)', [2, 5, 5, 8], [1, 1, 8, 4], 1, [0, 0, 0, 0]],
    ['1x1, 3 → 3 channels (quant_conv)', [4, 8, 8, 3], [1, 1, 3, 3], 1, [0, 0, 0, 0]],
    ['1x1 stride 2 (a conv, not a product)', [2, 6, 6, 8], [1, 1, 8, 4], 2, [0, 0, 0, 0]],
    ['4x4 s2 p1 (NLayerDiscriminator)', [2, 16, 16, 3], [4, 4, 3, 8], 2, [1, 1, 1, 1]],
  ];
  for (const [name, xs, ws, stride, pad] of convs) {
    it(`conv2d ${name}: value, dx and dW equal the tfjs path`, () => {
      expectSame(name, () => [T(xs, 3), T(ws, 5)], (x, w) => conv2dTorch(x as Tensor4D, w as Tensor4D, stride, pad));
    });
  }

  it('conv2d with dilation 2 equals the backend\'s kernel', () => {
    setNativeKernels(false);
    const ref = tf.tidy(() => tf.conv2d(T([1, 9, 9, 4], 1) as Tensor4D, T([3, 3, 4, 5], 2) as Tensor4D, 1, 'same', 'NHWC', 2).dataSync());
    setNativeKernels(true);
    const ours = tf.tidy(() => tf.conv2d(T([1, 9, 9, 4], 1) as Tensor4D, T([3, 3, 4, 5], 2) as Tensor4D, 1, 'same', 'NHWC', 2).dataSync());
    expect(maxAbs(ours, ref)).to.be.lessThan(1e-5);
  });

  const mms: Array<[string, number[], number[], boolean, boolean]> = [
    ['2-D', [7, 5], [5, 4], false, false],
    ['2-D, bᵀ', [7, 5], [4, 5], false, true],
    ['2-D, aᵀ', [5, 7], [5, 4], true, false],
    ['2-D, aᵀ bᵀ', [5, 7], [4, 5], true, true],
    ['batched', [3, 6, 5], [3, 5, 4], false, false],
    ['batched, bᵀ (attention q·kᵀ)', [3, 6, 5], [3, 4, 5], false, true],
    ['rank 4', [2, 3, 6, 5], [2, 3, 5, 4], false, false],
  ];
  for (const [name, as, bs, ta, tb] of mms) {
    it(`matMul ${name}: value and both gradients equal the tfjs path`, () => {
      expectSame(name, () => [T(as, 7), T(bs, 11)], (a, b) => tf.matMul(a!, b!, ta, tb));
    });
  }

  it('matMul of a batch against one matrix ([3,6,5]·[1,5,4], broadcast): value equals the tfjs kernel', () => {
    // Value only: tfjs-core's BatchMatMul gradient does not reduce over broadcast batch axes.
    const f = () => tf.tidy(() => tf.matMul(T([3, 6, 5], 7), T([1, 5, 4], 11)).dataSync());
    setNativeKernels(false);
    const ref = f();
    setNativeKernels(true);
    expect(maxAbs(f(), ref)).to.be.lessThan(1e-6);
  });

  for (const [name, shape, affine] of [['[B,H,W,C] affine', [2, 5, 5, 64], true], ['[B,N,C] no affine', [3, 7, 32], false]] as const) {
    for (const withSilu of [false, true]) {
      it(`GroupNorm ${name}${withSilu ? ' then SiLU (fused)' : ''}: value and gradients equal the tfjs formulation`, () => {
        const C = shape[shape.length - 1]!;
        const inputs = () => affine ? [tf.add(tf.mul(T([...shape], 13), 3), 0.7), T([C], 17), T([C], 19)] : [tf.add(tf.mul(T([...shape], 13), 3), 0.7)];
        expectSame(name, inputs, (x, g, b) => groupNormFused(x!, g ?? null, b ?? null, 32, 1e-6, withSilu), 5e-5);
      });
    }
  }

  it('a Sequential [GroupNorm, SiLU, Conv2d] runs the fused pair and gives the layers one by one', () => {
    const seq = new Sequential([new GroupNorm32(64), new SiLU(), new Conv2d(64, 8, 3, { padding: 1 })]);
    const [gn] = seq.layers as [GroupNorm32];
    gn.weight!.assign(T([64], 79));
    gn.bias!.assign(T([64], 83));
    const x = T([2, 6, 6, 64], 89);
    const fused = tf.tidy(() => seq.forward(x).dataSync());
    const split = tf.tidy(() => seq.layers[2]!.forward(silu(gn.forward(x))).dataSync());
    let calls = 0;
    const spy = gn.forwardSilu.bind(gn);
    gn.forwardSilu = (<T extends Tensor>(t: T) => { calls++; return spy(t); }) as typeof gn.forwardSilu;
    tf.tidy(() => seq.forward(x));
    expect(calls).to.equal(1);
    expect(maxAbs(fused, split)).to.be.lessThan(1e-5);
    seq.dispose();
  });

  for (const [name, shape, axes, keep] of [
    ['bias gradient [B,H,W,C] over B,H,W', [4, 9, 9, 32], [0, 1, 2], false],
    ['whole tensor', [64, 100], [0, 1], false],
    ['leading axis, keepDims', [300, 7, 5], [0], true],
    ['inner axis (on wasm left to tfjs)', [50, 100], [1], false],
  ] as const) {
    it(`Sum ${name}: equals the tfjs kernel`, () => {
      const f = () => tf.tidy(() => {
        const y = tf.sum(T([...shape], 29), [...axes], keep);
        return { shape: y.shape, v: y.dataSync() };
      });
      setNativeKernels(false);
      const ref = f();
      setNativeKernels(true);
      const ours = f();
      expect(ours.shape).to.deep.equal(ref.shape);
      expect(maxAbs(ours.v, ref.v)).to.be.lessThan(1e-4);
    });
  }

  for (const wd of [0, 0.01]) {
    it(`Adam${wd ? 'W' : ''}: three native steps equal three tfjs steps (parameters and moments)`, () => {
      const result = (native: boolean) => {
        setNativeKernels(native);
        try {
          const params = new Map([['a', tf.variable(T([300, 300], 31))], ['b', tf.variable(T([7], 37))]]);
          const opt = new Adam(params, { lr: 1e-2, weightDecay: wd });
          for (let s = 0; s < 3; s++) {
            const grads = new Map([...params].map(([k, p], i) => [k, T(p.shape, 41 + 10 * s + i)] as const));
            opt.apply(grads);
            for (const g of grads.values()) g.dispose();
          }
          const out = [...params.values(), ...opt.state().tensors.values()].map((t) => t.dataSync() as Float32Array);
          opt.dispose();
          for (const p of params.values()) p.dispose();
          return out;
        } finally {
          setNativeKernels(true);
        }
      };
      const on = result(true), off = result(false);
      expect(on.length).to.equal(6);
      on.forEach((a, i) => expect(maxAbs(a, off[i]!), `tensor ${i}`).to.be.lessThan(1e-6));
      // and the update did move the parameters
      expect(maxAbs(on[0]!, T([300, 300], 31).dataSync())).to.be.greaterThan(1e-3);
    });
  }

  it('GELU: value and gradient equal the erf formula through tfjs', () => {
    expectSame('gelu', () => [tf.mul(T([4, 6, 6, 8], 27), 8)], (x) => gelu(x!));
  });

  it('LayerNorm: value and gradients (x, γ, β) equal tf.moments through tfjs', () => {
    const ln = new LayerNorm(48, 1e-5);
    ln.weight.assign(T([48], 43));
    ln.bias.assign(T([48], 47));
    expectSame('layernorm', () => [tf.add(tf.mul(T([3, 10, 48], 53), 4), 1), ln.weight, ln.bias], (x) => ln.forward(x!), 5e-5);
    ln.dispose();
  });

  for (const [name, as, bs, op] of [
    ['Add bias [64,8,8,32] + [32]', [64, 8, 8, 32], [32], 'add'],
    ['Add [128] + [100,128] (vector first)', [128], [100, 128], 'add'],
    ['Multiply [200,64] · [64]', [200, 64], [64], 'mul'],
    ['Add of equal shapes [8,16,16,32]', [8, 16, 16, 32], [8, 16, 16, 32], 'add'],
    ['Multiply of equal shapes [300,100]', [300, 100], [300, 100], 'mul'],
    ['Add, other broadcast (on wasm left to tfjs)', [200, 64], [200, 1], 'add'],
  ] as const) {
    it(`${name}: value and gradients equal the tfjs kernel`, () => {
      // The vector's gradient sums up to 4096 rows (|Σ| ~ 20): float32 summation order shows at ~1e-4.
      expectSame(name, () => [T([...as], 59), T([...bs], 61)], (a, b) => (op === 'add' ? tf.add(a!, b!) : tf.mul(a!, b!)), 3e-4);
    });
  }

  for (const axis of [3, 1, 0]) {
    it(`concat along axis ${axis} (the UNet's skip connections at 3): value and gradients equal the tfjs kernels`, () => {
      expectSame(`concat ${axis}`, () => [T([4, 6, 5, 24], 67), T([4, 6, 5, 24].map((d, i) => (i === axis ? d + 3 : d)), 71)],
        (a, b) => tf.concat([a!, b!], axis));
    });
  }

  it('split into three along the last axis equals the tfjs kernel', () => {
    const f = () => tf.tidy(() => tf.split(T([8, 9, 9, 48], 73), [16, 8, 24], 3).map((t) => t.dataSync()));
    setNativeKernels(false);
    const ref = f();
    setNativeKernels(true);
    f().forEach((a, i) => expect(maxAbs(a, ref[i]!)).to.equal(0));
  });

  it('LitEma: five native updates equal five tfjs updates (warm-up decay included)', () => {
    const result = (native: boolean) => {
      setNativeKernels(native);
      try {
        const m = new Linear(64, 32);
        for (const [i, p] of m.parameters().entries()) p.assign(T(p.shape, 91 + i)); // the same start both times
        const ema = new LitEma(m);
        for (let s = 0; s < 5; s++) {
          for (const [i, p] of m.parameters().entries()) p.assign(T(p.shape, 97 + 10 * s + i));
          ema.update(m);
        }
        const out = m.paramEntries().map((p) => ema.shadowOf(p.name).dataSync() as Float32Array);
        m.dispose();
        return out;
      } finally {
        setNativeKernels(true);
      }
    };
    const on = result(true), off = result(false);
    expect(on).to.have.length(2);
    on.forEach((a, i) => expect(maxAbs(a, off[i]!), `shadow ${i}`).to.be.lessThan(1e-6));
  });

  it('SiLU: value and gradient equal x·σ(x) through tfjs', () => {
    expectSame('silu', () => [tf.mul(T([4, 6, 6, 8], 23), 12)], (x) => silu(x!));
  });
});

// The kernels only the cpu backend gets (runtime/perf/native-cpu-kernels.ts): there the fallback is
// tfjs's JavaScript kernels. Every shape here has at least CPU_MIN_NATIVE_ELEMENTS outputs.
describe('native cpu kernels (elementwise, reductions, layout) against the cpu backend\'s own', function () {
  before(async function () {
    await initBackend({ backend: 'cpu', quiet: true });
    const r = installNativeKernels('cpu');
    if (!r.installed) {
      // eslint-disable-next-line no-console
      console.log(`      pending: ${r.why}`);
      this.skip();
    }
  });

  /** f's value with the native kernels on and off (value only: for ops without gradients, or int outputs). */
  function valueBoth(f: () => Tensor): { on: { shape: number[]; v: ArrayLike<number> }; off: { shape: number[]; v: ArrayLike<number> } } {
    const get = (native: boolean) => {
      setNativeKernels(native);
      try {
        return tf.tidy(() => {
          const y = f();
          return { shape: y.shape, v: y.dataSync() };
        });
      } finally {
        setNativeKernels(true);
      }
    };
    return { on: get(true), off: get(false) };
  }

  const binaries: Array<[string, number[], number[], (a: Tensor, b: Tensor) => Tensor]> = [
    ['sub, per-item scalar [8,8,8,4] − [8,1,1,1]', [8, 8, 8, 4], [8, 1, 1, 1], (a, b) => tf.sub(a, b)],
    ['div by a positive [4,16,32] ÷ [4,16,1]', [4, 16, 32], [4, 16, 1], (a, b) => tf.div(a, tf.add(tf.abs(b), 0.5))],
    ['mul, both broadcast [4,1,32] · [1,16,32]', [4, 1, 32], [1, 16, 32], (a, b) => tf.mul(a, b)],
    ['add, timestep embedding [4,8,8,32] + [4,1,1,32]', [4, 8, 8, 32], [4, 1, 1, 32], (a, b) => tf.add(a, b)],
    ['squared difference (MSE loss) [16,8,8,4]', [16, 8, 8, 4], [16, 8, 8, 4], (a, b) => tf.squaredDifference(a, b)],
    ['maximum and minimum of equal shapes [40,64] (tfjs-core does not reduce their broadcast gradients)', [40, 64], [40, 64], (a, b) => tf.add(tf.maximum(a, b), tf.minimum(a, b))],
    ['sub with a scalar on the left', [], [40, 64], (a, b) => tf.sub(a, b)],
  ];
  for (const [name, as, bs, f] of binaries) {
    it(`${name}: value and gradients equal the tfjs kernels`, () => {
      expectSame(name, () => [T(as, 101), T(bs, 103)], (a, b) => f(a!, b!), 3e-4);
    });
  }

  const unaries: Array<[string, (x: Tensor) => Tensor]> = [
    ['exp', (x) => tf.exp(x)], ['log', (x) => tf.log(tf.add(tf.abs(x), 0.1))], ['sqrt and rsqrt', (x) => tf.add(tf.sqrt(tf.abs(x)), tf.rsqrt(tf.add(tf.abs(x), 1)))],
    ['square', (x) => tf.square(x)], ['neg and abs', (x) => tf.add(tf.neg(x), tf.abs(x))], ['sigmoid', (x) => tf.sigmoid(x)],
    ['tanh', (x) => tf.tanh(x)], ['reciprocal', (x) => tf.reciprocal(tf.add(tf.abs(x), 1))], ['relu', (x) => tf.relu(x)],
    ['leaky relu 0.2', (x) => tf.leakyRelu(x, 0.2)], ['sign (in an L1 gradient)', (x) => tf.mul(tf.abs(x), tf.sign(x))], ['step', (x) => tf.mul(x, tf.step(x, 0.3))],
  ];
  for (const [name, f] of unaries) {
    it(`${name}: value and gradient equal the tfjs kernels`, () => {
      expectSame(name, () => [tf.mul(T([4, 8, 8, 8], 107), 3)], (x) => f(x!), 5e-5);
    });
  }

  it('addN (gradient accumulation) of four tensors equals the tfjs kernel', () => {
    const { on, off } = valueBoth(() => tf.addN([T([40, 64], 1), T([40, 64], 2), T([40, 64], 3), T([40, 64], 4)]));
    expect(maxAbs(on.v, off.v)).to.be.lessThan(1e-6);
  });

  for (const perm of [[0, 2, 1, 3], [0, 3, 1, 2], [3, 1, 2, 0], [2, 0, 3, 1]]) {
    it(`transpose [${perm}] of [3,10,12,14]: value and gradient equal the tfjs kernel`, () => {
      expectSame(`transpose ${perm}`, () => [T([3, 10, 12, 14], 109)], (x) => tf.transpose(x!, perm), 1e-7);
    });
  }

  it('transpose of an int32 tensor equals the tfjs kernel', () => {
    const { on, off } = valueBoth(() => tf.transpose(tf.cast(tf.mul(T([12, 10, 14], 113), 100), 'int32'), [2, 0, 1]));
    expect(on.shape).to.deep.equal(off.shape);
    expect(Array.from(on.v)).to.deep.equal(Array.from(off.v));
  });

  const reductions: Array<[string, (x: Tensor) => Tensor]> = [
    ['sum over the last axis', (x) => tf.sum(x, -1)],
    ['sum over the middle axes, keepDims', (x) => tf.sum(x, [1, 2], true)],
    ['sum over axes 1 and 3 (not contiguous)', (x) => tf.sum(x, [1, 3])],
    ['mean over all', (x) => tf.mean(x)],
    ['mean over axes 0 and 2', (x) => tf.mean(x, [0, 2], true)],
    ['max over the last axis', (x) => tf.max(x, -1)],
    ['min over axis 1', (x) => tf.min(x, 1)],
  ];
  for (const [name, f] of reductions) {
    it(`${name} of [6,10,12,8]: value and gradient equal the tfjs kernels`, () => {
      expectSame(name, () => [T([6, 10, 12, 8], 127)], (x) => f(x!), 2e-5);
    });
  }

  for (const [axis, isMax] of [[3, false], [1, true], [0, false]] as const) {
    it(`arg${isMax ? 'Max' : 'Min'} along axis ${axis} (the VQ codebook lookup) equals the tfjs kernel`, () => {
      const { on, off } = valueBoth(() => (isMax ? tf.argMax : tf.argMin)(T([6, 10, 12, 8], 131), axis));
      expect(on.shape).to.deep.equal(off.shape);
      expect(Array.from(on.v)).to.deep.equal(Array.from(off.v));
    });
  }

  it('softmax over the last axis (attention weights): value and gradient equal the tfjs kernels', () => {
    expectSame('softmax', () => [tf.mul(T([4, 16, 40], 137), 4)], (x) => tf.softmax(x!), 1e-6);
  });

  it('pad with a constant (a first-stage Downsample): value and gradient equal the tfjs kernels', () => {
    expectSame('pad', () => [T([2, 15, 16, 8], 139)], (x) => tf.pad(x!, [[0, 0], [0, 1], [2, 1], [0, 0]], 0.25), 1e-7);
  });

  it('strided slice: value and gradient equal the tfjs kernels', () => {
    expectSame('slice', () => [T([4, 12, 12, 16], 149)], (x) => tf.slice(x!, [1, 2, 0, 3], [3, 9, 12, 10]), 1e-7);
  });

  it('the output pool reuses a disposed output, and never one that was read or that a view still shows', () => {
    const big = [512, 1024]; // 2 MiB: pooled
    const x = T(big, 151), z = T(big, 157);
    const pool = () => cpuBufferPool(tf.backend())!;
    tf.dispose(tf.exp(x)); // the pool exists once a native kernel has run
    const before = pool().stats.reused;
    tf.dispose(tf.exp(x));
    expect(pool().stats.reused, 'a disposed output is reused').to.be.greaterThan(before);
    // Read, then disposed: the array dataSync returned must keep its values.
    const a = tf.exp(x);
    const read = a.dataSync(), kept = Float32Array.from(read);
    a.dispose();
    const b = tf.exp(z);
    expect(maxAbs(read, kept)).to.equal(0);
    // A contiguous slice is a view of its input on the cpu backend: it must outlive the input.
    const c = tf.exp(x);
    const view = tf.slice(c, [0, 0], [256, 1024]);
    c.dispose();
    const d = tf.exp(z);
    expect(maxAbs(view.dataSync(), kept.subarray(0, 256 * 1024))).to.equal(0);
    tf.dispose([x, z, b, view, d]);
  });
});
