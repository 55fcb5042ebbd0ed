// What the VQ and KL first-stage tasks share, as the reference's VQModel and AutoencoderKL do:
// two Adam optimizers (betas 0.5, 0.9) over the autoencoder and the loss's PatchGAN
// discriminator, training mode while training and eval mode for validation and image logs, the
// global step validation reports disc_factor at, the state_dict of the model plus `loss.*`, and
// the discriminator's loss before disc_start (× 0, while its optimizer still steps).
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor4D } from '@tensorflow/tfjs-core';
import { inEvalMode, type Module } from '../module.js';
import type { LossOutput, PerceptualGanLoss } from '../losses/adversarial.js';
import type { F32Tensor } from '../weights/safetensors.js';
import { formatReport, loadStateDict, stateDict } from '../weights/state-dict.js';
import type { OptimizerSpec, StepLoss, TensorBatch, TrainTask } from './trainer.js';

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

export abstract class FirstStageTask<M extends Module, L extends PerceptualGanLoss> implements TrainTask {
  readonly optimizers: OptimizerSpec[];
  readonly lossKey = 'train/rec_loss';
  /** The step validation reports disc_factor at (the reference's self.global_step); set by afterStep. */
  protected globalStep = 0;

  /**
   * opt_ae covers the model's trainable parameters (configure_optimizers' encoder, decoder,
   * quant_conv, post_quant_conv and, for VQ, quantize), opt_disc the discriminator's.
   * `label` names the model in load errors.
   */
  constructor(readonly model: M, readonly criterion: L, readonly lr: number, lrGFactor: number, private readonly label: string) {
    const ae = new Map<string, tf.Variable>();
    for (const [n, v] of model.namedParameters()) if (v.trainable) ae.set(n, v);
    const disc = new Map<string, tf.Variable>();
    for (const [n, v] of criterion.discriminator.namedParameters('loss.discriminator')) if (v.trainable) disc.set(n, v);
    this.optimizers = [
      { name: 'optimizer_ae', params: ae, adam: { lr: lr * lrGFactor, betas: [0.5, 0.9] } },
      { name: 'optimizer_disc', params: disc, adam: { lr, betas: [0.5, 0.9] } },
    ];
    // Lightning trains in train mode (dropout on, BatchNorm on batch statistics); validation and
    // image logs switch to eval.
    model.train(true);
    criterion.train(true);
  }

  abstract loss(batch: TensorBatch, k: number, step: number, seed: number): StepLoss;
  abstract validate(batch: TensorBatch, seed: number): Record<string, number>;
  abstract logImages(batch: TensorBatch, seed: number): Promise<Record<string, Tensor4D>>;

  protected scalars(log: Record<string, number>): Record<string, Scalar> {
    return Object.fromEntries(Object.entries(log).map(([k, v]) => [k, tf.scalar(v)]));
  }

  /**
   * optimizer_idx 1's loss from the discriminator step's output: as it is from disc_start on,
   * before it the idle loss (zero gradients; see idleDiscriminatorLoss).
   */
  protected discriminatorLoss(out: LossOutput, step: number, logs: Record<string, Scalar>): StepLoss {
    if (this.criterion.discFactorAt(step) !== 0) return { loss: out.loss, logs };
    out.loss.dispose();
    return { loss: idleDiscriminatorLoss(out.log['train/disc_loss']!, this.optimizers[1]!.params.values()), logs };
  }

  afterStep(step: number): void {
    this.globalStep = step;
  }

  /** Runs `f` with the model and the loss in eval mode. */
  protected evalMode<T>(f: () => T): T {
    return inEvalMode([this.model, this.criterion], f);
  }

  /** state_dict(): the autoencoder plus `loss.*` (the discriminator, and logvar for KL), as the reference saves it. */
  modelState(): Map<string, F32Tensor> {
    const out = new Map<string, F32Tensor>(stateDict(this.model));
    for (const [k, v] of stateDict(this.criterion, 'loss.')) out.set(k, v);
    return out;
  }

  loadModelState(tensors: ReadonlyMap<string, { shape: readonly number[]; data: ArrayLike<number> }>): void {
    const t = tensors as never;
    const a = loadStateDict(this.model, t, { strict: false, ignoreKeys: [/^loss\./] });
    const b = loadStateDict(this.criterion, t, { prefix: 'loss.', strict: false });
    if (a.missing.length || a.shapeMismatch.length || b.missing.length || b.shapeMismatch.length) {
      throw new Error(formatReport(this.label, { ...a, missing: [...a.missing, ...b.missing], shapeMismatch: [...a.shapeMismatch, ...b.shapeMismatch] }));
    }
  }

  extraState(): Record<string, number | string | null> {
    return {};
  }

  loadExtraState(): void {}
}
