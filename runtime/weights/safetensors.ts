// safetensors read/write: u64 LE header length | JSON header | raw little-endian data.
// Reads every numeric dtype into a typed array; writes F32 (what PyTorch loads as float32).
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface RawTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /**
   * Values widened to a JS typed array: F32/F16/BF16 → Float32Array, F64 → Float64Array,
   * I64 → Float64Array (exact up to 2^53; larger magnitudes are rejected), I32/I16/I8 →
   * Int32Array, U8/BOOL → Uint8Array.
   */
  readonly data: Float32Array | Float64Array | Int32Array | Uint8Array;
}

export interface SafetensorsFile {
  readonly tensors: Map<string, RawTensor>;
  readonly metadata: Record<string, string>;
}

/** Bytes per element of each dtype (shared with the checkpoint reader). */
export const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export function parseSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (bytes.byteLength < 8) throw new Error('safetensors: file shorter than its 8-byte header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (8 + n > bytes.byteLength) throw new Error(`safetensors: header length ${n} exceeds the file (${bytes.byteLength} bytes)`);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  const dataStart = 8 + n, dataLen = bytes.byteLength - dataStart;
  const tensors = new Map<string, RawTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (value ?? {}) as Record<string, string>;
      continue;
    }
    const e = value as HeaderEntry;
    if (!(e.dtype in DTYPE_BYTES)) throw new Error(`safetensors: tensor '${name}' has unsupported dtype ${e.dtype}`);
    const dtype = e.dtype as SafetensorsDtype;
    const [begin, end] = e.data_offsets;
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (begin < 0 || end > dataLen || end - begin !== count * DTYPE_BYTES[dtype]) {
      throw new Error(`safetensors: tensor '${name}' (${dtype} ${JSON.stringify(e.shape)}) has bad data_offsets [${begin}, ${end}]`);
    }
    tensors.set(name, { dtype, shape: [...e.shape], data: decode(dtype, bytes, dataStart + begin, count, name) });
  }
  return { tensors, metadata };
}

function decode(dtype: SafetensorsDtype, bytes: Uint8Array, offset: number, count: number, name: string): RawTensor['data'] {
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, count * DTYPE_BYTES[dtype]);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = v.getFloat32(4 * i, true);
      return out;
    }
    case 'F64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = v.getFloat64(8 * i, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToFloat(v.getUint16(2 * i, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(count), tmp = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        tmp.setUint32(0, v.getUint16(2 * i, true) << 16, true);
        out[i] = tmp.getFloat32(0, true);
      }
      return out;
    }
    case 'I64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) {
        const b = v.getBigInt64(8 * i, true);
        if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw new Error(`safetensors: I64 tensor '${name}' holds ${b}, beyond 2^53`);
        }
        out[i] = Number(b);
      }
      return out;
    }
    case 'I32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = v.getInt32(4 * i, true);
      return out;
    }
    case 'I16': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = v.getInt16(2 * i, true);
      return out;
    }
    case 'I8': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = v.getInt8(i);
      return out;
    }
    case 'U8':
    case 'BOOL':
      return new Uint8Array(bytes.subarray(offset, offset + count));
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

export interface F32Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array | ArrayLike<number>;
}

/** Where each tensor goes in an F32 safetensors file, and the header that says so. */
export interface SafetensorsF32Layout {
  /** The first bytes of the file: u64 LE header length, then the space-padded JSON header. */
  readonly header: Uint8Array;
  /** Tensor names in the order their data follows the header (sorted by name). */
  readonly order: string[];
  /** Bytes of tensor data after the header (4 per value). */
  readonly dataBytes: number;
}

/**
 * The layout `serializeSafetensors` writes, from names and shapes alone: a streaming writer puts
 * `header` first, then each tensor's F32 little-endian values in `order`, and gets the same bytes.
 */
export function safetensorsF32Layout(shapes: Iterable<readonly [string, readonly number[]]>, metadata?: Record<string, string>): SafetensorsF32Layout {
  const entries = [...shapes];
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape] of entries) {
    const count = shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'F32', shape: [...shape], data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  // After the tensors, where the reference writer puts it.
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  while (enc.encode(json).byteLength % 8 !== 0) json += ' ';
  const head = enc.encode(json);
  const out = new Uint8Array(8 + head.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.byteLength), true);
  out.set(head, 8);
  return { header: out, order: entries.map(([name]) => name), dataBytes: offset };
}

/**
 * Serialises tensors as F32, in sorted-name order, `__metadata__` last, compact JSON header
 * space-padded to a multiple of 8 —
 * the layout of the reference's writer, so equal contents give equal bytes.
 */
export function serializeSafetensors(tensors: ReadonlyMap<string, F32Tensor> | Record<string, F32Tensor>, metadata?: Record<string, string>): Uint8Array {
  const byName = new Map((tensors instanceof Map ? [...tensors] : Object.entries(tensors)) as Array<[string, F32Tensor]>);
  for (const [name, t] of byName) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== count) throw new Error(`safetensors: '${name}' has ${t.data.length} values for shape ${JSON.stringify(t.shape)}`);
  }
  const { header, order, dataBytes } = safetensorsF32Layout([...byName].map(([name, t]) => [name, t.shape] as const), metadata);
  const out = new Uint8Array(header.byteLength + dataBytes);
  const view = new DataView(out.buffer);
  out.set(header, 0);
  let p = header.byteLength;
  for (const name of order) {
    const t = byName.get(name)!;
    for (let i = 0; i < t.data.length; i++, p += 4) view.setFloat32(p, t.data[i]!, true);
  }
  return out;
}
