// ldm/models/diffusion/ddim.py `DDIMSampler` and util.py make_ddim_timesteps /
// make_ddim_sampling_parameters. Deterministic with eta = 0 (no noise is drawn then).
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import { concatCond, type Cond } from './conditioning.js';
import type { DDPM } from './ddpm.js';
import { noiseLike, randomNoise, type NoiseSource } from './noise.js';

export type DdimDiscretize = 'uniform' | 'quad';

const f32 = Math.fround;

/**
 * make_ddim_timesteps: 'uniform' = range(0, T, T // S) + 1, 'quad' = int(linspace(0, √(0.8·T), S)²) + 1.
 * The +1 makes the last step land on ᾱ_1 rather than ᾱ_0. 'uniform' gives more than S steps when
 * S does not divide T (the reference's assert on the count is commented out).
 */
export function makeDdimTimesteps(method: DdimDiscretize, numDdimTimesteps: number, numDdpmTimesteps: number): Int32Array {
  if (!Number.isInteger(numDdimTimesteps) || numDdimTimesteps < 1 || numDdimTimesteps > numDdpmTimesteps) {
    throw new Error(`makeDdimTimesteps: steps must be an integer in [1, ${numDdpmTimesteps}], got ${numDdimTimesteps}`);
  }
  const out: number[] = [];
  if (method === 'uniform') {
    const c = Math.floor(numDdpmTimesteps / numDdimTimesteps);
    for (let t = 0; t < numDdpmTimesteps; t += c) out.push(t + 1);
  } else {
    // numpy linspace: i·step + start, with the endpoint set exactly
    const stop = Math.sqrt(numDdpmTimesteps * 0.8), n = numDdimTimesteps;
    for (let i = 0; i < n; i++) {
      const v = n > 1 && i === n - 1 ? stop : n > 1 ? i * (stop / (n - 1)) : 0;
      out.push(Math.trunc(v * v) + 1);
    }
  }
  return Int32Array.from(out);
}

/** The sampler's per-step parameters, indexed by step (0 = the last step, at t = timesteps[0]). */
export interface DdimSchedule {
  readonly timesteps: Int32Array;
  readonly eta: number;
  /** ᾱ at each step: float32 values (the reference indexes the float32 alphas_cumprod buffer). */
  readonly alphas: Float64Array;
  /** ᾱ of the previous step ([ᾱ_0] first), float64 numpy array built from those float32 values. */
  readonly alphasPrev: Float64Array;
  /** η·√((1 − ᾱ_prev)/(1 − ᾱ)·(1 − ᾱ/ᾱ_prev)), float64 (with one float32 reciprocal inside). */
  readonly sigmas: Float64Array;
  /** √(1 − ᾱ), float32 values. */
  readonly sqrtOneMinusAlphas: Float64Array;
}

/**
 * make_ddim_sampling_parameters + DDIMSampler.make_schedule, reproducing the reference's mixed
 * precision (float32 torch tensors meeting float64 numpy arrays) bit for bit.
 */
export function makeDdimSchedule(alphasCumprod: Float32Array, timesteps: Int32Array, eta: number): DdimSchedule {
  const n = timesteps.length;
  const alphas = new Float64Array(n), alphasPrev = new Float64Array(n), sigmas = new Float64Array(n), sqrt1m = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = timesteps[i]!;
    if (t < 0 || t >= alphasCumprod.length) throw new Error(`makeDdimSchedule: timestep ${t} outside the ${alphasCumprod.length}-step schedule`);
    const a = alphasCumprod[t]!;
    const ap = i === 0 ? alphasCumprod[0]! : alphasCumprod[timesteps[i - 1]!]!;
    alphas[i] = a;
    alphasPrev[i] = ap;
    // numpy (1 − ᾱ_prev) / torch-float32 (1 − ᾱ) runs Tensor.__rtruediv__, which is
    // reciprocal() · other: a float32 reciprocal, then a float64 product.
    sigmas[i] = eta * Math.sqrt((1 - ap) * f32(1 / f32(1 - a)) * (1 - a / ap));
    sqrt1m[i] = f32(Math.sqrt(f32(1 - a)));
  }
  return { timesteps, eta, alphas, alphasPrev, sigmas, sqrtOneMinusAlphas: sqrt1m };
}

/** One step's scalars as float32, as `torch.full((b,1,1,1), value)` holds them. */
export interface DdimStepParams {
  aT: number;
  aPrev: number;
  sigma: number;
  sqrtOneMinusAT: number;
}

export function ddimStepParams(s: DdimSchedule, index: number): DdimStepParams {
  return { aT: f32(s.alphas[index]!), aPrev: f32(s.alphasPrev[index]!), sigma: f32(s.sigmas[index]!), sqrtOneMinusAT: f32(s.sqrtOneMinusAlphas[index]!) };
}

export interface DdimUpdateOptions {
  noise?: NoiseSource;
  repeatNoise?: boolean;
  temperature?: number;
  noiseDropout?: number;
  quantize?: (x0: Tensor4D) => Tensor4D;
}

/**
 * The DDIM update shared by DDIM and PLMS (get_x_prev_and_pred_x0):
 * x̂₀ = (x − √(1−ᾱ_t)·ε)/√ᾱ_t;  x_prev = √ᾱ_prev·x̂₀ + √(1 − ᾱ_prev − σ²)·ε + σ·z.
 * Square roots of the float32 scalars are taken in float32 (torch's `.sqrt()` on float32 tensors).
 */
export function ddimUpdate(x: Tensor4D, e: Tensor4D, p: DdimStepParams, opts: DdimUpdateOptions = {}, givenX0?: Tensor4D): { xPrev: Tensor4D; predX0: Tensor4D } {
  return tf.tidy(() => {
    // A v model's DDIM step takes x̂₀ from predict_start_from_z_and_v (givenX0), not from ε.
    let predX0 = givenX0 ? tf.clone(givenX0) : (tf.div(tf.sub(x, tf.mul(p.sqrtOneMinusAT, e)), f32(Math.sqrt(p.aT))) as Tensor4D);
    if (opts.quantize) predX0 = opts.quantize(predX0);
    const dirXt = tf.mul(f32(Math.sqrt(f32(f32(1 - p.aPrev) - f32(p.sigma * p.sigma)))), e);
    let xPrev = tf.add(tf.mul(f32(Math.sqrt(p.aPrev)), predX0), dirXt);
    // With σ = 0 the reference still draws noise and multiplies it by 0; skipping the draw
    // changes no value and keeps eta-0 runs independent of any generator.
    if (p.sigma !== 0) {
      let noise: Tensor = tf.mul(p.sigma, noiseLike(opts.noise ?? randomNoise, x.shape, opts.repeatNoise));
      if ((opts.temperature ?? 1) !== 1) noise = tf.mul(noise, opts.temperature!);
      if ((opts.noiseDropout ?? 0) > 0) noise = tf.dropout(noise, opts.noiseDropout!);
      xPrev = tf.add(xPrev, noise);
    }
    return { xPrev: xPrev as Tensor4D, predX0 };
  });
}

export interface GuidanceOptions {
  /** Classifier-free guidance scale s: ε = ε_u + s·(ε_c − ε_u). 1 = no guidance. */
  unconditionalGuidanceScale?: number;
  /** The unconditional conditioning, in the same form as the conditioning. */
  unconditionalConditioning?: Cond;
}

/**
 * The model's ε with classifier-free guidance, batched as the reference does: one pass on
 * cat([x, x]), cat([t, t]), cat([uc, c]) whose halves are ε_u and ε_c.
 */
export function guidedEps(model: DDPM, x: Tensor4D, t: Tensor1D, cond: Cond | undefined, g: GuidanceOptions): Tensor4D {
  const scale = g.unconditionalGuidanceScale ?? 1;
  const uc = g.unconditionalConditioning;
  if (uc === undefined || scale === 1) return model.applyModel(x, t, cond);
  if (cond === undefined) throw new Error('guidedEps: unconditionalConditioning needs a conditioning');
  return tf.tidy(() => {
    // the concatenated copies are created inside this tidy, which frees them
    const out = model.applyModel(tf.concat([x, x], 0), tf.concat([t, t], 0), concatCond(uc, cond));
    const [eU, eC] = tf.split(out, 2, 0) as [Tensor4D, Tensor4D];
    return tf.add(eU, tf.mul(scale, tf.sub(eC, eU))) as Tensor4D;
  });
}

export interface SamplerOptions extends GuidanceOptions, DdimUpdateOptions {
  /** Number of sampling steps S. */
  S: number;
  batchSize: number;
  /** Per-sample shape, NHWC: [H, W, C]. */
  shape: readonly [number, number, number];
  conditioning?: Cond;
  eta?: number;
  /** Starting noise [B, H, W, C]; drawn from `noise` when absent. */
  xT?: Tensor4D;
  /** Log x_inter / pred_x0 every this many steps (counted by index, as the reference does). */
  logEveryT?: number;
  discretize?: DdimDiscretize;
  /** Inpainting: where mask is 1, x is replaced by q_sample(x0, t) before each step. */
  mask?: Tensor4D;
  x0?: Tensor4D;
  callback?: (i: number) => void;
  /** Sees the x₀ prediction of step i (not owned: copy what you keep). */
  imgCallback?: (predX0: Tensor4D, i: number) => void;
}

export interface SampleResult {
  samples: Tensor4D;
  /** x_inter[0] = pred_x0[0] = x_T, then one entry per logged step. The caller owns them all. */
  intermediates: { x_inter: Tensor4D[]; pred_x0: Tensor4D[] };
}

export class DDIMSampler {
  schedule: DdimSchedule | undefined;

  constructor(readonly model: DDPM) {}

  makeSchedule(S: number, eta = 0, discretize: DdimDiscretize = 'uniform'): DdimSchedule {
    const ts = makeDdimTimesteps(discretize, S, this.model.numTimesteps);
    return (this.schedule = makeDdimSchedule(this.model.schedule.f32.alphas_cumprod, ts, eta));
  }

  /** DDIMSampler.sample: S steps from x_T, t = timesteps[S−1] down to timesteps[0]. */
  sample(opts: SamplerOptions): SampleResult {
    const s = this.makeSchedule(opts.S, opts.eta ?? 0, opts.discretize);
    return runSampler(this.model, s, opts, (x, t, index) => {
      // p_sample_ddim: guidance on the raw output, then ε (and for v, x̂₀) from it.
      const modelOut = guidedEps(this.model, x, t, opts.conditioning, opts);
      const e = this.model.samplerEps(x, t, modelOut);
      const x0 = this.model.parameterization === 'v' ? this.model.predictStartFromZAndV(x, t, modelOut) : undefined;
      const out = ddimUpdate(x, e, ddimStepParams(s, index), opts, x0);
      tf.dispose([modelOut, e, ...(x0 ? [x0] : [])]);
      return out;
    });
  }
}

/** The step a sampler loop calls: (x, t, index) → x_prev and the x₀ prediction. */
export type SamplerStep = (x: Tensor4D, t: Tensor1D, index: number, tNext: Tensor1D) => { xPrev: Tensor4D; predX0: Tensor4D };

/** The loop of ddim_sampling / plms_sampling: steps, masking, and the logged intermediates. */
export function runSampler(model: DDPM, s: DdimSchedule, opts: SamplerOptions, step: SamplerStep): SampleResult {
  const b = opts.batchSize;
  const shape = [b, ...opts.shape] as [number, number, number, number];
  const noise = opts.noise ?? randomNoise;
  if (opts.xT && opts.xT.shape.join() !== shape.join()) throw new Error(`sampler: x_T has shape [${opts.xT.shape}], expected [${shape}]`);
  let img = opts.xT ? tf.clone(opts.xT) : (noise(shape) as Tensor4D);
  const intermediates = { x_inter: [img], pred_x0: [tf.clone(img)] };
  const logEveryT = opts.logEveryT ?? 100;
  const range = [...s.timesteps].reverse();
  const total = range.length;
  for (let i = 0; i < total; i++) {
    const index = total - i - 1;
    const { xPrev, predX0 } = tf.tidy(() => {
      const ts = tf.fill([b], range[i]!) as Tensor1D;
      const tsNext = tf.fill([b], range[Math.min(i + 1, total - 1)]!) as Tensor1D;
      let x = img;
      if (opts.mask) {
        if (!opts.x0) throw new Error('sampler: mask needs x0');
        const orig = model.qSample(opts.x0, ts, noise(opts.x0.shape) as Tensor4D);
        x = tf.add(tf.mul(orig, opts.mask), tf.mul(tf.sub(1, opts.mask), img)) as Tensor4D;
      }
      return step(x, ts, index, tsNext);
    });
    if (!intermediates.x_inter.includes(img)) img.dispose();
    img = xPrev;
    opts.callback?.(i);
    opts.imgCallback?.(predX0, i);
    if (index % logEveryT === 0 || index === total - 1) {
      intermediates.x_inter.push(img);
      intermediates.pred_x0.push(predX0);
    } else predX0.dispose();
  }
  return { samples: intermediates.x_inter.includes(img) ? tf.clone(img) : img, intermediates };
}
