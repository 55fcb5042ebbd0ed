// PyTorch checkpoint import. There is no torch here, so the fixtures are built byte by byte by
// the small pickle + zip writer below (the same structure torch.save emits), and cross-checked
// against test/fixtures/ckpt/python_p{2,4}.ckpt, written by Python's own pickle module
// (test/fixtures/ckpt/make_fixtures.py).
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CheckpointError, CkptTensor, CkptTensorRef, extractStateDict, openTorchCheckpoint, readTorchCheckpoint, selectPrefix,
} from '../../runtime/weights/ckpt.js';
import { PickleError, PickleObject, isTuple, pickleAttributes } from '../../runtime/weights/pickle.js';
import { FileSource, ZipError } from '../../runtime/weights/zip.js';
import { P, torchPickle, zip, type TensorSpec } from './ckpt-writer.js';
import { repoRoot } from '../support/reference.js';

const f32bytes = (a: number[]): Uint8Array => new Uint8Array(Float32Array.from(a).buffer);
function range(n: number): number[];
function range<T>(n: number, f: (i: number) => T): T[];
function range(n: number, f: (i: number) => unknown = (i) => i): unknown[] { return Array.from({ length: n }, (_, i) => f(i)); }

function checkpoint(pkl: Uint8Array, storages: Record<string, number[]>, deflate = false): Uint8Array {
  return zip([
    { name: 'archive/data.pkl', data: pkl, deflate },
    { name: 'archive/byteorder', data: new TextEncoder().encode('little') },
    ...Object.entries(storages).map(([k, v], i) => ({ name: `archive/data/${k}`, data: f32bytes(v), deflate: deflate && i % 2 === 0 })),
    { name: 'archive/version', data: new TextEncoder().encode('3\n') },
  ]);
}

const SPECS: TensorSpec[] = [
  { name: 'encoder.conv_in.weight', key: '0', numel: 60, offset: 0, size: [2, 3, 3, 3], stride: [27, 9, 3, 1] },
  { name: 'encoder.conv_in.bias', key: '0', numel: 60, offset: 54, size: [2], stride: [1] },
  { name: 'decoder.t', key: '1', numel: 6, offset: 0, size: [3, 2], stride: [1, 3] },
  ...range(300, (i) => ({ name: `many.${i}`, key: '2', numel: 300, offset: i, size: [1], stride: [1] })), // LONG_BINPUT ids
];
const STORAGES = { '0': range(60, (i) => i / 7 - 1), '1': range(6, (i) => i * 10), '2': range(300, (i) => -i) };

function expectCheckpointError(f: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try { f(); } catch (e) { err = e; }
  expect(err, 'expected a CheckpointError').to.be.instanceOf(CheckpointError);
  expect((err as Error).message).to.match(pattern);
}

describe('runtime/weights/ckpt', () => {
  it('reads a torch.save-shaped checkpoint (stored entries, memo, views, strides)', () => {
    const ck = readTorchCheckpoint(checkpoint(torchPickle(SPECS), STORAGES));
    expect([...ck.tensors.keys()].slice(0, 3)).to.deep.equal(['encoder.conv_in.weight', 'encoder.conv_in.bias', 'decoder.t']);
    expect(ck.tensors.size).to.equal(303);
    const w = ck.tensors.get('encoder.conv_in.weight')!;
    expect(w.dtype).to.equal('F32');
    expect(w.shape).to.deep.equal([2, 3, 3, 3]);
    expect([...w.data]).to.deep.equal([...Float32Array.from(STORAGES['0'].slice(0, 54))]);
    expect([...ck.tensors.get('encoder.conv_in.bias')!.data]).to.deep.equal([...Float32Array.from(STORAGES['0'].slice(54, 56))]);
    // [3,2] with stride [1,3] is the transpose of a [2,3] row-major block: made contiguous.
    expect([...ck.tensors.get('decoder.t')!.data]).to.deep.equal([0, 30, 10, 40, 20, 50]);
    expect([...ck.tensors.get('many.299')!.data]).to.deep.equal([-299]);
    expect(ck.placeholderGlobals).to.deep.equal([]);
  });

  it('reads deflated entries the same way', () => {
    const a = readTorchCheckpoint(checkpoint(torchPickle(SPECS), STORAGES, true));
    const b = readTorchCheckpoint(checkpoint(torchPickle(SPECS), STORAGES, false));
    for (const [k, t] of b.tensors) expect([...a.tensors.get(k)!.data], k).to.deep.equal([...t.data]);
  });

  for (const proto of [2, 4]) {
    it(`agrees with Python's pickle (protocol ${proto}) on every value, with Lightning metadata as placeholders`, () => {
      const ck = readTorchCheckpoint(readFileSync(join(repoRoot, 'test', 'fixtures', 'ckpt', `python_p${proto}.ckpt`)));
      const root = ck.root as Map<unknown, unknown>;
      expect(root.get('epoch')).to.equal(3);
      expect(root.get('global_step')).to.equal(123456789012);
      expect(root.get('pytorch-lightning_version')).to.equal('1.4.2');
      expect(root.get('lr')).to.deep.equal([1e-4, -2.5e300, Infinity]);
      const flags = root.get('flags') as readonly unknown[];
      expect(isTuple(flags as never)).to.equal(true);
      expect([...flags]).to.deep.equal([true, false, null]);
      expect(root.get('big')).to.equal(-(2n ** 70n));
      expect([...(root.get('blob') as Uint8Array)]).to.deep.equal([0, 1, 0xfe, 0xff]);
      expect([...(root.get('tags') as Set<string>)].sort()).to.deep.equal(['a', 'b']);
      const cb = root.get('cb_object') as PickleObject;
      expect(cb).to.be.instanceOf(PickleObject);
      expect(cb.cls.qualifiedName).to.equal('pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint');
      expect((cb.state as Map<string, unknown>).get('monitor')).to.equal('val/loss');
      const callbacks = root.get('callbacks') as Map<unknown, Map<string, unknown>>;
      expect([...callbacks.values()][0]!.get('best_model_score')).to.equal(0.125);
      expect(ck.placeholderGlobals).to.deep.equal(['pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint']);

      const t = ck.tensors;
      expect([...t.keys()]).to.deep.equal(['encoder.conv_in.weight', 'encoder.conv_in.bias', 'transposed', 'expanded', 'steps', 'half', 'scalar']);
      const s0 = range(24, (i) => i * 0.5 - 3);
      expect(t.get('encoder.conv_in.weight')!.shape).to.deep.equal([2, 3, 2, 2]);
      expect([...t.get('encoder.conv_in.weight')!.data]).to.deep.equal(s0);
      expect([...t.get('encoder.conv_in.bias')!.data]).to.deep.equal(s0.slice(4, 6));
      expect([...t.get('transposed')!.data]).to.deep.equal(range(12, (i) => s0[(i % 4) * 3 + Math.floor(i / 4)]!));
      expect([...t.get('expanded')!.data]).to.deep.equal([...s0.slice(5, 8), ...s0.slice(5, 8)]);
      expect(t.get('steps')!.dtype).to.equal('I64');
      expect([...t.get('steps')!.data]).to.deep.equal([7, -2, 2 ** 40, 0]);
      expect(t.get('half')!.dtype).to.equal('F16');
      expect([...t.get('half')!.data]).to.deep.equal([1, -2.5, 0.099975586, 65504].map(Math.fround));
      expect(t.get('scalar')!.shape).to.deep.equal([]);
      expect([...t.get('scalar')!.data]).to.deep.equal([8.5]);
      // The state dict's `_metadata` attribute arrives through BUILD on the OrderedDict.
      const sd = root.get('state_dict') as Map<string, unknown>;
      expect(pickleAttributes.get(sd)).to.be.instanceOf(Map);
      expect(extractStateDict(ck.root).get('steps')).to.be.instanceOf(CkptTensor);
    });
  }

  it('selects a sub-model by prefix', () => {
    const ck = readTorchCheckpoint(checkpoint(torchPickle(SPECS), STORAGES));
    expect([...selectPrefix(ck.tensors, 'encoder.').keys()]).to.deep.equal(['conv_in.weight', 'conv_in.bias']);
  });

  describe('one tensor at a time (openTorchCheckpoint) and from a file', () => {
    let dir: string;
    before(() => { dir = mkdtempSync(join(tmpdir(), 'ldmc-ckpt-')); });
    after(() => rmSync(dir, { recursive: true, force: true }));

    const inputs = (): [string, Uint8Array][] => [
      ['built', checkpoint(torchPickle(SPECS), STORAGES)],
      ['built, deflated', checkpoint(torchPickle(SPECS), STORAGES, true)],
      ['built, ZIP64', zip([
        { name: 'archive/data.pkl', data: torchPickle(SPECS) },
        ...Object.entries(STORAGES).map(([k, v]) => ({ name: `archive/data/${k}`, data: f32bytes(v) })),
      ], { zip64: true })],
      ...[2, 4].map((p): [string, Uint8Array] => [`python_p${p}`, readFileSync(join(repoRoot, 'test', 'fixtures', 'ckpt', `python_p${p}.ckpt`))]),
    ];

    it('gives the same tensors as readTorchCheckpoint, from bytes, a path and a FileSource (Parameters, views, F16, I64 included)', () => {
      for (const [what, bytes] of inputs()) {
        const eager = readTorchCheckpoint(bytes);
        const path = join(dir, 'c.ckpt');
        writeFileSync(path, bytes);
        const fromPath = readTorchCheckpoint(path);
        const src = FileSource.open(path);
        const lazies = [openTorchCheckpoint(bytes), openTorchCheckpoint(path), openTorchCheckpoint(src)];
        try {
          for (const lazy of lazies) {
            expect([...lazy.tensors.keys()], what).to.deep.equal([...eager.tensors.keys()]);
            expect(lazy.nonTensorKeys).to.deep.equal(eager.nonTensorKeys);
            expect(lazy.placeholderGlobals).to.deep.equal(eager.placeholderGlobals);
            for (const [k, t] of eager.tensors) {
              const ref = lazy.tensors.get(k)!;
              expect(ref).to.be.instanceOf(CkptTensorRef);
              expect([ref.dtype, ref.shape], `${what} ${k}`).to.deep.equal([t.dtype, t.shape]);
              const got = lazy.load(k);
              expect(got).to.be.instanceOf(CkptTensor);
              expect([got.dtype, got.shape], `${what} ${k}`).to.deep.equal([t.dtype, t.shape]);
              expect(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength)
                .equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), `${what} ${k}`).to.equal(true);
              const p = fromPath.tensors.get(k)!;
              expect([...p.data], `${what} ${k} (path)`).to.deep.equal([...t.data]);
            }
          }
        } finally {
          for (const lazy of lazies) lazy.close();
        }
        // The caller's FileSource is the caller's to close: still readable.
        expect(src.read(0, 2)).to.deep.equal(Uint8Array.from([0x50, 0x4b]));
        src.close();
      }
    });

    it('checks shapes against the archive before reading data; a corrupted storage fails at load, naming the tensor', () => {
      const p = torchPickle([
        { name: 'w', key: '0', numel: 60, offset: 0, size: [2, 3, 3, 3], stride: [27, 9, 3, 1] },
        { name: 'u', key: '1', numel: 6, offset: 0, size: [6], stride: [1] },
      ]);
      const z = checkpoint(p, STORAGES);
      const dataAt = Buffer.from(z).indexOf(Buffer.from(f32bytes(STORAGES['0'])));
      z[dataAt + 5] ^= 1;
      const lazy = openTorchCheckpoint(z); // the pickle is fine: opening does not read storage 0
      expect([...lazy.load('u').data]).to.deep.equal(STORAGES['1']);
      expectCheckpointError(() => lazy.load('w'), /cannot read PyTorch checkpoint: tensor 'w': CRC-32 mismatch in 'archive\/data\/0'/);
      expect([...openTorchCheckpoint(z, { verifyCrc: false }).load('w').data]).to.have.length(54);
      expectCheckpointError(() => lazy.load('nope'), /no tensor 'nope'/);
      // From a file, a tensor that is its whole storage takes the buffer read for it (no copy):
      // loading it again reads it again, so the first copy is the caller's to change.
      const path = join(dir, 'u.ckpt');
      writeFileSync(path, z);
      const fromFile = openTorchCheckpoint(path);
      const u1 = fromFile.load('u');
      (u1.data as Float32Array).fill(999);
      expect([...fromFile.load('u').data]).to.deep.equal(STORAGES['1']);
      fromFile.close();
      lazy.close();
      expectCheckpointError(() => lazy.load('u'), /the checkpoint was closed/);
      const oob = torchPickle([{ name: 'w', key: '1', numel: 6, offset: 2, size: [5], stride: [1] }]);
      expectCheckpointError(() => openTorchCheckpoint(checkpoint(oob, STORAGES)), /reads element 6 of a storage with 6/);
      expectCheckpointError(() => openTorchCheckpoint(join(dir, 'missing.ckpt')), /cannot read PyTorch checkpoint: ENOENT/);
    });

    it('random byte flips, loading every tensor lazily: a CheckpointError or a value, nothing else', function () {
      this.timeout(20000);
      const good = checkpoint(torchPickle(SPECS.slice(0, 3)), { '0': STORAGES['0'], '1': STORAGES['1'] }, true);
      let seed = 99;
      const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      for (let i = 0; i < 2000; i++) {
        const m = good.slice();
        for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
        try {
          const lazy = openTorchCheckpoint(m, { verifyCrc: i % 2 === 0 });
          for (const k of lazy.tensors.keys()) lazy.load(k);
        } catch (e) {
          const cause = (e as Error).cause;
          if (!(e instanceof CheckpointError) || !(cause === undefined || cause instanceof PickleError || cause instanceof ZipError || cause instanceof CheckpointError)) {
            throw new Error(`mutation ${i} raised ${String(e)}; cause ${String(cause)}`);
          }
        }
      }
    });
  });

  describe('refuses anything that could run code, and runs nothing', () => {
    const marker = join(tmpdir(), `ldmc-ckpt-pwned-${process.pid}`);
    const cases: [string, string, string][] = [
      ['posix', 'system', 'posix.system'], ['os', 'system', 'os.system'], ['__builtin__', 'eval', 'builtins.eval'],
      ['builtins', 'exec', 'builtins.exec'], ['subprocess', 'Popen', 'subprocess.Popen'],
      ['builtins', 'getattr', 'builtins.getattr'], ['torch.storage', '_load_from_bytes', 'torch.storage._load_from_bytes'],
    ];
    for (const [m, n, q] of cases) {
      it(`${m}.${n}`, () => {
        const pkl = torchPickle(SPECS.slice(0, 2), (p) => {
          p.str('payload'); p.global(m, n); p.mark(); p.str(`touch ${marker}`); p.tuple(); p.op(0x52);
        });
        expectCheckpointError(() => readTorchCheckpoint(checkpoint(pkl, STORAGES)), new RegExp(`refused global '${q.replace(/\./g, '\\.')}'.*nothing in the file was run`));
        expect(existsSync(marker)).to.equal(false);
      });
    }
    it('a refused global reached through STACK_GLOBAL (protocol 4)', () => {
      const p = new P();
      p.op(0x8c, 2, ...new TextEncoder().encode('os'), 0x8c, 6, ...new TextEncoder().encode('system'), 0x93);
      p.op(0x8c, 4, ...new TextEncoder().encode('true'), 0x85, 0x52);
      expectCheckpointError(() => readTorchCheckpoint(checkpoint(p.bytes(), {})), /refused global 'os\.system'/);
    });
    it('a pickled nn.Module, with a hint', () => {
      const p = new P();
      p.global('torch.nn.modules.conv', 'Conv2d'); p.op(0x29, 0x81);
      expectCheckpointError(() => readTorchCheckpoint(checkpoint(p.bytes(), {})), /save model\.state_dict\(\) instead/);
    });
  });

  describe('bad input gives a clear CheckpointError, never a hang or a raw exception', () => {
    const good = checkpoint(torchPickle(SPECS.slice(0, 3)), { '0': STORAGES['0'], '1': STORAGES['1'] });

    it('empty, garbage, legacy format', () => {
      expectCheckpointError(() => readTorchCheckpoint(new Uint8Array(0)), /not a zip archive/);
      expectCheckpointError(() => readTorchCheckpoint(new TextEncoder().encode('hello world, not a checkpoint')), /not a zip archive/);
      expectCheckpointError(() => readTorchCheckpoint(Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0])), /legacy \(torch < 1\.6\) format/);
      expectCheckpointError(() => readTorchCheckpoint(zip([{ name: 'foo.txt', data: new Uint8Array(3) }])), /no <name>\/data\.pkl entry/);
    });

    it('every truncation of a valid file', () => {
      for (let n = 0; n < good.length; n++) {
        expectCheckpointError(() => readTorchCheckpoint(good.subarray(0, n)), /cannot read PyTorch checkpoint: /);
      }
    });

    it('a truncated pickle inside a well-formed zip', () => {
      const pkl = torchPickle(SPECS.slice(0, 3));
      for (const n of [1, 2, 10, 100, pkl.length - 1]) {
        expectCheckpointError(() => readTorchCheckpoint(checkpoint(pkl.subarray(0, n), STORAGES)), /truncated pickle|stack|MARK/);
      }
    });

    it('corrupted storage bytes (CRC), a missing storage, an out-of-bounds view', () => {
      const bad = good.slice();
      bad[bad.length - 200] ^= 0xff; // inside the central directory or data: either way an error
      expect(() => readTorchCheckpoint(bad)).to.throw(CheckpointError);
      const p = torchPickle([{ name: 'w', key: '0', numel: 60, offset: 0, size: [2, 3, 3, 3], stride: [27, 9, 3, 1] }]);
      const z = checkpoint(p, STORAGES);
      const dataAt = Buffer.from(z).indexOf(Buffer.from(f32bytes(STORAGES['0'])));
      z[dataAt + 5] ^= 1;
      expectCheckpointError(() => readTorchCheckpoint(z), /CRC-32 mismatch in 'archive\/data\/0'/);
      expectCheckpointError(() => readTorchCheckpoint(checkpoint(p, {})), /storage '0' has no entry/);
      const oob = torchPickle([{ name: 'w', key: '1', numel: 6, offset: 2, size: [5], stride: [1] }]);
      expectCheckpointError(() => readTorchCheckpoint(checkpoint(oob, STORAGES)), /reads element 6 of a storage with 6/);
    });

    it('random byte flips in the pickle give a CheckpointError or a value, nothing else', function () {
      this.timeout(20000);
      const pkl = torchPickle(SPECS.slice(0, 3));
      let seed = 12345;
      const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      for (let i = 0; i < 2000; i++) {
        const m = pkl.slice();
        for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
        try { readTorchCheckpoint(checkpoint(m, STORAGES)); } catch (e) {
          if (!(e instanceof CheckpointError) || !((e as Error).cause instanceof PickleError)) throw new Error(`mutation ${i} raised ${String(e)}`);
        }
      }
    });

    it('random byte flips anywhere in the file, with and without CRC checks', function () {
      this.timeout(20000);
      let seed = 777;
      const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      for (let i = 0; i < 2000; i++) {
        const m = good.slice();
        for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
        try { readTorchCheckpoint(m, { verifyCrc: i % 2 === 0 }); } catch (e) {
          const cause = (e as Error).cause;
          if (!(e instanceof CheckpointError) || !(cause === undefined || cause instanceof PickleError || cause instanceof ZipError || cause instanceof CheckpointError)) {
            throw new Error(`mutation ${i} raised ${String(e)}; cause ${String(cause)}`);
          }
        }
      }
    });
  });
});
