// The zip reader under torch checkpoints: ZIP64 archives (forced ZIP64 records and extra fields
// as torch and Python's force_zip64 write them), the same archive read from memory and from a
// file with positional reads, offsets past 4 GiB (a sparse 5 GiB file), what a file-backed
// archive actually reads, and ZIP64-specific corruption. Archives are real files written by the
// small zip writer in ckpt-writer.ts (which Python's zipfile and torch.load accept).
import { expect } from 'chai';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, FileSource, ZipArchive, ZipError, type RandomAccessSource } from '../../runtime/weights/zip.js';
import { writeZipFile, zip, type ZipInput } from './ckpt-writer.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const pattern = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + (i >> 8)) & 0xff);

const ENTRIES: ZipInput[] = [
  { name: 'archive/data.pkl', data: pattern(300, 1) },
  { name: 'archive/byteorder', data: text('little') },
  { name: 'archive/data/0', data: pattern(4096, 2) },
  { name: 'archive/data/1', data: pattern(1000, 3), deflate: true },
  { name: 'archive/empty', data: new Uint8Array(0) },
  { name: 'archive/version', data: text('3\n') },
];

function expectZipError(f: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try { f(); } catch (e) { err = e; }
  expect(err, 'expected a ZipError').to.be.instanceOf(ZipError);
  expect((err as Error).message).to.match(pattern);
}

function expectEntries(z: ZipArchive, entries: ZipInput[]): void {
  expect([...z.entries.keys()]).to.deep.equal(entries.map((e) => e.name));
  for (const e of entries) {
    const got = z.read(e.name);
    expect(Buffer.from(got).equals(Buffer.from(e.data)), e.name).to.equal(true);
    expect(z.entries.get(e.name)!.size).to.equal(e.data.length);
    expect(z.entries.get(e.name)!.method).to.equal(e.deflate ? 8 : 0);
  }
}

/** Wraps a real source and records every read: what the archive asked for, in order. */
class RecordingSource implements RandomAccessSource {
  readonly reads: [number, number][] = [];
  constructor(private readonly inner: RandomAccessSource) {}
  get size(): number { return this.inner.size; }
  read(offset: number, length: number): Uint8Array {
    this.reads.push([offset, length]);
    return this.inner.read(offset, length);
  }
  get bytesRead(): number { return this.reads.reduce((a, [, n]) => a + n, 0); }
}

/** Central directory offset, from the ZIP64 end record (the archive's last 98 bytes: 56 + 20 + 22). */
function zip64Layout(b: Uint8Array): { z64: number; cd: number } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const z64 = b.length - 98;
  expect(v.getUint32(z64, true)).to.equal(0x06064b50);
  return { z64, cd: Number(v.getBigUint64(z64 + 48, true)) };
}

describe('runtime/weights/zip', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'ldmc-zip-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('CRC-32 check value and chaining', () => {
    expect(crc32(text('123456789'))).to.equal(0xcbf43926);
    expect(crc32(text('6789'), crc32(text('12345')))).to.equal(0xcbf43926);
    expect(crc32(new Uint8Array(0))).to.equal(0);
  });

  it('reads a forced-ZIP64 archive (ZIP64 end record, locator and extra fields) like the classic one, from memory', () => {
    const classic = zip(ENTRIES), z64 = zip(ENTRIES, { zip64: true });
    // The ZIP64 one really is ZIP64: 0xffff/0xffffffff in the classic end record.
    const v = new DataView(z64.buffer);
    const eocd = z64.length - 22;
    expect(v.getUint32(eocd, true)).to.equal(0x06054b50);
    expect(v.getUint16(eocd + 10, true)).to.equal(0xffff);
    expect(v.getUint32(eocd + 12, true)).to.equal(0xffffffff);
    expect(v.getUint32(eocd + 16, true)).to.equal(0xffffffff);
    expect(v.getUint32(eocd - 20, true)).to.equal(0x07064b50);
    const a = new ZipArchive(classic), b = new ZipArchive(z64);
    expectEntries(a, ENTRIES);
    expectEntries(b, ENTRIES);
    for (const e of ENTRIES) {
      const x = a.entries.get(e.name)!, y = b.entries.get(e.name)!;
      expect([y.crc32, y.size, y.compressedSize, y.method]).to.deep.equal([x.crc32, x.size, x.compressedSize, x.method]);
    }
  });

  it('reads the same archives from a file with positional reads', () => {
    for (const zip64 of [false, true]) {
      const path = join(dir, `a${zip64 ? 64 : 32}.zip`);
      writeZipFile(path, ENTRIES, { zip64 });
      const z = ZipArchive.open(path);
      try {
        expect(z.size).to.equal(statSync(path).size);
        expectEntries(z, ENTRIES);
      } finally {
        z.close();
      }
      expectZipError(() => z.read('archive/data/0'), /was closed/);
    }
  });

  it('a file-backed archive reads only the end records and central directory up front, then one entry at a time', () => {
    const big = pattern(1 << 20, 9);
    const entries: ZipInput[] = [{ name: 'small', data: text('hello') }, { name: 'big', data: big }, { name: 'tail', data: text('bye') }];
    const path = join(dir, 'lazy.zip');
    const size = writeZipFile(path, entries, { zip64: true });
    const file = FileSource.open(path);
    try {
      const src = new RecordingSource(file);
      const z = new ZipArchive(src);
      // Opening: the tail (end record + comment room + locator, capped at the file size), the ZIP64 end record, the central directory.
      expect(src.reads.length).to.equal(3);
      expect(src.bytesRead).to.be.below(70_000);
      expect(src.reads.every(([o, n]) => o + n <= size)).to.equal(true);
      src.reads.length = 0;
      expect(new TextDecoder().decode(z.read('small'))).to.equal('hello');
      // Reading an entry: its 30-byte local header, then exactly its data.
      expect(src.reads.length).to.equal(2);
      expect(src.reads[0]).to.deep.equal([0, 30]);
      expect(src.reads[1]![1]).to.equal(5);
      src.reads.length = 0;
      expect(Buffer.from(z.read('big')).equals(Buffer.from(big))).to.equal(true);
      expect(src.reads.map(([, n]) => n)).to.deep.equal([30, big.length]);
      expect(src.reads[1]![0] % 64).to.equal(0); // torch-style 64-byte alignment survives the ZIP64 local extra
    } finally {
      file.close();
    }
  });

  it('offsets past 4 GiB: a sparse 5 GiB archive with ZIP64 offsets', function () {
    const path = join(dir, 'sparse.zip');
    const hole = 5 * 2 ** 30;
    const entries: ZipInput[] = [{ name: 'first', data: text('at the start') }, { name: 'far', data: pattern(5000, 4) }, { name: 'farther', data: pattern(777, 5), deflate: true }];
    const size = writeZipFile(path, [entries[0]!, { hole }, entries[1]!, entries[2]!], { zip64: true });
    try {
      if (statSync(path).blocks * 512 > 64 * 2 ** 20) {
        this.test!.title += ' (pending: this filesystem has no sparse files)';
        this.skip();
      }
      expect(size).to.be.above(hole);
      const z = ZipArchive.open(path);
      try {
        expect(z.size).to.equal(size);
        expect(z.entries.get('far')!.localHeaderOffset).to.be.above(2 ** 32);
        expect(z.entries.get('farther')!.localHeaderOffset).to.be.above(hole);
        expectEntries(z, entries);
      } finally {
        z.close();
      }
    } finally {
      rmSync(path, { force: true });
    }
  });

  describe('ZIP64 corruption gives a ZipError that says what is wrong', () => {
    const good = zip(ENTRIES, { zip64: true });
    const edit = (f: (b: Uint8Array, v: DataView) => void): Uint8Array => {
      const b = good.slice();
      f(b, new DataView(b.buffer));
      return b;
    };
    const firstCentral = (b: Uint8Array): number => zip64Layout(b).cd;

    it('a 64-bit value beyond 2^53 (offset, size, entry count)', () => {
      // The first central entry's ZIP64 extra holds size, compressed size, local header offset.
      const offsetField = (b: Uint8Array, v: DataView): number => {
        const cd = firstCentral(b);
        return cd + 46 + v.getUint16(cd + 28, true) + 4 + 16;
      };
      expectZipError(() => new ZipArchive(edit((b, v) => { b[offsetField(b, v) + 7] = 0x01; })), /local header offset of 'archive\/data\.pkl' 7205\d+ .*beyond 2\^53/);
      expectZipError(() => new ZipArchive(edit((b, v) => { v.setBigUint64(offsetField(b, v) - 16, 2n ** 63n, true); })), /size of 'archive\/data\.pkl' .*beyond 2\^53/);
      expectZipError(() => new ZipArchive(edit((b, v) => { v.setBigUint64(zip64Layout(b).z64 + 32, 2n ** 60n, true); })), /entry count .*beyond 2\^53/);
      // Safe but too large: past the end of the file.
      expectZipError(() => new ZipArchive(edit((b, v) => { v.setBigUint64(offsetField(b, v), 2n ** 40n, true); })).read('archive/data.pkl'), /truncated zip: local header of 'archive\/data\.pkl' needs bytes 1099511627776\.\./);
      expectZipError(() => new ZipArchive(edit((b, v) => { v.setBigUint64(zip64Layout(b).z64 + 48, 2n ** 33n, true); })), /truncated zip: central directory needs bytes 8589934592\.\./);
    });

    it('a missing locator, a bad ZIP64 end record, a short ZIP64 extra field', () => {
      expectZipError(() => new ZipArchive(edit((b) => { b[b.length - 42] ^= 0xff; })), /zip64 archive without a zip64 end-of-central-directory locator/);
      expectZipError(() => new ZipArchive(edit((b) => { b[zip64Layout(b).z64] ^= 0xff; })), /bad zip64 end-of-central-directory signature at offset \d+/);
      expectZipError(() => new ZipArchive(edit((b, v) => {
        const cd = firstCentral(b);
        v.setUint16(cd + 46 + v.getUint16(cd + 28, true) + 2, 8, true); // ZIP64 field length 24 → 8
      })), /zip64 extra field of 'archive\/data\.pkl' is too short for its compressed size|extra field of 'archive\/data\.pkl' runs past its end/);
      expectZipError(() => new ZipArchive(edit((b, v) => {
        const cd = firstCentral(b);
        v.setUint16(cd + 46 + v.getUint16(cd + 28, true), 0x7777, true); // ZIP64 field id → unknown
      })), /'archive\/data\.pkl' has a 0xffffffff size or offset but no zip64 extra field/);
    });

    it('every truncation, from memory and from a file', () => {
      for (let n = 0; n < good.length; n++) expectZipError(() => new ZipArchive(good.subarray(0, n)), /zip|truncated/);
      const path = join(dir, 'trunc.zip');
      for (const n of [0, 21, 22, 100, good.length - 98, good.length - 23, good.length - 1]) {
        writeFileSync(path, good.subarray(0, n));
        expectZipError(() => ZipArchive.open(path), /zip|truncated/);
      }
    });

    it('random byte flips: a ZipError or CRC-checked bytes, never another exception', function () {
      this.timeout(20000);
      let seed = 4242;
      const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      for (let i = 0; i < 3000; i++) {
        const m = good.slice();
        for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
        try {
          const z = new ZipArchive(m);
          for (const name of z.entries.keys()) z.read(name);
        } catch (e) {
          if (!(e instanceof ZipError)) throw new Error(`mutation ${i} raised ${String(e)}`);
        }
      }
    });
  });
});
