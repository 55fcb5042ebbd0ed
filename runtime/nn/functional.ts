// Parameter-free tensor functions shared by the UNet and the first stage (NHWC).
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';

/**
 * Frequencies of ldm's `timestep_embedding`: exp(-ln(maxPeriod)·i/half), i = 0..half-1, with the
 * argument rounded to float32 at each step as torch computes it in float32. (torch's float32 exp
 * can differ by 1 ulp from this correctly rounded one: ≤ ~2e-5 in the embedding at t≈1000.)
 */
export function timestepFrequencies(dim: number, maxPeriod = 10000): Float32Array {
  const half = Math.floor(dim / 2);
  const c = Math.fround(-Math.log(maxPeriod));
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) out[i] = Math.exp(Math.fround(Math.fround(c * i) / half));
  return out;
}

/** ldm `timestep_embedding(t, dim)`: [cos(t·f) | sin(t·f)], zero-padded to `dim` when odd. */
export function timestepEmbedding(timesteps: Tensor1D, dim: number, maxPeriod = 10000): Tensor2D {
  return tf.tidy(() => {
    const freqs = tf.tensor1d(timestepFrequencies(dim, maxPeriod));
    const args = tf.mul(tf.reshape(tf.cast(timesteps, 'float32'), [-1, 1]), tf.reshape(freqs, [1, -1]));
    let emb = tf.concat([tf.cos(args), tf.sin(args)], 1) as Tensor2D;
    if (dim % 2 === 1) emb = tf.pad(emb, [[0, 0], [0, 1]]);
    return emb;
  });
}

/**
 * Nearest-neighbour ×2 upsampling (F.interpolate(scale_factor=2, mode='nearest')) built from
 * reshape + concat, not tf.image.resizeNearestNeighbor: the cpu backend's
 * ResizeNearestNeighborGrad is wrong for every batch item after the first.
 */
export function upsampleNearest2x(x: Tensor4D): Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C] = x.shape;
    const cols = tf.reshape(x, [B, H, W, 1, C]);
    const wide = tf.reshape(tf.concat([cols, cols], 3), [B, H, 1, 2 * W, C]);
    return tf.reshape(tf.concat([wide, wide], 2), [B, 2 * H, 2 * W, C]);
  });
}

/**
 * 2×2 average pooling, stride 2 (avg_pool2d(kernel 2, stride 2); odd sizes drop the last
 * row/column as torch's floor mode does). Reshape + mean: the wasm backend has no AvgPoolGrad.
 */
export function avgPool2x(x: Tensor4D): Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C] = x.shape;
    const Ho = Math.floor(H / 2), Wo = Math.floor(W / 2);
    const xc = H % 2 || W % 2 ? tf.slice(x, [0, 0, 0, 0], [B, 2 * Ho, 2 * Wo, C]) : x;
    const rows = tf.mean(tf.reshape(xc, [B * Ho, 2, 2 * Wo * C]), 1); // [B·Ho, 2·Wo·C]
    return tf.reshape(tf.mean(tf.reshape(rows, [B * Ho * Wo, 2, C]), 1), [B, Ho, Wo, C]);
  });
}
