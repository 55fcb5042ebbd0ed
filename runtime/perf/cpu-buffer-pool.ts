// Reuses the memory of the native kernels' outputs on the cpu backend. There every output is a
// fresh allocation (V8 → calloc → mmap), and on the machines measured here the first touch of each
// fresh 4 KiB page cost ~12 µs: a 64 MiB activation took ~190 ms to fault in against ~2 ms to
// write once mapped, so a training step spent most of its time in page faults. The wasm backend
// never pays this, since its heap is reused. The pool keeps the ArrayBuffers of disposed outputs
// (by size class) and hands them to the next outputs of that class.
//
// Safety: a buffer is recycled only while nothing but its own tensor can see it. Any other way
// of reaching it "pins" it for good (it is then left to the garbage collector): a second tensor
// registered on the same memory (the cpu backend's contiguous Slice is a subarray view; a kernel
// may return its input's array as is), a read (dataSync, data(), bufferSync hand out the backend's
// own array), or a move to another backend.
import type { TensorInfo } from '@tensorflow/tfjs-core';

interface CpuBackendInternals {
  write(values: unknown, shape: number[], dtype: string): object;
  move(dataId: object, values: unknown, shape: number[], dtype: string, refCount: number): void;
  disposeData(dataId: object, force?: boolean): boolean;
  readSync(dataId: object): unknown;
  data: { get(dataId: object): { values?: unknown } | undefined; has(dataId: object): boolean };
}

/** Outputs below this many bytes are left to V8 (small allocations come from malloc's heap, already mapped). */
export const POOL_MIN_BYTES = 1 << 20;

/** Rounds a byte size up to its class: 8 classes per power of two (at most 12.5 % slack). */
function sizeClass(bytes: number): number {
  const step = 2 ** Math.max(0, Math.floor(Math.log2(bytes)) - 3);
  return Math.ceil(bytes / step) * step;
}

export class CpuBufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private freeBytes = 0;
  private readonly owned = new WeakSet<ArrayBuffer>();
  private readonly pinned = new WeakSet<ArrayBuffer>();
  private handing: unknown;
  /** Hits and misses, for the benchmarks. */
  readonly stats = { reused: 0, fresh: 0, pinned: 0 };

  /** @param maxFreeBytes memory the pool may hold unused; beyond it disposed buffers go to the GC. */
  constructor(private readonly backend: CpuBackendInternals, private readonly maxFreeBytes: number, private readonly onFresh?: (a: Float32Array | Int32Array) => void) {
    const b = backend;
    const write = b.write.bind(b), move = b.move.bind(b), disposeData = b.disposeData.bind(b), readSync = b.readSync.bind(b);
    b.write = (values, shape, dtype) => {
      if (values !== this.handing) this.pinIfOwned(values);
      return write(values, shape, dtype);
    };
    b.move = (dataId, values, shape, dtype, refCount) => {
      this.pinIfOwned(values);
      move(dataId, values, shape, dtype, refCount);
    };
    b.readSync = (dataId) => {
      this.pinIfOwned(b.data.get(dataId)?.values);
      return readSync(dataId);
    };
    b.disposeData = (dataId, force) => {
      const values = b.data.get(dataId)?.values;
      const gone = disposeData(dataId, force);
      if (gone && !b.data.has(dataId)) this.release(values);
      return gone;
    };
  }

  /** A new output array of n elements, from the pool when one of its class is free, and its tensor. */
  output(makeTensorInfo: (values: Float32Array | Int32Array) => TensorInfo, n: number, dtype: 'float32' | 'int32'): TensorInfo {
    const bytes = n * 4;
    let values: Float32Array | Int32Array;
    if (bytes < POOL_MIN_BYTES) {
      values = dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
    } else {
      const cls = sizeClass(bytes);
      const list = this.free.get(cls);
      let buf = list?.pop();
      const fresh = !buf;
      if (buf) {
        this.freeBytes -= cls;
        this.stats.reused++;
      } else {
        buf = new ArrayBuffer(cls);
        this.owned.add(buf);
        this.stats.fresh++;
      }
      values = dtype === 'int32' ? new Int32Array(buf, 0, n) : new Float32Array(buf, 0, n);
      if (fresh) this.onFresh?.(values);
    }
    this.handing = values;
    try {
      return makeTensorInfo(values);
    } finally {
      this.handing = undefined;
    }
  }

  /** Drops every free buffer (they go to the garbage collector). */
  clear(): void {
    this.free.clear();
    this.freeBytes = 0;
  }

  private pinIfOwned(values: unknown): void {
    const buf = ArrayBuffer.isView(values) ? values.buffer : undefined;
    if (buf instanceof ArrayBuffer && this.owned.has(buf) && !this.pinned.has(buf)) {
      this.pinned.add(buf);
      this.stats.pinned++;
    }
  }

  private release(values: unknown): void {
    const buf = ArrayBuffer.isView(values) ? values.buffer : undefined;
    if (!(buf instanceof ArrayBuffer) || !this.owned.has(buf) || this.pinned.has(buf)) return;
    if (this.freeBytes + buf.byteLength > this.maxFreeBytes) return;
    let list = this.free.get(buf.byteLength);
    if (!list) this.free.set(buf.byteLength, (list = []));
    // A buffer released twice (two dataIds on it would have pinned it) would be handed out twice.
    if (list.includes(buf)) return;
    list.push(buf);
    this.freeBytes += buf.byteLength;
  }
}
