// Hostile weights files: every fault in runtime/weights/faults.ts is produced by a real corrupted
// file (safetensors or torch.save zip), read through the real readers and the real CLI
// (`ldmc convert`), and gives one diagnostic: its own code, the file and the place, a hint.
// Then fast-check (fixed seeds) corrupts valid files at random: only the typed weights error may
// escape, and no V8 / parser-internal wording or line over 200 characters reaches the user.
import { expect } from 'chai';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/main.js';
import { CheckpointError, openTorchCheckpoint, readTorchCheckpoint } from '../../runtime/weights/ckpt.js';
import { WeightsFaults, WeightsFileError, type WeightsFaultId } from '../../runtime/weights/faults.js';
import { parseSafetensors, SafetensorsError } from '../../runtime/weights/safetensors.js';
import { torchPickle, P, zip, type TensorSpec } from './ckpt-writer.js';
import { repoRoot } from '../support/reference.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const f32 = (a: number[]): Uint8Array => new Uint8Array(Float32Array.from(a).buffer);

/** A safetensors file from a header object (or raw header text) and data bytes. */
function st(header: unknown, data: Uint8Array = new Uint8Array(0), rawHeader?: string): Uint8Array {
  const h = text(rawHeader ?? JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}
const GOOD_HEADER = {
  'model.w': { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
  'model.b': { dtype: 'F16', shape: [2], data_offsets: [16, 20] },
  __metadata__: { format: 'pt' },
};
const GOOD_DATA = new Uint8Array([...f32([1, 2, 3, 4]), 0x00, 0x3c, 0x00, 0xc0]);
const goodSt = (): Uint8Array => st(GOOD_HEADER, GOOD_DATA);
const withEntry = (name: string, entry: unknown, data = GOOD_DATA): Uint8Array => st({ ...GOOD_HEADER, [name]: entry }, data);

const SPECS: TensorSpec[] = [
  { name: 'model.w', key: '0', numel: 6, offset: 0, size: [2, 3], stride: [3, 1] },
  { name: 'model.b', key: '0', numel: 6, offset: 4, size: [2], stride: [1] },
  { name: 'model.h', key: '1', numel: 2, offset: 0, size: [2], stride: [1], storage: 'HalfStorage' },
];
function ckpt(pkl: Uint8Array = torchPickle(SPECS), storages: Record<string, Uint8Array> = { '0': f32([1, 2, 3, 4, 5, 6]), '1': new Uint8Array([0, 0x3c, 0, 0xc0]) }, deflatePkl = false): Uint8Array {
  return zip([
    { name: 'archive/data.pkl', data: pkl, deflate: deflatePkl },
    { name: 'archive/byteorder', data: text('little') },
    ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
    { name: 'archive/version', data: text('3\n') },
  ]);
}
/** Offset of the first `sig` (a little-endian u32) at or after `from` whose record names `name` (local: +30, central: +46). */
function findRecord(b: Uint8Array, sig: number, nameAt: number, name?: string, from = 0): number {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength), n = name ? text(name) : undefined;
  for (let o = from; o + 4 <= b.length; o++) {
    if (v.getUint32(o, true) !== sig) continue;
    if (!n || n.every((c, i) => b[o + nameAt + i] === c)) return o;
  }
  throw new Error(`no record ${sig.toString(16)} ${name ?? ''}`);
}
const edit = (b: Uint8Array, f: (c: Uint8Array, v: DataView) => void): Uint8Array => {
  const c = b.slice();
  f(c, new DataView(c.buffer));
  return c;
};

// Wording that must never reach a user: V8's, JSON.parse's, typed arrays', fflate's, a stack.
const INTERNAL = /RangeError|TypeError|SyntaxError|Unexpected token|" is not valid JSON|in JSON at position|Offset is outside the bounds|Invalid typed array length|Maximum call stack|invalid (block type|distance|length\/literal)|unexpected EOF|\n\s+at [^\n]*\(|node:internal|\bundefined\b/;

interface CliRun { code: number; lines: string[] }
/** The real CLI, in process (main + a capturing Io): `ldmc convert FILE OUT`. */
async function convertCli(file: string, out: string): Promise<CliRun> {
  const lines: string[] = [];
  const io = { out: (s: string) => lines.push(...s.split('\n')), err: (s: string) => lines.push(...s.split('\n')), color: false };
  const code = await main(['convert', file, out], io);
  return { code, lines };
}

function expectUserFacing(r: CliRun, what: string, code?: string): void {
  const all = r.lines.join('\n');
  for (const l of r.lines) expect(l.length, `${what}: line over 200 characters: ${l}`).to.be.at.most(200);
  expect(all, what).to.not.match(INTERNAL);
  expect(all, what).to.not.match(/internal error/);
  if (r.code !== 0) {
    expect(r.code, `${what}: ${all}`).to.equal(1);
    expect(r.lines[0], what).to.match(code ? new RegExp(`^ldmc: error\\[${code}\\]: `) : /^ldmc: error\[LDMC6\d\d\]: /);
    expect(r.lines.filter((l) => l.startsWith('  help: ')), `${what}: one hint`).to.have.length(1);
    expect(r.lines.filter((l) => l.startsWith('ldmc: error')), `${what}: one diagnostic`).to.have.length(1);
  }
}

/** What reading `bytes` with the library reader throws (undefined when it reads). */
function readerError(bytes: Uint8Array): unknown {
  try {
    // The CLI's sniffing: a zip, or a legacy torch pickle (its first 4 bytes); else safetensors.
    const isZip = (bytes[0] === 0x50 && bytes[1] === 0x4b) || (bytes[0] === 0x80 && bytes[1] === 0x02 && bytes[2] === 0x8a && bytes[3] === 0x0a);
    if (isZip) {
      const ck = openTorchCheckpoint(bytes);
      for (const k of ck.tensors.keys()) ck.load(k);
      readTorchCheckpoint(bytes);
    } else {
      parseSafetensors(bytes);
    }
    return undefined;
  } catch (e) {
    return e;
  }
}

interface Case { fault: WeightsFaultId; what: string; bytes?: Uint8Array; message: RegExp; cliOnly?: 'missing' | 'huge' }

const CASES: Case[] = [
  { fault: 'not_weights', what: 'a text file', bytes: text('hello, these are not weights at all\n'), message: /its header length field \(\d+\) overruns the 36-byte file/ },
  { fault: 'not_weights', what: 'a 5-byte file', bytes: new Uint8Array(5), message: /the 5-byte file is shorter than a safetensors header length/ },
  { fault: 'cannot_read', what: 'a missing file', cliOnly: 'missing', message: /cannot read it: no such file/ },
  { fault: 'too_large', what: 'a 2 GiB (sparse) safetensors file whose header length is 200 MB', cliOnly: 'huge', message: /its header length field says 200000000 bytes; the format allows at most 100000000/ },
  { fault: 'header_overrun', what: 'a header length past the end', bytes: edit(goodSt(), (_, v) => v.setBigUint64(0, 5000n, true)), message: /safetensors header of 5000 bytes overruns the \d+-byte file/ },
  { fault: 'header_overrun', what: 'a file cut inside its header', bytes: goodSt().subarray(0, 40), message: /safetensors header of \d+ bytes overruns the 40-byte file/ },
  { fault: 'header_json', what: 'a header that is not JSON', bytes: st(null, GOOD_DATA, '{"model.w": {"dtype": "F32",, "shape": [1]}}'), message: /safetensors header is not valid JSON: expected a quoted key, found ',' at byte 36/ },
  { fault: 'header_json', what: 'a header cut short', bytes: st(null, GOOD_DATA, '{"model.w": {"dtype": "F3'), message: /not valid JSON: an unterminated string at byte 33/ },
  { fault: 'header_json', what: 'a header that is not UTF-8', bytes: st(null, GOOD_DATA, '{"a\u00ff": 1}').map((c, i) => (i === 11 ? 0xff : c)), message: /safetensors header \(bytes 8\.\.\d+\) is not valid UTF-8 text/ },
  { fault: 'header_not_object', what: 'a header that is a list', bytes: st([1, 2]), message: /safetensors header is an array, not a JSON object/ },
  { fault: 'header_not_object', what: 'an entry that is a number', bytes: withEntry('x', 7), message: /tensor 'x': its header entry is a number, not a JSON object/ },
  { fault: 'header_not_object', what: '__metadata__ with a number', bytes: st({ ...GOOD_HEADER, __metadata__: { a: 1 } }, GOOD_DATA), message: /__metadata__ is an object, not a JSON object of strings/ },
  { fault: 'entry_field', what: 'no dtype', bytes: withEntry('x', { shape: [1], data_offsets: [0, 4] }), message: /tensor 'x': 'dtype' is missing or not a string/ },
  { fault: 'entry_field', what: 'a string shape', bytes: withEntry('x', { dtype: 'F32', shape: '2', data_offsets: [0, 4] }), message: /tensor 'x': 'shape' is missing or not a list of non-negative integers/ },
  { fault: 'entry_field', what: 'three data_offsets', bytes: withEntry('x', { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] }), message: /tensor 'x': 'data_offsets' is missing or not a pair/ },
  { fault: 'unknown_dtype', what: 'dtype F8', bytes: withEntry('x', { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] }), message: /tensor 'x': dtype 'F8_E4M3' is not one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL/ },
  { fault: 'offsets_outside', what: 'offsets past the data', bytes: withEntry('x', { dtype: 'F32', shape: [2], data_offsets: [16, 24] }), message: /tensor 'x': data_offsets \[16, 24\] outside the 20-byte data section \(file bytes \d+\.\.\d+\)/ },
  { fault: 'offsets_reversed', what: 'reversed offsets', bytes: withEntry('x', { dtype: 'F32', shape: [1], data_offsets: [8, 4] }), message: /tensor 'x': data_offsets \[8, 4\] are reversed/ },
  { fault: 'shape_size', what: 'a shape that needs more bytes', bytes: withEntry('model.w', { dtype: 'F32', shape: [2, 3], data_offsets: [0, 16] }), message: /tensor 'model\.w': shape \[2, 3\] of F32 needs 24 bytes but data_offsets \[0, 16\] hold 16/ },
  { fault: 'offsets_overlap', what: 'overlapping tensors', bytes: withEntry('x', { dtype: 'F32', shape: [1], data_offsets: [12, 16] }), message: /tensor 'x': data_offsets \[12, 16\] overlap tensor 'model\.w' \[0, 16\]|tensor 'model\.w'.*overlap tensor 'x'/ },
  { fault: 'i64_range', what: 'an I64 beyond 2^53', bytes: st({ n: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(new BigInt64Array([2n ** 60n]).buffer)), message: /tensor 'n': I64 value 1152921504606846976 \(element 0\) is beyond 2\^53/ },
  { fault: 'legacy_ckpt', what: 'a legacy torch.save file', bytes: Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]), message: /legacy \(torch < 1\.6\) format/ },
  { fault: 'zip_truncated', what: 'a zip cut before its end record', bytes: ckpt().subarray(0, ckpt().length - 30), message: /not a zip archive, or truncated: no end-of-central-directory record/ },
  { fault: 'zip_truncated', what: 'a central directory past the end', bytes: edit(ckpt(), (b, v) => v.setUint32(b.length - 6, b.length, true)), message: /truncated zip: central directory needs bytes \d+\.\.\d+ but the file has \d+/ },
  { fault: 'zip_entry', what: 'a storage whose local header is damaged', bytes: edit(ckpt(), (b) => { b[findRecord(b, 0x04034b50, 30, 'archive/data/0')] ^= 0xff; }), message: /tensor 'model\.[wb]': bad local header for 'archive\/data\/0' at offset \d+/ },
  { fault: 'zip_entry', what: 'a deflated data.pkl that does not inflate', bytes: edit(ckpt(undefined, undefined, true), (b) => { const o = findRecord(b, 0x04034b50, 30, 'archive/data.pkl'); const v = new DataView(b.buffer); b.fill(0xff, o + 30 + v.getUint16(o + 26, true) + v.getUint16(o + 28, true), o + 30 + v.getUint16(o + 26, true) + v.getUint16(o + 28, true) + 6); }), message: /cannot inflate zip entry 'archive\/data\.pkl': its deflate data is corrupt/ },
  { fault: 'zip_crc', what: 'a flipped byte in a storage', bytes: edit(ckpt(), (b) => { const o = findRecord(b, 0x04034b50, 30, 'archive/data/0'); b[o + 30 + new DataView(b.buffer).getUint16(o + 26, true) + new DataView(b.buffer).getUint16(o + 28, true) + 2] ^= 0x40; }), message: /tensor 'model\.[wb]': CRC-32 mismatch in 'archive\/data\/0'/ },
  { fault: 'zip_structure', what: 'a damaged central directory record', bytes: edit(ckpt(), (b) => { b[findRecord(b, 0x02014b50, 46)] ^= 0xff; }), message: /bad central directory entry 0 at offset \d+/ },
  { fault: 'not_torch_archive', what: 'a zip without data.pkl', bytes: zip([{ name: 'notes.txt', data: text('hi') }]), message: /zip archive has no <name>\/data\.pkl entry/ },
  { fault: 'pickle_corrupt', what: 'a truncated data.pkl', bytes: ckpt(torchPickle(SPECS).subarray(0, 60)), message: /(truncated pickle: needs \d+ more bytes at \d+, input has 60|invalid UTF-8 in a string) \(pickle offset \d+\)/ },
  { fault: 'pickle_refused', what: 'a global that runs code', bytes: ckpt(new P().global('os', 'system').op(0x2e).bytes()), message: /refused global 'os\.system': it is not on the allow-list/ },
  { fault: 'ckpt_unsupported', what: 'a quantized storage', bytes: ckpt(torchPickle([{ ...SPECS[0]!, storage: 'QUInt8Storage' }])), message: /unsupported storage type 'torch\.QUInt8Storage'/ },
  { fault: 'storage_short', what: 'a view past its storage', bytes: ckpt(torchPickle([{ ...SPECS[0]!, size: [2, 4], stride: [4, 1] }])), message: /tensor of size \[2,4\] stride \[4,1\] offset 0 reads element 7 of a storage with 6/ },
  { fault: 'storage_missing', what: 'a storage with no zip entry', bytes: ckpt(torchPickle([{ ...SPECS[0]!, key: '7' }])), message: /storage '7' has no entry 'archive\/data\/7' in the archive/ },
];

describe('weights files: each fault has its own code, place and hint', function () {
  this.timeout(120000);
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'ldmc-weights-faults-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [i, c] of CASES.entries()) {
    const f = WeightsFaults[c.fault];
    it(`${f.code} ${c.fault}: ${c.what}`, async () => {
      if (c.bytes) {
        const err = readerError(c.bytes);
        expect(err, 'the reader throws its typed error').to.be.instanceOf(WeightsFileError);
        expect(err instanceof SafetensorsError || err instanceof CheckpointError).to.equal(true);
        const e = err as WeightsFileError;
        expect(e.code, e.message).to.equal(f.code);
        expect(e.message).to.match(c.message);
        expect(e.message).to.not.match(INTERNAL);
      }
      let file = join(dir, `case${i}.weights`);
      if (c.cliOnly === 'missing') file = join(dir, 'no-such.safetensors');
      else if (c.cliOnly === 'huge') {
        // Sizes alone no longer matter (files of any size are read positionally): a header length
        // past the format's limit does, and is refused before that much is read.
        const fd = openSync(file, 'w');
        try {
          ftruncateSync(fd, 2 ** 31);
          const head = new Uint8Array(9);
          new DataView(head.buffer).setBigUint64(0, 200_000_000n, true);
          head[8] = 0x7b;
          writeSync(fd, head, 0, 9, 0);
        } finally { closeSync(fd); }
      } else writeFileSync(file, c.bytes!);
      const r = await convertCli(file, join(dir, `out${i}.safetensors`));
      if (c.cliOnly === 'huge') rmSync(file);
      expect(r.code, r.lines.join('\n')).to.equal(1);
      expectUserFacing(r, c.what, f.code);
      // The place: the file's path, then what in it (tensor, entry, byte offset).
      expect(r.lines[0]).to.include(`${file}: `);
      expect(r.lines[0]).to.match(c.message);
      expect(r.lines[1]).to.equal(`  help: ${f.hint}`);
    });
  }

  it('every code in the table is produced by one of the files above, and codes are unique', () => {
    const codes = Object.values(WeightsFaults).map((f) => f.code);
    expect(new Set(codes).size, 'unique codes').to.equal(codes.length);
    const produced = new Set(CASES.map((c) => WeightsFaults[c.fault].code));
    expect(codes.filter((c) => !produced.has(c)), 'codes no file produces').to.deep.equal([]);
  });

  it('README lists every code with its title', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    for (const f of Object.values(WeightsFaults)) expect(readme, f.code).to.include(`| ${f.code} | ${f.title} |`);
  });

  it('a hostile tensor name (newlines, 5000 characters) is escaped and clipped; the line stays under 200', async () => {
    const name = `evil\nname\u001b[31m${'x'.repeat(5000)}`;
    const file = join(dir, 'hostile.safetensors');
    writeFileSync(file, withEntry(name, { dtype: 'Q'.repeat(3000), shape: [1], data_offsets: [0, 4] }));
    const r = await convertCli(file, join(dir, 'hostile-out.safetensors'));
    expect(r.code).to.equal(1);
    expectUserFacing(r, 'hostile name', 'LDMC606');
    expect(r.lines[0]).to.include("tensor 'evil\\u000aname\\u001b[31mxxx");
    // A zip entry name with a newline, in a CRC message: escaped, one line.
    const z = zip([{ name: `ar\nch${'y'.repeat(3000)}/data.pkl`, data: torchPickle(SPECS) }]);
    const zfile = join(dir, 'hostile.ckpt');
    writeFileSync(zfile, edit(z, (b) => { const v = new DataView(b.buffer); b[30 + v.getUint16(26, true) + v.getUint16(28, true) + 5] ^= 1; }));
    const rz = await convertCli(zfile, join(dir, 'hostile-ckpt-out.safetensors'));
    expectUserFacing(rz, 'hostile entry name', 'LDMC623');
    expect(rz.lines[0]).to.include("CRC-32 mismatch in 'ar\\u000achyyy");
    const long = join(dir, 'd'.repeat(150), 'x.safetensors');
    const r2 = await convertCli(long, join(dir, 'o.safetensors'));
    expectUserFacing(r2, 'long path', 'LDMC600');
  });

  it('through a real process: code, place and hint on stderr, exit 1, no stack', () => {
    const file = join(dir, 'proc.safetensors');
    writeFileSync(file, withEntry('x', { dtype: 'F32', shape: [2], data_offsets: [16, 24] }));
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'ldmc.js'), 'convert', file, join(dir, 'proc-out.safetensors')], { encoding: 'utf8', timeout: 120000 });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/^ldmc: error\[LDMC607\]: .*proc\.safetensors: tensor 'x': data_offsets \[16, 24\] outside the 20-byte data section/);
    expect(r.stderr).to.include(`  help: ${WeightsFaults.offsets_outside.hint}`);
    expect(r.stderr).to.not.match(INTERNAL);
  });
});

// ------------------------------------------------------------------------------------ fuzzing
const SEED_ST = 20261205, SEED_CKPT = 20261206;
const RUNS = 2000;
const CLI_EVERY = 8; // every 8th case also goes through the CLI (in process)

type Mutation =
  | { kind: 'flip'; at: number; bits: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'bytes'; at: number; data: number[] };

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('bytes' as const), at: fc.nat(), data: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }) }),
);

function mutate(b: Uint8Array, ms: Mutation[]): Uint8Array {
  let out = b.slice();
  for (const m of ms) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    if (m.kind === 'flip') out[at] ^= m.bits;
    else if (m.kind === 'truncate') out = out.slice(0, at);
    else out.set(m.data.slice(0, out.length - at), at);
  }
  return out;
}

/** Header-level corruptions of a safetensors file: fields replaced by hostile values. */
const fieldValue = fc.oneof(
  fc.string({ maxLength: 12 }), fc.integer(), fc.double(), fc.constant(null), fc.boolean(),
  fc.array(fc.integer({ min: -5, max: 40 }), { maxLength: 4 }),
  fc.array(fc.oneof(fc.nat(64), fc.constant(2 ** 53), fc.constant(-1), fc.double()), { minLength: 2, maxLength: 2 }),
  fc.constantFrom('F8', 'F8_E5M2', 'C64', 'f32', '', 'I64', 'U8', 'BF16'),
);
const headerEdit = fc.record({
  tensor: fc.constantFrom('model.w', 'model.b', '__metadata__', 'new'),
  field: fc.constantFrom('dtype', 'shape', 'data_offsets', 'whole'),
  value: fieldValue,
  lengthDelta: fc.oneof(fc.constant(0), fc.integer({ min: -40, max: 40 }), fc.constant(2 ** 40)),
});

describe('weights files: random corruption (fast-check, fixed seeds)', function () {
  this.timeout(300000);
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'ldmc-weights-fuzz-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** One corrupted file: through the reader, and every CLI_EVERY-th through `ldmc convert`. */
  async function check(bytes: Uint8Array, n: number, tally: Map<string, number>): Promise<void> {
    const err = readerError(bytes);
    if (err !== undefined) {
      if (!(err instanceof WeightsFileError)) throw new Error(`case ${n}: ${String(err)} escaped the reader`);
      if (INTERNAL.test(err.message)) throw new Error(`case ${n}: internal wording: ${err.message}`);
      tally.set(err.code, (tally.get(err.code) ?? 0) + 1);
    } else tally.set('ok', (tally.get('ok') ?? 0) + 1);
    if (n % CLI_EVERY === 0) {
      const file = join(dir, `f${n}`);
      writeFileSync(file, bytes);
      const r = await convertCli(file, join(dir, `o${n}.safetensors`));
      expectUserFacing(r, `case ${n}`);
      if (err !== undefined && r.code === 1) expect(r.lines[0]).to.include(`[${(err as WeightsFileError).code}]`);
    }
  }

  const summary = (tally: Map<string, number>): string => [...tally].sort().map(([k, v]) => `${k}×${v}`).join(' ');

  it('safetensors: byte flips, truncations, overwritten header fields, hostile dtypes and offsets', async function () {
    const tally = new Map<string, number>();
    let n = 0;
    await fc.assert(fc.asyncProperty(fc.array(mutation, { maxLength: 3 }), fc.option(headerEdit), async (ms, he) => {
      let bytes = goodSt();
      if (he) {
        const h = JSON.parse(JSON.stringify(GOOD_HEADER)) as Record<string, Record<string, unknown>>;
        if (he.field === 'whole') h[he.tensor] = he.value as never;
        else h[he.tensor] = { ...(h[he.tensor] ?? { dtype: 'F32', shape: [1], data_offsets: [0, 4] }), [he.field]: he.value };
        bytes = st(h, GOOD_DATA);
        if (he.lengthDelta) new DataView(bytes.buffer).setBigUint64(0, BigInt(Math.max(0, bytes.length - 8 - GOOD_DATA.length + he.lengthDelta)), true);
      }
      await check(mutate(bytes, ms), n++, tally);
    }), { seed: SEED_ST, numRuns: RUNS, endOnFailure: true });
    expect(n).to.equal(RUNS);
    expect(tally.size, summary(tally)).to.be.at.least(6); // the corruptions reach many different faults
    this.test!.title += ` [${n} cases, ${Math.ceil(n / CLI_EVERY)} through the CLI: ${summary(tally)}]`;
  });

  it('.ckpt: byte flips and truncations anywhere, and in data.pkl, the storages and the zip records', async function () {
    const tally = new Map<string, number>();
    let n = 0;
    const base = ckpt();
    const deflated = ckpt(undefined, undefined, true);
    const pkl = torchPickle(SPECS);
    await fc.assert(fc.asyncProperty(fc.boolean(), fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.constantFrom('anywhere', 'head', 'tail', 'pickle'), async (deflate, ms, region) => {
      // 'pickle': data.pkl itself corrupted, then zipped with a matching CRC (reaches the unpickler).
      if (region === 'pickle') return check(ckpt(mutate(pkl, ms), undefined, deflate), n++, tally);
      const b = deflate ? deflated : base;
      // Aim some mutations at the first 200 bytes (local header + data.pkl) or the last 300 (central directory + end record).
      const aimed = ms.map((m) => ({ ...m, at: region === 'head' ? m.at % 200 : region === 'tail' ? b.length - 1 - (m.at % 300) : m.at }));
      await check(mutate(b, aimed), n++, tally);
    }), { seed: SEED_CKPT, numRuns: RUNS, endOnFailure: true });
    expect(n).to.equal(RUNS);
    expect(tally.size, summary(tally)).to.be.at.least(8);
    expect(tally.get(WeightsFaults.pickle_corrupt.code), summary(tally)).to.be.above(0);
    this.test!.title += ` [${n} cases, ${Math.ceil(n / CLI_EVERY)} through the CLI: ${summary(tally)}]`;
  });
});
