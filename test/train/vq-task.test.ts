// Training a VQModel first stage (runtime/train/vq-task.ts) with the real loop, wasm and the real
// Fashion-MNIST at 16×16: train/eval modes (ddconfig.dropout), the discriminator's optimizer
// stepping from the first step (zero gradients before disc_start, as Lightning's 0·d_loss),
// validation_step's keys at the real global step, and the compiler's list of logged metrics.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loggedMetrics } from '../../compiler/check.js';
import type { VQModel } from '../../runtime/autoencoder/index.js';
import { BatchNorm2d, type VQLPIPSWithDiscriminator } from '../../runtime/losses/index.js';
import { Dropout } from '../../runtime/nn/index.js';
import { loadLatestCheckpoint } from '../../runtime/train/checkpoint.js';
import { train, type TensorBatch, type TrainOptions } from '../../runtime/train/trainer.js';
import { VqTask } from '../../runtime/train/vq-task.js';
import { parseSafetensors } from '../../runtime/weights/safetensors.js';
import { fashionWasmSuite, tinyFirstStage, tinyTrainOptions, type TinyFirstStage } from '../support/first-stage.js';
import { repoRoot } from '../support/reference.js';

const config = join(repoRoot, 'test', 'fixtures', 'train', 'tiny-vq.yaml');

interface Rec {
  step: number;
  [k: string]: number;
}
const records = (run: string): Rec[] => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Rec);
const snap = (vars: Iterable<tf.Variable>) => [...vars].map((v) => Array.from(v.dataSync()));
const same = (a: number[][], b: number[][]) => a.every((x, i) => x.every((v, j) => Object.is(v, b[i]![j])));

type Tiny = TinyFirstStage<VqTask>;

/** The fixture's model, loss and data, as `ldmc train` builds them; `seed` sets the model's initial weights. */
function tiny(discStart: number, over: string[] = [], seed = 7): Tiny {
  return tinyFirstStage(config, (model: VQModel, loss: VQLPIPSWithDiscriminator, lr: number) => new VqTask(model, loss, lr), discStart, over, seed);
}

function options(t: Tiny, runDir: string, maxSteps: number, over: Partial<TrainOptions> = {}): TrainOptions {
  return tinyTrainOptions(t, 'tiny-vq', runDir, maxSteps, over);
}

/** One training batch of the fixture's data, as tensors. */
async function firstBatch(t: Tiny): Promise<TensorBatch> {
  const loader = t.data.trainDataloader();
  try {
    for await (const b of loader.epoch(0)) return { image: tf.tensor4d(b.image, b.shape) };
  } finally {
    await loader.close();
  }
  throw new Error('no batch');
}

describe('VQ first-stage training (VqTask)', function () {
  this.timeout(120000);
  const dir = fashionWasmSuite('ldmc-vq-');

  it('trains in train mode (ddconfig.dropout on), validates and logs images in eval mode', async function () {
    const t = tiny(100000, ['model.params.ddconfig.dropout=0.5']);
    const batch = await firstBatch(t);
    try {
      const m = t.task.model;
      const drops = [...m.namedModules()].map(([, d]) => d).filter((d) => d instanceof Dropout);
      expect(drops.length).to.be.above(0);
      expect(m.training && drops.every((d) => d.training) && t.task.criterion.training).to.equal(true);
      // Two training forwards draw different dropout masks; two validations are identical.
      const recLoss = () => {
        const r = t.task.loss(batch, 0, 0);
        const v = r.logs['train/rec_loss']!.dataSync()[0]!;
        tf.dispose([r.loss, ...Object.values(r.logs)]);
        return v;
      };
      expect(recLoss()).to.not.equal(recLoss());
      const modes: boolean[] = [];
      const orig = m.decodeQuant.bind(m);
      m.decodeQuant = (q) => { modes.push(m.training, t.task.criterion.training); return orig(q); };
      const v1 = t.task.validate(batch), v2 = t.task.validate(batch);
      expect(v1).to.deep.equal(v2);
      const imgs = await t.task.logImages(batch);
      tf.dispose(Object.values(imgs));
      expect(modes.length).to.equal(6);
      expect(modes.every((x) => x === false), 'eval mode in validate and logImages').to.equal(true);
      expect(m.training && drops.every((d) => d.training) && t.task.criterion.training, 'back in train mode').to.equal(true);
    } finally {
      tf.dispose(Object.values(batch));
      t.dispose();
    }
  });

  it('validation_step: val/rec_loss, val/aeloss, both loss dicts (and val_ema/*) at the real global step', async function () {
    const t = tiny(3);
    try {
      const run = join(dir(), 'val');
      expect((await train(t.task, options(t, run, 4, { validateEvery: 2 }))).status).to.equal('done');
      const vals = records(run).filter((r) => r['val/rec_loss'] !== undefined);
      expect(vals.map((r) => r.step)).to.deep.equal([2, 4]);
      const dicts = ['total_loss', 'quant_loss', 'nll_loss', 'rec_loss', 'p_loss', 'd_weight', 'disc_factor', 'g_loss', 'disc_loss', 'logits_real', 'logits_fake'];
      const want = [...['val', 'val_ema'].flatMap((s) => ['rec_loss', 'aeloss', ...dicts].map((k) => `${s}/${k}`)), 'val/psnr'];
      for (const v of vals) {
        const { step: _s, epoch: _e, time: _t, ...keys } = v;
        expect(Object.keys(keys)).to.have.members([...new Set(want)]);
        expect(v['val/aeloss']).to.equal(v['val/total_loss']);
        expect(v['val/d_weight']).to.equal(0); // eval mode: the reference's no_grad path
        for (const k of Object.keys(keys)) if (k.startsWith('val/') && k !== 'val/psnr') expect(v[`val_ema/${k.slice(4)}`], k).to.equal(v[k]);
      }
      // disc_factor follows global_step (2 < disc_start = 3 ≤ 4), and the disc loss with it.
      expect(vals.map((v) => v['val/disc_factor'])).to.deep.equal([0, 1]);
      expect(vals[0]!['val/disc_loss']).to.equal(0);
      expect(vals[1]!['val/disc_loss']).to.be.above(0);
      expect(Number.isFinite(vals[0]!['val/logits_real']) && Number.isFinite(vals[0]!['val/logits_fake'])).to.equal(true);

      // What the task logs is what the compiler's monitor check accepts (ldmc's val/psnr aside).
      const logged = new Set(records(run).flatMap((r) => Object.keys(r)).filter((k) => !['step', 'epoch', 'time', 'lr', 'val/psnr'].includes(k)));
      expect([...logged].sort()).to.deep.equal([...new Set(loggedMetrics(t.graph!.model!))].sort());
    } finally {
      t.dispose();
    }
  });

  it('the discriminator optimizer steps from step 0 (zero gradients before disc_start), BatchNorm statistics move', async function () {
    const t = tiny(3);
    try {
      const disc = t.task.criterion.discriminator;
      const weights = [...t.task.optimizers[1]!.params.values()];
      const bns = [...disc.namedModules()].map(([, m]) => m).filter((m): m is BatchNorm2d => m instanceof BatchNorm2d);
      expect(bns.length).to.equal(2);
      const w0 = snap(weights), bn0 = snap(bns.flatMap((b) => [b.running_mean, b.running_var]));
      const perStep: Array<{ weights: boolean; tracked: number }> = [];
      const afterStep = t.task.afterStep.bind(t.task);
      t.task.afterStep = (step) => {
        afterStep(step);
        perStep.push({ weights: !same(w0, snap(weights)), tracked: bns[0]!.num_batches_tracked.dataSync()[0]! });
      };
      const run = join(dir(), 'disc');
      expect((await train(t.task, options(t, run, 4, { checkpointEvery: 3 }))).status).to.equal('done');
      // Three discriminator forwards a step in train mode (g_loss on x̂; real and fake for its own
      // step), as in the reference; its weights only move once disc_start = 3 is reached.
      expect(perStep).to.deep.equal([
        { weights: false, tracked: 3 }, { weights: false, tracked: 6 }, { weights: false, tracked: 9 }, { weights: true, tracked: 12 },
      ]);
      const last = loadLatestCheckpoint(run)!;
      expect(last.state.step).to.equal(4);
      expect(last.state.extra.optimizer_disc_step).to.equal(4);
      expect(last.state.extra.optimizer_ae_step).to.equal(4);
      const meta = parseSafetensors(readFileSync(join(run, 'checkpoints', 'step-0000003', 'train.safetensors'))).metadata!;
      const at3 = JSON.parse(meta.ldmc_state!) as { step: number; extra: Record<string, number> };
      expect(at3.step).to.equal(3);
      expect(at3.extra.optimizer_disc_step, 'Adam steps at disc_start = global step').to.equal(3);
      expect(same(bn0, snap(bns.flatMap((b) => [b.running_mean, b.running_var]))), 'running statistics changed').to.equal(false);
      const recs = records(run).filter((r) => r['train/rec_loss'] !== undefined);
      expect(recs.map((r) => r['train/disc_loss'] === 0)).to.deep.equal([true, true, true, false]);
      expect(recs.every((r) => Number.isFinite(r['train/logits_real']) && Number.isFinite(r['train/logits_fake']))).to.equal(true);
    } finally {
      t.dispose();
    }
  });
});
