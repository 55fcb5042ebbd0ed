// Training a KL first stage as the reference's AutoencoderKL does (ldm/models/autoencoder.py):
// two Adam optimizers (betas 0.5, 0.9), the autoencoder on LPIPSWithDiscriminator's
// nll + kl_weight·KL (+ the adversarial term after disc_start, with the adaptive weight) of a
// posterior *sample*'s reconstruction, the PatchGAN discriminator on its hinge/vanilla loss
// (× 0 before disc_start, where its optimizer still steps, as Lightning's does).
//
// The loss's learned `logvar` is not trained: configure_optimizers gives opt_ae the encoder,
// decoder, quant_conv and post_quant_conv parameters only (the "train encoder+decoder+logvar"
// comment in training_step notwithstanding), so in the reference logvar stays at logvar_init.
// It is still saved, as `loss.logvar`, like every other state_dict entry.
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor4D } from '@tensorflow/tfjs-core';
import type { AutoencoderKL, DiagonalGaussianDistribution } from '../autoencoder/index.js';
import type { LPIPSWithDiscriminator } from '../losses/contperceptual.js';
import { decodeWithLastLayer } from '../losses/last-layer.js';
import type { F32Tensor } from '../weights/safetensors.js';
import { formatReport, loadStateDict, stateDict } from '../weights/state-dict.js';
import type { OptimizerSpec, StepLoss, TensorBatch, TrainTask } from './trainer.js';
import { idleDiscriminatorLoss, psnr } from './vq-task.js';
import { inEvalMode } from '../module.js';

/** The modules opt_ae covers, in configure_optimizers' order. */
const AE_MODULES = ['encoder.', 'decoder.', 'quant_conv.', 'post_quant_conv.'] as const;

export class KlTask implements TrainTask {
  readonly optimizers: OptimizerSpec[];
  readonly lossKey = 'train/rec_loss';
  /** The step validation reports disc_factor at (the reference's self.global_step); set by afterStep. */
  private globalStep = 0;

  constructor(
    readonly model: AutoencoderKL,
    readonly criterion: LPIPSWithDiscriminator,
    readonly lr: number,
  ) {
    const ae = new Map<string, tf.Variable>();
    for (const prefix of AE_MODULES) {
      for (const [n, v] of model.namedParameters()) if (v.trainable && n.startsWith(prefix)) ae.set(n, v);
    }
    const disc = new Map<string, tf.Variable>();
    for (const [n, v] of criterion.discriminator.namedParameters('loss.discriminator')) if (v.trainable) disc.set(n, v);
    this.optimizers = [
      { name: 'optimizer_ae', params: ae, adam: { lr, betas: [0.5, 0.9] } },
      { name: 'optimizer_disc', params: disc, adam: { lr, betas: [0.5, 0.9] } },
    ];
    // Lightning trains in train mode (dropout on); validation and image logs switch to eval.
    model.train(true);
    criterion.train(true);
  }

  private image(batch: TensorBatch): Tensor4D {
    const key = this.model.args.image_key ?? 'image';
    const x = batch[key];
    if (!x) throw new Error(`AutoencoderKL: the batch has no '${key}' (image_key); it has ${Object.keys(batch).join(', ')}`);
    return x as Tensor4D;
  }

  /** The posterior of x and a sample of it drawn with `seed` (`self(inputs)` samples the posterior). */
  private sample(x: Tensor4D, seed: number): { posterior: DiagonalGaussianDistribution; z: Tensor4D } {
    const posterior = this.model.encode(x);
    const z = tf.tidy(() => posterior.sample(tf.randomNormal(posterior.mean.shape, 0, 1, 'float32', seed) as Tensor4D));
    return { posterior, z };
  }

  private scalars(log: Record<string, number>): Record<string, Scalar> {
    return Object.fromEntries(Object.entries(log).map(([k, v]) => [k, tf.scalar(v)]));
  }

  loss(batch: TensorBatch, k: number, step: number, seed: number): StepLoss {
    const x = this.image(batch);
    const m = this.model;
    // training_step runs self(inputs) for each optimizer: a fresh posterior sample each time.
    const { posterior, z } = this.sample(x, seed + k);
    try {
      if (k === 0) {
        const { dec, lastLayer } = decodeWithLastLayer(m.decoder, m.post_quant_conv.forward(z));
        try {
          const out = this.criterion.forward(x, dec, posterior, 0, step, lastLayer, null, 'train');
          // self.log("aeloss", …) in the reference: no split prefix.
          return { loss: out.loss, logs: this.scalars({ aeloss: out.log['train/total_loss']!, ...out.log }) };
        } finally {
          lastLayer.dispose();
        }
      }
      // optimizer_idx 1 runs on every step, as Lightning's does; before disc_start on 0·d_loss
      // (zero gradients, but the discriminator's BatchNorm statistics and Adam's step count move).
      const dec = m.decode(z);
      const out = this.criterion.forward(x, dec, posterior, 1, step, null, null, 'train');
      const logs = this.scalars({ discloss: out.log['train/disc_loss']!, ...out.log });
      if (this.criterion.discFactorAt(step) !== 0) return { loss: out.loss, logs };
      out.loss.dispose();
      return { loss: idleDiscriminatorLoss(out.log['train/disc_loss']!, this.optimizers[1]!.params.values()), logs };
    } finally {
      z.dispose();
      posterior.dispose();
    }
  }

  afterStep(step: number): void {
    this.globalStep = step;
  }

  /** Runs `f` with the model and the loss in eval mode. */
  private evalMode<T>(f: () => T): T {
    return inEvalMode([this.model, this.criterion], f);
  }

  /**
   * validation_step: both loss dicts at split 'val' (d_weight is 0 in eval mode, as the
   * reference's no_grad path gives), on a posterior sample's reconstruction, plus val/psnr.
   */
  validate(batch: TensorBatch, seed: number): Record<string, number> {
    const x = this.image(batch);
    return this.evalMode(() => {
      const { posterior, z } = this.sample(x, seed);
      try {
        return tf.tidy(() => {
          const dec = this.model.decode(z);
          const ae = this.criterion.forward(x, dec, posterior, 0, this.globalStep, null, null, 'val');
          const disc = this.criterion.forward(x, dec, posterior, 1, this.globalStep, null, null, 'val');
          return { ...ae.log, ...disc.log, 'val/psnr': psnr(x, dec) };
        });
      } finally {
        z.dispose();
        posterior.dispose();
      }
    });
  }

  /** log_images: inputs, reconstructions of a posterior sample, and samples = decode(randn_like(z)). */
  async logImages(batch: TensorBatch, seed: number): Promise<Record<string, Tensor4D>> {
    const x = this.image(batch);
    return this.evalMode(() => {
      const { posterior, z } = this.sample(x, seed);
      try {
        return {
          inputs: x.clone(),
          reconstructions: this.model.decode(z),
          samples: tf.tidy(() => this.model.decode(tf.randomNormal(z.shape, 0, 1, 'float32', seed + 1) as Tensor4D)),
        };
      } finally {
        z.dispose();
        posterior.dispose();
      }
    });
  }

  /** AutoencoderKL.state_dict(): the autoencoder plus `loss.*` (logvar, the discriminator). */
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
      throw new Error(formatReport('the KL model', { ...a, missing: [...a.missing, ...b.missing], shapeMismatch: [...a.shapeMismatch, ...b.shapeMismatch] }));
    }
  }

  extraState(): Record<string, number | string | null> {
    return {};
  }

  loadExtraState(): void {}
}
