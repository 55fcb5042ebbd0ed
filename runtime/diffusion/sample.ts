// Sampling a LatentDiffusion as one call: DDIM, PLMS, DPM-Solver++ or DDPM ancestral sampling, optional
// classifier-free guidance, a noise source (or a seed) and a per-step callback. The generated
// wrappers' sample() and the `ldmc sample` command share it.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { Cond } from './conditioning.js';
import { DDIMSampler, makeDdimTimesteps } from './ddim.js';
import type { LatentDiffusion } from './latent-diffusion.js';
import { randomNoise, seededNoise, type NoiseSource } from './noise.js';
import { PLMSSampler } from './plms.js';
import { DPMSolverSampler } from './dpm-solver.js';

export type SamplerName = 'ddim' | 'plms' | 'dpm' | 'ddpm';

/** Steps of ddim/plms when none are asked for (the reference's scripts use 50 too). */
export const DEFAULT_SAMPLE_STEPS = 50;

export interface SampleOptions {
  /** Samples to draw (one batch). */
  readonly batchSize: number;
  /** Default 'ddim'. */
  readonly sampler?: SamplerName;
  /** ddim/plms/dpm steps (default 50, at most the model's timesteps; dpm needs 2 or more); ddpm runs every timestep. */
  readonly steps?: number;
  /** The latent's [height, width] (default [image_size, image_size]: the config's). */
  readonly latentSize?: readonly [number, number];
  /** The start code x_T [B, h, w, channels] (NHWC), used instead of drawing it from `noise` (ddim, plms, dpm). */
  readonly xT?: Tensor4D;
  /** DDIM's eta (default 0); PLMS needs 0; DDPM ignores it. */
  readonly eta?: number;
  /** The learned conditioning (getLearnedConditioning's output) of every sample; none when unconditional. */
  readonly cond?: Cond;
  /** Classifier-free guidance scale (default 1: no guidance); another value needs `uncond`. */
  readonly scale?: number;
  /** The unconditional conditioning, in the form of `cond` (e.g. the null class's embedding). */
  readonly uncond?: Cond;
  /** Where the Gaussian noise comes from; default seededNoise(seed), or tfjs's randomness without a seed. */
  readonly noise?: NoiseSource;
  readonly seed?: number;
  /** Called after each denoising step with the steps done and the total. */
  readonly onStep?: (done: number, total: number) => void;
}

/** The number of denoising steps `sampleLatents` runs for these settings (ddim/plms round `steps` to divide T). */
export function sampleStepCount(ld: LatentDiffusion, sampler: SamplerName = 'ddim', steps?: number): number {
  if (sampler === 'ddpm') return ld.ddpm.numTimesteps;
  // DPM-Solver spaces its S steps in continuous time: no rounding to divide T
  if (sampler === 'dpm') return steps ?? DEFAULT_SAMPLE_STEPS;
  return makeDdimTimesteps('uniform', steps ?? DEFAULT_SAMPLE_STEPS, ld.ddpm.numTimesteps).length;
}

/**
 * Draws `batchSize` latents [B, h, w, channels] (latentSize, default image_size × image_size; NHWC, still times
 * scale_factor: decode them with decodeFirstStage). The caller owns the result; everything
 * else the samplers create is disposed. Invalid settings throw a RangeError before any work.
 *
 * Text-to-image with classifier-free guidance (txt2img's call; ε- and v-models alike):
 *   const c = encoder.encodeText(prompts), uc = encoder.encodeText(prompts.map(() => '')); // encoder = ld.cond_stage_model
 *   const z = sampleLatents(ld, { batchSize: n, sampler: 'ddim', steps: 50, eta: 0, cond: c, uncond: uc, scale: 7.5, seed });
 * The UNet then runs once per step on cat([uc, c]) and takes ε_u + scale·(ε_c − ε_u) (for a v
 * model the same on v), as the reference's DDIMSampler does; `uncond` must have `cond`'s form and
 * batch. Checked against Stability-AI's sampler in test/runtime/ddim-v.parity.test.ts.
 */
export function sampleLatents(ld: LatentDiffusion, o: SampleOptions): Tensor4D {
  const sampler = o.sampler ?? 'ddim';
  const scale = o.scale ?? 1;
  const T = ld.ddpm.numTimesteps;
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new RangeError(`sample: batchSize must be a positive integer, not ${o.batchSize}`);
  if (o.steps !== undefined && sampler !== 'ddpm' && (!Number.isInteger(o.steps) || o.steps < 1 || o.steps > T)) throw new RangeError(`sample: steps must be an integer from 1 to the model's ${T} timesteps, not ${o.steps}`);
  if (sampler === 'plms' && (o.eta ?? 0) !== 0) throw new RangeError('sample: eta must be 0 with the plms sampler (PLMS is deterministic)');
  if (sampler === 'dpm' && (o.eta ?? 0) !== 0) throw new RangeError('sample: eta must be 0 with the dpm sampler (DPM-Solver++ is deterministic)');
  if (sampler === 'dpm' && o.steps !== undefined && o.steps < 2) throw new RangeError('sample: the dpm sampler (multistep, order 2) needs at least 2 steps');
  if (sampler === 'dpm' && ld.ddpm.parameterization === 'x0') throw new RangeError("sample: the dpm sampler supports eps and v models, not parameterization 'x0'");
  if (sampler === 'ddpm' && o.xT !== undefined) throw new RangeError('sample: a start code x_T is not supported with the ddpm sampler');
  if (ld.conditioningKey !== null && o.cond === undefined) throw new RangeError(`sample: this model is conditioned (${ld.conditioningKey}): pass cond`);
  if (ld.conditioningKey === null && o.cond !== undefined) throw new RangeError('sample: this model is unconditional: cond must not be given');
  if (scale !== 1) {
    if (o.uncond === undefined) throw new RangeError(`sample: guidance scale ${scale} needs uncond (the unconditional conditioning)`);
    if (sampler === 'ddpm') throw new RangeError('sample: classifier-free guidance is not supported with the ddpm sampler');
  }
  const noise = o.noise ?? (o.seed !== undefined ? seededNoise(o.seed) : randomNoise);
  const total = sampleStepCount(ld, sampler, o.steps);
  let done = 0;
  const callback = () => o.onStep?.(++done, total);
  const [h, w] = o.latentSize ?? [ld.args.image_size, ld.args.image_size];
  const shape = [h, w, ld.args.channels] as const;
  if (o.xT && o.xT.shape.join() !== [o.batchSize, ...shape].join()) throw new RangeError(`sample: x_T has shape [${o.xT.shape}], expected [${[o.batchSize, ...shape]}]`);
  switch (sampler) {
    case 'ddpm': {
      const r = ld.ddpm.pSampleLoop([o.batchSize, ...shape], { ...(o.cond !== undefined ? { cond: o.cond } : {}), noise, logEveryT: Number.MAX_SAFE_INTEGER, callback });
      tf.dispose(r.intermediates.filter((t) => t !== r.samples));
      return r.samples;
    }
    case 'ddim':
    case 'plms': {
      const s = sampler === 'plms' ? new PLMSSampler(ld.ddpm) : new DDIMSampler(ld.ddpm);
      const r = s.sample({
        S: o.steps ?? DEFAULT_SAMPLE_STEPS,
        batchSize: o.batchSize,
        shape,
        ...(o.cond !== undefined ? { conditioning: o.cond } : {}),
        eta: o.eta ?? 0,
        ...(scale !== 1 ? { unconditionalGuidanceScale: scale, unconditionalConditioning: o.uncond! } : {}),
        ...(o.xT ? { xT: o.xT } : {}),
        noise,
        logEveryT: Number.MAX_SAFE_INTEGER,
        callback,
      });
      tf.dispose([...r.intermediates.x_inter, ...r.intermediates.pred_x0].filter((t) => t !== r.samples));
      return r.samples;
    }
    case 'dpm':
      return new DPMSolverSampler(ld.ddpm).sample({
        S: o.steps ?? DEFAULT_SAMPLE_STEPS,
        batchSize: o.batchSize,
        shape,
        ...(o.cond !== undefined ? { conditioning: o.cond } : {}),
        ...(scale !== 1 ? { unconditionalGuidanceScale: scale, unconditionalConditioning: o.uncond! } : {}),
        ...(o.xT ? { xT: o.xT } : {}),
        noise,
        callback,
      });
    default: {
      const never: never = sampler;
      throw new RangeError(`sample: unknown sampler '${String(never)}'`);
    }
  }
}

/** sampleLatents, then decodeFirstStage: NHWC images in about [-1, 1]. The caller owns the result. */
export function sampleImages(ld: LatentDiffusion, o: SampleOptions): Tensor4D {
  const z = sampleLatents(ld, o);
  try {
    return ld.decodeFirstStage(z);
  } finally {
    z.dispose();
  }
}
