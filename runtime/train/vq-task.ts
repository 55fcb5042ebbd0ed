// Training a VQ first stage as the reference's VQModel does: two Adam optimizers (betas 0.5, 0.9),
// the autoencoder on reconstruction + codebook (+ the adversarial term after disc_start, with the
// adaptive weight), the PatchGAN discriminator on its hinge/vanilla loss.
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor4D } from '@tensorflow/tfjs-core';
import type { VQModel, VQModelInterface } from '../autoencoder/index.js';
import { decodeWithLastLayer } from '../losses/last-layer.js';
import type { VQLPIPSWithDiscriminator } from '../losses/vqperceptual.js';
import type { F32Tensor } from '../weights/safetensors.js';
import { loadStateDict, stateDict, formatReport } from '../weights/state-dict.js';
import type { OptimizerSpec, StepLoss, TensorBatch, TrainTask } from './trainer.js';

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
  }

  /** Before disc_start the discriminator's loss is multiplied by 0: its step would change nothing. */
  active(k: number, step: number): boolean {
    return k === 0 || step >= this.criterion.discriminator_iter_start;
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
    const dec = tf.tidy(() => m.decodeQuant(m.quantize.forward(m.encodeToPrequant(x)).zq));
    const out = this.criterion.forward(tf.scalar(0), x, dec, 1, step, null, null, 'train');
    return { loss: out.loss, logs: this.scalars(out.log) };
  }

  validate(batch: TensorBatch): Record<string, number> {
    const x = batch.image as Tensor4D;
    const m = this.model;
    this.criterion.eval();
    try {
      return tf.tidy(() => {
        const q = m.quantize.forward(m.encodeToPrequant(x));
        const dec = m.decodeQuant(q.zq);
        const out = this.criterion.forward(q.loss, x, dec, 0, 0, null, null, 'val');
        return { ...out.log, 'val/psnr': psnr(x, dec) };
      });
    } finally {
      this.criterion.train(true);
    }
  }

  async logImages(batch: TensorBatch): Promise<Record<string, Tensor4D>> {
    const x = batch.image as Tensor4D;
    const m = this.model;
    return { inputs: x.clone(), reconstructions: tf.tidy(() => m.decodeQuant(m.quantize.forward(m.encodeToPrequant(x)).zq)) };
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
