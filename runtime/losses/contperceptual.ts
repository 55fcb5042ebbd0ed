// ldm/modules/losses/contperceptual.py `LPIPSWithDiscriminator` (the KL autoencoders' loss),
// NHWC. State dict: logvar, perceptual_loss.* (when built), discriminator.main.*.
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import type { LPIPSWithDiscriminatorParams } from '../../schema/losses.js';
import type { DiagonalGaussianDistribution } from '../autoencoder/index.js';
import { PerceptualGanLoss, readLog, type LossOptions, type LossOutput } from './adversarial.js';
import type { LastLayer } from './gan.js';

export class LPIPSWithDiscriminator extends PerceptualGanLoss {
  static override readonly className = 'LPIPSWithDiscriminator';
  readonly kl_weight: number;
  /**
   * The learned output log-variance (a scalar). Trainable, but note that ldm's AutoencoderKL
   * leaves it out of its optimizers, so there it stays at logvar_init.
   */
  readonly logvar: tf.Variable;

  constructor(readonly params: LPIPSWithDiscriminatorParams, opts: LossOptions = {}) {
    // The reference builds this discriminator with the default width (ndf 64).
    super(params, 64, opts);
    this.kl_weight = params.kl_weight;
    this.logvar = this.addParam('logvar', tf.scalar(params.logvar_init));
  }

  /**
   * optimizer_idx 0: Σ(weights·nll)/B + kl_weight·ΣKL/B + d_weight·disc_factor·g_loss, with
   * nll = rec/exp(logvar) + logvar and rec = |x − x̂| + perceptual_weight·LPIPS. The adaptive
   * weight is only computed once the discriminator is on (global_step ≥ disc_start, disc_factor > 0).
   * optimizer_idx 1: the discriminator loss.
   */
  forward(inputs: Tensor4D, reconstructions: Tensor4D, posteriors: DiagonalGaussianDistribution, optimizer_idx: 0 | 1, global_step: number,
    last_layer: LastLayer | null = null, cond: Tensor4D | null = null, split = 'train', weights: Tensor | null = null): LossOutput {
    if (optimizer_idx === 1) return this.discriminatorStep(inputs, reconstructions, cond, global_step, split);
    if (optimizer_idx !== 0) throw new Error(`${this.className}: optimizer_idx must be 0 or 1, got ${String(optimizer_idx)}`);
    return tf.tidy(() => {
      const B = inputs.shape[0];
      const featsX = this.perceptualFeatures(inputs);
      const nllOfRec = (rec: Tensor) => tf.add(tf.div(rec, tf.exp(this.logvar)), this.logvar);
      const { rec } = this.reconstruction(inputs, reconstructions, featsX);
      const nllMap = nllOfRec(rec);
      const weighted = weights ? tf.mul(weights, nllMap) : nllMap;
      const weightedNll = tf.div(tf.sum(weighted), B) as Scalar;
      const nll = tf.div(tf.sum(nllMap), B) as Scalar;
      const kl = tf.div(tf.sum(posteriors.kl()), B) as Scalar;
      const g = this.generatorLoss(reconstructions, cond, true);
      // The reference computes d_weight whenever disc_factor > 0, even before disc_start where it
      // is multiplied by 0 (only to log it). As in VQLPIPSWithDiscriminator, it is 0 here until the
      // adversarial term switches on: the extra backward pass costs about a third of a step.
      const discFactor = this.discFactorAt(global_step);
      const dWeight = discFactor > 0
        ? this.adaptiveWeight(last_layer, (r) => tf.div(tf.sum(nllOfRec(this.reconstruction(inputs, r, featsX).rec)), B) as Scalar, cond)
        : 0;
      const loss = tf.add(tf.add(weightedNll, tf.mul(this.kl_weight, kl)), tf.mul(dWeight * discFactor, g)) as Scalar;
      const log = readLog(split, {
        total_loss: loss, logvar: this.logvar, kl_loss: kl, nll_loss: nll, rec_loss: rec,
        d_weight: dWeight, disc_factor: discFactor, g_loss: g,
      });
      return { loss, log };
    });
  }
}
