// ddpm.py `DDPM` / `LatentDiffusion`: the forward process q, the posterior, ancestral sampling
// and the training loss, on NHWC tfjs tensors. The network is an EpsModel, so this file does not
// depend on the UNet class; DiffusionWrapper (conditioning.ts) adapts a UNetModel.
import type { DiffusionLossType } from '../../schema/diffusion.js';
import { assertNever } from '../../schema/family.js';
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import { toCondDict, type Cond, type ConditioningKey, type EpsModel } from './conditioning.js';
import { noiseLike, randomNoise, type NoiseSource } from './noise.js';
import { registerSchedule, type DiffusionSchedule, type Parameterization, type RegisterScheduleOptions } from './schedule.js';

export type LossType = DiffusionLossType;

export interface DDPMOptions extends RegisterScheduleOptions {
  lossType?: LossType;
  /** Weight of the simple loss (l_simple_weight, default 1). */
  lSimpleWeight?: number;
  /** Weight of the VLB term (original_elbo_weight, default 0). */
  originalElboWeight?: number;
  /** Learn a per-timestep log-variance that weights the loss (learn_logvar). */
  learnLogvar?: boolean;
  logvarInit?: number;
  /** Clamp x₀ predictions to [-1, 1] when sampling (DDPM: true; LatentDiffusion: false). */
  clipDenoised?: boolean;
  /** How apply_model routes a bare conditioning tensor (see toCondDict); null = unconditional. */
  conditioningKey?: ConditioningKey | null;
}

export interface MeanVariance {
  mean: Tensor4D;
  /** [B, 1, 1, 1] */
  variance: Tensor4D;
  /** [B, 1, 1, 1] */
  logVariance: Tensor4D;
}

export interface PMeanVariance extends MeanVariance {
  /** The x₀ the mean was computed from (after clipping / quantizing). */
  xRecon: Tensor4D;
}

export interface PSampleOptions {
  cond?: Cond;
  clipDenoised?: boolean;
  /** Replaces x₀ by its quantized version (VQ first stages; LatentDiffusion's quantize_denoised). */
  quantize?: (x0: Tensor4D) => Tensor4D;
  noise?: NoiseSource;
  repeatNoise?: boolean;
  temperature?: number;
  noiseDropout?: number;
}

export interface PSampleLoopOptions extends Omit<PSampleOptions, 'clipDenoised'> {
  xT?: Tensor4D;
  logEveryT?: number;
  /** Stop after this many steps from T (start_T). */
  startT?: number;
  /** Inpainting: keep `x0` (noised to the current t) where mask is 1. NHWC, broadcastable to x. */
  mask?: Tensor4D;
  x0?: Tensor4D;
  callback?: (t: number) => void;
}

export interface LossResult {
  loss: Scalar;
  /** Keys as the reference logs them: `{prefix}/loss_simple`, `/loss_vlb`, `/loss`, plus `/loss_gamma` and `logvar` when learnLogvar. */
  lossDict: Record<string, Scalar>;
}

export interface PLossesOptions {
  cond?: Cond;
  /** Draws the noise when `noise` is not given. */
  noiseSource?: NoiseSource;
  noise?: Tensor4D;
  /** 'train' or 'val' prefix (the reference uses self.training). */
  training?: boolean;
}

export class DDPM {
  readonly schedule: DiffusionSchedule;
  readonly numTimesteps: number;
  readonly parameterization: Parameterization;
  readonly lossType: LossType;
  readonly lSimpleWeight: number;
  readonly originalElboWeight: number;
  readonly learnLogvar: boolean;
  readonly clipDenoised: boolean;
  readonly conditioningKey: ConditioningKey | null;
  /** [T] per-timestep log-variance; a trainable variable when learnLogvar. */
  readonly logvar: tf.Variable<tf.Rank.R1> | Tensor1D;
  private readonly buffers = new Map<string, Tensor1D>();

  constructor(readonly model: EpsModel, opts: DDPMOptions = {}) {
    this.schedule = registerSchedule(opts);
    this.numTimesteps = this.schedule.numTimesteps;
    this.parameterization = opts.parameterization ?? 'eps';
    this.lossType = opts.lossType ?? 'l2';
    this.lSimpleWeight = opts.lSimpleWeight ?? 1;
    this.originalElboWeight = opts.originalElboWeight ?? 0;
    this.learnLogvar = opts.learnLogvar ?? false;
    this.clipDenoised = opts.clipDenoised ?? true;
    this.conditioningKey = opts.conditioningKey ?? null;
    const init = tf.fill([this.numTimesteps], opts.logvarInit ?? 0) as Tensor1D;
    if (this.learnLogvar) {
      this.logvar = tf.variable(init, true);
      init.dispose();
    } else this.logvar = init;
  }

  /** A schedule buffer as a float32 tensor (created once). */
  buffer(name: keyof DiffusionSchedule['f32']): Tensor1D {
    let b = this.buffers.get(name);
    if (!b) {
      b = tf.keep(tf.tensor1d(this.schedule.f32[name], 'float32'));
      this.buffers.set(name, b);
    }
    return b;
  }

  /** util.extract_into_tensor: a[t] shaped [B, 1, 1, 1]. */
  extract(name: keyof DiffusionSchedule['f32'], t: Tensor1D): Tensor4D {
    return tf.tidy(() => tf.reshape(tf.gather(this.buffer(name), tf.cast(t, 'int32')), [t.shape[0], 1, 1, 1]));
  }

  /** LatentDiffusion.apply_model (without split_input_params): wraps cond and calls the model. */
  applyModel(x: Tensor4D, t: Tensor1D, cond?: Cond): Tensor4D {
    return this.model(x, t, toCondDict(cond, this.conditioningKey));
  }

  /** q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I). */
  qMeanVariance(xStart: Tensor4D, t: Tensor1D): MeanVariance {
    return tf.tidy(() => {
      const mean = tf.mul(this.extract('sqrt_alphas_cumprod', t), xStart) as Tensor4D;
      const variance = tf.sub(1, this.extract('alphas_cumprod', t)) as Tensor4D;
      const logVariance = this.extract('log_one_minus_alphas_cumprod', t);
      return { mean, variance, logVariance };
    });
  }

  qSample(xStart: Tensor4D, t: Tensor1D, noise: Tensor4D): Tensor4D {
    return tf.tidy(() => tf.add(
      tf.mul(this.extract('sqrt_alphas_cumprod', t), xStart),
      tf.mul(this.extract('sqrt_one_minus_alphas_cumprod', t), noise)) as Tensor4D);
  }

  predictStartFromNoise(xT: Tensor4D, t: Tensor1D, noise: Tensor4D): Tensor4D {
    return tf.tidy(() => tf.sub(
      tf.mul(this.extract('sqrt_recip_alphas_cumprod', t), xT),
      tf.mul(this.extract('sqrt_recipm1_alphas_cumprod', t), noise)) as Tensor4D);
  }

  /** v-parameterization (Stability-AI ddpm.py get_v): v = √ᾱ_t·ε − √(1−ᾱ_t)·x₀. */
  getV(xStart: Tensor4D, noise: Tensor4D, t: Tensor1D): Tensor4D {
    return tf.tidy(() => tf.sub(
      tf.mul(this.extract('sqrt_alphas_cumprod', t), noise),
      tf.mul(this.extract('sqrt_one_minus_alphas_cumprod', t), xStart)) as Tensor4D);
  }

  /** predict_start_from_z_and_v: x₀ = √ᾱ_t·x_t − √(1−ᾱ_t)·v. */
  predictStartFromZAndV(xT: Tensor4D, t: Tensor1D, v: Tensor4D): Tensor4D {
    return tf.tidy(() => tf.sub(
      tf.mul(this.extract('sqrt_alphas_cumprod', t), xT),
      tf.mul(this.extract('sqrt_one_minus_alphas_cumprod', t), v)) as Tensor4D);
  }

  /** predict_eps_from_z_and_v: ε = √ᾱ_t·v + √(1−ᾱ_t)·x_t. */
  predictEpsFromZAndV(xT: Tensor4D, t: Tensor1D, v: Tensor4D): Tensor4D {
    return tf.tidy(() => tf.add(
      tf.mul(this.extract('sqrt_alphas_cumprod', t), v),
      tf.mul(this.extract('sqrt_one_minus_alphas_cumprod', t), xT)) as Tensor4D);
  }

  /** The x₀ estimate from the network's output, per parameterization (p_mean_variance). */
  predictStart(xT: Tensor4D, t: Tensor1D, out: Tensor4D): Tensor4D {
    const p = this.parameterization;
    switch (p) {
      case 'eps':
        return this.predictStartFromNoise(xT, t, out);
      case 'x0':
        return out;
      case 'v':
        // The reference's p_mean_variance has no v branch (ancestral sampling of a v model
        // fails there); x₀ = √ᾱ·x_t − √(1−ᾱ)·v is what its DDIM sampler uses.
        return this.predictStartFromZAndV(xT, t, out);
      default:
        return assertNever(p, 'parameterization');
    }
  }

  /** The training target of p_losses: ε, x₀ or v. */
  lossTarget(xStart: Tensor4D, noise: Tensor4D, t: Tensor1D): Tensor4D {
    const p = this.parameterization;
    switch (p) {
      case 'eps':
        return noise;
      case 'x0':
        return xStart;
      case 'v':
        return this.getV(xStart, noise, t);
      default:
        return assertNever(p, 'parameterization');
    }
  }

  /**
   * What DDIM/PLMS treat as ε_t, from the (guided) network output: the reference's samplers
   * convert v (predict_eps_from_z_and_v) and take eps and x0 outputs as ε as they are.
   */
  samplerEps(xT: Tensor4D, t: Tensor1D, out: Tensor4D): Tensor4D {
    const p = this.parameterization;
    switch (p) {
      case 'eps':
      case 'x0':
        return out;
      case 'v':
        return this.predictEpsFromZAndV(xT, t, out);
      default:
        return assertNever(p, 'parameterization');
    }
  }

  /** LatentDiffusion._predict_eps_from_xstart. */
  predictEpsFromStart(xT: Tensor4D, t: Tensor1D, predXStart: Tensor4D): Tensor4D {
    return tf.tidy(() => tf.div(
      tf.sub(tf.mul(this.extract('sqrt_recip_alphas_cumprod', t), xT), predXStart),
      this.extract('sqrt_recipm1_alphas_cumprod', t)) as Tensor4D);
  }

  /** q(x_{t−1} | x_t, x_0). */
  qPosterior(xStart: Tensor4D, xT: Tensor4D, t: Tensor1D): MeanVariance {
    return tf.tidy(() => ({
      mean: tf.add(
        tf.mul(this.extract('posterior_mean_coef1', t), xStart),
        tf.mul(this.extract('posterior_mean_coef2', t), xT)) as Tensor4D,
      variance: this.extract('posterior_variance', t),
      logVariance: this.extract('posterior_log_variance_clipped', t),
    }));
  }

  /** p(x_{t−1} | x_t): the posterior around the model's x₀ estimate. */
  pMeanVariance(x: Tensor4D, t: Tensor1D, opts: Pick<PSampleOptions, 'cond' | 'clipDenoised' | 'quantize'> = {}): PMeanVariance {
    return tf.tidy(() => {
      const out = this.applyModel(x, t, opts.cond);
      let xRecon = this.predictStart(x, t, out);
      if (opts.clipDenoised ?? this.clipDenoised) xRecon = tf.clipByValue(xRecon, -1, 1);
      if (opts.quantize) xRecon = opts.quantize(xRecon);
      return { ...this.qPosterior(xRecon, x, t), xRecon };
    });
  }

  /** One ancestral step x_t → x_{t−1}; no noise where t = 0. Returns the sample and the x₀ estimate. */
  pSample(x: Tensor4D, t: Tensor1D, opts: PSampleOptions = {}): { sample: Tensor4D; x0: Tensor4D } {
    return tf.tidy(() => {
      const { mean, logVariance, xRecon } = this.pMeanVariance(x, t, opts);
      let noise = noiseLike(opts.noise ?? randomNoise, x.shape, opts.repeatNoise);
      if ((opts.temperature ?? 1) !== 1) noise = tf.mul(noise, opts.temperature!);
      if ((opts.noiseDropout ?? 0) > 0) noise = tf.dropout(noise, opts.noiseDropout!);
      const nonzero = tf.reshape(tf.cast(tf.notEqual(t, 0), 'float32'), [x.shape[0], 1, 1, 1]);
      const sample = tf.add(mean, tf.mul(tf.mul(nonzero, tf.exp(tf.mul(0.5, logVariance))), noise)) as Tensor4D;
      return { sample, x0: xRecon };
    });
  }

  /**
   * LatentDiffusion.p_sample_loop: T ancestral steps from x_T (drawn when not given).
   * `intermediates` holds x_T and the sample after every step i with i % logEveryT == 0 or i == T−1.
   * The caller owns every returned tensor.
   */
  pSampleLoop(shape: readonly [number, number, number, number], opts: PSampleLoopOptions = {}): { samples: Tensor4D; intermediates: Tensor4D[] } {
    const noise = opts.noise ?? randomNoise;
    const logEveryT = opts.logEveryT ?? 100;
    let img = opts.xT ? tf.clone(opts.xT) : (noise(shape) as Tensor4D);
    const intermediates: Tensor4D[] = [img];
    const T = Math.min(this.numTimesteps, opts.startT ?? this.numTimesteps);
    for (let i = T - 1; i >= 0; i--) {
      const next = tf.tidy(() => {
        const ts = tf.fill([shape[0]], i) as Tensor1D;
        let out = this.pSample(img, ts, { ...opts, noise }).sample;
        if (opts.mask) {
          if (!opts.x0) throw new Error('pSampleLoop: mask needs x0');
          const orig = this.qSample(opts.x0, ts, noise(opts.x0.shape) as Tensor4D);
          out = tf.add(tf.mul(orig, opts.mask), tf.mul(tf.sub(1, opts.mask), out)) as Tensor4D;
        }
        return out;
      });
      if (!intermediates.includes(img)) img.dispose();
      img = next;
      if (i % logEveryT === 0 || i === T - 1) intermediates.push(img);
      opts.callback?.(i);
    }
    return { samples: intermediates.includes(img) ? tf.clone(img) : img, intermediates };
  }

  /** DDPM.get_loss with mean=False: the per-element loss. */
  elementLoss(pred: Tensor, target: Tensor): Tensor {
    const k = this.lossType;
    switch (k) {
      case 'l1':
        return tf.tidy(() => tf.abs(tf.sub(target, pred)));
      case 'l2':
        return tf.squaredDifference(target, pred);
      default:
        return assertNever(k, 'loss_type');
    }
  }

  /**
   * LatentDiffusion.p_losses (with logvar 0 and not learned it equals DDPM.p_losses):
   * loss = l_simple_weight·mean(L/exp(logvar_t) + logvar_t) + original_elbo_weight·mean(lvlb_t·L),
   * where L is the per-sample mean of the element loss against ε (eps) or x₀ (x0).
   * Differentiable in the model's variables and in logvar.
   */
  pLosses(xStart: Tensor4D, t: Tensor1D, opts: PLossesOptions = {}): LossResult {
    const prefix = (opts.training ?? true) ? 'train' : 'val';
    return tf.tidy(() => {
      const noise = opts.noise ?? ((opts.noiseSource ?? randomNoise)(xStart.shape) as Tensor4D);
      const xNoisy = this.qSample(xStart, t, noise);
      const out = this.applyModel(xNoisy, t, opts.cond);
      const target = this.lossTarget(xStart, noise, t);
      const lossSimple = tf.mean(this.elementLoss(out, target), [1, 2, 3]) as Tensor1D;
      const dict: Record<string, Scalar> = {};
      dict[`${prefix}/loss_simple`] = tf.mean(lossSimple);
      const logvarT = tf.gather(this.logvar, tf.cast(t, 'int32'));
      let loss: Tensor = tf.add(tf.div(lossSimple, tf.exp(logvarT)), logvarT);
      if (this.learnLogvar) {
        dict[`${prefix}/loss_gamma`] = tf.mean(loss);
        dict.logvar = tf.mean(this.logvar);
      }
      loss = tf.mul(this.lSimpleWeight, tf.mean(loss));
      const lossVlb = tf.mean(tf.mul(tf.gather(this.buffer('lvlb_weights'), tf.cast(t, 'int32')), lossSimple)) as Scalar;
      dict[`${prefix}/loss_vlb`] = lossVlb;
      loss = tf.add(loss, tf.mul(this.originalElboWeight, lossVlb));
      dict[`${prefix}/loss`] = loss as Scalar;
      return { loss: loss as Scalar, lossDict: dict };
    });
  }

  /** Frees the schedule tensors and logvar (not the model). */
  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
    this.logvar.dispose();
  }
}

/**
 * LatentDiffusion with scale_by_std: scale_factor = 1 / std(z) over the first batch's latents
 * (torch's std: unbiased, N − 1).
 */
export function stdScaleFactor(z: Tensor): number {
  const v = z.dataSync();
  let mean = 0;
  for (let i = 0; i < v.length; i++) mean += v[i]!;
  mean /= v.length;
  let ss = 0;
  for (let i = 0; i < v.length; i++) ss += (v[i]! - mean) ** 2;
  return 1 / Math.sqrt(ss / (v.length - 1));
}
