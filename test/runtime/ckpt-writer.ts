// Test helper: writes torch.save-shaped checkpoints byte by byte (protocol-2 pickle + zip),
// since there is no torch here. Used by ckpt.test.ts, zip.test.ts, convert.test.ts and
// autoencoder.test.ts. The zip writer can force the ZIP64 format (as torch does for archives
// over 4 GiB) and write straight to a file, at any offset (holes make sparse multi-GB files).
import { closeSync, openSync, writeSync } from 'node:fs';
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

export interface TensorSpec {
  name: string; key: string; numel: number; offset: number; size: number[]; stride: number[];
  /** torch storage class; default FloatStorage. */
  storage?: string;
}

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
      p.mark(); p.str('storage'); p.put(); p.global('torch', t.storage ?? 'FloatStorage'); p.put();
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
const le = (n: number, bytes: number): number[] => Array.from({ length: bytes }, (_, i) => Math.floor(n / 2 ** (8 * i)) & 0xff);
const U32 = 0xffffffff;

export interface ZipOptions {
  /**
   * Force the ZIP64 format for everything, as Python's zipfile does with force_zip64=True and
   * torch for large archives: 0xffffffff sizes and offsets in the local and central headers with
   * the values in ZIP64 extra fields, a ZIP64 end-of-central-directory record and locator, and
   * 0xffff/0xffffffff in the classic end record.
   */
  zip64?: boolean;
}

/** Writes a zip entry by entry to a sink (memory or a file); `skip` leaves a hole (sparse files). */
export class ZipWriter {
  private offset = 0;
  private readonly central: Uint8Array[] = [];
  private count = 0;
  constructor(private readonly sink: (bytes: Uint8Array, at: number) => void, private readonly opts: ZipOptions = {}) {}

  get position(): number { return this.offset; }

  private emit(b: Uint8Array): void { this.sink(b, this.offset); this.offset += b.length; }

  /** Moves the write position forward: the bytes in between are never written (zeros). */
  skip(n: number): void { this.offset += n; }

  add(name: string, data: Uint8Array, deflate = false): void {
    const nameBytes = new TextEncoder().encode(name);
    const body = deflate ? deflateSync(data) : data;
    const z = this.opts.zip64 === true;
    const version = z ? 45 : 20;
    const crc = crc32(data);
    const common = (sizes: boolean): number[] => [...le(version, 2), ...le(0, 2), ...le(deflate ? 8 : 0, 2), ...le(0, 4),
      ...le(crc, 4), ...le(sizes ? U32 : body.length, 4), ...le(sizes ? U32 : data.length, 4), ...le(nameBytes.length, 2)];
    const local64 = z ? [...le(1, 2), ...le(16, 2), ...le(data.length, 8), ...le(body.length, 8)] : [];
    // Pad the local extra field so that data is 64-byte aligned, as torch does.
    const pad = (64 - ((this.offset + 30 + nameBytes.length + local64.length + 4) % 64)) % 64;
    const extra = [...local64, ...le(0xcafe, 2), ...le(pad, 2), ...new Array<number>(pad).fill(0)];
    const headerAt = this.offset;
    if (!z && headerAt + body.length > U32) throw new Error('zip writer: offsets past 4 GiB need { zip64: true }');
    this.emit(Uint8Array.from([...le(0x04034b50, 4), ...common(z), ...le(extra.length, 2), ...nameBytes, ...extra]));
    this.emit(body);
    const central64 = z ? [...le(1, 2), ...le(24, 2), ...le(data.length, 8), ...le(body.length, 8), ...le(headerAt, 8)] : [];
    this.central.push(Uint8Array.from([...le(0x02014b50, 4), ...le(version, 2), ...common(z), ...le(central64.length, 2),
      ...le(0, 2), ...le(0, 2), ...le(0, 2), ...le(0, 4), ...le(z ? U32 : headerAt, 4), ...nameBytes, ...central64]));
    this.count++;
  }

  /** Central directory and end records. */
  finish(): void {
    const cdOffset = this.offset;
    for (const c of this.central) this.emit(c);
    const cdSize = this.offset - cdOffset;
    const n = this.count;
    if (this.opts.zip64) {
      const z64At = this.offset;
      this.emit(Uint8Array.from([...le(0x06064b50, 4), ...le(44, 8), ...le(45, 2), ...le(45, 2), ...le(0, 4), ...le(0, 4),
        ...le(n, 8), ...le(n, 8), ...le(cdSize, 8), ...le(cdOffset, 8)]));
      this.emit(Uint8Array.from([...le(0x07064b50, 4), ...le(0, 4), ...le(z64At, 8), ...le(1, 4)]));
      this.emit(Uint8Array.from([...le(0x06054b50, 4), 0, 0, 0, 0, ...le(0xffff, 2), ...le(0xffff, 2), ...le(U32, 4), ...le(U32, 4), 0, 0]));
    } else {
      this.emit(Uint8Array.from([...le(0x06054b50, 4), 0, 0, 0, 0, ...le(n, 2), ...le(n, 2), ...le(cdSize, 4), ...le(cdOffset, 4), 0, 0]));
    }
  }
}

export type ZipInput = { name: string; data: Uint8Array; deflate?: boolean };

export function zip(entries: ZipInput[], opts: ZipOptions = {}): Uint8Array {
  const chunks: Uint8Array[] = [];
  const w = new ZipWriter((b) => chunks.push(b), opts);
  for (const e of entries) w.add(e.name, e.data, e.deflate);
  w.finish();
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}

/**
 * Writes a zip to `path` entry by entry (entries may be produced lazily, so a large archive is
 * never in memory). A `{ hole: n }` item leaves n unwritten bytes: the file is sparse there.
 */
export function writeZipFile(path: string, entries: Iterable<ZipInput | { hole: number }>, opts: ZipOptions = {}): number {
  const fd = openSync(path, 'w');
  try {
    const w = new ZipWriter((b, at) => { for (let d = 0; d < b.length;) d += writeSync(fd, b, d, b.length - d, at + d); }, opts);
    for (const e of entries) {
      if ('hole' in e) w.skip(e.hole);
      else w.add(e.name, e.data, e.deflate);
    }
    w.finish();
    return w.position;
  } finally {
    closeSync(fd);
  }
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
