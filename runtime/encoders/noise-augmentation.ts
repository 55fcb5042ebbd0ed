// The noise-augmentation "encoders" of sd2, which hold buffers and no parameters:
// ImageConcatWithNoiseAugmentation (ldm/modules/diffusionmodules/upscaling.py: the x4 upscaler's
// low-scale model) and CLIPEmbeddingNoiseAugmentation (ldm/modules/encoders/modules.py: unCLIP's).
// Both noise their input to a noise level with q_sample over their own schedule and return the
// level, which conditions the UNet through c_adm.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { registerSchedule, type BetaScheduleKind } from '../diffusion/schedule.js';
import { randomNoise, type NoiseSource } from '../diffusion/noise.js';
import { Module } from '../module.js';
import { timestepEmbedding } from '../nn/index.js';

export interface NoiseScheduleConfigArgs {
  beta_schedule?: BetaScheduleKind;
  timesteps?: number;
  linear_start?: number;
  linear_end?: number;
  cosine_s?: number;
}

export interface ImageConcatWithNoiseAugmentationArgs {
  noise_schedule_config: NoiseScheduleConfigArgs;
  max_noise_level?: number;
}

/** `ImageConcatWithNoiseAugmentation`: z = √ᾱ[l]·x + √(1−ᾱ[l])·noise, and the level l. */
export class ImageConcatWithNoiseAugmentation extends Module {
  static override readonly className: string = 'ImageConcatWithNoiseAugmentation';
  readonly maxNoiseLevel: number;
  /** The registered float32 buffers q_sample reads. */
  readonly sqrtAlphasCumprod: Float32Array;
  readonly sqrtOneMinusAlphasCumprod: Float32Array;

  constructor(args: ImageConcatWithNoiseAugmentationArgs) {
    super();
    const c = args.noise_schedule_config;
    const s = registerSchedule({
      betaSchedule: c.beta_schedule ?? 'linear',
      timesteps: c.timesteps ?? 1000,
      linearStart: c.linear_start ?? 1e-4,
      linearEnd: c.linear_end ?? 2e-2,
      cosineS: c.cosine_s ?? 8e-3,
    });
    this.sqrtAlphasCumprod = s.f32.sqrt_alphas_cumprod;
    this.sqrtOneMinusAlphasCumprod = s.f32.sqrt_one_minus_alphas_cumprod;
    this.maxNoiseLevel = args.max_noise_level ?? 1000;
  }

  /** q_sample(x, levels, noise) for x `[B, ...]` and integer levels `[B]`. */
  qSample(x: Tensor, levels: readonly number[], noise: Tensor): Tensor {
    return tf.tidy(() => {
      const at = (table: Float32Array) => {
        const v = levels.map((l) => {
          const e = table[l];
          if (e === undefined) throw new Error(`${this.className}: noise level ${l} is outside the schedule (0..${table.length - 1})`);
          return e;
        });
        return tf.reshape(tf.tensor1d(v), [levels.length, ...x.shape.slice(1).map(() => 1)]);
      };
      return tf.add(tf.mul(at(this.sqrtAlphasCumprod), x), tf.mul(at(this.sqrtOneMinusAlphasCumprod), noise));
    });
  }

  /** Levels drawn uniformly from [0, max_noise_level), as `torch.randint` does when none is given. */
  drawLevels(batch: number): number[] {
    return Array.from({ length: batch }, () => Math.floor(Math.random() * this.maxNoiseLevel));
  }

  /** forward(x, noise_level): the noised input and the levels (int32 `[B]`). */
  forward(x: Tensor, levels: readonly number[] = this.drawLevels(x.shape[0]!), noise: NoiseSource = randomNoise): { z: Tensor; noiseLevel: Tensor1D } {
    const n = noise(x.shape);
    const z = this.qSample(x, levels, n);
    n.dispose();
    return { z, noiseLevel: tf.tensor1d(Int32Array.from(levels), 'int32') };
  }
}

export interface CLIPEmbeddingNoiseAugmentationArgs extends ImageConcatWithNoiseAugmentationArgs {
  timestep_dim?: number;
  /** The (mean, std) that clip_stats_path holds; zeros and ones of timestep_dim when absent. */
  stats?: { mean: Float32Array; std: Float32Array } | null;
}

/**
 * `CLIPEmbeddingNoiseAugmentation`: scale the embedding to zero mean / unit std, q_sample it,
 * unscale it; the level's sinusoidal embedding (`Timestep(timestep_dim)`) is the second output.
 */
export class CLIPEmbeddingNoiseAugmentation extends ImageConcatWithNoiseAugmentation {
  static override readonly className: string = 'CLIPEmbeddingNoiseAugmentation';
  readonly timestepDim: number;
  readonly dataMean: Float32Array;
  readonly dataStd: Float32Array;

  constructor(args: CLIPEmbeddingNoiseAugmentationArgs) {
    super(args);
    this.timestepDim = args.timestep_dim ?? 256;
    this.dataMean = args.stats?.mean ?? new Float32Array(this.timestepDim);
    this.dataStd = args.stats?.std ?? new Float32Array(this.timestepDim).fill(1);
  }

  /** x `[B, D]` → the noised embedding `[B, D]` and the level embedding `[B, timestep_dim]`. */
  augment(x: Tensor2D, levels: readonly number[] = this.drawLevels(x.shape[0]), noise: NoiseSource = randomNoise): { z: Tensor2D; levelEmbedding: Tensor2D } {
    if (x.shape[1] !== this.dataMean.length) {
      throw new Error(`${this.className}: the embedding is ${x.shape[1]} wide, but the mean/std are ${this.dataMean.length} wide`);
    }
    const n = noise(x.shape);
    const out = tf.tidy(() => {
      const mean = tf.tensor2d(this.dataMean, [1, this.dataMean.length]);
      const std = tf.tensor2d(this.dataStd, [1, this.dataStd.length]);
      const scaled = tf.div(tf.sub(x, mean), std);
      const z = tf.add(tf.mul(this.qSample(scaled, levels, n), std), mean) as Tensor2D;
      const lv = tf.tensor1d(Int32Array.from(levels), 'int32');
      return { z, levelEmbedding: timestepEmbedding(lv, this.timestepDim) };
    });
    n.dispose();
    return out;
  }
}
