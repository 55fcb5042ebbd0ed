// `ldmc train` as a user runs it, on a tiny model and the real Fashion-MNIST: the loss goes down,
// a resumed run is the uninterrupted one, Ctrl-C writes a checkpoint, a diverging run stops at
// the last good checkpoint, and a checkpoint killed mid-write leaves the previous one whole.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile } from '../../compiler/program.js';
import { initBackend } from '../../runtime/backend.js';
import { buildComponent } from '../../runtime/build.js';
import { seedInit } from '../../runtime/nn/init.js';
import { loadLatestCheckpoint } from '../../runtime/train/checkpoint.js';
import { serializeSafetensors } from '../../runtime/weights/safetensors.js';
import { stateDict } from '../../runtime/weights/state-dict.js';
import { diskHost } from '../support/compile.js';
import { repoRoot } from '../support/reference.js';

const bin = join(repoRoot, 'bin', 'ldmc.js');
const config = join(repoRoot, 'test', 'fixtures', 'train', 'tiny-ldm.yaml');
const hasFashion = existsSync('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz');

function ldmc(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 300000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface Rec {
  step: number;
  [k: string]: number;
}
const records = (run: string): Rec[] => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Rec);
const trainLoss = (run: string) => records(run).filter((r) => r['train/loss'] !== undefined).map((r) => r['train/loss']!);

describe('ldmc train', function () {
  this.timeout(300000);
  let dir: string;
  let base: string[];

  before(async function () {
    if (!hasFashion) {
      this.test!.title += ' (pending: Debian dataset-fashion-mnist not installed; run scripts/install-datasets.sh)';
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'ldmc-train-'));
    // A random first stage: the tests are about the loop, not about good latents.
    await initBackend({ backend: 'cpu', quiet: true });
    const r = compile({ files: [config] }, diskHost);
    const fs = r.graph!.model!.children.get('first_stage_config') as { target: string; params: Record<string, unknown> };
    seedInit(7);
    const vq = buildComponent(fs.target, fs.params);
    writeFileSync(join(dir, 'vq.safetensors'), serializeSafetensors(stateDict(vq)));
    vq.dispose();
    seedInit(undefined);
    base = ['train', config, '--set', `model.params.first_stage_config.params.ckpt_path=${join(dir, 'vq.safetensors')}`, '--backend', 'wasm', '--workers', '0', '--val-batches', '2'];
  });
  after(function () {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('lowers the loss, writes the run folder, and resumes into exactly the uninterrupted run', function () {
    const full = join(dir, 'full'), part = join(dir, 'part');
    const a = ldmc([...base, '--max-steps', '24', '--ckpt-every', '12', '--val-every', '12', '--run-dir', full]);
    expect(a.code, a.err).to.equal(0);
    expect(a.err).to.match(/Setting learning rate to 1\.60e-3 = 1 \(accumulate_grad_batches\) \* 1 \(num_gpus\) \* 8 \(batchsize\) \* 2\.00e-4 \(base_lr\)/);
    for (const f of ['config.yaml', 'metrics.jsonl', 'loss.png', 'checkpoints/last.safetensors', 'checkpoints/last.json', 'checkpoints/step-0000024/train.safetensors']) expect(existsSync(join(full, f)), f).to.equal(true);
    const losses = trainLoss(full);
    expect(losses).to.have.length(24);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean(losses.slice(-6))).to.be.below(mean(losses.slice(0, 6)));
    expect(records(full).some((r) => r['val/loss_simple_ema'] !== undefined)).to.equal(true);

    const b1 = ldmc([...base, '--max-steps', '12', '--ckpt-every', '12', '--val-every', '12', '--run-dir', part]);
    expect(b1.code, b1.err).to.equal(0);
    const b2 = ldmc([...base, '--max-steps', '24', '--ckpt-every', '12', '--val-every', '12', '--resume', part]);
    expect(b2.code, b2.err).to.equal(0);
    expect(b2.err).to.include('resuming');
    expect(trainLoss(part)).to.deep.equal(losses);
    const val = (run: string) => records(run).filter((r) => r['val/loss'] !== undefined).map((r) => [r.step, r['val/loss'], r['val/loss_ema']]);
    expect(val(part)).to.deep.equal(val(full));
  });

  it('writes a checkpoint on SIGINT and says how to resume', async function () {
    const run = join(dir, 'sigint');
    const child = spawn(process.execPath, [bin, ...base, '--max-steps', '1000', '--ckpt-every', '1000', '--val-every', '1000', '--run-dir', run], { cwd: repoRoot });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const metrics = join(run, 'metrics.jsonl');
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 3) {
          clearInterval(timer);
          child.kill('SIGINT');
          resolve();
        }
      }, 100);
      child.on('exit', () => {
        clearInterval(timer);
        reject(new Error(`exited early: ${err}`));
      });
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, err).to.equal(130);
    expect(err).to.include(`--resume ${run}`);
    const ck = loadLatestCheckpoint(run)!;
    expect(ck.state.step).to.be.greaterThan(2);
    expect(ck.state.step).to.equal(trainLoss(run).length);
  });

  it('stops a diverging run with a message and keeps the last good checkpoint', function () {
    const run = join(dir, 'nan');
    const r = ldmc([...base, '--set', 'model.base_learning_rate=1.0e+6', '--max-steps', '40', '--ckpt-every', '1', '--val-every', '1000', '--run-dir', run]);
    expect(r.code, r.err).to.equal(1);
    expect(r.err).to.match(/(loss became (NaN|Infinity|-Infinity)|parameter \S+ became non-finite) at step (\d+)/);
    const bad = Number(/at step (\d+)/.exec(r.err)![1]);
    expect(r.err).to.include('last good checkpoint');
    const ck = loadLatestCheckpoint(run)!;
    expect(ck.state.step).to.be.below(bad + 1);
    expect(ck.state.step).to.be.at.least(bad - 1);
    for (const t of ck.model.values()) for (const v of t.data) expect(Number.isFinite(v)).to.equal(true);
  });
});

describe('checkpoints', function () {
  this.timeout(120000);
  it('a process killed mid-write leaves the previous checkpoint whole', async function () {
    const killer = join(repoRoot, 'dist', 'test', 'runtime', 'ckpt-killer.js');
    for (const delay of [0, 37, 91, 160, 250]) {
      const run = mkdtempSync(join(tmpdir(), 'ldmc-kill-'));
      try {
        const child = spawn(process.execPath, [killer, run]);
        await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
        await new Promise((r) => setTimeout(r, delay));
        child.kill('SIGKILL');
        await new Promise((r) => child.on('exit', r));
        const ck = loadLatestCheckpoint(run)!;
        expect(ck.state.step).to.be.at.least(2);
        for (const t of [...ck.model.values(), ...ck.train.values()]) {
          expect(t.data.length).to.equal(4_000_000);
          expect(t.data[0]).to.equal(ck.state.step);
          expect(t.data[t.data.length - 1]).to.equal(ck.state.step);
        }
      } finally {
        rmSync(run, { recursive: true, force: true });
      }
    }
  });
});
