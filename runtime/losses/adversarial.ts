// What VQLPIPSWithDiscriminator and LPIPSWithDiscriminator share: the L1 + LPIPS reconstruction
// term, the PatchGAN discriminator, the generator's adversarial term with its adaptive weight,
// and the discriminator's update (optimizer_idx 1), which is identical in both references.
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import type { VQLPIPSWithDiscriminatorParams } from '../../schema/losses.js';
import { stopGradient } from '../autoencoder/index.js';
import { Module } from '../module.js';
import { NLayerDiscriminator, weightsInit } from './discriminator.js';
import { LpipsWeightsRequired } from './errors.js';
import { adopt_weight, calculateAdaptiveWeight, hinge_d_loss, vanilla_d_loss, type DiscLossFn, type LastLayer } from './gan.js';
import { LPIPS } from './lpips.js';

/** A loss value and the scalars the reference logs (`{split}/name`), read back as numbers. */
export interface LossOutput {
  readonly loss: Scalar;
  readonly log: Record<string, number>;
}

export interface LossOptions {
  /** An LPIPS instance to use (e.g. a tiny one in tests); the loss takes ownership. */
  lpips?: LPIPS;
  /** File(s) to read LPIPS weights from (see LPIPS.fromFile) when `lpips` is not given. */
  lpipsWeights?: string | readonly string[];
}

/** The params both losses have (schema/losses.ts `discriminator`). */
export type DiscriminatorLossParams = Omit<VQLPIPSWithDiscriminatorParams, 'codebook_weight' | 'disc_ndf'>;

export abstract class PerceptualGanLoss extends Module {
  readonly perceptual_loss: LPIPS | null;
  readonly discriminator: NLayerDiscriminator;
  readonly perceptual_weight: number;
  /** Stored as the reference does, and, as there, not used by forward (the L1 term is unweighted). */
  readonly pixel_weight: number;
  readonly discriminator_iter_start: number;
  readonly disc_factor: number;
  readonly discriminator_weight: number;
  readonly disc_conditional: boolean;
  readonly disc_loss: DiscLossFn;

  protected constructor(p: DiscriminatorLossParams, ndf: number, opts: LossOptions) {
    super();
    if (p.disc_loss !== 'hinge' && p.disc_loss !== 'vanilla') throw new Error(`${this.className}: unknown GAN loss '${String(p.disc_loss)}' (hinge or vanilla)`);
    this.perceptual_weight = p.perceptual_weight;
    this.pixel_weight = p.pixelloss_weight;
    // Built only when used: the VGG weights are large and must come from the user.
    if (p.perceptual_weight > 0) {
      const lpips = opts.lpips ?? (opts.lpipsWeights ? LPIPS.fromFile(opts.lpipsWeights) : null);
      if (!lpips) throw new LpipsWeightsRequired(this.className, p.perceptual_weight);
      this.perceptual_loss = this.add('perceptual_loss', lpips);
    } else {
      this.perceptual_loss = null;
    }
    this.discriminator = this.add('discriminator', new NLayerDiscriminator(p.disc_in_channels, ndf, p.disc_num_layers, p.use_actnorm));
    weightsInit(this.discriminator);
    this.discriminator_iter_start = p.disc_start;
    this.disc_loss = p.disc_loss === 'hinge' ? hinge_d_loss : vanilla_d_loss;
    this.disc_factor = p.disc_factor;
    this.discriminator_weight = p.disc_weight;
    this.disc_conditional = p.disc_conditional;
    // A loss is a training object: start in training mode, as a fresh torch module does.
    this.train(true);
  }

  /** LPIPS features of the inputs, computed once per step (null without a perceptual term). */
  protected perceptualFeatures(inputs: Tensor4D): Tensor4D[] | null {
    return this.perceptual_loss ? this.perceptual_loss.features(inputs) : null;
  }

  /** rec = |x − x̂| (+ perceptual_weight·LPIPS(x, x̂)), elementwise [B, H, W, C]; p = LPIPS or null. */
  protected reconstruction(inputs: Tensor4D, recon: Tensor4D, featsX: Tensor4D[] | null): { rec: Tensor4D; p: Tensor4D | null } {
    const l1 = tf.abs(tf.sub(inputs, recon)) as Tensor4D;
    if (!this.perceptual_loss || !featsX) return { rec: l1, p: null };
    const p = this.perceptual_loss.distanceFrom(featsX, recon);
    return { rec: tf.add(l1, tf.mul(p, this.perceptual_weight)), p };
  }

  /** g_loss = −mean(D(x̂ [, cond])). */
  protected generatorLoss(recon: Tensor4D, cond: Tensor4D | null, updateStats: boolean): Scalar {
    if (cond == null && this.disc_conditional) throw new Error(`${this.className}: disc_conditional is set, so the generator step needs cond`);
    if (cond != null && !this.disc_conditional) throw new Error(`${this.className}: cond was given but disc_conditional is false`);
    return tf.neg(tf.mean(this.discriminator.forward(withCond(recon, cond), { updateStats }))) as Scalar;
  }

  /**
   * The adaptive weight of g_loss; 0 in eval mode (the reference's RuntimeError path under
   * no_grad). `nllOf` maps reconstructions to the nll loss.
   */
  protected adaptiveWeight(lastLayer: LastLayer | null, nllOf: (recon: Tensor4D) => Scalar, cond: Tensor4D | null): number {
    if (!this.training) return 0;
    if (!lastLayer) {
      throw new Error(`${this.className}: the generator step in training mode needs last_layer (the decoder's conv_out weight and a way to `
        + 'recompute the reconstructions from it: decodeWithLastLayer(model.decoder, z)), or call loss.eval() for validation');
    }
    return calculateAdaptiveWeight(
      () => tf.tidy(() => nllOf(lastLayer.reconstruct())),
      // updateStats false: the batch was already counted by the generator's own forward.
      () => tf.tidy(() => this.generatorLoss(lastLayer.reconstruct(), cond, false)),
      lastLayer.variable, this.discriminator_weight);
  }

  /** disc_factor at `global_step`: 0 before disc_start (and when disc_factor is 0). */
  discFactorAt(global_step: number): number {
    return adopt_weight(this.disc_factor, global_step, this.discriminator_iter_start);
  }

  /** optimizer_idx 1: disc_factor·disc_loss(D(x), D(x̂)) on detached inputs. */
  protected discriminatorStep(inputs: Tensor4D, recon: Tensor4D, cond: Tensor4D | null, global_step: number, split: string): LossOutput {
    return tf.tidy(() => {
      const logitsReal = this.discriminator.forward(stopGradient(withCond(inputs, cond)));
      const logitsFake = this.discriminator.forward(stopGradient(withCond(recon, cond)));
      const dLoss = tf.mul(this.discFactorAt(global_step), this.disc_loss(logitsReal, logitsFake)) as Scalar;
      const log = readLog(split, { disc_loss: dLoss, logits_real: tf.mean(logitsReal), logits_fake: tf.mean(logitsFake) });
      return { loss: dLoss, log };
    });
  }
}

/** torch.cat((x, cond), dim=1) in NHWC. */
function withCond(x: Tensor4D, cond: Tensor4D | null): Tensor4D {
  return cond == null ? x : tf.concat([x, cond], 3);
}

/** `{split}/name` → value, reading every tensor back in one transfer. */
export function readLog(split: string, entries: Record<string, Tensor | number>): Record<string, number> {
  const keys = Object.keys(entries);
  const tensorKeys = keys.filter((k) => typeof entries[k] !== 'number');
  const values = tensorKeys.length
    ? tf.tidy(() => tf.stack(tensorKeys.map((k) => tf.reshape(tf.mean(entries[k] as Tensor), []))).dataSync())
    : new Float32Array(0);
  const out: Record<string, number> = {};
  for (const k of keys) {
    const v = entries[k]!;
    out[`${split}/${k}`] = typeof v === 'number' ? v : values[tensorKeys.indexOf(k)]!;
  }
  return out;
}
