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
import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { AutoencoderKL, DiagonalGaussianDistribution } from '../autoencoder/index.js';
import type { LPIPSWithDiscriminator } from '../losses/contperceptual.js';
import { decodeWithLastLayer } from '../losses/last-layer.js';
import { FirstStageTask, psnr } from './first-stage-task.js';
import type { StepLoss, TensorBatch } from './trainer.js';

export class KlTask extends FirstStageTask<AutoencoderKL, LPIPSWithDiscriminator> {
  constructor(model: AutoencoderKL, criterion: LPIPSWithDiscriminator, lr: number) {
    super(model, criterion, lr, 1, 'the KL model');
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
      return this.discriminatorLoss(out, step, this.scalars({ discloss: out.log['train/disc_loss']!, ...out.log }));
    } finally {
      z.dispose();
      posterior.dispose();
    }
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
}
