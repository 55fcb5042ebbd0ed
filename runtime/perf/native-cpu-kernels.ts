// The native kernels that only the cpu backend needs: there every tfjs kernel is a JavaScript loop
// on one thread, so besides the convolutions, products and norms (./native-kernels.ts) the
// elementwise ops, reductions, transposes, softmax, padding and strided slices run in the addon
// too. The wasm backend runs these in its own C++ and keeps them. Each kernel hands what it does not
// cover (other dtypes, tiny tensors) to the cpu backend's own kernel.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { NativeAddon } from '../native/index.js';
import { activeAddon, storeOf } from './native-kernels.js';

type KernelArgs = Parameters<KernelFunc>[0];
type Wrap = (name: string, fn: (args: KernelArgs, prev: KernelFunc) => TensorInfo | TensorInfo[]) => void;

/**
 * Below this many output elements a kernel stays with tfjs: a JavaScript loop over a few hundred
 * floats costs less than crossing into the addon.
 */
export const CPU_MIN_NATIVE_ELEMENTS = 1024;

const size = (shape: readonly number[]) => tf.util.sizeFromShape(shape as number[]);
const isF32 = (...ts: TensorInfo[]) => ts.every((t) => t.dtype === 'float32');

/** Row-major element strides of a shape. */
function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, k = 1; i >= 0; i--) {
    s[i] = k;
    k *= shape[i]!;
  }
  return s;
}

/** The operand's element stride for each axis of the broadcast output (0 where it is broadcast). */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = stridesOf(shape), lead = outShape.length - shape.length;
  return outShape.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : own[i - lead]!));
}

/** The addon when the native kernels are on and every input is a float32 of at least `min` outputs. */
function ready(n: number, ...ts: TensorInfo[]): NativeAddon | undefined {
  return n >= CPU_MIN_NATIVE_ELEMENTS && isF32(...ts) ? activeAddon() : undefined;
}

const binary = (op: number) => (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
  const addon = ready(size(outShape), a, b);
  if (!addon) return prev(args);
  const s = storeOf(args.backend);
  const out = s.out(outShape);
  addon.binary(s.f32(a), s.f32(b), s.f32(out), outShape, broadcastStrides(a.shape, outShape), broadcastStrides(b.shape, outShape), op);
  return out;
};

/** AddN (gradient accumulation): the first sum into a new tensor, the rest added into it in place. */
const addN = (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const xs = args.inputs as unknown as TensorInfo[];
  const first = xs[0];
  if (!first || xs.length < 2 || xs.some((t) => t.shape.length !== first.shape.length || t.shape.some((d, i) => d !== first.shape[i]))) return prev(args);
  const addon = ready(size(first.shape), ...xs);
  if (!addon) return prev(args);
  const s = storeOf(args.backend);
  const out = s.out(first.shape);
  const o = s.f32(out), shape = [o.length], st = [1];
  addon.binary(s.f32(first), s.f32(xs[1]!), o, shape, st, st, 0);
  for (const t of xs.slice(2)) addon.binary(o, s.f32(t), o, shape, st, st, 0);
  return out;
};

const unary = (op: number) => (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const { x } = args.inputs as { x: TensorInfo };
  const addon = ready(size(x.shape), x);
  if (!addon) return prev(args);
  const s = storeOf(args.backend);
  const out = s.out(x.shape);
  addon.unary(s.f32(x), s.f32(out), op, (args.attrs as { alpha?: number } | undefined)?.alpha ?? 0);
  return out;
};

const transpose = (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const { x } = args.inputs as { x: TensorInfo };
  const { perm } = args.attrs as unknown as { perm: number[] };
  const addon = size(x.shape) >= CPU_MIN_NATIVE_ELEMENTS && (x.dtype === 'float32' || x.dtype === 'int32') ? activeAddon() : undefined;
  if (!addon) return prev(args);
  const s = storeOf(args.backend);
  const dtype = x.dtype as 'float32' | 'int32';
  const out = s.out(perm.map((p) => x.shape[p]!), dtype);
  if (dtype === 'int32') addon.transpose(s.i32(x), x.shape, perm, s.i32(out));
  else addon.transpose(s.f32(x), x.shape, perm, s.f32(out));
  return out;
};

/**
 * x's elements as [outer, red, inner] with the reduced axes in the middle: a view when the axes
 * are one contiguous block, else a transposed copy (a temporary array, not a tensor) with them last.
 */
function reductionView(addon: NativeAddon, data: Float32Array, shape: number[], axes: number[]): { data: Float32Array; outer: number; red: number; inner: number } {
  const sorted = [...axes].sort((p, q) => p - q);
  const red = size(sorted.map((a) => shape[a]!));
  if (sorted.every((a, i) => i === 0 || a === sorted[i - 1]! + 1)) {
    const first = sorted[0] ?? 0, last = sorted[sorted.length - 1] ?? -1;
    return { data, outer: size(shape.slice(0, first)), red, inner: size(shape.slice(last + 1)) };
  }
  const kept = shape.map((_, i) => i).filter((i) => !sorted.includes(i));
  const moved = new Float32Array(data.length);
  addon.transpose(data, shape, [...kept, ...sorted], moved);
  return { data: moved, outer: data.length / Math.max(red, 1), red, inner: 1 };
}

const reduction = (op: number, axisAttr: 'axis' | 'reductionIndices') => (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const { x } = args.inputs as { x: TensorInfo };
  const attrs = args.attrs as unknown as Record<string, number | number[] | boolean>;
  const addon = ready(size(x.shape), x);
  if (!addon || x.shape.length === 0) return prev(args);
  const axes = tf.util.parseAxisParam(attrs[axisAttr] as number | number[], x.shape);
  if (axes.length === 0 || axes.some((a) => x.shape[a] === 0)) return prev(args);
  const kept = x.shape.filter((_, i) => !axes.includes(i));
  const outShape = attrs.keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : kept;
  const s = storeOf(args.backend);
  const out = s.out(outShape);
  const v = reductionView(addon, s.f32(x), x.shape, axes);
  addon.reduce(v.data, v.outer, v.red, v.inner, s.f32(out), op);
  return out;
};

const argReduce = (op: number) => (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const { x } = args.inputs as { x: TensorInfo };
  const addon = ready(size(x.shape), x);
  if (!addon || x.shape.length === 0) return prev(args);
  const axis = tf.util.parseAxisParam((args.attrs as unknown as { axis: number }).axis, x.shape)[0]!;
  if (x.shape[axis] === 0) return prev(args);
  const s = storeOf(args.backend);
  const out = s.out(x.shape.filter((_, i) => i !== axis), 'int32');
  addon.argReduce(s.f32(x), size(x.shape.slice(0, axis)), x.shape[axis]!, size(x.shape.slice(axis + 1)), s.i32(out), op);
  return out;
};

const softmax = (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const { logits } = args.inputs as { logits: TensorInfo };
  const { dim } = args.attrs as unknown as { dim: number };
  const rank = logits.shape.length;
  const addon = ready(size(logits.shape), logits);
  if (!addon || rank === 0 || (dim !== -1 && dim !== rank - 1)) return prev(args);
  const s = storeOf(args.backend);
  const out = s.out(logits.shape);
  const cols = logits.shape[rank - 1]!;
  addon.softmax(s.f32(logits), size(logits.shape) / cols, cols, s.f32(out));
  return out;
};

const padV2 = (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const { x } = args.inputs as { x: TensorInfo };
  const { paddings, constantValue } = args.attrs as unknown as { paddings: Array<[number, number]>; constantValue: number };
  const outShape = x.shape.map((d, i) => d + paddings[i]![0] + paddings[i]![1]);
  const addon = ready(size(outShape), x);
  if (!addon || x.shape.length === 0 || size(x.shape) === 0) return prev(args);
  const s = storeOf(args.backend);
  const out = s.out(outShape);
  addon.pad(s.f32(x), x.shape, paddings.map((p) => p[0]), paddings.map((p) => p[1]), constantValue, s.f32(out));
  return out;
};

/**
 * A strided Slice as one copy per contiguous run (the cpu backend takes contiguous slices as a
 * view already, and copies strided ones an element at a time through a TensorBuffer).
 */
const slice = (args: KernelArgs, prev: KernelFunc): TensorInfo | TensorInfo[] => {
  const { x } = args.inputs as { x: TensorInfo };
  const { begin: b0, size: s0 } = args.attrs as unknown as { begin: number[]; size: number[] };
  if (!activeAddon() || (x.dtype !== 'float32' && x.dtype !== 'int32')) return prev(args);
  const [begin, sz] = tf.slice_util.parseSliceParams(x as tf.Tensor, b0, s0);
  const n = size(sz);
  if (n < CPU_MIN_NATIVE_ELEMENTS || tf.slice_util.isSliceContinous(x.shape, begin, sz)) return prev(args);
  const s = storeOf(args.backend);
  const dtype = x.dtype as 'float32' | 'int32';
  const out = s.out(sz, dtype);
  const src = dtype === 'int32' ? s.i32(x) : s.f32(x), dst = dtype === 'int32' ? s.i32(out) : s.f32(out);
  const shape = x.shape, r = shape.length, strides = stridesOf(shape);
  // Innermost axes the slice covers whole form one contiguous run with the first partial axis.
  let k = r - 1;
  while (k > 0 && begin[k] === 0 && sz[k] === shape[k]) k--;
  const run = sz[k]! * strides[k]!;
  const idx = new Array<number>(k).fill(0);
  for (let o = 0; o < n; o += run) {
    let off = begin[k]! * strides[k]!;
    for (let a = 0; a < k; a++) off += (begin[a]! + idx[a]!) * strides[a]!;
    dst.set(src.subarray(off, off + run), o);
    for (let a = k - 1; a >= 0; a--) {
      if (++idx[a]! < sz[a]!) break;
      idx[a] = 0;
    }
  }
  return out;
};

/** Registers the cpu-only kernels through ./native-kernels.ts's wrap (called by installNativeKernels('cpu')). */
export function installCpuKernels(wrap: Wrap): void {
  const binaries: Array<[string, number]> = [['Add', 0], ['Sub', 1], ['Multiply', 2], ['RealDiv', 3], ['SquaredDifference', 4], ['Maximum', 5], ['Minimum', 6]];
  for (const [name, op] of binaries) wrap(name, binary(op));
  wrap('AddN', addN);
  const unaries: Array<[string, number]> = [
    ['Exp', 0], ['Log', 1], ['Sqrt', 2], ['Rsqrt', 3], ['Square', 4], ['Neg', 5], ['Abs', 6], ['Sigmoid', 7], ['Tanh', 8],
    ['Sign', 9], ['Reciprocal', 10], ['Relu', 11], ['LeakyRelu', 12], ['Step', 14],
  ];
  for (const [name, op] of unaries) wrap(name, unary(op));
  wrap('Transpose', transpose);
  wrap('Sum', reduction(0, 'axis'));
  wrap('Mean', reduction(1, 'axis'));
  wrap('Max', reduction(2, 'reductionIndices'));
  wrap('Min', reduction(3, 'axis'));
  wrap('ArgMin', argReduce(0));
  wrap('ArgMax', argReduce(1));
  wrap('Softmax', softmax);
  wrap('PadV2', padV2);
  wrap('Slice', slice);
}
