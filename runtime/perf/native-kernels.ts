// Kernels run by the native addon (runtime/native, oneDNN + OpenMP), for two tfjs backends:
// - wasm: in place on the wasm heap (views of it are handed to the addon). Wrapped tfjs kernels:
//   Conv2D and its two backprop kernels, BatchMatMul, Sum over leading axes, Add / Multiply of
//   equal shapes or of a vector along the last axis, Concat and SplitV; the wasm backend's own
//   C++ kernels keep the rest.
// - cpu: the cpu backend's tensors are plain JS typed arrays, with no 4 GiB cap; outputs are new
//   Float32Arrays registered with backend.makeTensorInfo, nothing is copied into the wasm heap.
//   The same kernels, plus the ones in ./native-cpu-kernels.ts (every elementwise op with general
//   broadcasting, reductions, transpose, softmax, pad, slice, arg-min/max), since there the
//   fallback is tfjs's JavaScript loops.
// Kernels of our own names, which the runtime calls when nativeKernelsActive(): GroupNorm
// (optionally fused with the SiLU after it; also used for LayerNorm), SiLU, GELU, the Adam step and
// the LitEma update. installNativeKernels(backend) registers them when the addon loads; each
// wrapped kernel hands what it does not cover (other layouts and dtypes, tiny tensors) to the
// kernel registered before, and setNativeKernels(false) sends everything there (tests compare the
// two paths in one process).
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { loadNative, type NativeAddon } from '../native/index.js';
import { installCpuKernels } from './native-cpu-kernels.js';
import { markOwnKernel, timedFallback } from './kernel-profile.js';
import { storeOf } from './tensor-store.js';

export { cpuBufferPool, storeOf, type TensorStore } from './tensor-store.js';

/** The backends the native kernels can be installed on. */
export type NativeBackend = 'wasm' | 'cpu';

type KernelArgs = Parameters<KernelFunc>[0];
type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat: string;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Names of the kernels this module adds (not tfjs kernels). */
export const GROUP_NORM = 'LdmcGroupNorm';
export const GROUP_NORM_GRAD = 'LdmcGroupNormGrad';
export const SILU = 'LdmcSilu';
export const SILU_GRAD = 'LdmcSiluGrad';
export const ADAM = 'LdmcAdam';
export const EMA = 'LdmcEma';
export const GELU = 'LdmcGelu';
export const GELU_GRAD = 'LdmcGeluGrad';
export const ATTENTION = 'LdmcAttention';

let addon: NativeAddon | undefined;
let enabled = true;
const installedOn = new Set<string>();

/** True when the native kernels are installed on the active backend and switched on. */
export function nativeKernelsActive(): boolean {
  return addon !== undefined && enabled && installedOn.has(tf.getBackend());
}

/** The loaded addon, while the native kernels are active (for ./native-cpu-kernels.ts). */
export function activeAddon(): NativeAddon | undefined {
  return nativeKernelsActive() ? addon : undefined;
}

/** Switches the native kernels on or off (they stay registered; off means the previous kernels run). */
export function setNativeKernels(on: boolean): void {
  enabled = on;
}

const pair = (v: number | [number, number] | undefined): [number, number] => (v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : v);

function isNhwc(format: string): boolean {
  return format === 'NHWC' || format === 'channelsLast';
}

/** The forward geometry of a conv, as tfjs computes it (output shape and explicit pads). */
function convInfo(xShape: number[], wShape: number[], a: ConvAttrs) {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], wShape as [number, number, number, number],
    pair(a.strides), pair(a.dilations), a.pad, a.dimRoundingMode, false, 'channelsLast',
  );
  const p = info.padInfo;
  return { outShape: info.outShape, strides: pair(a.strides), dilations: pair(a.dilations), pads: [p.top, p.bottom, p.left, p.right] };
}

const size = (shape: readonly number[]) => tf.util.sizeFromShape(shape as number[]);

/**
 * A 1×1, stride-1, unpadded conv is a matrix product over the N = B·H·W positions; oneDNN's 1×1
 * convolution kernels take milliseconds for the narrow ones (e.g. 3 → 3 channels, a quant_conv),
 * its matmul microseconds.
 */
function isPointwise(wShape: number[], g: { strides: number[]; dilations: number[]; pads: number[] }): boolean {
  return wShape[0] === 1 && wShape[1] === 1 && g.strides.every((s) => s === 1) && g.pads.every((p) => p === 0);
}

const conv2d = (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const a = args.attrs as unknown as ConvAttrs;
  if (!nativeKernelsActive() || !isNhwc(a.dataFormat) || x.dtype !== 'float32' || filter.dtype !== 'float32') return prev(args);
  const b = storeOf(args.backend);
  const g = convInfo(x.shape, filter.shape, a);
  const out = b.out(g.outShape, 'float32'); // may grow the heap: take the views after it
  if (out.shape.some((d) => d === 0)) return out;
  if (isPointwise(filter.shape, g)) {
    const [cin, cout] = [filter.shape[2]!, filter.shape[3]!];
    addon!.matmul(b.f32(x), b.f32(filter), b.f32(out), 1, 1, x.shape[0]! * x.shape[1]! * x.shape[2]!, cin, cout, false, false);
    return out;
  }
  addon!.conv2d(b.f32(x), x.shape, b.f32(filter), filter.shape, b.f32(out), out.shape, g.strides, g.dilations, g.pads);
  return out;
};

const conv2dBackpropInput = (args: KernelArgs, prev: KernelFunc | undefined): TensorInfo | TensorInfo[] => {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = args.attrs as unknown as ConvAttrs & { inputShape: number[] };
  if (!nativeKernelsActive() || !isNhwc(a.dataFormat) || dy.dtype !== 'float32') {
    if (!prev) throw new Error('Conv2DBackpropInput: no kernel for this case on this backend');
    return prev(args);
  }
  const b = storeOf(args.backend);
  const g = convInfo(a.inputShape, filter.shape, a);
  const out = b.out(a.inputShape, 'float32');
  if (isPointwise(filter.shape, g)) {
    const [cin, cout] = [filter.shape[2]!, filter.shape[3]!];
    addon!.matmul(b.f32(dy), b.f32(filter), b.f32(out), 1, 1, dy.shape[0]! * dy.shape[1]! * dy.shape[2]!, cout, cin, false, true);
    return out;
  }
  addon!.conv2dBackpropInput(b.f32(dy), dy.shape, b.f32(filter), filter.shape, b.f32(out), out.shape, g.strides, g.dilations, g.pads);
  return out;
};

const conv2dBackpropFilter = (args: KernelArgs, prev: KernelFunc | undefined): TensorInfo | TensorInfo[] => {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const a = args.attrs as unknown as ConvAttrs & { filterShape: number[] };
  if (!nativeKernelsActive() || !isNhwc(a.dataFormat) || x.dtype !== 'float32') {
    // tfjs-backend-wasm has no kernel of its own here; runtime/nn/conv-grad.ts only asks for this
    // one on wasm while the native kernels are active. The cpu backend has its own.
    if (!prev) throw new Error('Conv2DBackpropFilter: the native kernels are off');
    return prev(args);
  }
  const b = storeOf(args.backend);
  const g = convInfo(x.shape, a.filterShape, a);
  const out = b.out(a.filterShape, 'float32');
  if (isPointwise(a.filterShape, g)) {
    const [cin, cout] = [a.filterShape[2]!, a.filterShape[3]!];
    addon!.matmul(b.f32(x), b.f32(dy), b.f32(out), 1, 1, cin, x.shape[0]! * x.shape[1]! * x.shape[2]!, cout, true, false);
    return out;
  }
  addon!.conv2dBackpropFilter(b.f32(x), x.shape, b.f32(dy), dy.shape, b.f32(out), out.shape, g.strides, g.dilations, g.pads);
  return out;
};

const batchMatMul = (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const { a, b: bm } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
  if (!nativeKernelsActive() || a.dtype !== 'float32' || bm.dtype !== 'float32' || a.shape.length < 2 || bm.shape.length < 2) return prev(args);
  const ra = a.shape.length, rb = bm.shape.length;
  const batchShapeA = a.shape.slice(0, -2), batchShapeB = bm.shape.slice(0, -2);
  const batchA = size(batchShapeA), batchB = size(batchShapeB);
  // Equal batch shapes, or one side a single matrix (broadcast): anything else goes to tfjs.
  const sameBatch = ra === rb && batchShapeA.every((d, i) => d === batchShapeB[i]);
  if (!sameBatch && batchA !== 1 && batchB !== 1) return prev(args);
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!, k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const n = transposeB ? bm.shape[rb - 2]! : bm.shape[rb - 1]!, kb = transposeB ? bm.shape[rb - 1]! : bm.shape[rb - 2]!;
  if (k !== kb) return prev(args); // let tfjs report the mismatch
  const single = batchA === 1 ? batchShapeA : batchShapeB, full = batchA === 1 ? batchShapeB : batchShapeA;
  if (!sameBatch && single.length > full.length) return prev(args); // e.g. [1,1,k,n] against [2,m,k]
  const outShape = [...full, m, n];
  const back = storeOf(args.backend);
  const out = back.out(outShape, 'float32');
  if (m * n === 0) return out;
  if (k === 0) {
    back.f32(out).fill(0);
    return out;
  }
  addon!.matmul(back.f32(a), back.f32(bm), back.f32(out), batchA, batchB, m, k, n, transposeA, transposeB);
  return out;
};

/** [B, ..., C] → (B, S, C) with S the product of the middle axes. */
function bsc(shape: number[]): [number, number, number] {
  const B = shape[0]!, C = shape[shape.length - 1]!;
  return [B, size(shape.slice(1, -1)), C];
}

const groupNorm: KernelFunc = (args: KernelArgs) => {
  const { x, gamma, beta } = args.inputs as { x: TensorInfo; gamma?: TensorInfo; beta?: TensorInfo };
  const { groups, eps, silu } = args.attrs as unknown as { groups: number; eps: number; silu?: number };
  const b = storeOf(args.backend);
  const [B, S, C] = bsc(x.shape);
  const y = b.out(x.shape, 'float32'), mean = b.out([B, groups], 'float32'), rstd = b.out([B, groups], 'float32');
  addon!.groupNormForward(b.f32(x), B, S, C, groups, eps, gamma ? b.f32(gamma) : null, beta ? b.f32(beta) : null, b.f32(y), b.f32(mean), b.f32(rstd), !!silu);
  return [y, mean, rstd];
};

const groupNormGrad: KernelFunc = (args: KernelArgs) => {
  const { dy, x, mean, rstd, gamma, beta } = args.inputs as { dy: TensorInfo; x: TensorInfo; mean: TensorInfo; rstd: TensorInfo; gamma?: TensorInfo; beta?: TensorInfo };
  const { groups, silu } = args.attrs as unknown as { groups: number; silu?: number };
  const b = storeOf(args.backend);
  const [B, S, C] = bsc(x.shape);
  const dx = b.out(x.shape, 'float32');
  const dgamma = gamma ? b.out([C], 'float32') : undefined, dbeta = gamma ? b.out([C], 'float32') : undefined;
  addon!.groupNormBackward(b.f32(dy), b.f32(x), b.f32(mean), b.f32(rstd), B, S, C, groups, gamma ? b.f32(gamma) : null,
    beta ? b.f32(beta) : null, b.f32(dx), dgamma ? b.f32(dgamma) : null, dbeta ? b.f32(dbeta) : null, !!silu);
  return dgamma && dbeta ? [dx, dgamma, dbeta] : [dx];
};

/** Below this many elements a Sum, Add or Multiply stays with tfjs (the call costs more than it saves). */
const MIN_NATIVE_ELEMENTS = 4096;

const sum = (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const { x } = args.inputs as { x: TensorInfo };
  const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
  const n = size(x.shape);
  if (!nativeKernelsActive() || x.dtype !== 'float32' || n < MIN_NATIVE_ELEMENTS) return prev(args);
  // Only reductions over the leading axes (bias gradients, whole-tensor sums): tfjs-backend-wasm
  // transposes those to the inner axes before reducing, a full copy of the input.
  const axes = [...tf.util.parseAxisParam(axis, x.shape)].sort((a, b) => a - b);
  if (axes.length === 0 || axes.some((a, i) => a !== i)) return prev(args);
  const k = axes.length;
  const rows = size(x.shape.slice(0, k)), cols = n / rows;
  const b = storeOf(args.backend);
  const out = b.out(keepDims ? [...x.shape.slice(0, k).map(() => 1), ...x.shape.slice(k)] : x.shape.slice(k), 'float32');
  addon!.sumLeading(b.f32(x), rows, cols, b.f32(out));
  return out;
};

const adam: KernelFunc = (args: KernelArgs) => {
  const { p, m, v, g } = args.inputs as { p: TensorInfo; m: TensorInfo; v: TensorInfo; g: TensorInfo };
  const a = args.attrs as unknown as { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; bc1: number; bc2: number };
  const b = storeOf(args.backend);
  const po = b.out(p.shape, 'float32'), mo = b.out(p.shape, 'float32'), vo = b.out(p.shape, 'float32');
  addon!.adamStep(b.f32(p), b.f32(m), b.f32(v), b.f32(g), b.f32(po), b.f32(mo), b.f32(vo), a.lr, a.beta1, a.beta2, a.eps, a.weightDecay, a.bc1, a.bc2);
  return [po, mo, vo];
};

const unary = (fn: (x: Float32Array, y: Float32Array) => void): KernelFunc => (args: KernelArgs) => {
  const { x } = args.inputs as { x: TensorInfo };
  const b = storeOf(args.backend);
  const y = b.out(x.shape, 'float32');
  fn(b.f32(x), b.f32(y));
  return y;
};

/**
 * Multi-head softmax(scale·q·kᵀ)·v without storing the [N, M] matrix (forward only): q [B, N, H·d],
 * k [B, M, H·d], v [B, M, H·dv] → [B, N, H·dv], heads as column blocks (attr `heads`).
 */
const attention: KernelFunc = (args: KernelArgs) => {
  const { q, k, v } = args.inputs as { q: TensorInfo; k: TensorInfo; v: TensorInfo };
  const { scale, heads } = args.attrs as unknown as { scale: number; heads: number };
  const [batch, n, hd] = q.shape as [number, number, number], m = k.shape[1]!, hdv = v.shape[2]!;
  const b = storeOf(args.backend);
  const out = b.out([batch, n, hdv], 'float32');
  addon!.attention(b.f32(q), b.f32(k), b.f32(v), b.f32(out), batch, heads, n, m, hd / heads, hdv / heads, scale);
  return out;
};

const unaryGrad = (fn: (dy: Float32Array, x: Float32Array, dx: Float32Array) => void): KernelFunc => (args: KernelArgs) => {
  const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
  const b = storeOf(args.backend);
  const dx = b.out(x.shape, 'float32');
  fn(b.f32(dy), b.f32(x), b.f32(dx));
  return dx;
};

/**
 * Add / Multiply of equal shapes, or of a tensor and a vector along its last axis (biases, norm
 * scales): tfjs-backend-wasm runs broadcasting binary ops in a generic loop at ~6 ns an element,
 * and equal shapes on one thread; every other broadcast stays with it.
 */
const rowBroadcast = (op: 0 | 1) => (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const { a, b: bb } = args.inputs as { a: TensorInfo; b: TensorInfo };
  if (!nativeKernelsActive() || a.dtype !== 'float32' || bb.dtype !== 'float32') return prev(args);
  const same = a.shape.length === bb.shape.length && a.shape.every((d, i) => d === bb.shape[i]);
  // Equal shapes (residual adds, gradient sums) are one row of n columns.
  const [x, v] = same || bb.shape.length === 1 ? [a, bb] : a.shape.length === 1 ? [bb, a] : [undefined, undefined];
  if (!x || !v || (!same && x.shape.length < 2)) return prev(args);
  const n = size(x.shape), cols = same ? n : v.shape[0]!;
  if ((!same && x.shape[x.shape.length - 1] !== cols) || n < MIN_NATIVE_ELEMENTS) return prev(args);
  const back = storeOf(args.backend);
  const out = back.out(x.shape, 'float32');
  addon!.rowOp(back.f32(x), back.f32(v), back.f32(out), n / cols, cols, op);
  return out;
};

/** Concat of float32 tensors along any axis, as row copies (tfjs-backend-wasm copies inner-axis concats element-wise in JS). */
const concat = (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const xs = Object.values(args.inputs) as TensorInfo[];
  if (!nativeKernelsActive() || xs.length < 2 || xs.some((t) => t.dtype !== 'float32' || t.shape.length !== xs[0]!.shape.length)) return prev(args);
  const rank = xs[0]!.shape.length;
  const axis = tf.util.parseAxisParam((args.attrs as unknown as { axis: number }).axis, xs[0]!.shape)[0]!;
  if (xs.some((t) => t.shape.some((d, i) => i !== axis && d !== xs[0]!.shape[i]))) return prev(args);
  const outShape = xs[0]!.shape.slice();
  outShape[axis] = xs.reduce((p, t) => p + t.shape[axis]!, 0);
  if (size(outShape) < MIN_NATIVE_ELEMENTS || rank === 0) return prev(args);
  const b = storeOf(args.backend);
  const out = b.out(outShape, 'float32');
  const outer = size(outShape.slice(0, axis)), dstRow = size(outShape.slice(axis));
  const dst = b.f32(out);
  let off = 0;
  for (const t of xs) {
    const len = size(t.shape.slice(axis));
    if (len > 0) addon!.copyRows(b.f32(t), dst, outer, len, 0, dstRow, off, len);
    off += len;
  }
  return out;
};

/** SplitV of a float32 tensor, as row copies (the inverse of concat above; the gradient of a UNet skip concat). */
const splitV = (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const x = args.inputs.x as TensorInfo;
  if (!nativeKernelsActive() || x.dtype !== 'float32' || size(x.shape) < MIN_NATIVE_ELEMENTS) return prev(args);
  const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
  const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
  const b = storeOf(args.backend);
  const outs = sizes.map((s) => {
    const shape = x.shape.slice();
    shape[ax] = s;
    return b.out(shape, 'float32');
  });
  const outer = size(x.shape.slice(0, ax)), srcRow = size(x.shape.slice(ax));
  const src = b.f32(x);
  let off = 0;
  for (const o of outs) {
    const len = size(o.shape.slice(ax));
    if (len > 0) addon!.copyRows(src, b.f32(o), outer, srcRow, off, len, 0, len);
    off += len;
  }
  return outs;
};

const ema: KernelFunc = (args: KernelArgs) => {
  const { shadow, param } = args.inputs as { shadow: TensorInfo; param: TensorInfo };
  const { oneMinusDecay } = args.attrs as unknown as { oneMinusDecay: number };
  const b = storeOf(args.backend);
  const out = b.out(shadow.shape, 'float32');
  addon!.emaStep(b.f32(shadow), b.f32(param), b.f32(out), oneMinusDecay);
  return out;
};

/**
 * Loads the addon and registers the kernels for `backend` (after that backend registered its
 * own; 'wasm' by default). Idempotent per backend. Returns what was installed, or why not.
 */
export function installNativeKernels(backend: NativeBackend = 'wasm'): { installed: boolean; why: string; library?: string; threads?: number } {
  const { addon: a, why } = loadNative();
  if (!a) return { installed: false, why };
  const info = a.info();
  if (installedOn.has(backend)) return { installed: true, why: '', ...info };
  const wrap = (name: string, fn: (args: KernelArgs, prev: KernelFunc) => TensorInfo | TensorInfo[]) => wrapKernel(backend, name, fn);
  wrap('Conv2D', conv2d);
  wrap('BatchMatMul', batchMatMul);
  wrap('Concat', concat);
  wrap('SplitV', splitV); // on wasm over runtime/perf/wasm-kernels.ts's, which initBackend installed first
  if (backend === 'wasm') {
    wrap('Sum', sum);
    wrap('Add', rowBroadcast(0));
    wrap('Multiply', rowBroadcast(1));
  }
  const origInput = tf.getKernel('Conv2DBackpropInput', backend);
  if (origInput) tf.unregisterKernel('Conv2DBackpropInput', backend);
  const prevInput = origInput && timedFallback('Conv2DBackpropInput', origInput.kernelFunc);
  tf.registerKernel({ kernelName: 'Conv2DBackpropInput', backendName: backend, kernelFunc: (args: KernelArgs) => conv2dBackpropInput(args, prevInput) });
  const origFilter = tf.getKernel('Conv2DBackpropFilter', backend);
  if (origFilter) tf.unregisterKernel('Conv2DBackpropFilter', backend);
  const prevFilter = origFilter && timedFallback('Conv2DBackpropFilter', origFilter.kernelFunc);
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: backend, kernelFunc: (args: KernelArgs) => conv2dBackpropFilter(args, prevFilter) });
  markOwnKernel('Conv2DBackpropInput');
  markOwnKernel('Conv2DBackpropFilter');
  const own: Array<[string, KernelFunc]> = [
    [GROUP_NORM, groupNorm], [GROUP_NORM_GRAD, groupNormGrad],
    [SILU, unary((x, y) => addon!.silu(x, y))], [SILU_GRAD, unaryGrad((dy, x, dx) => addon!.siluGrad(dy, x, dx))],
    [GELU, unary((x, y) => addon!.gelu(x, y))], [GELU_GRAD, unaryGrad((dy, x, dx) => addon!.geluGrad(dy, x, dx))],
    [ADAM, adam], [EMA, ema], [ATTENTION, attention],
  ];
  for (const [kernelName, kernelFunc] of own) {
    tf.registerKernel({ kernelName, backendName: backend, kernelFunc });
    markOwnKernel(kernelName);
  }
  if (backend === 'cpu') installCpuKernels(wrap, activeAddon);
  addon = a;
  installedOn.add(backend);
  return { installed: true, why: '', ...info };
}

/** Replaces `name` on `backend` with fn, which receives the kernel registered before as its fallback. */
export function wrapKernel(backend: string, name: string, fn: (args: KernelArgs, prev: KernelFunc) => TensorInfo | TensorInfo[]): void {
  const orig = tf.getKernel(name, backend);
  if (!orig) throw new Error(`ldmc: the ${backend} backend has no ${name} kernel to wrap (is @tensorflow/tfjs-backend-${backend} loaded?)`);
  tf.unregisterKernel(name, backend);
  const prev = timedFallback(name, orig.kernelFunc);
  tf.registerKernel({ ...orig, kernelFunc: (args: KernelArgs) => fn(args, prev) } as KernelConfig);
}
