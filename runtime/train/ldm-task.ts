// Training a LatentDiffusion: AdamW on the UNet (+ the cond stage when trainable, + a learned
// logvar), EMA after every step, validation with and without the EMA weights (the reference logs
// both: `val/loss_simple` and `val/loss_simple_ema`), and image logs (inputs, reconstructions,
// DDIM samples of the batch's classes, a denoising row).
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import { DDIMSampler } from '../diffusion/ddim.js';
import type { LatentDiffusion } from '../diffusion/latent-diffusion.js';
import { seededNoise } from '../diffusion/noise.js';
import type { F32Tensor } from '../weights/safetensors.js';
import type { OptimizerSpec, StepLoss, TensorBatch, TrainTask } from './trainer.js';

export interface LdmTaskOptions {
  /** DDIM steps of the logged samples (log_images_kwargs.ddim_steps; the reference uses 200). */
  readonly ddimSteps: number;
}

export class LdmTask implements TrainTask {
  readonly optimizers: OptimizerSpec[];
  readonly lossKey = 'train/loss';

  constructor(
    readonly model: LatentDiffusion,
    readonly lr: number,
    readonly opts: LdmTaskOptions = { ddimSteps: 20 },
  ) {
    const params = new Map<string, tf.Variable>();
    for (const [n, v] of model.namedParameters()) {
      const cond = n.startsWith('cond_stage_model.');
      if (n.startsWith('model.') || (cond && model.args.cond_stage_trainable)) params.set(n, v);
    }
    if (model.ddpm.learnLogvar) params.set('logvar', model.ddpm.logvar as tf.Variable);
    // LatentDiffusion.configure_optimizers: AdamW(params, lr) with torch's defaults.
    this.optimizers = [{ name: 'optimizer', params, adam: { lr, weightDecay: 0.01 } }];
  }

  private draws(batch: TensorBatch, seed: number): { t: Tensor1D; noise: Tensor4D } {
    const img = batch[this.model.firstStageKey] as Tensor4D;
    const B = img.shape[0];
    const [lc, lh, lw] = [this.model.args.channels, this.model.args.image_size, this.model.args.image_size];
    const t = tf.randomUniform([B], 0, this.model.ddpm.numTimesteps, 'int32', seed) as Tensor1D;
    const noise = tf.randomNormal([B, lh, lw, lc], 0, 1, 'float32', seed + 1) as Tensor4D;
    return { t, noise };
  }

  loss(batch: TensorBatch, _k: number, _step: number, seed: number): StepLoss {
    const { t, noise } = this.draws(batch, seed);
    try {
      const r = this.model.trainingLoss(batch, { t, noise, training: true });
      return { loss: r.loss, logs: r.lossDict };
    } finally {
      tf.dispose([t, noise]);
    }
  }

  firstBatch(batch: TensorBatch): string | undefined {
    const f = this.model.maybeSetScale(batch[this.model.firstStageKey] as Tensor4D);
    return f === undefined ? undefined : `scale_by_std: scale_factor = ${f.toPrecision(6)} (1 / std of the first batch's latents)`;
  }

  afterStep(): void {
    this.model.ema?.update(this.model.model);
  }

  /** Runs `f` with the EMA weights in the UNet (ema_scope), then puts the trained ones back. */
  private withEma<T>(f: () => T): T {
    const ema = this.model.ema;
    if (!ema) return f();
    const params = this.model.model.parameters();
    ema.store(params);
    ema.copyTo(this.model.model);
    try {
      return f();
    } finally {
      ema.restore(params);
    }
  }

  validate(batch: TensorBatch, seed: number): Record<string, number> {
    const out: Record<string, number> = {};
    const run = (suffix: string) => {
      const { t, noise } = this.draws(batch, seed);
      const r = this.model.trainingLoss(batch, { t, noise, training: false });
      for (const [k, v] of Object.entries(r.lossDict)) out[`${k}${suffix}`] = v.dataSync()[0]!;
      tf.dispose([t, noise, r.loss, ...Object.values(r.lossDict)]);
    };
    run('');
    // validation_step logs the EMA dict too (identical weights when use_ema is off).
    this.withEma(() => run('_ema'));
    return out;
  }

  async logImages(batch: TensorBatch, seed: number): Promise<Record<string, Tensor4D>> {
    const m = this.model;
    const x = batch[m.firstStageKey] as Tensor4D;
    const B = x.shape[0];
    const out: Record<string, Tensor4D> = { inputs: x.clone() };
    out.reconstruction = tf.tidy(() => m.decodeFirstStage(m.encodeFirstStage(x)));
    const cond = m.conditioning(batch);
    const shape: [number, number, number] = [m.args.image_size, m.args.image_size, m.args.channels];
    const res = this.withEma(() =>
      new DDIMSampler(m.ddpm).sample({ S: this.opts.ddimSteps, batchSize: B, shape, ...(cond ? { conditioning: cond } : {}), eta: 1, noise: seededNoise(seed), logEveryT: Math.max(1, Math.floor(this.opts.ddimSteps / 5)) }),
    );
    out.samples = tf.tidy(() => m.decodeFirstStage(res.samples));
    // Denoising row: the x0 predictions of the first sample along the way.
    const preds = res.intermediates.pred_x0.map((p) => tf.slice(p, [0, 0, 0, 0], [1, -1, -1, -1]) as Tensor4D);
    out.denoise_row = tf.tidy(() => m.decodeFirstStage(tf.concat(preds, 0) as Tensor4D));
    tf.dispose([res.samples, ...res.intermediates.pred_x0, ...res.intermediates.x_inter, ...preds]);
    if (cond) tf.dispose(cond as tf.Tensor);
    return out;
  }

  modelState(): Map<string, F32Tensor> {
    return this.model.fullStateDict();
  }

  loadModelState(tensors: ReadonlyMap<string, { shape: readonly number[]; data: ArrayLike<number> }>): void {
    this.model.loadFull(tensors as never);
  }

  extraState(): Record<string, number | string | null> {
    return { scale_factor: this.model.scaleFactor };
  }

  loadExtraState(extra: Record<string, number | string | null>): void {
    if (typeof extra.scale_factor === 'number') {
      this.model.scaleFactor = extra.scale_factor;
      this.model.needsScale = false;
    }
  }
}
