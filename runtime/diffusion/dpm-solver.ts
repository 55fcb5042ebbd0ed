// DPM-Solver++ as Stability-AI/stablediffusion's DPMSolverSampler runs it
// (ldm/models/diffusion/dpm_solver/{sampler.py, dpm_solver.py}): a discrete-time VP schedule made
// continuous by piecewise-linear interpolation of log α, the classifier-free-guided noise model,
// and the multistep data-prediction solver of order 2 on uniformly spaced times with the
// lower-order final steps. Only what that sampler uses is here (no singlestep/adaptive solvers,
// no thresholding, no logSNR spacing).
//
// Every step's coefficients are scalars (the whole batch shares t), computed in float64 from the
// float32 alphas_cumprod buffer; the reference computes them in float32 tensors, so results
// agree to float32 rounding, not bit for bit.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import type { DDPM } from './ddpm.js';
import { guidedEps, type SamplerOptions } from './ddim.js';
import { randomNoise } from './noise.js';

const f32 = Math.fround;

/**
 * NoiseScheduleVP('discrete', alphas_cumprod): step n of N sits at continuous time t_n = (n + 1)/N,
 * where log α_t = ½·log ᾱ_n; between (and beyond) those points log α is linear in t
 * (interpolate_fn extrapolates with the outermost segments).
 */
export class NoiseScheduleVP {
  readonly totalN: number;
  /** The start of sampling (the reference's T for discrete schedules). */
  readonly T = 1;
  private readonly tArray: Float64Array;
  private readonly logAlpha: Float64Array;

  constructor(alphasCumprod: ArrayLike<number>) {
    const n = alphasCumprod.length;
    if (n < 2) throw new Error(`NoiseScheduleVP: needs at least 2 timesteps, got ${n}`);
    this.totalN = n;
    // torch.linspace(0, 1, N + 1)[1:] in float32; 0.5·log(ᾱ) of the float32 buffer, in float32.
    this.tArray = Float64Array.from({ length: n }, (_, i) => f32((i + 1) / n));
    this.logAlpha = Float64Array.from({ length: n }, (_, i) => f32(0.5 * f32(Math.log(alphasCumprod[i]!))));
  }

  /** log α_t (marginal_log_mean_coeff). */
  logMeanCoeff(t: number): number {
    const xp = this.tArray, yp = this.logAlpha, K = xp.length;
    // the segment [k, k + 1] that holds t, clamped to the first and last segments
    let k = 0;
    while (k < K - 2 && t > xp[k + 1]!) k++;
    return yp[k]! + ((t - xp[k]!) * (yp[k + 1]! - yp[k]!)) / (xp[k + 1]! - xp[k]!);
  }

  /** α_t = exp(log α_t). */
  alpha(t: number): number {
    return Math.exp(this.logMeanCoeff(t));
  }

  /** σ_t = √(1 − α_t²). */
  std(t: number): number {
    return Math.sqrt(1 - Math.exp(2 * this.logMeanCoeff(t)));
  }

  /** λ_t = log α_t − log σ_t (half the log-SNR). */
  lambda(t: number): number {
    const l = this.logMeanCoeff(t);
    return l - 0.5 * Math.log(1 - Math.exp(2 * l));
  }

  /**
   * model_wrapper's get_model_input_time: (t − 1/N)·1000. The 1000 is fixed in the reference, so
   * a schedule of N ≠ 1000 steps sees inputs up to 1000·(N − 1)/N, not N − 1; kept for parity.
   */
  modelTime(t: number): number {
    return f32(f32(t - f32(1 / this.totalN)) * 1000);
  }
}

/** get_time_steps('time_uniform', T, 1/N, steps): torch.linspace(1, 1/N, steps + 1) in float32. */
export function dpmSolverTimesteps(totalN: number, steps: number): Float64Array {
  const start = 1, end = f32(1 / totalN), n = steps + 1;
  const step = f32((end - start) / steps);
  const half = Math.floor(n / 2);
  // torch's linspace kernel: the first half counts up from start, the second half down from end
  return Float64Array.from({ length: n }, (_, i) => (i < half ? f32(start + step * i) : f32(end - step * (n - 1 - i))));
}

/**
 * The order of each of the `steps` updates of DPM_Solver.sample(method='multistep', order,
 * lower_order_final=True): the first `order − 1` updates warm up with orders 1, 2, …, then
 * `order`, except that with fewer than 15 steps the last updates drop to min(order, steps + 1 − i).
 */
export function dpmSolverOrders(steps: number, order = 2, lowerOrderFinal = true): number[] {
  if (!Number.isInteger(steps) || steps < order) throw new RangeError(`DPM-Solver: steps must be an integer ≥ the order ${order}, got ${steps}`);
  const out: number[] = [];
  for (let i = 1; i < order; i++) out.push(i);
  for (let step = order; step <= steps; step++) out.push(lowerOrderFinal && steps < 15 ? Math.min(order, steps + 1 - step) : order);
  return out;
}

/** What DPMSolverSampler.sample takes: the DDIM sampler's options that it reads. */
export type DpmSolverOptions = Pick<SamplerOptions, 'S' | 'batchSize' | 'shape' | 'conditioning' | 'unconditionalGuidanceScale' | 'unconditionalConditioning' | 'xT' | 'noise'> & {
  /** Called after each of the S updates with its index (0-based). */
  callback?: (i: number) => void;
};

/** sampler.py's MODEL_TYPES: an eps model is a 'noise' model; v is v; x0 models are not supported there. */
function dpmModelType(model: DDPM): 'noise' | 'v' {
  const p = model.parameterization;
  if (p === 'eps') return 'noise';
  if (p === 'v') return 'v';
  throw new Error(`DPMSolverSampler: parameterization '${p}' is not supported (the reference maps only eps and v)`);
}

export class DPMSolverSampler {
  readonly ns: NoiseScheduleVP;

  constructor(readonly model: DDPM) {
    this.ns = new NoiseScheduleVP(model.schedule.f32.alphas_cumprod);
  }

  /**
   * DPMSolverSampler.sample: x_T (given, or drawn from `noise`), then S multistep DPM-Solver++(2M)
   * updates from t = 1 to t = 1/N. Returns x at t = 1/N; the caller owns it.
   */
  sample(opts: DpmSolverOptions): Tensor4D {
    const type = dpmModelType(this.model);
    const ns = this.ns, S = opts.S, b = opts.batchSize;
    const shape = [b, ...opts.shape] as [number, number, number, number];
    const orders = dpmSolverOrders(S, 2, true);
    const ts = dpmSolverTimesteps(ns.totalN, S);
    if (opts.xT && opts.xT.shape.join() !== shape.join()) throw new Error(`DPMSolverSampler: x_T has shape [${opts.xT.shape}], expected [${shape}]`);

    // model_fn of DPM_Solver with predict_x0: the guided noise prediction turned into x̂₀.
    const dataPrediction = (x: Tensor4D, t: number): Tensor4D => tf.tidy(() => {
      const tIn = tf.fill([b], ns.modelTime(t)) as Tensor1D;
      // classifier-free guidance on the raw output (one batch of cat([uc, c])): the v → noise
      // conversion is linear, so guiding before or after it is the same
      const out = guidedEps(this.model, x, tIn, opts.conditioning, opts);
      const alpha = ns.alpha(t), sigma = ns.std(t);
      const noise = type === 'v' ? tf.add(tf.mul(alpha, out), tf.mul(sigma, x)) : out;
      return tf.div(tf.sub(x, tf.mul(sigma, noise)), alpha) as Tensor4D;
    });

    let x: Tensor4D = opts.xT ? tf.clone(opts.xT) : ((opts.noise ?? randomNoise)(shape) as Tensor4D);
    // model values (x̂₀) and their times, newest last; at most `order` of them
    const prev: Array<{ m: Tensor4D; t: number }> = [];
    try {
      prev.push({ m: dataPrediction(x, ts[0]!), t: ts[0]! });
      for (let step = 1; step <= S; step++) {
        const t = ts[step]!, order = orders[step - 1]!;
        const next = tf.tidy(() => (order === 1 ? this.firstUpdate(x, prev.at(-1)!, t) : this.secondUpdate(x, prev.at(-2)!, prev.at(-1)!, t)));
        x.dispose();
        x = next;
        // the reference keeps two model values and never evaluates the model after the last update
        if (prev.length === 2) prev.shift()!.m.dispose();
        if (step < S) prev.push({ m: dataPrediction(x, t), t });
        opts.callback?.(step - 1);
      }
      return x;
    } catch (e) {
      x.dispose();
      throw e;
    } finally {
      for (const p of prev) p.m.dispose();
    }
  }

  /** dpm_solver_first_update (DPM-Solver++-1, i.e. DDIM): x_t = σ_t/σ_s·x − α_t·(e^{−h} − 1)·x̂₀(s). */
  private firstUpdate(x: Tensor4D, s: { m: Tensor4D; t: number }, t: number): Tensor4D {
    const ns = this.ns;
    const h = ns.lambda(t) - ns.lambda(s.t);
    const phi1 = Math.expm1(-h);
    return tf.sub(tf.mul(ns.std(t) / ns.std(s.t), x), tf.mul(ns.alpha(t) * phi1, s.m)) as Tensor4D;
  }

  /**
   * multistep_dpm_solver_second_update, solver_type 'dpm_solver', predict_x0:
   * D = (x̂₀(p0) − x̂₀(p1))/r0 with r0 = h₀/h; x_t = σ_t/σ_p0·x − α_t(e^{−h} − 1)·x̂₀(p0) − ½α_t(e^{−h} − 1)·D.
   */
  private secondUpdate(x: Tensor4D, p1: { m: Tensor4D; t: number }, p0: { m: Tensor4D; t: number }, t: number): Tensor4D {
    const ns = this.ns;
    const l1 = ns.lambda(p1.t), l0 = ns.lambda(p0.t), lt = ns.lambda(t);
    const h0 = l0 - l1, h = lt - l0, r0 = h0 / h;
    const a = ns.alpha(t) * (Math.exp(-h) - 1);
    const d = tf.mul(1 / r0, tf.sub(p0.m, p1.m));
    return tf.sub(tf.sub(tf.mul(ns.std(t) / ns.std(p0.t), x), tf.mul(a, p0.m)), tf.mul(0.5 * a, d)) as Tensor4D;
  }
}
