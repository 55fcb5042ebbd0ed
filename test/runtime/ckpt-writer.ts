// Test helper: writes torch.save-shaped checkpoints byte by byte (protocol-2 pickle + zip),
// since there is no torch here. Used by ckpt.test.ts and autoencoder.test.ts.
import { deflateSync } from 'fflate';
import { crc32 } from '../../runtime/weights/zip.js';

// ---------------------------------------------------------------- a tiny protocol-2 pickle writer
export class P {
  private readonly out: number[] = [0x80, 2];
  private memo = 0;
  op(...b: number[]): this { this.out.push(...b); return this; }
  u32(n: number): number[] { return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]; }
  str(s: string): this { const b = new TextEncoder().encode(s); return this.op(0x58, ...this.u32(b.length), ...b); }
  int(n: number): this { return n < 256 ? this.op(0x4b, n) : this.op(0x4a, ...this.u32(n)); }
  global(m: string, n: string): this { return this.op(0x63, ...new TextEncoder().encode(`${m}\n${n}\n`)); }
  /** BINPUT (or LONG_BINPUT for big ids); returns the memo id. */
  put(): number { const id = this.memo++; if (id < 256) this.op(0x71, id); else this.op(0x72, ...this.u32(id)); return id; }
  get(id: number): this { return id < 256 ? this.op(0x68, id) : this.op(0x6a, ...this.u32(id)); }
  mark(): this { return this.op(0x28); }
  tuple(): this { return this.op(0x74); }
  bytes(): Uint8Array { return Uint8Array.from([...this.out, 0x2e]); }
}

export interface TensorSpec { name: string; key: string; numel: number; offset: number; size: number[]; stride: number[] }

/** `{'state_dict': OrderedDict(name -> _rebuild_tensor_v2(persistent_load(...), ...))}` as torch.save writes it. */
export function torchPickle(tensors: TensorSpec[], extra?: (p: P) => void): Uint8Array {
  const p = new P();
  p.op(0x7d); p.put(); // EMPTY_DICT
  p.mark();
  p.str('state_dict'); p.put();
  p.global('collections', 'OrderedDict'); const od = p.put(); p.op(0x29, 0x52); p.put(); // OrderedDict()
  p.mark();
  const storages = new Map<string, number>();
  let rebuild = -1;
  for (const t of tensors) {
    p.str(t.name); p.put();
    if (rebuild < 0) { p.global('torch._utils', '_rebuild_tensor_v2'); rebuild = p.put(); } else p.get(rebuild);
    p.mark();
    if (storages.has(t.key)) p.get(storages.get(t.key)!);
    else {
      p.mark(); p.str('storage'); p.put(); p.global('torch', 'FloatStorage'); p.put();
      p.str(t.key); p.put(); p.str('cpu'); p.put(); p.int(t.numel); p.tuple(); p.put();
      p.op(0x51); storages.set(t.key, p.put()); // BINPERSID
    }
    p.int(t.offset);
    p.mark(); t.size.forEach((n) => p.int(n)); p.tuple(); p.put();
    p.mark(); t.stride.forEach((n) => p.int(n)); p.tuple(); p.put();
    p.op(0x89); // requires_grad False
    p.get(od); p.op(0x29, 0x52); p.put(); // OrderedDict()
    p.tuple(); p.put();
    p.op(0x52); p.put(); // REDUCE
  }
  p.op(0x75); // SETITEMS
  extra?.(p);
  p.op(0x75);
  return p.bytes();
}

// ---------------------------------------------------------------- a tiny zip writer
export function zip(entries: { name: string; data: Uint8Array; deflate?: boolean }[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const le = (n: number, bytes: number): number[] => Array.from({ length: bytes }, (_, i) => (n / 2 ** (8 * i)) & 0xff);
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    const body = e.deflate ? deflateSync(e.data) : e.data;
    const common = [...le(20, 2), ...le(0, 2), ...le(e.deflate ? 8 : 0, 2), ...le(0, 4),
      ...le(crc32(e.data), 4), ...le(body.length, 4), ...le(e.data.length, 4), ...le(name.length, 2)];
    // Pad the local extra field so that data is 64-byte aligned, as torch does.
    const pad = (64 - ((offset + 30 + name.length + 4) % 64)) % 64;
    const extra = [...le(0xcafe, 2), ...le(pad, 2), ...new Array<number>(pad).fill(0)];
    const local = Uint8Array.from([...le(0x04034b50, 4), ...common, ...le(extra.length, 2), ...name, ...extra]);
    central.push(Uint8Array.from([...le(0x02014b50, 4), ...le(20, 2), ...common, ...le(0, 2), ...le(0, 2),
      ...le(0, 2), ...le(0, 2), ...le(0, 4), ...le(offset, 4), ...name]));
    chunks.push(local, body);
    offset += local.length + body.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const eocd = Uint8Array.from([...le(0x06054b50, 4), 0, 0, 0, 0, ...le(entries.length, 2), ...le(entries.length, 2),
    ...le(cdSize, 4), ...le(offset, 4), 0, 0]);
  const all = [...chunks, ...central, eocd];
  const out = new Uint8Array(all.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of all) { out.set(c, o); o += c.length; }
  return out;
}

/**
 * A Lightning-style checkpoint `{'epoch': 0, 'state_dict': OrderedDict(...)}` of float32 tensors,
 * one storage per tensor, as torch.save writes it.
 */
export function writeCheckpoint(tensors: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>): Uint8Array {
  const specs: TensorSpec[] = [];
  const entries: { name: string; data: Uint8Array }[] = [];
  let i = 0;
  for (const [name, t] of tensors) {
    const key = String(i++);
    const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    specs.push({ name, key, numel: t.data.length, offset: 0, size: [...t.shape], stride });
    entries.push({ name: `archive/data/${key}`, data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) });
  }
  const pkl = torchPickle(specs, (p) => { p.str('epoch'); p.int(0); });
  return zip([{ name: 'archive/data.pkl', data: pkl }, ...entries, { name: 'archive/version', data: new TextEncoder().encode('3\n') }]);
}
