// `ldmc convert` on real files: a checkpoint is streamed (header first, then one tensor at a
// time) into safetensors. Checked bit for bit against expected F32 values, on forced-ZIP64
// archives, on a sparse 5 GiB archive with offsets past 4 GiB, for memory (a 200 MB checkpoint
// converts with a small fraction of its size in peak RSS), for errors (a corrupted tensor:
// clear message, no output, no temporary file), and, when /usr/bin/python3 has torch, against
// checkpoints written by torch.save itself (and re-zipped by Python with force_zip64).
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertWeights } from '../../cli/convert.js';
import { CliError } from '../../cli/errors.js';
import { readTorchCheckpoint } from '../../runtime/weights/ckpt.js';
import { parseSafetensors, serializeSafetensors } from '../../runtime/weights/safetensors.js';
import { torchPickle, writeZipFile, zip, type TensorSpec, type ZipInput } from '../runtime/ckpt-writer.js';
import { repoRoot } from '../support/reference.js';

const bin = join(repoRoot, 'bin', 'ldmc.js');
const ldmc = (args: string[]) => {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

const bits = (u: number[]): Uint8Array => new Uint8Array(Uint32Array.from(u).buffer);
const f32 = (a: number[]): Uint8Array => new Uint8Array(Float32Array.from(a).buffer);
const u16 = (a: number[]): Uint8Array => new Uint8Array(Uint16Array.from(a).buffer);
const i64 = (a: bigint[]): Uint8Array => new Uint8Array(BigInt64Array.from(a).buffer);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

// Storage 0: F32 bit patterns that a lossy path would change: -0, a NaN with a payload, the
// smallest denormal, ±Inf, the largest float, 1/3.
const S0 = [0x80000000, 0x7fc00123, 0x00000001, 0x7f800000, 0xff800000, 0x7f7fffff, 0x3eaaaaab, 0x40490fdb];
const SPECS: TensorSpec[] = [
  { name: 'model.w', key: '0', numel: 8, offset: 0, size: [2, 4], stride: [4, 1] },
  { name: 'model.wt', key: '0', numel: 8, offset: 0, size: [4, 2], stride: [1, 4] }, // transposed view
  { name: 'model.b', key: '0', numel: 8, offset: 5, size: [3], stride: [1] }, // offset view
  { name: 'model.h', key: '1', numel: 4, offset: 0, size: [4], stride: [1], storage: 'HalfStorage' },
  { name: 'model.bf', key: '2', numel: 2, offset: 0, size: [2], stride: [1], storage: 'BFloat16Storage' },
  { name: 'model_ema.num_updates', key: '3', numel: 1, offset: 0, size: [], stride: [], storage: 'LongStorage' },
  { name: 'first_stage_model.quant_conv.bias', key: '4', numel: 2, offset: 0, size: [2], stride: [1] },
];
const STORAGES: Record<string, Uint8Array> = {
  '0': bits(S0),
  '1': u16([0x3c00, 0xc100, 0x2e66, 0x7bff]), // 1, -2.5, 0.0999755859375, 65504
  '2': u16([0x3f80, 0xc0a0]), // 1, -5
  '3': i64([123456n]),
  '4': f32([7, 8]),
};
/** What convert must write, as F32 bit patterns. */
const EXPECTED: Record<string, { shape: number[]; bits: number[] }> = {
  'model.w': { shape: [2, 4], bits: S0 },
  'model.wt': { shape: [4, 2], bits: [0, 4, 1, 5, 2, 6, 3, 7].map((i) => S0[i]!) },
  'model.b': { shape: [3], bits: S0.slice(5, 8) },
  'model.h': { shape: [4], bits: [...new Uint32Array(Float32Array.from([1, -2.5, 0.0999755859375, 65504]).buffer)] },
  'model.bf': { shape: [2], bits: [0x3f800000, 0xc0a00000] },
  'model_ema.num_updates': { shape: [], bits: [...new Uint32Array(Float32Array.from([123456]).buffer)] },
  'first_stage_model.quant_conv.bias': { shape: [2], bits: [...new Uint32Array(Float32Array.from([7, 8]).buffer)] },
};

function entries(storages = STORAGES, deflate = false): ZipInput[] {
  return [
    { name: 'archive/data.pkl', data: torchPickle(SPECS, (p) => { p.str('epoch'); p.int(3); }), deflate },
    { name: 'archive/byteorder', data: text('little') },
    ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
    { name: 'archive/version', data: text('3\n') },
  ];
}

/** The safetensors file's header and each tensor's raw bytes, read by hand (not by the code under test). */
function readSafetensorsRaw(path: string): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>; metadata: unknown; raw: Map<string, Uint8Array> } {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  expect(n % 8).to.equal(0);
  const { __metadata__: metadata, ...header } = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<string, never>;
  const raw = new Map<string, Uint8Array>();
  let end = 0;
  for (const [k, e] of Object.entries(header) as [string, { data_offsets: [number, number] }][]) {
    raw.set(k, b.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]));
    end = Math.max(end, e.data_offsets[1]);
  }
  expect(8 + n + end).to.equal(b.length);
  return { header, metadata, raw };
}

function expectConverted(path: string, expected: Record<string, { shape: number[]; bits: number[] }>): void {
  const { header, metadata, raw } = readSafetensorsRaw(path);
  const names = Object.keys(expected).sort();
  expect(Object.keys(header)).to.deep.equal(names); // sorted, as serializeSafetensors writes them
  let offset = 0;
  for (const k of names) {
    const e = expected[k]!;
    expect(header[k], k).to.deep.equal({ dtype: 'F32', shape: e.shape, data_offsets: [offset, offset + 4 * e.bits.length] });
    offset += 4 * e.bits.length;
    expect(Buffer.from(raw.get(k)!).equals(Buffer.from(bits(e.bits))), `${k} bit for bit`).to.equal(true);
  }
  expect(metadata).to.deep.equal({ format: 'pt', converted_by: 'ldmc' });
}

function listDir(dir: string): string[] { return readdirSync(dir).sort(); }

/** Python with torch, for the cross-checks against real torch.save files; undefined when absent. */
function torchPython(): string | undefined {
  for (const py of [process.env.LDMC_PYTHON, '/usr/bin/python3', 'python3']) {
    if (!py) continue;
    const r = spawnSync(py, ['-c', 'import torch, numpy'], { encoding: 'utf8', timeout: 60000 });
    if (r.status === 0) return py;
  }
  return undefined;
}

describe('ldmc convert (streaming)', function () {
  this.timeout(60000);
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'ldmc-convert-stream-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('converts a forced-ZIP64 checkpoint bit for bit (views, strides, F16/BF16/I64, NaN payloads, -0, denormals)', () => {
    for (const [zip64, deflate] of [[true, false], [false, false], [true, true]] as const) {
      const ckpt = join(dir, `m-${zip64}-${deflate}.ckpt`), out = join(dir, `m-${zip64}-${deflate}.safetensors`);
      writeZipFile(ckpt, entries(STORAGES, deflate), { zip64 });
      const r = convertWeights(ckpt, out);
      expect(r.tensors).to.equal(7);
      expect(r.elements).to.equal(8 + 8 + 3 + 4 + 2 + 1 + 2);
      expect(r.converted).to.deep.equal(['model_ema.num_updates (I64)']);
      expectConverted(out, EXPECTED);
    }
    expect(listDir(dir).filter((f) => f.includes('.tmp-'))).to.deep.equal([]);
  });

  it('writes the same bytes as the in-memory reader + serializeSafetensors', () => {
    // Without the NaN (a NaN's payload through a JS number is not guaranteed).
    const storages = { ...STORAGES, '0': f32([-0, 1e-45, Infinity, -Infinity, 3.4e38, 1 / 3, Math.PI, 2]) };
    const ckpt = join(dir, 'same.ckpt'), out = join(dir, 'same.safetensors');
    writeZipFile(ckpt, entries(storages), { zip64: true });
    convertWeights(ckpt, out);
    const ck = readTorchCheckpoint(zip(entries(storages), { zip64: true }));
    const inMemory = serializeSafetensors(new Map([...ck.tensors].map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(t.data as ArrayLike<number>) }])), { format: 'pt', converted_by: 'ldmc' });
    expect(Buffer.from(readFileSync(out)).equals(Buffer.from(inMemory))).to.equal(true);
    expect([...parseSafetensors(readFileSync(out)).tensors.keys()]).to.have.length(7);
  });

  it('reports the bytes written through the shared progress reporter, and stays quiet when it is quick', () => {
    const ckpt = join(dir, 'progress.ckpt');
    writeZipFile(ckpt, entries(), { zip64: true });
    const lines: string[] = [];
    convertWeights(ckpt, join(dir, 'progress.safetensors'), undefined, { tty: false, write: (s) => void lines.push(s) }, 0);
    // 28 values as F32: 112 bytes, in 7 tensors; a log line at each 10% mark crossed, the last at 100%.
    expect(lines.length).to.be.within(2, 7);
    expect(lines.every((l) => l.startsWith('ldmc: converting  ') && l.endsWith('\n'))).to.equal(true);
    const done = lines.map((l) => Number(/ (\d+) B\/112 B /.exec(l)![1]));
    expect(done).to.deep.equal([...done].sort((x, y) => x - y));
    expect(lines.at(-1)).to.match(/ 112 B\/112 B \(100%\) .* in all\n$/);
    const quiet: string[] = [];
    convertWeights(ckpt, join(dir, 'quiet.safetensors'), undefined, { tty: false, write: (s) => void quiet.push(s) });
    expect(quiet).to.deep.equal([]);
  });

  it('reads only the selected tensors: a corrupted one outside --select does not matter', () => {
    const bad = { ...STORAGES, '0': STORAGES['0']!.slice() };
    const ckpt = join(dir, 'bad0.ckpt');
    writeZipFile(ckpt, entries(bad), { zip64: true });
    // Flip a byte of storage 0 in the file (after the CRC was computed from the good bytes).
    const file = readFileSync(ckpt);
    const at = file.indexOf(Buffer.from(STORAGES['0']!));
    file[at + 9] ^= 0x40;
    writeFileSync(ckpt, file);
    const out = join(dir, 'fs.safetensors');
    const r = convertWeights(ckpt, out, 'first_stage_model.');
    expect(r.tensors).to.equal(1);
    expectConverted(out, { 'quant_conv.bias': EXPECTED['first_stage_model.quant_conv.bias']! });
    let err: unknown;
    try { convertWeights(ckpt, join(dir, 'all.safetensors')); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(CliError);
    expect((err as CliError).code).to.equal('LDMC623');
    expect((err as Error).message).to.match(/bad0\.ckpt: tensor 'model\.b': CRC-32 mismatch in 'archive\/data\/0': the file is corrupted or truncated/);
    expect(existsSync(join(dir, 'all.safetensors'))).to.equal(false);
  });

  it('a failure mid-stream leaves no output, no temporary file, and an older output untouched (CLI)', () => {
    const sub = mkdtempSync(join(dir, 'fail-'));
    const ckpt = join(sub, 'm.ckpt'), out = join(sub, 'out.safetensors');
    writeZipFile(ckpt, entries(), { zip64: true });
    const file = readFileSync(ckpt);
    file[file.indexOf(Buffer.from(STORAGES['4']!)) + 2] ^= 1; // first_stage_model.* sorts first: fails after the header
    writeFileSync(ckpt, file);
    writeFileSync(out, 'previous output');
    const r = ldmc(['convert', ckpt, out]);
    expect(r.code, r.err).to.equal(1);
    expect(r.err).to.match(/ldmc: error\[LDMC623\]: .*m\.ckpt: tensor 'first_stage_model\.quant_conv\.bias': CRC-32 mismatch/);
    expect(r.err).not.to.match(/\n\s+at .+:\d+:\d+/);
    expect(listDir(sub)).to.deep.equal(['m.ckpt', 'out.safetensors']);
    expect(readFileSync(out, 'utf8')).to.equal('previous output');
    const missing = ldmc(['convert', join(sub, 'nope.ckpt'), out]);
    expect(missing.code).to.equal(1);
    expect(missing.err).to.match(/ldmc: error\[LDMC600\]: .*nope\.ckpt: cannot read it: no such file/);
    const notDir = ldmc(['convert', ckpt, join(ckpt, 'x.safetensors'), '--select', 'model.w']);
    expect(notDir.code).to.equal(1);
    expect(notDir.err).to.match(/ldmc: error: cannot write '.*x\.safetensors': /);
  });

  it('a checkpoint larger than 4 GiB: sparse file, ZIP64 offsets, through the CLI', function () {
    const ckpt = join(dir, 'huge.ckpt'), out = join(dir, 'huge.safetensors');
    const [pkl, byteorder, ...rest] = entries();
    const size = writeZipFile(ckpt, [pkl!, byteorder!, { hole: 5 * 2 ** 30 }, ...rest], { zip64: true });
    try {
      if (statSync(ckpt).blocks * 512 > 64 * 2 ** 20) {
        this.test!.title += ' (pending: this filesystem has no sparse files)';
        this.skip();
      }
      expect(size).to.be.above(5 * 2 ** 30);
      const r = ldmc(['convert', ckpt, out]);
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.match(/wrote .*huge\.safetensors: 7 tensors, 28 values/);
      expectConverted(out, EXPECTED);
    } finally {
      rmSync(ckpt, { force: true });
    }
  });

  it('peak memory stays far below the checkpoint size (200 MB, 50 tensors of 4 MB)', function () {
    const N = 50, M = 1 << 20;
    const specs: TensorSpec[] = Array.from({ length: N }, (_, i) => ({ name: `layer.${String(i).padStart(2, '0')}.weight`, key: String(i), numel: M, offset: 0, size: [1024, 1024], stride: [1024, 1] }));
    const value = (i: number, j: number): number => i + j / M;
    const ckpt = join(dir, 'big.ckpt'), out = join(dir, 'big.safetensors');
    const t0 = performance.now();
    const size = writeZipFile(ckpt, (function* () {
      yield { name: 'archive/data.pkl', data: torchPickle(specs) };
      for (let i = 0; i < N; i++) yield { name: `archive/data/${i}`, data: new Uint8Array(Float32Array.from({ length: M }, (_, j) => value(i, j)).buffer) };
      yield { name: 'archive/version', data: text('3\n') };
    })(), { zip64: true });
    const t1 = performance.now();
    // A child process: its peak RSS (maxRSS) before and after converting.
    const script = `const { convertWeights } = await import(${JSON.stringify(join(repoRoot, 'dist', 'cli', 'convert.js'))});
      const before = process.resourceUsage().maxRSS;
      convertWeights(process.argv[1], process.argv[2]);
      console.log(JSON.stringify({ before, after: process.resourceUsage().maxRSS }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, ckpt, out], { encoding: 'utf8', timeout: 60000 });
    const t2 = performance.now();
    try {
      expect(r.status, r.stderr).to.equal(0);
      const { before, after } = JSON.parse(r.stdout) as { before: number; after: number };
      const growth = (after - before) * 1024;
      this.test!.title += ` [${(size / 2 ** 20).toFixed(0)} MB: written in ${((t1 - t0) / 1000).toFixed(1)} s, converted in ${((t2 - t1) / 1000).toFixed(1)} s, peak RSS +${(growth / 2 ** 20).toFixed(0)} MB]`;
      // Reading the file whole adds its size at least, the old convert about twice that; streaming
      // adds a few tensors plus what the GC has not collected yet (40-50 MB here).
      expect(growth).to.be.below(size / 2);
      // Spot-check the output with positional reads: header, then two tensors' first and last values.
      expect(statSync(out).size).to.be.above(N * M * 4);
      const fd = openSync(out, 'r');
      try {
        const lenBuf = Buffer.alloc(8);
        readSync(fd, lenBuf, 0, 8, 0);
        const n = Number(lenBuf.readBigUInt64LE(0));
        const headBuf = Buffer.alloc(n);
        readSync(fd, headBuf, 0, n, 8);
        const header = JSON.parse(headBuf.toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
        for (const i of [0, 37]) {
          const e = header[`layer.${String(i).padStart(2, '0')}.weight`]!;
          const v = Buffer.alloc(4);
          readSync(fd, v, 0, 4, 8 + n + e.data_offsets[0]);
          expect(v.readFloatLE(0)).to.equal(Math.fround(value(i, 0)));
          readSync(fd, v, 0, 4, 8 + n + e.data_offsets[1] - 4);
          expect(v.readFloatLE(0)).to.equal(Math.fround(value(i, M - 1)));
        }
      } finally {
        closeSync(fd);
      }
    } finally {
      rmSync(ckpt, { force: true });
      rmSync(out, { force: true });
    }
  });

  describe('against torch.save (needs python3 with torch)', () => {
    let py: string | undefined;
    before(function () {
      this.timeout(120000);
      py = torchPython();
    });

    it('a real torch.save checkpoint, and the same re-zipped by Python with force_zip64, convert to torch\'s own float32 values', function () {
      if (!py) {
        this.test!.title += ' (pending: no python3 with torch; set LDMC_PYTHON)';
        this.skip();
      }
      const ckpt = join(dir, 'torch.ckpt'), z64 = join(dir, 'torch64.ckpt'), expected = join(dir, 'expected');
      const script = String.raw`
import json, sys, zipfile, torch
ckpt, z64, expected = sys.argv[1:4]
g = torch.Generator().manual_seed(0)
conv = torch.nn.Conv2d(3, 4, 3)
base = torch.randn(6, 5, generator=g)
sd = {
  'model.conv.weight': conv.weight.detach(), 'model.conv.bias': conv.bias.detach(),
  'model.t': base.t(), 'model.row': base[2], 'model.col': base[:, 1], 'model.half': torch.randn(3, 4, generator=g).half(),
  'model.bf16': torch.randn(5, generator=g).to(torch.bfloat16), 'model.steps': torch.tensor([1, -7, 2**40]),
  'model.scalar': torch.tensor(0.5), 'model.special': torch.tensor([-0.0, float('inf'), float('-inf'), 1e-45, 3.4e38]),
  'model.param': torch.nn.Parameter(torch.arange(6.).reshape(2, 3)),
}
torch.save({'epoch': 1, 'global_step': 10, 'state_dict': sd}, ckpt)
with zipfile.ZipFile(ckpt) as src, zipfile.ZipFile(z64, 'w', zipfile.ZIP_STORED) as dst:
  for info in src.infolist():
    with dst.open(zipfile.ZipInfo(info.filename), 'w', force_zip64=True) as f: f.write(src.read(info))
index = {}
with open(expected + '.bin', 'wb') as f:
  for k, v in sd.items():
    b = v.detach().float().contiguous().numpy().tobytes(); index[k] = {'shape': list(v.shape), 'offset': f.tell(), 'bytes': len(b)}; f.write(b)
json.dump(index, open(expected + '.json', 'w'))
`;
      const r = spawnSync(py!, ['-c', script, ckpt, z64, expected], { encoding: 'utf8', timeout: 120000 });
      expect(r.status, r.stderr).to.equal(0);
      const index = JSON.parse(readFileSync(`${expected}.json`, 'utf8')) as Record<string, { shape: number[]; offset: number; bytes: number }>;
      const bin = readFileSync(`${expected}.bin`);
      const want: Record<string, { shape: number[]; bits: number[] }> = {};
      for (const [k, e] of Object.entries(index)) {
        const b = bin.subarray(e.offset, e.offset + e.bytes);
        want[k] = { shape: e.shape, bits: [...new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))] };
      }
      for (const input of [ckpt, z64]) {
        const out = `${input}.safetensors`;
        const res = ldmc(['convert', input, out]);
        expect(res.code, res.err).to.equal(0);
        expect(res.err).to.match(/note: stored as F32: model\.steps \(I64\)/);
        expectConverted(out, want);
      }
    });
  });
});
