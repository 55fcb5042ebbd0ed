// safetensors I/O and the PyTorch ↔ tfjs state_dict mapping.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import { Module, Sequential } from '../../runtime/module.js';
import { Conv1d, Conv2d, Dropout, Linear, SiLU } from '../../runtime/nn/index.js';
import { parseSafetensors, serializeSafetensors } from '../../runtime/weights/safetensors.js';
import { checkStateDict, loadStateDict, stateDict } from '../../runtime/weights/state-dict.js';
import { referencePath, requireReference } from '../support/reference.js';

class Tiny extends Module {
  static override readonly className = 'Tiny';
  readonly body = this.add('body', new Sequential([new Conv2d(2, 3, 3, { padding: 1 }), new SiLU(), new Dropout(0.1), new Linear(3, 4)]));
  readonly qkv = this.add('qkv', new Conv1d(4, 6));
}

function rawFile(entries: Array<[string, string, number[], Uint8Array]>): Uint8Array {
  let off = 0;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  for (const [name, dtype, shape, bytes] of entries) {
    header[name] = { dtype, shape, data_offsets: [off, off + bytes.byteLength] };
    off += bytes.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  let p = 8 + json.byteLength;
  for (const [, , , b] of entries) {
    out.set(b, p);
    p += b.byteLength;
  }
  return out;
}

describe('weights: safetensors', () => {
  it('reads F16, BF16, I64, I32, F64 and metadata', () => {
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00]).buffer); // 1, -2, 2^-24, inf
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0x4049]).buffer); // 1, 3.140625
    const i64 = new Uint8Array(new BigInt64Array([3n, -917n]).buffer);
    const i32 = new Uint8Array(new Int32Array([7, -1]).buffer);
    const f64 = new Uint8Array(new Float64Array([0.1]).buffer);
    const file = parseSafetensors(rawFile([['a', 'F16', [4], f16], ['b', 'BF16', [2], bf16], ['c', 'I64', [2], i64], ['d', 'I32', [2], i32], ['e', 'F64', [1], f64]]));
    expect(file.metadata).to.deep.equal({ format: 'pt' });
    expect([...file.tensors.get('a')!.data]).to.deep.equal([1, -2, 2 ** -24, Infinity]);
    expect([...file.tensors.get('b')!.data]).to.deep.equal([1, 3.140625]);
    expect([...file.tensors.get('c')!.data]).to.deep.equal([3, -917]);
    expect([...file.tensors.get('d')!.data]).to.deep.equal([7, -1]);
    expect(file.tensors.get('e')!.data[0]).to.equal(0.1);
  });

  it('rejects offsets that do not fit the shape', () => {
    const bad = rawFile([['a', 'F32', [3], new Uint8Array(8)]]);
    expect(() => parseSafetensors(bad)).to.throw(/tensor 'a': shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] hold 8/);
  });

  it('writes what it reads', () => {
    const bytes = serializeSafetensors({ z: { shape: [2], data: new Float32Array([1, 2]) }, a: { shape: [1, 1], data: new Float32Array([-3]) } });
    const back = parseSafetensors(bytes);
    expect([...back.tensors.keys()]).to.deep.equal(['a', 'z']);
    expect([...back.tensors.get('z')!.data]).to.deep.equal([1, 2]);
    expect(new DataView(bytes.buffer).getBigUint64(0, true) % 8n).to.equal(0n);
  });

  it('re-serialising a reference weight file reproduces it byte for byte', function () {
    requireReference(this, 'parity', 'unet_tiny.weights.safetensors');
    const bytes = new Uint8Array(readFileSync(referencePath('parity', 'unet_tiny.weights.safetensors')));
    const file = parseSafetensors(bytes);
    const out = serializeSafetensors(file.tensors as unknown as Map<string, { shape: number[]; data: Float32Array }>, file.metadata);
    expect(Buffer.from(out).equals(Buffer.from(bytes))).to.equal(true);
  });
});

describe('weights: state_dict mapping', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('names count parameter-free layers, as PyTorch does', () => {
    const m = new Tiny();
    expect(m.namedParameters().map(([n]) => n)).to.deep.equal(['body.0.weight', 'body.0.bias', 'body.3.weight', 'body.3.bias', 'qkv.weight', 'qkv.bias']);
    expect(m.paramCount()).to.equal(3 * 2 * 9 + 3 + 3 * 4 + 4 + 4 * 6 + 6);
    m.train();
    expect((m.body.at(2) as Dropout).training).to.equal(true);
    m.eval();
    expect((m.body.at(2) as Dropout).training).to.equal(false);
    m.dispose();
  });

  it('converts Conv2d [out,in,kh,kw], Linear [out,in] and Conv1d [out,in,1] both ways', () => {
    const m = new Tiny();
    const conv = Float32Array.from({ length: 3 * 2 * 3 * 3 }, (_, i) => i);
    const tensors = new Map([
      ['net.body.0.weight', { shape: [3, 2, 3, 3], data: conv }],
      ['net.body.0.bias', { shape: [3], data: new Float32Array([0, 0, 0]) }],
      ['net.body.3.weight', { shape: [4, 3], data: Float32Array.from({ length: 12 }, (_, i) => i) }],
      ['net.body.3.bias', { shape: [4], data: new Float32Array(4) }],
      ['net.qkv.weight', { shape: [6, 4, 1], data: Float32Array.from({ length: 24 }, (_, i) => i) }],
      ['net.qkv.bias', { shape: [6], data: new Float32Array(6) }],
      ['other.weight', { shape: [1], data: new Float32Array(1) }],
    ]);
    const r = loadStateDict(m, tensors, { prefix: 'net.' });
    expect(r).to.deep.include({ missing: [], unexpected: [], shapeMismatch: [], loaded: 6 });
    // torch W[o=1, i=0, y=2, x=1] = ((1·2 + 0)·3 + 2)·3 + 1 = 25 sits at tfjs [2, 1, 0, 1].
    const w = (m.body.at(0) as Conv2d).weight.arraySync() as number[][][][];
    expect(w[2]![1]![0]![1]).to.equal(25);
    // Linear: torch W[o=2, i=1] = 7 sits at tfjs [1, 2].
    expect(((m.body.at(3) as Linear).weight.arraySync() as number[][])[1]![2]).to.equal(7);
    const back = stateDict(m, 'net.');
    for (const [k, v] of back) expect([...v.data], k).to.deep.equal([...tensors.get(k)!.data]);
    // conv2d in torch semantics: a 1-pixel input through the centre tap.
    const x = tf.zeros([1, 1, 1, 2]) as Tensor4D;
    expect((m.body.at(0) as Conv2d).forward(x).shape).to.deep.equal([1, 1, 1, 3]);
    m.dispose();
  });

  it('reports missing, unexpected and mis-shaped keys; strict throws and assigns nothing', () => {
    const m = new Tiny();
    const before = m.qkv.weight.dataSync().slice();
    const tensors = new Map([
      ['body.0.weight', { shape: [3, 2, 3, 3], data: new Float32Array(54) }],
      ['body.3.weight', { shape: [3, 4], data: new Float32Array(12) }],
      ['qkv.weight', { shape: [6, 4, 1], data: new Float32Array(24) }],
      ['qkv.bais', { shape: [6], data: new Float32Array(6) }],
      ['model_ema.decay', { shape: [], data: new Float32Array(1) }],
    ]);
    expect(() => loadStateDict(m, tensors)).to.throw(/missing keys \(3\): body\.0\.bias, body\.3\.bias, qkv\.bias[\s\S]*unexpected keys \(2\)[\s\S]*size mismatch for body\.3\.weight: expected \[4, 3\], got \[3, 4\]/);
    expect([...m.qkv.weight.dataSync()]).to.deep.equal([...before]);
    // checkStateDict: the same report, with nothing read or assigned
    const reads: string[] = [];
    const lazy = new Map([...tensors].map(([k, t]) => [k, { ...t, readInto: (d: Float32Array) => { reads.push(k); d.set(t.data); } }] as const));
    const checked = checkStateDict(m, lazy, { ignoreKeys: [/^model_ema\./] });
    expect(reads).to.deep.equal([]);
    expect([...m.qkv.weight.dataSync()]).to.deep.equal([...before]);
    const r = loadStateDict(m, tensors, { strict: false, ignoreKeys: [/^model_ema\./] });
    expect(checked).to.deep.equal(r);
    expect(r.missing).to.deep.equal(['body.0.bias', 'body.3.bias', 'qkv.bias']);
    expect(r.unexpected).to.deep.equal(['qkv.bais']);
    expect(r.shapeMismatch).to.deep.equal([{ key: 'body.3.weight', expected: [4, 3], got: [3, 4] }]);
    expect(r.loaded).to.equal(2);
    expect([...m.qkv.weight.dataSync()].every((v) => v === 0)).to.equal(true);
    m.dispose();
  });
});
