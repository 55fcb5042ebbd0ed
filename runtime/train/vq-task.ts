// Training a VQ first stage as the reference's VQModel does: two Adam optimizers (betas 0.5, 0.9),
// the autoencoder on reconstruction + codebook (+ the adversarial term after disc_start, with the
// adaptive weight), the PatchGAN discriminator on its hinge/vanilla loss (× 0 before disc_start,
// where its optimizer still steps, as Lightning's does).
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor4D } from '@tensorflow/tfjs-core';
import type { VQModel, VQModelInterface } from '../autoencoder/index.js';
import { decodeWithLastLayer } from '../losses/last-layer.js';
import type { VQLPIPSWithDiscriminator } from '../losses/vqperceptual.js';
import type { F32Tensor } from '../weights/safetensors.js';
import { loadStateDict, stateDict, formatReport } from '../weights/state-dict.js';
import type { OptimizerSpec, StepLoss, TensorBatch, TrainTask } from './trainer.js';
import { inEvalMode } from '../module.js';

/**
 * The discriminator loss to hand the trainer before disc_start (or with disc_factor 0). The
 * reference steps opt_disc on every batch; its loss is then 0·d_loss, so every gradient is 0:
 * Adam keeps m and v at 0 and the weights where they are (0 / (√0 + eps) = 0), but counts the step,
 * which sets the bias correction of the first real update. (The forward passes that produced
 * `value` have already moved the BatchNorm running statistics, in training mode, as there.)
 *
 * This gives the trainer exactly those zero gradients without the backward pass through the
 * discriminator: the loss carries `value` (0·d_loss, NaN if d_loss is) as a constant and reaches
 * each parameter only through 0·Σθ. The trainer's Adam then runs its update on zeros, which is
 * exact (m, v stay 0, θ unchanged) and advances the step counter the checkpoint saves.
 */
export function idleDiscriminatorLoss(value: number, params: Iterable<tf.Variable>): Scalar {
  return tf.tidy(() => {
    let loss: Scalar = tf.scalar(value);
    for (const v of params) loss = tf.add(loss, tf.mul(tf.sum(v), 0));
    return loss;
  });
}

/** PSNR of images in [-1, 1] (peak-to-peak 2), per batch mean. */
export function psnr(x: Tensor4D, y: Tensor4D): number {
  return tf.tidy(() => {
    const mse = tf.mean(tf.square(tf.sub(x, y)), [1, 2, 3]);
    return tf.mean(tf.mul(10, tf.div(tf.log(tf.div(4, tf.maximum(mse, 1e-12))), Math.log(10)))).dataSync()[0]!;
  });
}

export class VqTask implements TrainTask {
  readonly optimizers: OptimizerSpec[];
  readonly lossKey = 'train/rec_loss';
  /** The step validation reports disc_factor at (the reference's self.global_step); set by afterStep. */
  private globalStep = 0;

  constructor(
    readonly model: VQModel | VQModelInterface,
    readonly criterion: VQLPIPSWithDiscriminator,
    readonly lr: number,
    lrGFactor = 1,
  ) {
    const ae = new Map<string, tf.Variable>();
    for (const [n, v] of model.namedParameters()) if (v.trainable && !n.startsWith('loss.')) ae.set(n, v);
    const disc = new Map<string, tf.Variable>();
    for (const [n, v] of criterion.discriminator.namedParameters('loss.discriminator')) if (v.trainable) disc.set(n, v);
    this.optimizers = [
      { name: 'optimizer_ae', params: ae, adam: { lr: lr * lrGFactor, betas: [0.5, 0.9] } },
      { name: 'optimizer_disc', params: disc, adam: { lr, betas: [0.5, 0.9] } },
    ];
    // Lightning trains in train mode (ddconfig.dropout on, BatchNorm on batch statistics);
    // validation and image logs switch to eval.
    model.train(true);
    criterion.train(true);
  }

  private scalars(log: Record<string, number>): Record<string, Scalar> {
    return Object.fromEntries(Object.entries(log).map(([k, v]) => [k, tf.scalar(v)]));
  }

  loss(batch: TensorBatch, k: number, step: number): StepLoss {
    const x = batch.image as Tensor4D;
    const m = this.model;
    if (k === 0) {
      const q = m.quantize.forward(m.encodeToPrequant(x));
      const { dec, lastLayer } = decodeWithLastLayer(m.decoder, m.post_quant_conv.forward(q.zq));
      try {
        const out = this.criterion.forward(q.loss, x, dec, 0, step, lastLayer, null, 'train');
        return { loss: out.loss, logs: this.scalars(out.log) };
      } finally {
        lastLayer.dispose();
      }
    }
    // optimizer_idx 1, on every step (self(x) again, then the discriminator on x and x̂).
    const dec = tf.tidy(() => m.decodeQuant(m.quantize.forward(m.encodeToPrequant(x)).zq));
    const out = this.criterion.forward(tf.scalar(0), x, dec, 1, step, null, null, 'train');
    if (this.criterion.discFactorAt(step) !== 0) return { loss: out.loss, logs: this.scalars(out.log) };
    out.loss.dispose();
    return { loss: idleDiscriminatorLoss(out.log['train/disc_loss']!, this.optimizers[1]!.params.values()), logs: this.scalars(out.log) };
  }

  afterStep(step: number): void {
    this.globalStep = step;
  }

  /** Runs `f` with the model and the loss in eval mode. */
  private evalMode<T>(f: () => T): T {
    return inEvalMode([this.model, this.criterion], f);
  }

  /**
   * validation_step: `_validation_step` twice, plain and as `val_ema` (inside ema_scope, a no-op
   * without use_ema, which ldmc does not support for VQ models: the same values). Each logs both
   * loss dicts at the real global step (d_weight is 0 in eval mode, as the reference's no_grad
   * path gives), val/rec_loss and val/aeloss (the generator's total loss); plus ldmc's val/psnr.
   */
  validate(batch: TensorBatch): Record<string, number> {
    const x = batch.image as Tensor4D;
    const m = this.model;
    return this.evalMode(() => tf.tidy(() => {
      const q = m.quantize.forward(m.encodeToPrequant(x));
      const dec = m.decodeQuant(q.zq);
      const ae = this.criterion.forward(q.loss, x, dec, 0, this.globalStep, null, null, 'val');
      const disc = this.criterion.forward(q.loss, x, dec, 1, this.globalStep, null, null, 'val');
      const log: Record<string, number> = { 'val/rec_loss': ae.log['val/rec_loss']!, 'val/aeloss': ae.log['val/total_loss']!, ...ae.log, ...disc.log };
      const out: Record<string, number> = { ...log };
      for (const [k, v] of Object.entries(log)) out[`val_ema/${k.slice('val/'.length)}`] = v;
      out['val/psnr'] = psnr(x, dec);
      return out;
    }));
  }

  /** log_images (in eval mode, as the ImageLogger calls it): inputs and reconstructions. */
  async logImages(batch: TensorBatch): Promise<Record<string, Tensor4D>> {
    const x = batch.image as Tensor4D;
    const m = this.model;
    return this.evalMode(() => ({ inputs: x.clone(), reconstructions: tf.tidy(() => m.decodeQuant(m.quantize.forward(m.encodeToPrequant(x)).zq)) }));
  }

  /** VQModel.state_dict(): the autoencoder plus `loss.*` (the discriminator), as the reference saves it. */
  modelState(): Map<string, F32Tensor> {
    const out = new Map<string, F32Tensor>(stateDict(this.model));
    for (const [k, v] of stateDict(this.criterion, 'loss.')) out.set(k, v);
    return out;
  }

  loadModelState(tensors: ReadonlyMap<string, { shape: readonly number[]; data: ArrayLike<number> }>): void {
    const t = tensors as never;
    const a = loadStateDict(this.model, t, { strict: false, ignoreKeys: [/^loss\./] });
    const b = loadStateDict(this.criterion, t, { prefix: 'loss.', strict: false });
    if (a.missing.length || a.shapeMismatch.length || b.missing.length || b.shapeMismatch.length) throw new Error(formatReport('the VQ model', { ...a, missing: [...a.missing, ...b.missing], shapeMismatch: [...a.shapeMismatch, ...b.shapeMismatch] }));
  }

  extraState(): Record<string, number | string | null> {
    return {};
  }

  loadExtraState(): void {}
}
