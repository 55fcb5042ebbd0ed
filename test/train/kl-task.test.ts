// Training an AutoencoderKL first stage (runtime/train/kl-task.ts) with the real loop, wasm and
// the real Fashion-MNIST at 16×16: the loss goes down, the discriminator waits for disc_start
// (and the adaptive weight with it) while its optimizer steps on zero gradients as Lightning's
// does, a resumed run is the uninterrupted one, and `ldmc train` writes a run whose checkpoint
// has the reference's state_dict names.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { AutoencoderKL } from '../../runtime/autoencoder/index.js';
import { loggedMetrics } from '../../compiler/check.js';
import { BatchNorm2d, type LPIPSWithDiscriminator } from '../../runtime/losses/index.js';
import { loadLatestCheckpoint } from '../../runtime/train/checkpoint.js';
import { KlTask } from '../../runtime/train/kl-task.js';
import { train, type TrainOptions } from '../../runtime/train/trainer.js';
import { parseSafetensors } from '../../runtime/weights/safetensors.js';
import { fashionWasmSuite, tinyFirstStage, tinyTrainOptions, type TinyFirstStage } from '../support/first-stage.js';
import { repoRoot } from '../support/reference.js';

const config = join(repoRoot, 'test', 'fixtures', 'train', 'tiny-kl.yaml');

interface Rec {
  step: number;
  [k: string]: number;
}
const records = (run: string): Rec[] => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Rec);
/** The training records (one per step), without the wall-clock time. */
const trainRecs = (run: string) => records(run).filter((r) => r.aeloss !== undefined).map(({ time: _t, ...r }) => r);
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const snap = (vars: Iterable<tf.Variable>) => [...vars].map((v) => Array.from(v.dataSync()));

type Tiny = TinyFirstStage<KlTask>;

/** The fixture's model, loss and data, as `ldmc train` builds them; `seed` sets the model's initial weights. */
function tiny(discStart: number, seed = 7, overrides: string[] = []): Tiny {
  return tinyFirstStage(config, (model: AutoencoderKL, loss: LPIPSWithDiscriminator, lr: number) => new KlTask(model, loss, lr), discStart, overrides, seed);
}

function options(t: Tiny, runDir: string, maxSteps: number, over: Partial<TrainOptions> = {}): TrainOptions {
  return tinyTrainOptions(t, 'tiny-kl', runDir, maxSteps, over);
}

describe('KL first-stage training (KlTask)', function () {
  this.timeout(120000);
  const dir = fashionWasmSuite('ldmc-kl-');

  it('optimizes encoder, decoder, quant_conv and post_quant_conv (not logvar), and the loss goes down', async function () {
    const t = tiny(100000);
    try {
      const ae = t.task.optimizers[0]!, disc = t.task.optimizers[1]!;
      expect([ae.name, disc.name]).to.deep.equal(['optimizer_ae', 'optimizer_disc']);
      expect(t.lr).to.be.closeTo(4 * 2.5e-4, 1e-12);
      expect(ae.adam).to.deep.equal({ lr: t.lr, betas: [0.5, 0.9] });
      expect(disc.adam).to.deep.equal({ lr: t.lr, betas: [0.5, 0.9] });
      const prefixes = new Set([...ae.params.keys()].map((k) => k.split('.')[0]));
      expect([...prefixes]).to.deep.equal(['encoder', 'decoder', 'quant_conv', 'post_quant_conv']);
      expect(ae.params.size).to.equal(t.task.model.parameters().filter((v) => v.trainable).length);
      expect([...disc.params.keys()].every((k) => k.startsWith('loss.discriminator.main.'))).to.equal(true);

      const run = join(dir(), 'loss');
      const res = await train(t.task, options(t, run, 24));
      expect(res.status).to.equal('done');
      const recs = trainRecs(run);
      expect(recs).to.have.length(24);
      expect(Object.keys(recs[0]!)).to.include.members(['aeloss', 'train/total_loss', 'train/logvar', 'train/kl_loss', 'train/nll_loss', 'train/rec_loss', 'train/d_weight', 'train/disc_factor', 'train/g_loss']);
      const ael = recs.map((r) => r.aeloss!);
      expect(ael.every(Number.isFinite)).to.equal(true);
      expect(recs.every((r) => r.aeloss === r['train/total_loss'])).to.equal(true);
      expect(mean(ael.slice(-6))).to.be.below(0.85 * mean(ael.slice(0, 6)));
      expect(mean(recs.slice(-6).map((r) => r['train/rec_loss']!))).to.be.below(mean(recs.slice(0, 6).map((r) => r['train/rec_loss']!)));
      // logvar is in no optimizer: it stays at logvar_init (0), as in the reference.
      expect(recs.every((r) => r['train/logvar'] === 0)).to.equal(true);
      expect(t.task.criterion.logvar.dataSync()[0]).to.equal(0);
      const val = records(run).find((r) => r['val/rec_loss'] !== undefined)!;
      expect(val.step).to.equal(24);
      expect(Object.keys(val)).to.include.members(['val/rec_loss', 'val/total_loss', 'val/kl_loss', 'val/d_weight', 'val/disc_loss', 'val/logits_real', 'val/logits_fake', 'val/psnr']);
      expect(val['val/d_weight']).to.equal(0);
      expect(t.task.model.training, 'back in train mode after validation').to.equal(true);
      // What the task logs is what the compiler's monitor check accepts (ldmc's val/psnr aside):
      // aeloss and discloss without a split prefix, train/* and val/* of both loss dicts.
      const logged = new Set(records(run).flatMap((r) => Object.keys(r)).filter((k) => !['step', 'epoch', 'time', 'lr', 'val/psnr'].includes(k)));
      expect([...logged].sort()).to.deep.equal([...new Set(loggedMetrics(t.graph!.model!))].sort());
    } finally {
      t.dispose();
    }
  });

  it('before disc_start: discriminator steps on zero gradients (weights unchanged), no adaptive weight; from disc_start on: both', async function () {
    const t = tiny(3);
    try {
      const discVars = [...t.task.optimizers[1]!.params.values()];
      const before = snap(discVars);
      // Counts calculate_adaptive_weight calls per step.
      const crit = t.task.criterion as unknown as { adaptiveWeight: (...a: unknown[]) => number };
      const orig = crit.adaptiveWeight.bind(crit);
      let calls = 0;
      crit.adaptiveWeight = (...a) => { calls++; return orig(...a); };
      const perStep: Array<{ calls: number; changed: boolean }> = [];
      const task = t.task;
      const afterStep = task.afterStep.bind(task);
      task.afterStep = (step) => {
        afterStep(step);
        const now = snap(discVars);
        perStep.push({ calls, changed: now.some((a, i) => a.some((v, j) => v !== before[i]![j])) });
        calls = 0;
      };
      const run = join(dir(), 'disc');
      const res = await train(task, options(t, run, 5, { validateEvery: 5, imageEvery: 4 }));
      expect(res.status).to.equal('done');
      // Steps 0–2 (records 1–3) are before disc_start = 3.
      expect(perStep).to.deep.equal([
        { calls: 0, changed: false }, { calls: 0, changed: false }, { calls: 0, changed: false },
        { calls: 1, changed: true }, { calls: 1, changed: true },
      ]);
      const recs = trainRecs(run);
      expect(recs.map((r) => r['train/disc_factor'])).to.deep.equal([0, 0, 0, 1, 1]);
      expect(recs.slice(0, 3).map((r) => r['train/d_weight'])).to.deep.equal([0, 0, 0]);
      for (const r of recs.slice(3)) expect(r['train/d_weight']).to.be.above(0);
      // optimizer_idx 1 runs (and logs) on every step, on 0·d_loss before disc_start.
      expect(recs.slice(0, 3).map((r) => [r.discloss, r['train/disc_loss']])).to.deep.equal([[0, 0], [0, 0], [0, 0]]);
      for (const r of recs) expect(Number.isFinite(r['train/logits_real']) && Number.isFinite(r['train/logits_fake'])).to.equal(true);
      for (const r of recs.slice(3)) {
        expect(r.discloss).to.equal(r['train/disc_loss']);
        expect(r.discloss).to.be.above(0);
        expect(Number.isFinite(r['train/logits_real']) && Number.isFinite(r['train/logits_fake'])).to.equal(true);
      }
      const val = records(run).find((r) => r['val/disc_loss'] !== undefined)!;
      expect(val['val/disc_factor']).to.equal(1);
      // The image logger: inputs, reconstructions and samples at steps 1, 2, 4.
      for (const s of ['000001', '000002', '000004']) {
        for (const k of ['inputs', 'reconstructions', 'samples']) expect(existsSync(join(run, 'images', 'train', `${k}_gs-${s}_e-000000.png`)), `${k} ${s}`).to.equal(true);
      }
    } finally {
      t.dispose();
    }
  });

  it('the discriminator Adam counts every step before disc_start, and its BatchNorm statistics move (train mode)', async function () {
    const t = tiny(3);
    try {
      const disc = t.task.criterion.discriminator;
      const weights = [...t.task.optimizers[1]!.params.values()];
      const bns = [...disc.namedModules()].map(([, m]) => m).filter((m): m is BatchNorm2d => m instanceof BatchNorm2d);
      expect(bns.length).to.equal(2); // disc_num_layers 2
      const stats = () => snap(bns.flatMap((b) => [b.running_mean, b.running_var]));
      const w0 = snap(weights), s0 = stats();
      const run = join(dir(), 'disc-adam');
      // Three steps: global steps 0, 1, 2, all before disc_start = 3; the checkpoint is at step 3.
      expect((await train(t.task, options(t, run, 3, { checkpointEvery: 3, validateEvery: 1000 }))).status).to.equal('done');
      const ck = loadLatestCheckpoint(run)!;
      expect(ck.state.step).to.equal(3);
      expect(ck.state.extra.optimizer_disc_step, 'Adam steps = global steps at disc_start').to.equal(3);
      expect(ck.state.extra.optimizer_ae_step).to.equal(3);
      // Zero gradients: Adam's moments stay 0, the weights stay put.
      for (const [k, v] of ck.train) if (k.startsWith('optimizer_disc.')) expect(Array.from(v.data).every((x) => x === 0), k).to.equal(true);
      expect(snap(weights)).to.deep.equal(w0);
      // Each step runs the discriminator three times in train mode (g_loss on x̂, then real and
      // fake); validation at the last step runs it in eval mode, which leaves the buffers alone.
      for (const b of bns) expect(b.num_batches_tracked.dataSync()[0]).to.equal(9);
      const s1 = stats();
      expect(s1.some((a, i) => a.some((v, j) => v !== s0[i]![j])), 'running statistics changed').to.equal(true);
      expect(Array.from(ck.model.get('loss.discriminator.main.3.running_mean')!.data)).to.deep.equal(s1[0]);
    } finally {
      t.dispose();
    }
  });

  it('a checkpoint resumed by a fresh process state gives the uninterrupted run, across disc_start and with dropout', async function () {
    const full = join(dir(), 'full'), part = join(dir(), 'part');
    // Dropout on: its masks come from the run seed and the step, so the resumed half draws the same ones.
    const dropout = ['model.params.ddconfig.dropout=0.2'];
    const a = tiny(3, 7, dropout);
    const b = tiny(3, 7, dropout);
    const c = tiny(3, 99, dropout); // other initial weights: everything must come from the checkpoint
    try {
      // The same seed gives the same start, the discriminator's weights_init included; another seed does not.
      const [sa, sb, sc] = [a, b, c].map((x) => x.task.modelState());
      for (const [k, v] of sa) expect(Array.from(sb!.get(k)!.data), k).to.deep.equal(Array.from(v.data));
      expect(Array.from(sc!.get('loss.discriminator.main.0.weight')!.data)).to.not.deep.equal(Array.from(sa!.get('loss.discriminator.main.0.weight')!.data));
      expect((await train(a.task, options(a, full, 6, { checkpointEvery: 3, validateEvery: 3 }))).status).to.equal('done');
      expect((await train(b.task, options(b, part, 3, { checkpointEvery: 3, validateEvery: 3 }))).status).to.equal('done');
      expect(loadLatestCheckpoint(part)!.state.step).to.equal(3);
      expect((await train(c.task, options(c, part, 6, { checkpointEvery: 3, validateEvery: 3, resume: true }))).status).to.equal('done');
      const strip = (run: string) => records(run).map(({ time: _t, ...r }) => r);
      const got = strip(part), want = strip(full);
      expect(got.filter((r) => r.aeloss !== undefined)).to.have.length(6);
      expect(got).to.deep.equal(want);
      // The optimizers' step counts: both step on every batch (the discriminator on zero gradients before disc_start).
      const ck = loadLatestCheckpoint(part)!;
      expect(ck.state.extra.optimizer_ae_step).to.equal(6);
      expect(ck.state.extra.optimizer_disc_step).to.equal(6);
      const [ma, mc] = [a.task.modelState(), c.task.modelState()];
      for (const [k, v] of ma) expect(Array.from(mc.get(k)!.data), k).to.deep.equal(Array.from(v.data));
    } finally {
      a.dispose(); b.dispose(); c.dispose();
    }
  });

  it('ldmc train on a KL config writes a run with PyTorch-named weights, and ckpt_path restores them', function () {
    const run = join(dir(), 'cli');
    const ldmc = (args: string[]) => {
      const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'ldmc.js'), 'train', config, '--backend', 'wasm', '--workers', '0', '--val-batches', '1', ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120000 });
      return { code: r.status, err: r.stderr };
    };
    const r = ldmc(['--max-steps', '3', '--run-dir', run]);
    expect(r.code, r.err).to.equal(0);
    expect(r.err).to.include('training AutoencoderKL for 3 steps');
    for (const f of ['config.yaml', 'metrics.jsonl', 'loss.png', 'checkpoints/last.json', 'checkpoints/step-0000003/model.safetensors']) expect(existsSync(join(run, f)), f).to.equal(true);
    expect(trainRecs(run)).to.have.length(3);
    const ckpt = join(run, 'checkpoints', 'last.safetensors');
    const keys = [...parseSafetensors(readFileSync(ckpt)).tensors.keys()];
    const groups = ['encoder.', 'decoder.', 'quant_conv.', 'post_quant_conv.', 'loss.discriminator.'];
    for (const g of groups) expect(keys.some((k) => k.startsWith(g)), g).to.equal(true);
    expect(keys.filter((k) => !groups.some((g) => k.startsWith(g)))).to.deep.equal(['loss.logvar']);
    for (const k of ['encoder.conv_in.weight', 'encoder.down.0.block.0.norm1.weight', 'decoder.up.1.upsample.conv.weight', 'quant_conv.weight', 'post_quant_conv.bias', 'loss.discriminator.main.0.weight', 'loss.discriminator.main.3.running_mean']) {
      expect(keys, k).to.include(k);
    }

    // The reference's init_from_ckpt: a new run starts from those weights.
    const again = ldmc(['--max-steps', '1', '--run-dir', join(dir(), 'cli-ckpt'), '--set', `model.params.ckpt_path=${ckpt}`]);
    expect(again.code, again.err).to.equal(0);
    expect(again.err).to.include(`Restored from ${ckpt}: ${keys.length} tensors`);
    // perceptual_weight > 0 needs LPIPS weights, which ldmc cannot download.
    const lpips = ldmc(['--max-steps', '1', '--run-dir', join(dir(), 'cli-lpips'), '--set', 'model.params.lossconfig.params.perceptual_weight=1.0']);
    expect(lpips.code).to.not.equal(0);
    expect(lpips.err).to.match(/--lpips-weights FILE/).and.to.match(/perceptual_weight=0/);
  });
});
