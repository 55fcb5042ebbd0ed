// safetensors read/write: u64 LE header length | JSON header | raw little-endian data.
// Reads every numeric dtype into a typed array; writes F32 (what PyTorch loads as float32).
import { WeightsFileError, quote } from './faults.js';

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

/** A corrupt or unreadable safetensors file; `fault` gives the code and hint (./faults.ts). */
export class SafetensorsError extends WeightsFileError {
  override readonly name = 'SafetensorsError';
}

const DTYPES = Object.keys(DTYPE_BYTES).join(', ');

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** Where one tensor's bytes are in a safetensors file (absolute file offsets). */
interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  /** Absolute byte offset of its data in the file, and its length in bytes. */
  readonly offset: number;
  readonly bytes: number;
  readonly count: number;
}

/**
 * The format's own limit on the JSON header (the reference reader refuses larger ones as
 * HeaderTooLarge): a larger length field is a damaged or hostile file, and is refused before
 * anything that large is read.
 */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * Reads and checks a safetensors header through `at(offset, length)` (reads within the file)
 * for a file of `size` bytes. Every fault is a SafetensorsError naming it and where it is (the
 * tensor, the byte offset): no JSON parser or typed-array message reaches the caller.
 */
function readHeader(at: (offset: number, length: number) => Uint8Array, size: number): { entries: SafetensorsEntry[]; metadata: Record<string, string> } {
  if (size < 8) throw new SafetensorsError('not_weights', `the ${size}-byte file is shorter than a safetensors header length (8 bytes)`);
  const lenBytes = at(0, 8);
  const n64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (8n + n64 > BigInt(size)) {
    // A header that would start with '{' is a damaged safetensors file; anything else is not one.
    if (size > 8 && at(8, 1)[0] === 0x7b) throw new SafetensorsError('header_overrun', `safetensors header of ${n64} bytes overruns the ${size}-byte file`);
    throw new SafetensorsError('not_weights', `its header length field (${n64}) overruns the ${size}-byte file`);
  }
  const n = Number(n64);
  if (n > MAX_HEADER_BYTES) {
    throw new SafetensorsError('too_large', `its header length field says ${n} bytes; the format allows at most ${MAX_HEADER_BYTES}`);
  }
  const headerBytes = at(8, n);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError('header_json', `safetensors header (bytes 8..${8 + n}) is not valid UTF-8 text`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch {
    const f = jsonFault(text);
    const atByte = 8 + new TextEncoder().encode(text.slice(0, f.at)).byteLength;
    throw new SafetensorsError('header_json', `safetensors header is not valid JSON: ${f.what} at byte ${atByte}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError('header_not_object', `safetensors header is ${kindOf(header)}, not a JSON object`);
  }
  const dataStart = 8 + n, dataLen = size - dataStart;
  const entries: Array<SafetensorsEntry & { begin: number; end: number }> = [];
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
        throw new SafetensorsError('header_not_object', `safetensors __metadata__ is ${kindOf(value)}, not a JSON object of strings`);
      }
      metadata = value as Record<string, string>;
      continue;
    }
    const t = `tensor ${quote(name)}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new SafetensorsError('header_not_object', `${t}: its header entry is ${kindOf(value)}, not a JSON object`);
    }
    const e = value as Record<string, unknown>;
    if (typeof e.dtype !== 'string') throw new SafetensorsError('entry_field', `${t}: 'dtype' is missing or not a string`);
    if (!Array.isArray(e.shape) || !e.shape.every(isIndex)) {
      throw new SafetensorsError('entry_field', `${t}: 'shape' is missing or not a list of non-negative integers`);
    }
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isIndex)) {
      throw new SafetensorsError('entry_field', `${t}: 'data_offsets' is missing or not a pair of non-negative integers`);
    }
    if (!(e.dtype in DTYPE_BYTES)) throw new SafetensorsError('unknown_dtype', `${t}: dtype ${quote(e.dtype, 16)} is not one of ${DTYPES}`);
    const dtype = e.dtype as SafetensorsDtype;
    const shape = e.shape as number[];
    const [begin, end] = offs as [number, number];
    if (begin > end) throw new SafetensorsError('offsets_reversed', `${t}: data_offsets [${begin}, ${end}] are reversed (begin after end)`);
    if (end > dataLen) {
      throw new SafetensorsError('offsets_outside', `${t}: data_offsets [${begin}, ${end}] outside the ${dataLen}-byte data section (file bytes ${dataStart}..${size})`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    const need = count * DTYPE_BYTES[dtype];
    if (need !== end - begin) {
      throw new SafetensorsError('shape_size', `${t}: shape [${shape.join(', ')}] of ${dtype} needs ${need} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    entries.push({ name, dtype, shape, begin, end, count, offset: dataStart + begin, bytes: end - begin });
  }
  const byStart = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < byStart.length; i++) {
    const a = byStart[i - 1]!, b = byStart[i]!;
    if (b.begin < a.end) {
      throw new SafetensorsError('offsets_overlap', `tensor ${quote(b.name)}: data_offsets [${b.begin}, ${b.end}] overlap tensor ${quote(a.name)} [${a.begin}, ${a.end}]`);
    }
  }
  return { entries, metadata };
}

/**
 * Parses a safetensors file held in memory. Every fault is a SafetensorsError naming it and
 * where it is (the tensor, the byte offset).
 */
export function parseSafetensors(bytes: Uint8Array): SafetensorsFile {
  const { entries, metadata } = readHeader((o, n) => bytes.subarray(o, o + n), bytes.byteLength);
  const tensors = new Map<string, RawTensor>();
  for (const e of entries) tensors.set(e.name, { dtype: e.dtype, shape: [...e.shape], data: decode(e.dtype, bytes, e.offset, e.count, e.name) });
  return { tensors, metadata };
}

/**
 * A tensor whose values stay in its file until asked for: `readInto` puts them, as float32 in
 * PyTorch's C-contiguous layout, straight into the caller's array (one positional read; F16,
 * BF16 and F64 are converted on the way), and `data` reads them afresh on each access (take it
 * once). Errors are the reader's WeightsFileErrors, naming the tensor.
 */
export interface LazyTensor extends RawTensor {
  /** Number of elements. */
  readonly numel: number;
  /** True for F32/F16/BF16/F64, the dtypes `readInto` accepts. */
  readonly floating: boolean;
  /** Writes the values as float32 into `dest` (length `numel`). */
  readInto(dest: Float32Array): void;
}

const FLOATING: ReadonlySet<SafetensorsDtype> = new Set(['F32', 'F16', 'BF16', 'F64']);
export const isFloatingDtype = (d: SafetensorsDtype): boolean => FLOATING.has(d);

/**
 * Little-endian float bytes of `dtype` (F32, F16, BF16 or F64) as float32 values into `dest`.
 * `src` must start at an offset aligned to the element size.
 */
export function floatBytesInto(dtype: SafetensorsDtype, src: Uint8Array, dest: Float32Array): void {
  const n = dest.length;
  switch (dtype) {
    case 'F32':
      dest.set(new Float32Array(src.buffer, src.byteOffset, n));
      return;
    case 'F64': {
      const d = new Float64Array(src.buffer, src.byteOffset, n);
      for (let i = 0; i < n; i++) dest[i] = d[i]!;
      return;
    }
    case 'F16': {
      const h = new Uint16Array(src.buffer, src.byteOffset, n);
      const table = halfTable();
      for (let i = 0; i < n; i++) dest[i] = table[h[i]!]!;
      return;
    }
    case 'BF16': {
      const h = new Uint16Array(src.buffer, src.byteOffset, n), bits = new Uint32Array(dest.buffer, dest.byteOffset, n);
      for (let i = 0; i < n; i++) bits[i] = h[i]! << 16;
      return;
    }
    default:
      throw new Error(`floatBytesInto: ${dtype} is not a float dtype`);
  }
}

let halfValues: Float32Array | undefined;
/** Every float16 bit pattern's value: 256 KiB once, then F16 widening is one load per element. */
function halfTable(): Float32Array {
  if (!halfValues) {
    halfValues = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfValues[h] = halfToFloat(h);
  }
  return halfValues;
}

/** An open safetensors file (`openSafetensors`): header read and checked, data on request. */
export interface OpenSafetensors {
  readonly tensors: ReadonlyMap<string, LazyTensor>;
  readonly metadata: Record<string, string>;
  close(): void;
}

/** Positional reads from a file (or bytes in memory), as FileSource/BytesSource in ./zip.ts. */
export interface PositionalSource {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
  readInto?(offset: number, dest: Uint8Array): void;
  close?(): void;
}

/**
 * Opens a safetensors file through positional reads: only the header is read now, so files of
 * any size open at once; each tensor is read when asked for, straight into its destination.
 * `source` is closed by `close()`.
 */
export function openSafetensors(source: PositionalSource): OpenSafetensors {
  const { entries, metadata } = readHeader((o, n) => source.read(o, n), source.size);
  let scratch = new ArrayBuffer(0);
  const bytesAt = (e: SafetensorsEntry, reuse: boolean): Uint8Array => {
    if (!reuse) return source.read(e.offset, e.bytes);
    if (scratch.byteLength < e.bytes) scratch = new ArrayBuffer(e.bytes);
    const b = new Uint8Array(scratch, 0, e.bytes);
    if (source.readInto) source.readInto(e.offset, b);
    else b.set(source.read(e.offset, e.bytes));
    return b;
  };
  const tensors = new Map<string, LazyTensor>();
  for (const e of entries) {
    tensors.set(e.name, {
      dtype: e.dtype, shape: [...e.shape], numel: e.count, floating: FLOATING.has(e.dtype),
      get data(): RawTensor['data'] {
        const b = bytesAt(e, false);
        // A positional read is its own buffer; `decode` needs aligned, exact-length bytes.
        return decode(e.dtype, b.byteOffset === 0 ? b : b.slice(), 0, e.count, e.name);
      },
      readInto(dest: Float32Array): void {
        if (dest.length !== e.count) throw new Error(`readInto: '${e.name}' has ${e.count} values, not ${dest.length}`);
        if (!FLOATING.has(e.dtype)) {
          dest.set(decode(e.dtype, bytesAt(e, true), 0, e.count, e.name) as ArrayLike<number>);
        } else if (e.dtype === 'F32' && source.readInto) {
          source.readInto(e.offset, new Uint8Array(dest.buffer, dest.byteOffset, e.bytes));
        } else {
          floatBytesInto(e.dtype, bytesAt(e, true), dest);
        }
      },
    });
  }
  return { tensors, metadata, close: () => source.close?.() };
}

/**
 * Where and why `s` is not JSON (called only after JSON.parse refused it, whose message is V8's
 * and differs between Node versions): the first offending character, in UTF-16 units.
 */
function jsonFault(s: string): { at: number; what: string } {
  let i = 0;
  const stack: string[] = [];
  const show = (c: string | undefined): string => {
    if (c === undefined) return 'the end';
    const k = c.charCodeAt(0);
    return k < 0x21 || k > 0x7e ? `character U+${k.toString(16).padStart(4, '0')}` : `'${c}'`;
  };
  const fail = (what: string): { at: number; what: string } => ({ at: i, what });
  const ws = (): void => { while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++; };
  const str = (): { at: number; what: string } | undefined => {
    i++;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === 34) { i++; return undefined; }
      if (c === 92) {
        const x = s[i + 1];
        if (x === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) return fail('a bad \\u escape in a string');
          i += 6;
        } else if (x !== undefined && '"\\/bfnrt'.includes(x)) {
          i += 2;
        } else {
          return fail('a bad escape in a string');
        }
        continue;
      }
      if (c < 0x20) return fail('a control character in a string');
      i++;
    }
    return fail('an unterminated string');
  };
  let st: 'value' | 'firstValue' | 'key' | 'firstKey' | 'after' = 'value';
  for (;;) {
    ws();
    if (i >= s.length) return st === 'after' && stack.length === 0 ? fail('invalid JSON') : fail('the header ends inside the JSON');
    const c = s[i]!;
    if (st === 'value' || st === 'firstValue') {
      if (st === 'firstValue' && c === ']') { stack.pop(); i++; st = 'after'; continue; }
      if (c === '{') { stack.push('}'); i++; st = 'firstKey'; continue; }
      if (c === '[') { stack.push(']'); i++; st = 'firstValue'; continue; }
      if (c === '"') { const f = str(); if (f) return f; st = 'after'; continue; }
      const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(s.slice(i, i + 400));
      if (!m) return fail(`unexpected ${show(c)} where a value belongs`);
      i += m[0].length; st = 'after'; continue;
    }
    if (st === 'key' || st === 'firstKey') {
      if (st === 'firstKey' && c === '}') { stack.pop(); i++; st = 'after'; continue; }
      if (c !== '"') return fail(`expected a quoted key, found ${show(c)}`);
      const f = str();
      if (f) return f;
      ws();
      if (s[i] !== ':') return fail(`expected ':' after a key, found ${show(s[i])}`);
      i++; st = 'value'; continue;
    }
    const close = stack[stack.length - 1];
    if (close === undefined) return fail(`unexpected ${show(c)} after the end of the JSON`);
    if (c === ',') { i++; st = close === '}' ? 'key' : 'value'; continue; }
    if (c === close) { stack.pop(); i++; continue; }
    return fail(`expected ',' or '${close}', found ${show(c)}`);
  }
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
          throw new SafetensorsError('i64_range', `tensor ${quote(name)}: I64 value ${b} (element ${i}) is beyond 2^53`);
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
