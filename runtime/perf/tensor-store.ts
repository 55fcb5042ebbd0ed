// How the native kernels see a tfjs backend's tensor memory (runtime/perf/native-kernels.ts and
// native-cpu-kernels.ts): the wasm heap through views, or the cpu backend's own typed arrays, whose
// outputs come from a pool (./cpu-buffer-pool.ts).
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { loadNative } from '../native/index.js';
import { CpuBufferPool } from './cpu-buffer-pool.js';

const size = (shape: readonly number[]) => tf.util.sizeFromShape(shape as number[]);

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}
interface CpuBackendLike {
  makeTensorInfo(shape: number[], dtype: string, values?: Float32Array | Int32Array): TensorInfo;
  data: { get(dataId: object): { values?: unknown } | undefined };
  readSync(dataId: object): unknown;
}

/**
 * A backend's tensor memory as the kernels see it: make an output, read a tensor's elements as a
 * typed array (a view of the wasm heap, or the cpu backend's own array: writes go to the tensor).
 */
export interface TensorStore {
  out(shape: number[], dtype?: 'float32' | 'int32'): TensorInfo;
  f32(t: TensorInfo): Float32Array;
  i32(t: TensorInfo): Int32Array;
}

const stores = new WeakMap<object, TensorStore>();

const cpuPools = new WeakMap<object, CpuBufferPool>();

/** The cpu backend's output pool (its statistics, for the benchmarks), once a kernel has run there. */
export function cpuBufferPool(backend: unknown): CpuBufferPool | undefined {
  return cpuPools.get(backend as object);
}

/** Unused memory the cpu output pool may keep: an eighth of the machine's memory, at most 8 GiB. */
function cpuPoolBytes(): number {
  return Math.min(os.totalmem() / 8, 8 * 1024 ** 3);
}

/** Outputs of at least this many elements (4 MiB) get huge pages on the cpu backend. */
const HUGE_PAGE_MIN_ELEMENTS = 1 << 20;

/** The TensorStore of a kernel's backend (wasm or cpu). */
export function storeOf(backend: unknown): TensorStore {
  const key = backend as object;
  let s = stores.get(key);
  if (s) return s;
  if (typeof (backend as WasmBackendLike).typedArrayFromHeap === 'function') {
    const b = backend as WasmBackendLike;
    // makeOutput may grow the heap, which detaches earlier views: callers make every output first.
    s = { out: (shape, dtype = 'float32') => b.makeOutput(shape, dtype), f32: (t) => b.typedArrayFromHeap(t) as Float32Array, i32: (t) => b.typedArrayFromHeap(t) as Int32Array };
  } else if (typeof (backend as CpuBackendLike).makeTensorInfo === 'function' && (backend as CpuBackendLike).data) {
    const b = backend as CpuBackendLike;
    const values = (t: TensorInfo) => b.data.get(t.dataId)?.values;
    // Fresh pages fault in faster as 2 MiB pages (adviseHugePages in the addon); reused ones not at all.
    const pool = new CpuBufferPool(backend as ConstructorParameters<typeof CpuBufferPool>[0], cpuPoolBytes(), (a) => {
      if (a.length >= HUGE_PAGE_MIN_ELEMENTS) loadNative().addon?.adviseHugePages(a);
    });
    cpuPools.set(key, pool);
    s = {
      out: (shape, dtype = 'float32') => pool.output((v) => b.makeTensorInfo(shape, dtype, v), size(shape), dtype),
      // A tensor whose values are not (yet) a Float32Array, e.g. one written from a plain array, is
      // read through readSync: a copy, for inputs only.
      f32: (t) => {
        const v = values(t);
        return v instanceof Float32Array ? v : Float32Array.from(b.readSync(t.dataId) as ArrayLike<number>);
      },
      i32: (t) => {
        const v = values(t);
        return v instanceof Int32Array ? v : Int32Array.from(b.readSync(t.dataId) as ArrayLike<number>);
      },
    };
  } else {
    throw new Error('ldmc: the native kernels support the wasm and cpu backends only');
  }
  stores.set(key, s);
  return s;
}
