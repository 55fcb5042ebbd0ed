// taming/modules/losses/vqperceptual.py `VQLPIPSWithDiscriminator` (what latent-diffusion's VQ
// configs use), NHWC. State dict: perceptual_loss.* (when built), discriminator.main.*.
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import type { VQLPIPSWithDiscriminatorParams } from '../../schema/losses.js';
import { Module } from '../module.js';
import { PerceptualGanLoss, readLog, type LossOptions, type LossOutput } from './adversarial.js';
import type { LastLayer } from './gan.js';

export class VQLPIPSWithDiscriminator extends PerceptualGanLoss {
  static override readonly className = 'VQLPIPSWithDiscriminator';
  readonly codebook_weight: number;

  constructor(readonly params: VQLPIPSWithDiscriminatorParams, opts: LossOptions = {}) {
    super(params, params.disc_ndf, opts);
    this.codebook_weight = params.codebook_weight;
  }

  /**
   * optimizer_idx 0 (autoencoder): nll + d_weight·disc_factor·g_loss + codebook_weight·mean(codebook_loss),
   * nll = mean(|x − x̂| + perceptual_weight·LPIPS). optimizer_idx 1: the discriminator loss.
   * NHWC images; `cond` (when disc_conditional) is concatenated on the channel axis.
   */
  forward(codebook_loss: Tensor, inputs: Tensor4D, reconstructions: Tensor4D, optimizer_idx: 0 | 1, global_step: number,
    last_layer: LastLayer | null = null, cond: Tensor4D | null = null, split = 'train'): LossOutput {
    if (optimizer_idx === 1) return this.discriminatorStep(inputs, reconstructions, cond, global_step, split);
    if (optimizer_idx !== 0) throw new Error(`${this.className}: optimizer_idx must be 0 or 1, got ${String(optimizer_idx)}`);
    return tf.tidy(() => {
      const featsX = this.perceptualFeatures(inputs);
      const { rec, p } = this.reconstruction(inputs, reconstructions, featsX);
      const nll = tf.mean(rec) as Scalar;
      const g = this.generatorLoss(reconstructions, cond, true);
      // The reference computes d_weight even before disc_start (only to log it). Here it is 0 until
      // the adversarial term switches on: the extra backward pass costs about a third of a step.
      const discFactor = this.discFactorAt(global_step);
      const dWeight = discFactor > 0 ? this.adaptiveWeight(last_layer, (r) => tf.mean(this.reconstruction(inputs, r, featsX).rec), cond) : 0;
      const q = tf.mean(codebook_loss) as Scalar;
      const loss = tf.add(tf.add(nll, tf.mul(dWeight * discFactor, g)), tf.mul(this.codebook_weight, q)) as Scalar;
      const log = readLog(split, {
        total_loss: loss, quant_loss: q, nll_loss: nll, rec_loss: rec, p_loss: p ?? 0,
        d_weight: dWeight, disc_factor: discFactor, g_loss: g,
      });
      return { loss, log };
    });
  }
}

/** taming's `DummyLoss`: no parameters, no forward; for inference-only configs. */
export class DummyLoss extends Module {
  static override readonly className = 'DummyLoss';
}
