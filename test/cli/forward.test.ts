// `ldmc forward` and `ldmc convert` as a user runs them: real processes, real files, both
// backends, outputs compared with the reference's expected tensors.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors } from '../../runtime/weights/safetensors.js';
import { repoRoot, referencePath, requireReference } from '../support/reference.js';
import { writeCheckpoint } from '../runtime/ckpt-writer.js';

const bin = join(repoRoot, 'bin', 'ldmc.js');

function ldmc(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const EXPECTED: Record<string, string[]> = {
  unet_tiny: ['out'],
  unet_tiny_xattn: ['out'],
  unet_tiny_updown: ['out'],
  vq_tiny: ['encoder_out', 'h', 'quant', 'indices', 'emb_loss', 'decoded', 'decoded_no_quantize'],
  kl_tiny: ['encoder_out', 'moments', 'mean', 'logvar', 'z_sample', 'decoded_mode', 'decoded_sample', 'kl'],
};

describe('ldmc forward', function () {
  this.timeout(180000);
  let dir: string;
  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'ldmc-forward-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  for (const backend of ['cpu', 'wasm']) {
    for (const [model, names] of Object.entries(EXPECTED)) {
      it(`${model} on ${backend} reproduces the reference outputs`, function () {
        requireReference(this, 'parity', `${model}.weights.safetensors`);
        const p = (s: string) => referencePath('parity', `${model}.${s}`);
        const out = join(dir, `${model}-${backend}.safetensors`);
        const r = ldmc(['forward', p('yaml'), '--weights', p('weights.safetensors'), '--inputs', p('inputs.safetensors'), '--out', out, '--backend', backend]);
        expect(r.code, r.err).to.equal(0);
        expect(r.err).to.include(`tfjs backend ${backend}`);
        const got = parseSafetensors(readFileSync(out)).tensors;
        const want = parseSafetensors(readFileSync(p('expected.safetensors'))).tensors;
        for (const n of names) {
          const g = got.get(n), w = want.get(n);
          expect(g, n).to.exist;
          expect(g!.shape, n).to.deep.equal(w!.shape);
          const err = maxAbs(g!.data, w!.data);
          if (n === 'indices') expect(err, n).to.equal(0);
          else expect(err, `${n} max abs error`).to.be.below(1e-4);
        }
      });
    }
  }

  it('loads a Lightning-style .ckpt, finds the first_stage_model. prefix, and refuses unexpected keys unless told', function () {
    requireReference(this, 'parity', 'vq_tiny.weights.safetensors');
    const p = (s: string) => referencePath('parity', `vq_tiny.${s}`);
    const w = parseSafetensors(readFileSync(p('weights.safetensors'))).tensors;
    const prefixed = new Map([...w].map(([k, t]) => [`first_stage_model.${k}`, { shape: t.shape, data: t.data as Float32Array }]));
    prefixed.set('first_stage_model.loss.logvar', { shape: [], data: new Float32Array([0]) });
    const ckpt = join(dir, 'model.ckpt');
    writeFileSync(ckpt, writeCheckpoint(prefixed));
    const out = join(dir, 'vq-from-ckpt.safetensors');
    const args = ['forward', p('yaml'), '--weights', ckpt, '--inputs', p('inputs.safetensors'), '--out', out, '--backend', 'cpu'];
    const refused = ldmc(args);
    expect(refused.code).to.equal(1);
    expect(refused.err).to.match(/unexpected keys \(1\): first_stage_model\.loss\.logvar/);
    expect(refused.err).to.include('help:');
    const ok = ldmc([...args, '--ignore-keys', 'loss.']);
    expect(ok.code, ok.err).to.equal(0);
    const got = parseSafetensors(readFileSync(out)).tensors.get('decoded')!;
    const want = parseSafetensors(readFileSync(p('expected.safetensors'))).tensors.get('decoded')!;
    expect(maxAbs(got.data, want.data)).to.be.below(1e-4);
  });

  it('explains a missing input, a wrong component and a missing weights file without a stack trace', function () {
    requireReference(this, 'parity', 'unet_tiny.weights.safetensors');
    const p = (s: string) => referencePath('parity', `unet_tiny.${s}`);
    const wrongInputs = ldmc(['forward', p('yaml'), '--weights', p('weights.safetensors'), '--inputs', referencePath('parity', 'vq_tiny.inputs.safetensors'), '--out', join(dir, 'x.safetensors'), '--backend', 'cpu']);
    expect(wrongInputs.code).to.equal(1);
    expect(wrongInputs.err).to.include("the inputs have no 'timesteps'");
    const comp = ldmc(['forward', p('yaml'), '--component', 'first_stage', '--weights', p('weights.safetensors'), '--inputs', p('inputs.safetensors'), '--out', join(dir, 'x.safetensors')]);
    expect(comp.code).to.equal(1);
    expect(comp.err).to.include('has no first_stage');
    const missing = ldmc(['forward', p('yaml'), '--weights', join(dir, 'nope.safetensors'), '--inputs', p('inputs.safetensors'), '--out', join(dir, 'x.safetensors')]);
    expect(missing.code).to.equal(1);
    expect(missing.err).to.include('no such file');
    const usage = ldmc(['forward', p('yaml')]);
    expect(usage.code).to.equal(2);
    for (const r of [wrongInputs, comp, missing, usage]) expect(r.err).not.to.match(/\n\s+at .+:\d+:\d+/);
  });
});

describe('ldmc convert', function () {
  this.timeout(60000);
  it('writes a checkpoint state_dict as safetensors, optionally one prefix of it', function () {
    const dir = mkdtempSync(join(tmpdir(), 'ldmc-convert-'));
    try {
      const tensors = new Map([
        ['model.diffusion_model.out.2.weight', { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }],
        ['first_stage_model.quant_conv.bias', { shape: [2], data: new Float32Array([7, 8]) }],
      ]);
      const ckpt = join(dir, 'm.ckpt');
      writeFileSync(ckpt, writeCheckpoint(tensors));
      const all = ldmc(['convert', ckpt, join(dir, 'all.safetensors')]);
      expect(all.code, all.err).to.equal(0);
      const back = parseSafetensors(readFileSync(join(dir, 'all.safetensors'))).tensors;
      expect([...back.keys()].sort()).to.deep.equal([...tensors.keys()].sort());
      expect([...back.get('model.diffusion_model.out.2.weight')!.data]).to.deep.equal([1, 2, 3, 4, 5, 6]);
      const fs = ldmc(['convert', ckpt, join(dir, 'fs.safetensors'), '--select', 'first_stage_model.']);
      expect(fs.code, fs.err).to.equal(0);
      expect([...parseSafetensors(readFileSync(join(dir, 'fs.safetensors'))).tensors.keys()]).to.deep.equal(['quant_conv.bias']);
      writeFileSync(join(dir, 'bad.ckpt'), 'PK\u0003\u0004 not really a zip');
      const bad = ldmc(['convert', join(dir, 'bad.ckpt'), join(dir, 'bad.safetensors')]);
      expect(bad.code).to.equal(1);
      expect(bad.err).to.match(/^ldmc: error\[LDMC621\]: .*bad\.ckpt: not a zip archive: only \d+ bytes\n  help: /);
      expect(bad.err).not.to.match(/\n\s+at .+:\d+:\d+/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
