// Test helper: Stable Diffusion checkpoints as they are published, written by our own writers —
// a Lightning .ckpt (`{'state_dict': …}`, torch storages per dtype) or a flat .safetensors, in
// float32, float16 or bfloat16, with int64 tensors (HF CLIP's position_ids) kept int64.
import { writeFileSync } from 'node:fs';
import { torchPickle, zip, type TensorSpec } from '../runtime/ckpt-writer.js';

export type StoredDtype = 'F32' | 'F16' | 'BF16';

/** A state_dict entry: float values (stored in the file's dtype) or int64 values (stored as int64). */
export interface SdTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array | BigInt64Array;
}

export type SdStateDict = ReadonlyMap<string, SdTensor>;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → IEEE half bits, round to nearest even (what torch's .half() does). */
export function toHalfBits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff, mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000, shift = 14 - e;
    const half = m >>> shift, rest = m & ((1 << shift) - 1), mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13), rest = mant & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

/** float32 → bfloat16 bits, round to nearest even (torch's .bfloat16()). */
export function toBf16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The little-endian bytes of a tensor in `dtype` (int64 tensors stay int64). */
function bytesOf(t: SdTensor, dtype: StoredDtype): { bytes: Uint8Array; dtype: StoredDtype | 'I64' } {
  if (t.data instanceof BigInt64Array) return { bytes: new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength)), dtype: 'I64' };
  const d = t.data;
  if (dtype === 'F32') return { bytes: new Uint8Array(Float32Array.from(d).buffer), dtype };
  const out = new Uint16Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = dtype === 'F16' ? toHalfBits(d[i]!) : toBf16Bits(d[i]!);
  return { bytes: new Uint8Array(out.buffer), dtype };
}

const STORAGE: Record<StoredDtype | 'I64', string> = { F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage', I64: 'LongStorage' };

/** A Lightning checkpoint `{'state_dict': OrderedDict(...), 'epoch': 0}`, float tensors stored as `dtype`. */
export function writeSdCkpt(path: string, sd: SdStateDict, dtype: StoredDtype): void {
  const specs: TensorSpec[] = [];
  const entries: { name: string; data: Uint8Array }[] = [];
  let i = 0;
  for (const [name, t] of sd) {
    const key = String(i++);
    const { bytes, dtype: stored } = bytesOf(t, dtype);
    const stride = t.shape.map((_, k) => t.shape.slice(k + 1).reduce((a, b) => a * b, 1));
    specs.push({ name, key, numel: t.data.length, offset: 0, size: [...t.shape], stride, storage: STORAGE[stored] });
    entries.push({ name: `archive/data/${key}`, data: bytes });
  }
  const pkl = torchPickle(specs, (p) => { p.str('epoch'); p.int(0); });
  writeFileSync(path, zip([{ name: 'archive/data.pkl', data: pkl }, ...entries, { name: 'archive/version', data: new TextEncoder().encode('3\n') }]));
}

/** A flat safetensors file, float tensors stored as `dtype`, int64 ones as I64. */
export function writeSdSafetensors(path: string, sd: SdStateDict, dtype: StoredDtype): void {
  const header: Record<string, unknown> = {};
  const parts: Uint8Array[] = [];
  let off = 0;
  for (const [name, t] of sd) {
    const { bytes, dtype: stored } = bytesOf(t, dtype);
    header[name] = { dtype: stored, shape: [...t.shape], data_offsets: [off, off + bytes.length] };
    parts.push(bytes);
    off += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const b of parts) {
    out.set(b, p);
    p += b.length;
  }
  writeFileSync(path, out);
}
