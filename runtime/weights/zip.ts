// A small read-only ZIP reader for PyTorch checkpoints (torch.save writes a zip since 1.6).
// Only what torch's writer (miniz) and ordinary zip tools produce is supported: stored or
// deflated entries, ZIP64 sizes/offsets, no encryption, no multi-disk archives.
// Why not fflate's unzipSync: it inflates every entry eagerly and has no ZIP64 support, and a
// multi-GB checkpoint needs both: entries are read on demand, stored ones without a copy.
import { inflateSync } from 'fflate';

/** Raised for anything that is not a readable zip: the message says what and where. */
export class ZipError extends Error {
  override readonly name = 'ZipError';
}

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate. */
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly crc32: number;
  /** Offset of the local file header. */
  readonly localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;

export class ZipArchive {
  readonly entries: ReadonlyMap<string, ZipEntry>;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.entries = this.readCentralDirectory();
  }

  /** True when `bytes` starts like a zip (local header or empty-archive EOCD). */
  static looksLikeZip(bytes: Uint8Array): boolean {
    if (bytes.length < 4) return false;
    const sig = bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24);
    return sig >>> 0 === SIG_LOCAL || sig >>> 0 === SIG_EOCD;
  }

  /**
   * The entry's uncompressed bytes. Stored entries are a view into the archive (no copy).
   * `verify` checks the CRC-32 the archive records, which catches truncated or corrupted files.
   */
  read(name: string, verify = true): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw new ZipError(`zip entry '${name}' not found`);
    const start = this.dataStart(e);
    this.need(start, e.compressedSize, `data of '${name}'`);
    const raw = this.bytes.subarray(start, start + e.compressedSize);
    let out: Uint8Array;
    if (e.method === 0) {
      if (e.compressedSize !== e.size) throw new ZipError(`stored entry '${name}' has compressed size ${e.compressedSize} != size ${e.size}`);
      out = raw;
    } else if (e.method === 8) {
      try {
        out = inflateSync(raw, { out: new Uint8Array(e.size) });
      } catch (err) {
        throw new ZipError(`cannot inflate '${name}': ${(err as Error).message}`);
      }
    } else {
      throw new ZipError(`entry '${name}' uses compression method ${e.method}; only stored (0) and deflate (8) are supported`);
    }
    if (verify && crc32(out) !== e.crc32) throw new ZipError(`CRC-32 mismatch in '${name}': the file is corrupted or truncated`);
    return out;
  }

  private need(offset: number, length: number, what: string): void {
    if (offset < 0 || length < 0 || offset + length > this.bytes.length) {
      throw new ZipError(`truncated zip: ${what} needs bytes ${offset}..${offset + length} but the file has ${this.bytes.length}`);
    }
  }

  private u16(o: number): number { return this.view.getUint16(o, true); }
  private u32(o: number): number { return this.view.getUint32(o, true); }
  private u64(o: number): number {
    const v = this.view.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError(`zip64 value ${v} at offset ${o} is too large`);
    return Number(v);
  }

  private findEocd(): number {
    // The EOCD record is 22 bytes plus a comment of at most 65535 bytes, at the end.
    const min = Math.max(0, this.bytes.length - 22 - 0xffff);
    for (let o = this.bytes.length - 22; o >= min; o--) {
      if (this.u32(o) === SIG_EOCD && o + 22 + this.u16(o + 20) <= this.bytes.length) return o;
    }
    throw new ZipError(this.bytes.length < 22
      ? `not a zip archive: only ${this.bytes.length} bytes`
      : 'not a zip archive, or truncated: no end-of-central-directory record');
  }

  private readCentralDirectory(): Map<string, ZipEntry> {
    const eocd = this.findEocd();
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);
    if (count === 0xffff || cdSize === U32_MAX || cdOffset === U32_MAX) {
      const loc = eocd - 20;
      if (loc < 0 || this.u32(loc) !== SIG_ZIP64_LOCATOR) throw new ZipError('zip64 archive without a zip64 locator');
      const z = this.u64(loc + 8);
      this.need(z, 56, 'zip64 end-of-central-directory');
      if (this.u32(z) !== SIG_ZIP64_EOCD) throw new ZipError('bad zip64 end-of-central-directory signature');
      count = this.u64(z + 32);
      cdSize = this.u64(z + 40);
      cdOffset = this.u64(z + 48);
    }
    this.need(cdOffset, cdSize, 'central directory');
    const entries = new Map<string, ZipEntry>();
    const decoder = new TextDecoder('utf-8');
    let o = cdOffset;
    for (let i = 0; i < count; i++) {
      this.need(o, 46, `central directory entry ${i}`);
      if (this.u32(o) !== SIG_CENTRAL) throw new ZipError(`bad central directory entry ${i} at offset ${o}`);
      const flags = this.u16(o + 8);
      if (flags & 1) throw new ZipError('encrypted zip entries are not supported');
      const method = this.u16(o + 10);
      const crc = this.u32(o + 16);
      let compressedSize = this.u32(o + 20);
      let size = this.u32(o + 24);
      const nameLen = this.u16(o + 28), extraLen = this.u16(o + 30), commentLen = this.u16(o + 32);
      let localHeaderOffset = this.u32(o + 42);
      this.need(o + 46, nameLen + extraLen + commentLen, `central directory entry ${i}`);
      const name = decoder.decode(this.bytes.subarray(o + 46, o + 46 + nameLen));
      // ZIP64 extra field: the 64-bit values appear in this order, only for the fields set to 0xffffffff.
      let x = o + 46 + nameLen;
      const xEnd = x + extraLen;
      while (x + 4 <= xEnd) {
        const id = this.u16(x), len = this.u16(x + 2);
        if (id === 0x0001) {
          let p = x + 4;
          if (size === U32_MAX) { size = this.u64(p); p += 8; }
          if (compressedSize === U32_MAX) { compressedSize = this.u64(p); p += 8; }
          if (localHeaderOffset === U32_MAX) { localHeaderOffset = this.u64(p); p += 8; }
        }
        x += 4 + len;
      }
      entries.set(name, { name, method, compressedSize, size, crc32: crc, localHeaderOffset });
      o += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  }

  private dataStart(e: ZipEntry): number {
    const o = e.localHeaderOffset;
    this.need(o, 30, `local header of '${e.name}'`);
    if (this.u32(o) !== SIG_LOCAL) throw new ZipError(`bad local header for '${e.name}' at offset ${o}`);
    // torch pads the local extra field so that tensor data is 64-byte aligned: read its length here.
    return o + 30 + this.u16(o + 26) + this.u16(o + 28);
  }
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3), as recorded by zip. */
export function crc32(data: Uint8Array, seed = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = ~seed >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
