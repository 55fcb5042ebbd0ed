// Loading tensors straight from their file: half-precision checkpoints made by PyTorch itself
// (test/fixtures/ckpt/make_torch_dtypes.py: torch.save and a hand-written safetensors of the same
// tensors, with torch's own float32 conversion of each beside it), read on demand with one
// positional read into the destination, and safetensors files past 2 GiB.
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openWeightsFile, readWeightsFile } from '../../cli/weights-file.js';
import { initBackend } from '../../runtime/backend.js';
import { openTorchCheckpoint, readTorchCheckpoint } from '../../runtime/weights/ckpt.js';
import { openSafetensors, parseSafetensors, type LazyTensor, type RawTensor } from '../../runtime/weights/safetensors.js';
import { fromTorch } from '../../runtime/weights/state-dict.js';
import { FileSource } from '../../runtime/weights/zip.js';
import { repoRoot } from '../support/reference.js';

const fixture = (f: string): string => join(repoRoot, 'test', 'fixtures', 'ckpt', f);
const bits = (a: ArrayLike<number>): number[] => [...new Uint32Array(Float32Array.from(a).buffer)];

/** The lazily opened tensors of a fixture, and how to close it. */
function openLazy(kind: 'ckpt' | 'safetensors'): { tensors: ReadonlyMap<string, LazyTensor>; close(): void } {
  const path = fixture(`torch_dtypes.${kind}`);
  if (kind === 'ckpt') {
    const ck = openTorchCheckpoint(path);
    return { tensors: ck.lazyTensors, close: () => ck.close() };
  }
  return openSafetensors(FileSource.open(path));
}

describe('weights read in place: torch-made float16 / bfloat16 files', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  for (const kind of ['ckpt', 'safetensors'] as const) {
    it(`${kind}: F16, BF16 and F32 tensors widen to torch's own float32 values, bit for bit`, () => {
      const f = openLazy(kind);
      try {
        const names = [...f.tensors.keys()].filter((k) => !k.startsWith('expect.'));
        expect(names.length).to.equal(10);
        const dtypes = new Set(names.map((n) => f.tensors.get(n)!.dtype));
        expect([...dtypes].sort()).to.deep.equal(['BF16', 'F16', 'F32']);
        for (const name of names) {
          const t = f.tensors.get(name)!, want = f.tensors.get(`expect.${name}`)!;
          expect(want.dtype, name).to.equal('F32');
          expect(t.shape, name).to.deep.equal(want.shape);
          const dest = new Float32Array(t.numel);
          t.readInto(dest);
          expect(bits(dest), name).to.deep.equal(bits(want.data));
          expect(bits(t.data), `${name} (data)`).to.deep.equal(bits(want.data));
        }
      } finally {
        f.close();
      }
    });
  }

  it('the eager readers (whole checkpoint, safetensors bytes) give the same values as the lazy ones', () => {
    const eagerCkpt = readTorchCheckpoint(fixture('torch_dtypes.ckpt')).tensors;
    const eagerSt = parseSafetensors(readFileSync(fixture('torch_dtypes.safetensors'))).tensors;
    const lazy = openLazy('ckpt');
    try {
      expect([...eagerCkpt.keys()].sort()).to.deep.equal([...lazy.tensors.keys()].sort());
      for (const [name, t] of eagerCkpt) {
        expect(bits(t.data as Float32Array), name).to.deep.equal(bits(lazy.tensors.get(name)!.data));
        expect(bits(eagerSt.get(name)!.data as Float32Array), name).to.deep.equal(bits(t.data as Float32Array));
      }
    } finally {
      lazy.close();
    }
  });

  it('fromTorch reads a lazy tensor into the runtime layout as tf.transpose does (conv2d, linear, plain)', () => {
    const f = openLazy('ckpt');
    try {
      const cases: Array<[string, 'conv2d' | 'linear' | 'plain', number[]]> = [
        ['bf16.conv.weight', 'conv2d', [2, 3, 1, 0]], ['f16.linear.weight', 'linear', [1, 0]], ['f16.norm.bias', 'plain', [0]],
      ];
      for (const [name, layout, perm] of cases) {
        const want = f.tensors.get(`expect.${name}`)!;
        const ref = tf.tidy(() => tf.transpose(tf.tensor(want.data as Float32Array, [...want.shape]), perm));
        const got = fromTorch(f.tensors.get(name)!, layout);
        const fromMemory = fromTorch({ shape: want.shape, data: want.data }, layout);
        expect(got.shape, name).to.deep.equal(ref.shape);
        expect(bits(got.dataSync()), name).to.deep.equal(bits(ref.dataSync()));
        expect(bits(fromMemory.dataSync()), `${name} from memory`).to.deep.equal(bits(ref.dataSync()));
        tf.dispose([ref, got, fromMemory]);
      }
    } finally {
      f.close();
    }
  });
});

describe('weights read in place: safetensors past 2 GiB', function () {
  this.timeout(60000);
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'ldmc-lazy-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a 2.5 GiB (sparse) file opens at once and its last tensor, past 2^31, reads exactly', () => {
    const pad = 2 ** 31 + 2 ** 29;
    const header = { pad: { dtype: 'U8', shape: [pad], data_offsets: [0, pad] }, 'model.x': { dtype: 'F16', shape: [3], data_offsets: [pad, pad + 6] } };
    let json = JSON.stringify(header);
    while ((8 + json.length) % 8) json += ' ';
    const head = new Uint8Array(8 + json.length);
    new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
    head.set(new TextEncoder().encode(json), 8);
    const file = join(dir, 'big.safetensors');
    const fd = openSync(file, 'w');
    try {
      ftruncateSync(fd, head.length + pad + 6);
      writeSync(fd, head, 0, head.length, 0);
      writeSync(fd, new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x7bff]).buffer), 0, 6, head.length + pad); // 1, -2, 65504
    } finally {
      closeSync(fd);
    }
    const w = openWeightsFile(file);
    try {
      const x = w.tensors.get('model.x')!;
      expect(x.dtype).to.equal('F16');
      const dest = new Float32Array(3);
      x.readInto(dest);
      expect([...dest]).to.deep.equal([1, -2, 65504]);
      expect(w.tensors.get('pad')!.shape).to.deep.equal([pad]);
    } finally {
      w.close();
    }
  });

  it('readWeightsFile reads a whole safetensors file through the same positional reader', () => {
    const all: Map<string, RawTensor> = readWeightsFile(fixture('torch_dtypes.safetensors'));
    const want = parseSafetensors(readFileSync(fixture('torch_dtypes.safetensors'))).tensors;
    expect([...all.keys()]).to.deep.equal([...want.keys()]);
    for (const [k, t] of want) expect(bits(all.get(k)!.data), k).to.deep.equal(bits(t.data));
  });
});
