// Parameter initialisers matching PyTorch's defaults, so a freshly built model trains like the
// reference: Conv/Linear weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (what
// kaiming_uniform_(a=sqrt(5)) reduces to), norms at (1, 0), Embedding ~ N(0, 1).
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';

export type Init = 'default' | 'zeros';

let zeroInit = false;
/** A stream of seeds: after `reset(seed)` the k-th `next()` is `seed + k`; undefined while unseeded. */
function seedStream(): { reset(seed: number | undefined): void; next(): number | undefined } {
  let base: number | undefined;
  let count = 0;
  return {
    reset(seed) {
      base = seed;
      count = 0;
    },
    next: () => (base === undefined ? undefined : base + count++),
  };
}

const initSeeds = seedStream();
const dropoutSeeds = seedStream();

/**
 * Makes every later random initialisation deterministic: the k-th initialiser draws with seed
 * `seed + k`. A training run seeds this before building its model, so two runs with the same seed
 * start from the same weights (and a resumed run matches an uninterrupted one).
 */
export function seedInit(seed: number | undefined): void {
  initSeeds.reset(seed);
}

function nextSeed(): number | undefined {
  return initSeeds.next();
}

/**
 * Makes dropout masks deterministic from here on: the k-th Dropout call draws with seed
 * `seed + k`. The trainer seeds it before each step's loss from (run seed, step), so a resumed
 * run draws the masks an uninterrupted one would. undefined: unseeded masks (tfjs's stream).
 */
export function seedDropout(seed: number | undefined): void {
  dropoutSeeds.reset(seed);
}

/** The seed for the next dropout mask (undefined when unseeded). */
export function nextDropoutSeed(): number | undefined {
  return dropoutSeeds.next();
}

/** U(lo, hi) of the given shape (zeros under buildWithZeroInit). */
export function uniform(shape: number[], lo: number, hi: number): Tensor {
  return zeroInit ? tf.zeros(shape) : tf.randomUniform(shape, lo, hi, 'float32', nextSeed());
}

/**
 * Builds modules with every parameter zero instead of randomly initialised: a zero Float32Array
 * is a fresh mapping the OS fills lazily, so a 274M-parameter UNet costs little memory and no
 * time. For structural checks (parameter counts, names), never for training.
 */
export function buildWithZeroInit<T>(f: () => T): T {
  const prev = zeroInit;
  zeroInit = true;
  try {
    return f();
  } finally {
    zeroInit = prev;
  }
}

export function uniformFanIn(shape: number[], fanIn: number, init: Init = 'default'): Tensor {
  if (init === 'zeros' || zeroInit) return tf.zeros(shape);
  const bound = 1 / Math.sqrt(fanIn);
  return tf.randomUniform(shape, -bound, bound, 'float32', nextSeed());
}

export function ones(shape: number[]): Tensor {
  return tf.ones(shape);
}

export function zeros(shape: number[]): Tensor {
  return tf.zeros(shape);
}

export function normal(shape: number[]): Tensor {
  return zeroInit ? tf.zeros(shape) : tf.randomNormal(shape, 0, 1, 'float32', nextSeed());
}
