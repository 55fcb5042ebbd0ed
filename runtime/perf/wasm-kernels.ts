// Replacements for three tfjs-backend-wasm 4.22 kernels whose cost is out of proportion:
// Slice reads its input through backend.readSync(), which copies the WHOLE input out of the wasm
// heap into a fresh JS buffer before taking the slice, so k slices of an n-element tensor cost
// k·n copies (Unpack and SplitV are loops of that Slice: unstacking [16,256,256] took ~60 ms
// here, a plain copy of it 2 ms). These versions copy from a view of the heap, costing only the
// output. Results are bit-identical (pure copies). Installed by installWasmKernels() for 'wasm'.
// Identity shares its input's buffer (a reference count, as Reshape does) instead of copying it:
// tfjs clones every tensor a gradient saves for the backward pass through Identity, and the wasm
// kernel's copy cost a VQ training step ~440 whole-activation copies. No kernel writes into its
// inputs, so a shared buffer is never changed under a clone.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  incRef(dataId: object): void;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** Copies the box [begin, begin + size) of x (row-major) into a new tensor. */
function sliceFromHeap(backend: WasmBackendLike, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const out = backend.makeOutput(size, x.dtype); // may grow the heap: take the views after it
  const n = size.reduce((a, b) => a * b, 1);
  if (n === 0) return out;
  const src = backend.typedArrayFromHeap(x), dst = backend.typedArrayFromHeap(out);
  const shape = x.shape, r = shape.length;
  const strides = new Array<number>(r);
  for (let i = r - 1, s = 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  // Innermost axes the slice covers whole form one contiguous run with the first partial axis.
  let k = r - 1;
  while (k > 0 && begin[k] === 0 && size[k] === shape[k]) k--;
  const run = size[k]! * strides[k]!;
  const outer = n / run;
  const idx = new Array<number>(k).fill(0);
  let o = 0;
  for (let j = 0; j < outer; j++) {
    let off = begin[k]! * strides[k]!;
    for (let a = 0; a < k; a++) off += (begin[a]! + idx[a]!) * strides[a]!;
    dst.set(src.subarray(off, off + run), o);
    o += run;
    for (let a = k - 1; a >= 0; a--) {
      if (++idx[a]! < size[a]!) break;
      idx[a] = 0;
    }
  }
  return out;
}

type KernelArgs = Parameters<KernelFunc>[0];

const slice: KernelFunc = ({ inputs, attrs, backend }: KernelArgs) => {
  const x = inputs.x as TensorInfo;
  const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, (attrs as { begin: number[] }).begin, (attrs as { size: number[] }).size);
  return sliceFromHeap(backend as unknown as WasmBackendLike, x, b, s);
};

const unpack: KernelFunc = ({ inputs, attrs, backend }: KernelArgs) => {
  const value = inputs.value as TensorInfo;
  let axis = (attrs as { axis: number }).axis;
  if (axis < 0) axis += value.shape.length;
  const outShape = value.shape.filter((_, i) => i !== axis);
  const begin = new Array<number>(value.shape.length).fill(0), size = value.shape.slice();
  size[axis] = 1;
  const outs: TensorInfo[] = [];
  for (let i = 0; i < value.shape[axis]!; i++) {
    begin[axis] = i;
    const t = sliceFromHeap(backend as unknown as WasmBackendLike, value, begin, size);
    outs.push({ dataId: t.dataId, dtype: t.dtype, shape: outShape });
  }
  return outs;
};

const splitV: KernelFunc = ({ inputs, attrs, backend }: KernelArgs) => {
  const x = inputs.x as TensorInfo;
  const { numOrSizeSplits, axis } = attrs as { numOrSizeSplits: number | number[]; axis: number };
  const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = x.shape.slice();
    size[ax] = s;
    const t = sliceFromHeap(backend as unknown as WasmBackendLike, x, begin, size);
    begin[ax]! += s;
    return t;
  });
};

const identity: KernelFunc = ({ inputs, backend }: KernelArgs) => {
  const x = inputs.x as TensorInfo;
  (backend as unknown as WasmBackendLike).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

let installed = false;

/**
 * Re-registers Slice, Unpack, SplitV and Identity for the wasm backend (float32/int32/bool; strings keep
 * the original kernels). Idempotent; a no-op until tfjs-backend-wasm has registered its kernels.
 */
export function installWasmKernels(): void {
  if (installed) return;
  const replacements: Array<[string, KernelFunc]> = [['Slice', slice], ['Unpack', unpack], ['SplitV', splitV], ['Identity', identity]];
  const originals = replacements.map(([name]) => tf.getKernel(name, 'wasm'));
  if (originals.some((k) => !k)) return;
  installed = true;
  replacements.forEach(([name, fn], i) => {
    const orig = originals[i]!;
    tf.unregisterKernel(name, 'wasm');
    const config: KernelConfig = {
      ...orig,
      kernelFunc: (args: KernelArgs) => {
        const first = Object.values(args.inputs)[0] as TensorInfo | undefined;
        return first?.dtype === 'string' ? orig.kernelFunc(args) : fn(args);
      },
    };
    tf.registerKernel(config);
  });
}
