// A small read-only ZIP reader for PyTorch checkpoints (torch.save writes a zip since 1.6).
// Only what torch's writer (miniz) and ordinary zip tools produce is supported: stored or
// deflated entries, ZIP64 sizes/offsets, no encryption, no multi-disk archives.
// Why not fflate's unzipSync: it inflates every entry eagerly and has no ZIP64 support, and a
// multi-GB checkpoint needs both: entries are read on demand, stored ones without a copy.
//
// The archive is read through a `RandomAccessSource`: either bytes in memory (`BytesSource`,
// what `new ZipArchive(bytes)` uses) or a file read with positional reads (`FileSource`,
// `ZipArchive.open(path)`), so a checkpoint larger than Node's 2 GiB readFileSync limit is read
// one entry at a time: the tail (end records), the central directory, then each entry's local
// header and data only when asked for.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { inflateSync } from 'fflate';
import { quote, type WeightsFaultId } from './faults.js';

/** Raised for anything that is not a readable zip: the message says what and where. */
export class ZipError extends Error {
  override readonly name = 'ZipError';
  /** Which weights-file fault this is (its code and hint: ./faults.ts). */
  constructor(message: string, readonly fault: WeightsFaultId = 'zip_structure') {
    super(message);
  }
}

/** Bytes addressed by offset: a file or a buffer. Offsets and lengths are safe integers. */
export interface RandomAccessSource {
  /** Total length in bytes. */
  readonly size: number;
  /**
   * `length` bytes at `offset` (the caller has checked the range against `size`). May be a view
   * into shared memory: treat it as read-only.
   */
  read(offset: number, length: number): Uint8Array;
  /**
   * Fills `dest` with the bytes at `offset` (the caller has checked the range): a positional read
   * straight into the caller's memory, for tensor data that must not be copied twice.
   */
  readInto?(offset: number, dest: Uint8Array): void;
  /** Releases the source (closes the file); further reads fail. */
  close?(): void;
}

/** A source over bytes already in memory; `read` returns views, never copies. */
export class BytesSource implements RandomAccessSource {
  constructor(private readonly bytes: Uint8Array) {}
  get size(): number { return this.bytes.length; }
  read(offset: number, length: number): Uint8Array {
    return this.bytes.subarray(offset, offset + length);
  }
  readInto(offset: number, dest: Uint8Array): void {
    dest.set(this.bytes.subarray(offset, offset + dest.length));
  }
}

// One readSync moves at most this much; Node caps a single read below 2 GiB.
const READ_CHUNK = 1 << 30;

/** A file read with positional reads (`readSync` at offsets): never held in memory as a whole. */
export class FileSource implements RandomAccessSource {
  private fd: number | undefined;
  readonly size: number;

  private constructor(readonly path: string, fd: number) {
    this.fd = fd;
    try {
      this.size = fstatSync(fd).size;
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Opens `path` for reading; fs errors (ENOENT, EACCES, EISDIR on read) pass through. */
  static open(path: string): FileSource {
    return new FileSource(path, openSync(path, 'r'));
  }

  read(offset: number, length: number): Uint8Array {
    if (this.fd === undefined) throw new ZipError(`'${this.path}' was closed`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new ZipError(`bad read of ${length} bytes at ${offset}`);
    }
    let out: Uint8Array;
    try {
      out = new Uint8Array(length);
    } catch {
      throw new ZipError(`cannot allocate ${length} bytes to read from '${this.path}'`);
    }
    this.readInto(offset, out);
    return out;
  }

  readInto(offset: number, dest: Uint8Array): void {
    if (this.fd === undefined) throw new ZipError(`'${this.path}' was closed`);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new ZipError(`bad read of ${dest.length} bytes at ${offset}`);
    const length = dest.length;
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, dest, done, Math.min(READ_CHUNK, length - done), offset + done);
      if (n === 0) throw new ZipError(`truncated zip: '${this.path}' ends at byte ${offset + done}, expected ${offset + length}`, 'zip_truncated');
      done += n;
    }
  }

  close(): void {
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      closeSync(fd);
    }
  }
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
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** A central directory larger than this is a corrupted size field, not a real archive. */
const MAX_CENTRAL_DIRECTORY = 1 << 30;
/** Deflated entries are inflated in memory: torch never deflates, so this only guards corrupt sizes. */
const MAX_INFLATED = 2 ** 31;

/** Little-endian field reads over a chunk that starts at file offset `base` (for messages). */
class Fields {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array, readonly base: number) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u16(o: number): number { return this.view.getUint16(o, true); }
  u32(o: number): number { return this.view.getUint32(o, true); }
  /** A ZIP64 field: read as BigInt, returned as a number only when it is a safe integer. */
  u64(o: number, what: string): number {
    const v = this.view.getBigUint64(o, true);
    if (v > MAX_SAFE) throw new ZipError(`zip64 ${what} ${v} (at offset ${this.base + o}) is beyond 2^53: the file is corrupted`);
    return Number(v);
  }
}

export class ZipArchive {
  readonly entries: ReadonlyMap<string, ZipEntry>;
  private readonly source: RandomAccessSource;

  /** An archive over bytes in memory, or over any random-access source (which it does not close). */
  constructor(source: Uint8Array | RandomAccessSource) {
    this.source = source instanceof Uint8Array ? new BytesSource(source) : source;
    this.entries = this.readCentralDirectory();
  }

  /**
   * Opens the zip file at `path` for reading with positional reads; only the end records and the
   * central directory are read now. `close()` when done. Fs errors pass through; format errors
   * are ZipErrors (the file is closed then).
   */
  static open(path: string): ZipArchive {
    const src = FileSource.open(path);
    try {
      return new ZipArchive(src);
    } catch (e) {
      src.close();
      throw e;
    }
  }

  /** Total size of the archive in bytes. */
  get size(): number { return this.source.size; }

  /** Closes the underlying source (a file opened by `open`); the archive is unusable afterwards. */
  close(): void { this.source.close?.(); }

  /** True when `bytes` starts like a zip (local header or empty-archive EOCD). */
  static looksLikeZip(bytes: Uint8Array): boolean {
    if (bytes.length < 4) return false;
    const sig = bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24);
    return sig >>> 0 === SIG_LOCAL || sig >>> 0 === SIG_EOCD;
  }

  /**
   * The entry's uncompressed bytes. From memory, stored entries are a view into the archive
   * (no copy); from a file, one read of the entry's data. `verify` checks the CRC-32 the
   * archive records, which catches truncated or corrupted files.
   */
  read(name: string, verify = true): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw new ZipError(`zip entry '${name}' not found`);
    if (e.method !== 0 && e.method !== 8) {
      throw new ZipError(`entry '${name}' uses compression method ${e.method}; only stored (0) and deflate (8) are supported`);
    }
    if (e.method === 0 && e.compressedSize !== e.size) throw new ZipError(`stored entry '${name}' has compressed size ${e.compressedSize} != size ${e.size}`, 'zip_entry');
    // Deflate expands at most ~1032:1, so a larger claim is a corrupted size (and would be a huge allocation).
    if (e.method === 8 && (e.size > MAX_INFLATED || e.size > e.compressedSize * 1032 + 1024)) {
      throw new ZipError(`deflated entry '${name}' claims ${e.size} bytes from ${e.compressedSize} compressed: the file is corrupted`, 'zip_entry');
    }
    const start = this.dataStart(e);
    const raw = this.bytesAt(start, e.compressedSize, `data of ${quote(name)}`, 'zip_entry');
    let out: Uint8Array;
    if (e.method === 0) {
      out = raw;
    } else {
      try {
        out = inflateSync(raw, { out: new Uint8Array(e.size) });
      } catch (err) {
        // fflate's own words ("invalid block type") are not for users: name the entry and the fault.
        throw new ZipError(`cannot inflate zip entry ${quote(name)}: its deflate data is corrupt`, 'zip_entry');
      }
    }
    if (verify && crc32(out) !== e.crc32) throw new ZipError(`CRC-32 mismatch in '${name}': the file is corrupted or truncated`, 'zip_crc');
    return out;
  }

  /**
   * Whether `readInto` can fill a destination from this entry directly: it is stored (torch never
   * compresses storages) and the source supports positional reads into caller memory.
   */
  canReadInto(name: string): boolean {
    const e = this.entries.get(name);
    return !!e && e.method === 0 && e.compressedSize === e.size && typeof this.source.readInto === 'function';
  }

  /**
   * Reads the stored entry `name` straight into `dest` (exactly `size` bytes): one positional read,
   * no intermediate buffer. `verify` checks the CRC-32 over `dest` afterwards. Only for entries
   * where `canReadInto` holds.
   */
  readInto(name: string, dest: Uint8Array, verify = true): void {
    const e = this.entries.get(name);
    if (!e) throw new ZipError(`zip entry '${name}' not found`);
    if (!this.canReadInto(name)) throw new ZipError(`entry '${name}' cannot be read in place (compressed, or not a file source)`);
    if (dest.length !== e.size) throw new ZipError(`entry '${name}' has ${e.size} bytes, not ${dest.length}`, 'zip_entry');
    const start = this.dataStart(e);
    const size = this.source.size;
    if (!Number.isSafeInteger(start) || start + e.size > size) {
      throw new ZipError(`truncated zip: data of ${quote(name)} needs bytes ${start}..${start + e.size} but the file has ${size}`, 'zip_entry');
    }
    this.source.readInto!(start, dest);
    if (verify && crc32(dest) !== e.crc32) throw new ZipError(`CRC-32 mismatch in '${name}': the file is corrupted or truncated`, 'zip_crc');
  }

  /** `length` bytes at `offset`, after a bounds check against the archive's size. */
  private bytesAt(offset: number, length: number, what: string, fault: WeightsFaultId = 'zip_truncated'): Uint8Array {
    const size = this.source.size;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new ZipError(`truncated zip: ${what} needs bytes ${offset}..${offset + length} but the file has ${size}`, fault);
    }
    return this.source.read(offset, length);
  }

  private fieldsAt(offset: number, length: number, what: string, fault: WeightsFaultId = 'zip_truncated'): Fields {
    return new Fields(this.bytesAt(offset, length, what, fault), offset);
  }

  /** Finds the end-of-central-directory record in the file's tail; returns the tail and its offset in it. */
  private findEocd(): { tail: Fields; eocd: number } {
    const size = this.source.size;
    // The EOCD record is 22 bytes plus a comment of at most 65535 bytes, at the end; read 20 more
    // so that a ZIP64 locator just before it is in the same chunk.
    const tailLen = Math.min(size, 22 + U16_MAX + 20);
    const tail = this.fieldsAt(size - tailLen, tailLen, 'end of central directory');
    for (let o = tailLen - 22; o >= 0; o--) {
      if (tail.u32(o) === SIG_EOCD && o + 22 + tail.u16(o + 20) <= tailLen) return { tail, eocd: o };
    }
    throw new ZipError(size < 22
      ? `not a zip archive: only ${size} bytes`
      : 'not a zip archive, or truncated: no end-of-central-directory record', 'zip_truncated');
  }

  private readCentralDirectory(): Map<string, ZipEntry> {
    const { tail, eocd } = this.findEocd();
    if (tail.u16(eocd + 4) !== 0 && tail.u16(eocd + 4) !== U16_MAX) throw new ZipError('multi-disk (split) zip archives are not supported');
    let count = tail.u16(eocd + 10);
    let cdSize = tail.u32(eocd + 12);
    let cdOffset = tail.u32(eocd + 16);
    if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
      // ZIP64: a 20-byte locator right before the EOCD points to the 56+ byte ZIP64 EOCD record.
      const loc = eocd - 20;
      if (loc < 0 || tail.u32(loc) !== SIG_ZIP64_LOCATOR) throw new ZipError('zip64 archive without a zip64 end-of-central-directory locator');
      const z = tail.u64(loc + 8, 'end-of-central-directory offset');
      const rec = this.fieldsAt(z, 56, 'zip64 end-of-central-directory record');
      if (rec.u32(0) !== SIG_ZIP64_EOCD) throw new ZipError(`bad zip64 end-of-central-directory signature at offset ${z}`);
      count = rec.u64(32, 'entry count');
      cdSize = rec.u64(40, 'central directory size');
      cdOffset = rec.u64(48, 'central directory offset');
    }
    if (cdSize > MAX_CENTRAL_DIRECTORY) throw new ZipError(`central directory of ${cdSize} bytes is implausibly large: the file is corrupted`);
    if (count * 46 > cdSize) throw new ZipError(`central directory of ${cdSize} bytes cannot hold ${count} entries: the file is corrupted or truncated`);
    const cd = this.fieldsAt(cdOffset, cdSize, 'central directory');
    const entries = new Map<string, ZipEntry>();
    const decoder = new TextDecoder('utf-8');
    const need = (o: number, n: number, i: number): void => {
      if (o + n > cdSize) throw new ZipError(`truncated zip: central directory entry ${i} runs past the central directory (${cdSize} bytes at offset ${cdOffset})`);
    };
    let o = 0;
    for (let i = 0; i < count; i++) {
      need(o, 46, i);
      if (cd.u32(o) !== SIG_CENTRAL) throw new ZipError(`bad central directory entry ${i} at offset ${cdOffset + o}`);
      const flags = cd.u16(o + 8);
      if (flags & 1) throw new ZipError('encrypted zip entries are not supported');
      const method = cd.u16(o + 10);
      const crc = cd.u32(o + 16);
      let compressedSize = cd.u32(o + 20);
      let size = cd.u32(o + 24);
      const nameLen = cd.u16(o + 28), extraLen = cd.u16(o + 30), commentLen = cd.u16(o + 32);
      let localHeaderOffset = cd.u32(o + 42);
      need(o + 46, nameLen + extraLen + commentLen, i);
      const name = decoder.decode(cd.bytes.subarray(o + 46, o + 46 + nameLen));
      // ZIP64 extended information (id 0x0001): 64-bit values, in this order, only for the fields
      // whose 32-bit value is 0xffffffff (then disk number, which is ignored).
      let x = o + 46 + nameLen;
      const xEnd = x + extraLen;
      let zip64Seen = false;
      while (x + 4 <= xEnd) {
        const id = cd.u16(x), len = cd.u16(x + 2);
        if (x + 4 + len > xEnd) throw new ZipError(`extra field of '${name}' runs past its end`);
        if (id === 0x0001) {
          zip64Seen = true;
          let p = x + 4;
          const take = (what: string): number => {
            if (p + 8 > x + 4 + len) throw new ZipError(`zip64 extra field of '${name}' is too short for its ${what}`);
            const v = cd.u64(p, `${what} of '${name}'`);
            p += 8;
            return v;
          };
          if (size === U32_MAX) size = take('size');
          if (compressedSize === U32_MAX) compressedSize = take('compressed size');
          if (localHeaderOffset === U32_MAX) localHeaderOffset = take('local header offset');
        }
        x += 4 + len;
      }
      if (!zip64Seen && (size === U32_MAX || compressedSize === U32_MAX || localHeaderOffset === U32_MAX)) {
        throw new ZipError(`entry '${name}' has a 0xffffffff size or offset but no zip64 extra field`);
      }
      entries.set(name, { name, method, compressedSize, size, crc32: crc, localHeaderOffset });
      o += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  }

  private dataStart(e: ZipEntry): number {
    const o = e.localHeaderOffset;
    const h = this.fieldsAt(o, 30, `local header of '${e.name}'`, 'zip_entry');
    if (h.u32(0) !== SIG_LOCAL) throw new ZipError(`bad local header for ${quote(e.name)} at offset ${o}`, 'zip_entry');
    // torch pads the local extra field so that tensor data is 64-byte aligned: read its length
    // here (it also differs from the central one when the local header carries ZIP64 sizes).
    return o + 30 + h.u16(26) + h.u16(28);
  }
}

let crcTable: Uint32Array | undefined;
// zlib.crc32 (Node >= 20.15) is native and many times faster than the table loop below.
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 (IEEE 802.3), as recorded by zip. */
export function crc32(data: Uint8Array, seed = 0): number {
  if (nativeCrc32) return nativeCrc32(data, seed) >>> 0;
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
