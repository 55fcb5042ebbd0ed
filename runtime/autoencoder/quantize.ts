// taming's `VectorQuantizer2` (imported by ldm as VectorQuantizer), NHWC.
// Nearest code by squared distance ‖z‖² + ‖e‖² − 2·z·e (the reference's formula, so float32
// rounding matches), straight-through gradient, indices flattened in (n, y, x) order.
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { Module } from '../module.js';
import type { VectorQuantizerArgs } from './args.js';
import { uniform } from '../nn/init.js';

export interface QuantizeResult {
  /** Quantized latents with a straight-through gradient to z: [B, H, W, e_dim]. */
  readonly zq: Tensor4D;
  /** Codebook + commitment loss (legacy: mean((sg[zq]−z)²) + β·mean((zq−sg[z])²)). */
  readonly loss: Scalar;
  /** int32 code indices: [B·H·W] in (n, y, x) order, or [B, H, W] with sane_index_shape. */
  readonly indices: Tensor;
}

/** Identity forward, zero gradient: PyTorch's `.detach()`. */
export function stopGradient<T extends Tensor>(x: T): T {
  const f = tf.customGrad((...inputs: Array<Tensor | tf.GradSaveFunc>) => {
    const a = inputs[0] as Tensor;
    return { value: tf.clone(a), gradFunc: (dy: Tensor) => tf.zerosLike(dy) };
  });
  return f(x) as T;
}

/** Forward zq, backward identity to z: `z + (zq − z).detach()` without its rounding. */
function straightThrough(z: Tensor4D, zq: Tensor4D): Tensor4D {
  const f = tf.customGrad((...inputs: Array<Tensor | tf.GradSaveFunc>) => {
    const b = inputs[1] as Tensor;
    return { value: tf.clone(b), gradFunc: (dy: Tensor) => [tf.clone(dy), tf.zerosLike(dy)] };
  });
  return f(z, zq) as Tensor4D;
}

export class VectorQuantizer extends Module {
  static override readonly className = 'VectorQuantizer2';
  readonly n_e: number;
  readonly e_dim: number;
  readonly beta: number;
  readonly legacy: boolean;
  readonly saneIndexShape: boolean;
  /** `embedding.weight` [n_e, e_dim], registered under an 'embedding' child as nn.Embedding is. */
  readonly weight: tf.Variable;

  constructor(args: VectorQuantizerArgs) {
    super();
    if (args.remap != null) {
      throw new Error(`VectorQuantizer: remap ('${args.remap}') is not supported yet: it needs the .npy of used codes`);
    }
    this.n_e = args.n_e;
    this.e_dim = args.e_dim;
    this.beta = args.beta;
    this.legacy = args.legacy ?? true;
    this.saneIndexShape = args.sane_index_shape ?? false;
    const embedding = this.add('embedding', new CodebookEmbedding(this.n_e, this.e_dim));
    this.weight = embedding.weight;
  }

  /** Code indices of z: int32 [B·H·W], the argmin over the codebook. */
  indicesOf(z: Tensor4D): Tensor1D {
    return tf.tidy(() => {
      const flat = tf.reshape(z, [-1, this.e_dim]) as Tensor2D;
      const e = this.weight as unknown as Tensor2D;
      const d = tf.sub(
        tf.add(tf.sum(tf.square(flat), 1, true), tf.reshape(tf.sum(tf.square(e), 1), [1, -1])),
        tf.mul(2, tf.matMul(flat, e, false, true)));
      return tf.cast(tf.argMin(d, 1), 'int32') as Tensor1D;
    });
  }

  forward(z: Tensor4D): QuantizeResult {
    return tf.tidy(() => {
      const [B, H, W, C] = z.shape;
      if (C !== this.e_dim) throw new Error(`VectorQuantizer: expected ${this.e_dim} channels, got ${C}`);
      const indices = this.indicesOf(z);
      const zqRaw = this.lookup(indices, [B, H, W]);
      const sgZ = stopGradient(z), sgZq = stopGradient(zqRaw);
      const commit = tf.mean(tf.square(tf.sub(sgZq, z)));
      const codebook = tf.mean(tf.square(tf.sub(zqRaw, sgZ)));
      const loss = (this.legacy ? tf.add(commit, tf.mul(this.beta, codebook)) : tf.add(tf.mul(this.beta, commit), codebook)) as Scalar;
      const zq = straightThrough(z, zqRaw);
      return { zq, loss, indices: this.saneIndexShape ? tf.reshape(indices, [B, H, W]) : indices };
    });
  }

  /** Codebook rows for integer indices, reshaped to [...shape, e_dim] (taming's get_codebook_entry, NHWC). */
  lookup(indices: Tensor, shape: readonly number[]): Tensor4D {
    return tf.tidy(() => {
      const flat = tf.cast(tf.reshape(indices, [-1]), 'int32') as Tensor1D;
      // oneHot·table, not gather: wasm has no gather gradient (UnsortedSegmentSum).
      const oh = tf.cast(tf.oneHot(flat, this.n_e), 'float32') as Tensor2D;
      return tf.reshape(tf.matMul(oh, this.weight as unknown as Tensor2D), [...shape, this.e_dim]) as unknown as Tensor4D;
    });
  }
}

/** `nn.Embedding(n_e, e_dim)` initialised U(−1/n_e, 1/n_e) as taming does. */
class CodebookEmbedding extends Module {
  static override readonly className = 'Embedding';
  readonly weight: tf.Variable;
  constructor(n: number, d: number) {
    super();
    this.weight = this.addParam('weight', uniform([n, d], -1 / n, 1 / n));
  }
}
