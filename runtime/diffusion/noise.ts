// Where the samplers' Gaussian noise comes from: a seeded generator for reproducible runs, or a
// fixed list of tensors (tests replay the reference's draws).
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';

/** Returns a fresh N(0, 1) float32 tensor of `shape`; the caller owns it. */
export type NoiseSource = (shape: readonly number[]) => Tensor;

/**
 * Deterministic noise: draw k uses seed `seed + k`, so a run is reproducible from one number
 * (tfjs's randomNormal takes a seed per call; there is no global generator to advance).
 */
export function seededNoise(seed: number): NoiseSource {
  let k = 0;
  return (shape) => tf.randomNormal([...shape], 0, 1, 'float32', seed + k++);
}

/** Unseeded noise (tfjs's own randomness). */
export const randomNoise: NoiseSource = (shape) => tf.randomNormal([...shape], 0, 1, 'float32');

/** Replays `draws` in order (cloned, so the caller keeps ownership); throws when they run out or mis-shape. */
export function noiseFrom(draws: readonly Tensor[]): NoiseSource {
  let k = 0;
  return (shape) => {
    const t = draws[k++];
    if (!t) throw new Error(`noiseFrom: only ${draws.length} noise tensor(s) given, draw ${k} requested`);
    if (t.shape.join() !== shape.join()) throw new Error(`noiseFrom: draw ${k} has shape [${t.shape}], expected [${shape}]`);
    return tf.clone(t);
  };
}

/**
 * util.noise_like: one draw of `shape`, or with `repeat` one draw of the first item tiled over
 * the batch (the same noise for every sample).
 */
export function noiseLike(source: NoiseSource, shape: readonly number[], repeat = false): Tensor {
  if (!repeat) return source(shape);
  return tf.tidy(() => {
    const one = source([1, ...shape.slice(1)]);
    return tf.tile(one, [shape[0]!, ...shape.slice(1).map(() => 1)]);
  });
}
