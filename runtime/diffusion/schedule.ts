// Noise schedules: ldm/modules/diffusionmodules/util.py `make_beta_schedule` and the buffers that
// `DDPM.register_schedule` (ldm/models/diffusion/ddpm.py) registers. Everything is computed in
// float64 (the reference uses numpy/torch float64) and cast to float32 at the end, like its
// `to_torch`; `lvlb_weights` alone is computed *after* the cast, in float32 torch arithmetic,
// which `fround` after every operation reproduces.
import { assertNever } from '../../schema/family.js';

import type { BetaScheduleKind, Parameterization } from '../../schema/diffusion.js';
export type { BetaScheduleKind, Parameterization };

const f32 = Math.fround;

/**
 * torch.linspace(start, end, steps, float64) with its documented formula: the first half counts
 * up from `start`, the second half down from `end`, so both ends are exact.
 * (The parity oracle ran a vectorised, FMA-contracted build of this kernel, whose float64 values
 * differ from these in the last bit here and there; the float32 buffers come out identical.)
 */
export function torchLinspace(start: number, end: number, steps: number): Float64Array {
  const out = new Float64Array(steps);
  if (steps === 1) {
    out[0] = start;
    return out;
  }
  const step = (end - start) / (steps - 1);
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) out[i] = i < halfway ? start + step * i : end - step * (steps - i - 1);
  return out;
}

/** make_beta_schedule, float64. */
export function makeBetaSchedule(
  kind: BetaScheduleKind,
  timesteps: number,
  linearStart = 1e-4,
  linearEnd = 2e-2,
  cosineS = 8e-3,
): Float64Array {
  if (!Number.isInteger(timesteps) || timesteps < 1) throw new Error(`makeBetaSchedule: timesteps must be a positive integer, got ${timesteps}`);
  switch (kind) {
    case 'linear':
      // betas are evenly spaced in sqrt: linspace(sqrt(start), sqrt(end))²
      return torchLinspace(Math.sqrt(linearStart), Math.sqrt(linearEnd), timesteps).map((v) => v * v);
    case 'cosine': {
      // Nichol & Dhariwal's alpha_bar(t) = cos²((t/T + s)/(1 + s)·π/2), normalised by alpha_bar(0).
      const ab = new Float64Array(timesteps + 1);
      for (let i = 0; i <= timesteps; i++) {
        const c = Math.cos((((i / timesteps + cosineS) / (1 + cosineS)) * Math.PI) / 2);
        ab[i] = c * c;
      }
      const a0 = ab[0]!;
      for (let i = 0; i <= timesteps; i++) ab[i] = ab[i]! / a0;
      const betas = new Float64Array(timesteps);
      // clipped at 0.999: the last step would otherwise be beta = 1 (alpha_bar(T) = 0)
      for (let i = 0; i < timesteps; i++) betas[i] = Math.min(Math.max(1 - ab[i + 1]! / ab[i]!, 0), 0.999);
      return betas;
    }
    case 'sqrt_linear':
      // Despite the name, the reference returns plain linear betas here.
      return torchLinspace(linearStart, linearEnd, timesteps);
    case 'sqrt':
      return torchLinspace(linearStart, linearEnd, timesteps).map(Math.sqrt);
    case 'squaredcos_cap_v2': {
      // betas_for_alpha_bar(T, ᾱ(t) = cos²((t + 0.008)/1.008 · π/2)), each beta capped at 0.999.
      const ab = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      return Float64Array.from({ length: timesteps }, (_, i) => Math.min(1 - ab((i + 1) / timesteps) / ab(i / timesteps), 0.999));
    }
    default:
      return assertNever(kind, 'beta_schedule');
  }
}

/** The float64 buffers of register_schedule, before the float32 cast. */
export interface ScheduleBuffers<A> {
  betas: A;
  alphas_cumprod: A;
  alphas_cumprod_prev: A;
  sqrt_alphas_cumprod: A;
  sqrt_one_minus_alphas_cumprod: A;
  log_one_minus_alphas_cumprod: A;
  sqrt_recip_alphas_cumprod: A;
  sqrt_recipm1_alphas_cumprod: A;
  posterior_variance: A;
  posterior_log_variance_clipped: A;
  posterior_mean_coef1: A;
  posterior_mean_coef2: A;
}

export type ScheduleBufferName = keyof ScheduleBuffers<unknown>;

/** Buffer names in the order register_schedule registers them (lvlb_weights last, non-persistent). */
export const SCHEDULE_BUFFER_NAMES: readonly ScheduleBufferName[] = [
  'betas', 'alphas_cumprod', 'alphas_cumprod_prev', 'sqrt_alphas_cumprod', 'sqrt_one_minus_alphas_cumprod',
  'log_one_minus_alphas_cumprod', 'sqrt_recip_alphas_cumprod', 'sqrt_recipm1_alphas_cumprod',
  'posterior_variance', 'posterior_log_variance_clipped', 'posterior_mean_coef1', 'posterior_mean_coef2',
];

export interface RegisterScheduleOptions {
  /** Explicit betas (the reference's `given_betas`); overrides the schedule. */
  givenBetas?: ArrayLike<number> | null;
  betaSchedule?: BetaScheduleKind;
  timesteps?: number;
  linearStart?: number;
  linearEnd?: number;
  cosineS?: number;
  /** σ² = (1 − v)·β̃ + v·β. */
  vPosterior?: number;
  parameterization?: Parameterization;
}

export interface DiffusionSchedule {
  readonly numTimesteps: number;
  /** float64 values (what numpy held). */
  readonly f64: Readonly<ScheduleBuffers<Float64Array>>;
  /** The registered float32 buffers, plus lvlb_weights. */
  readonly f32: Readonly<ScheduleBuffers<Float32Array>> & { readonly lvlb_weights: Float32Array };
}

/** DDPM.register_schedule. Defaults are DDPM's (linear 1e-4 → 2e-2, T = 1000, eps). */
export function registerSchedule(opts: RegisterScheduleOptions = {}): DiffusionSchedule {
  const v = opts.vPosterior ?? 0;
  const betas = opts.givenBetas != null
    ? Float64Array.from(opts.givenBetas)
    : makeBetaSchedule(opts.betaSchedule ?? 'linear', opts.timesteps ?? 1000, opts.linearStart ?? 1e-4, opts.linearEnd ?? 2e-2, opts.cosineS ?? 8e-3);
  const T = betas.length;
  if (T === 0) throw new Error('registerSchedule: no betas');
  const alphas = betas.map((b) => 1 - b);
  const ac = new Float64Array(T);
  let prod = 1;
  for (let i = 0; i < T; i++) ac[i] = prod *= alphas[i]!; // np.cumprod: sequential
  const acPrev = new Float64Array(T);
  acPrev[0] = 1;
  acPrev.set(ac.subarray(0, T - 1), 1);
  const map = (f: (i: number) => number) => Float64Array.from({ length: T }, (_, i) => f(i));
  const posteriorVariance = map((i) => ((1 - v) * betas[i]! * (1 - acPrev[i]!)) / (1 - ac[i]!) + v * betas[i]!);
  const f64: ScheduleBuffers<Float64Array> = {
    betas,
    alphas_cumprod: ac,
    alphas_cumprod_prev: acPrev,
    sqrt_alphas_cumprod: map((i) => Math.sqrt(ac[i]!)),
    sqrt_one_minus_alphas_cumprod: map((i) => Math.sqrt(1 - ac[i]!)),
    log_one_minus_alphas_cumprod: map((i) => Math.log(1 - ac[i]!)),
    sqrt_recip_alphas_cumprod: map((i) => Math.sqrt(1 / ac[i]!)),
    sqrt_recipm1_alphas_cumprod: map((i) => Math.sqrt(1 / ac[i]! - 1)),
    posterior_variance: posteriorVariance,
    // clipped: the posterior variance is 0 at t = 0
    posterior_log_variance_clipped: map((i) => Math.log(Math.max(posteriorVariance[i]!, 1e-20))),
    posterior_mean_coef1: map((i) => (betas[i]! * Math.sqrt(acPrev[i]!)) / (1 - ac[i]!)),
    posterior_mean_coef2: map((i) => ((1 - acPrev[i]!) * Math.sqrt(alphas[i]!)) / (1 - ac[i]!)),
  };
  const cast = {} as ScheduleBuffers<Float32Array>;
  for (const name of SCHEDULE_BUFFER_NAMES) cast[name] = Float32Array.from(f64[name]);
  const lvlb = lvlbWeights(opts.parameterization ?? 'eps', cast, Float32Array.from(alphas));
  return { numTimesteps: T, f64, f32: { ...cast, lvlb_weights: lvlb } };
}

/** lvlb_weights, in float32 as the reference computes them (from the already-cast buffers). */
function lvlbWeights(p: Parameterization, b: ScheduleBuffers<Float32Array>, alphas32: Float32Array): Float32Array {
  const T = b.betas.length;
  const w = new Float32Array(T);
  for (let i = 0; i < T; i++) {
    const ac = b.alphas_cumprod[i]!;
    switch (p) {
      case 'eps': {
        const beta = b.betas[i]!;
        const den = f32(f32(f32(2 * b.posterior_variance[i]!) * alphas32[i]!) * f32(1 - ac));
        w[i] = f32(f32(beta * beta) / den); // i = 0: 0/… or x/0 = inf, replaced below
        break;
      }
      case 'x0':
        // The reference divides by (2·1 − ᾱ), i.e. 2 − ᾱ (not 2·(1 − ᾱ)); kept for parity.
        w[i] = f32(f32(0.5 * f32(Math.sqrt(ac))) / f32(2 - ac));
        break;
      case 'v':
        // Stability-AI ddpm.py: torch.ones_like(the eps weights).
        w[i] = 1;
        break;
      default:
        assertNever(p, 'parameterization');
    }
  }
  // "TODO how to choose this term" in the reference: the t = 0 weight copies t = 1.
  if (T > 1) w[0] = w[1]!;
  return w;
}
