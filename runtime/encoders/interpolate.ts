// torch.nn.functional.interpolate(x, scale_factor=s, mode, align_corners=False) on NHWC, as a
// pair of resampling matrices (rows, then columns) applied with matMul: exact torch index
// arithmetic for every size (tfjs's resize ops use in/out ratios, which differ from torch's 1/s
// whenever the size is not a multiple), and differentiable on every backend.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';

export type InterpolationMode = 'nearest' | 'linear' | 'bilinear' | 'trilinear' | 'bicubic' | 'area';

/** torch's output size for a scale factor: floor(in · s). */
export function scaledSize(n: number, scale: number): number {
  return Math.floor(n * scale);
}

/** The [out, in] matrix that resamples one axis of length n by `scale` in `mode`. */
export function resampleMatrix(n: number, scale: number, mode: InterpolationMode): Float32Array {
  const out = scaledSize(n, scale);
  if (out <= 0) throw new Error(`interpolate: scale ${scale} turns size ${n} into ${out}`);
  const m = new Float32Array(out * n);
  const s = Math.fround(1 / scale); // torch passes 1/scale_factor as the coordinate scale
  const clampIdx = (i: number): number => Math.min(Math.max(i, 0), n - 1);
  for (let o = 0; o < out; o++) {
    const row = o * n;
    switch (mode) {
      case 'nearest':
        m[row + Math.min(Math.floor(Math.fround(o * s)), n - 1)] = 1;
        break;
      case 'bilinear': {
        const src = Math.max(Math.fround(Math.fround((o + 0.5) * s) - 0.5), 0);
        const i0 = Math.floor(src), i1 = Math.min(i0 + 1, n - 1), l = src - i0;
        m[row + i0]! += 1 - l;
        m[row + i1]! += l;
        break;
      }
      case 'bicubic': {
        const src = Math.fround(Math.fround((o + 0.5) * s) - 0.5);
        const i = Math.floor(src), t = src - i;
        const w = cubicWeights(t);
        for (let k = 0; k < 4; k++) m[row + clampIdx(i - 1 + k)]! += w[k]!;
        break;
      }
      case 'area': { // adaptive_avg_pool: [floor(o·n/out), ceil((o+1)·n/out))
        const a = Math.floor((o * n) / out), b = Math.ceil(((o + 1) * n) / out);
        for (let i = a; i < b; i++) m[row + i] = 1 / (b - a);
        break;
      }
      default:
        throw new Error(`interpolate: mode '${mode}' needs a ${mode === 'linear' ? '3-D' : '5-D'} input; images are 4-D`);
    }
  }
  return m;
}

/** Keys' cubic convolution weights with A = −0.75 (torch's upsample_bicubic2d). */
function cubicWeights(t: number): [number, number, number, number] {
  const A = -0.75;
  const near = (x: number): number => ((A + 2) * x - (A + 3)) * x * x + 1;
  const far = (x: number): number => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

/** Resamples axis 1 (rows) and axis 2 (columns) of an NHWC tensor by `scale`. */
export function interpolate(x: Tensor4D, scale: number, mode: InterpolationMode): Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C] = x.shape;
    const Ho = scaledSize(H, scale), Wo = scaledSize(W, scale);
    const mh = tf.tensor2d(resampleMatrix(H, scale, mode), [Ho, H]);
    const mw = tf.tensor2d(resampleMatrix(W, scale, mode), [Wo, W]);
    // rows: [H, B·W·C] → [Ho, B·W·C]
    const rows = tf.matMul(mh, tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [H, B * W * C]) as Tensor2D);
    const y = tf.transpose(tf.reshape(rows, [Ho, B, W, C]), [2, 1, 0, 3]); // [W, B, Ho, C]
    const cols = tf.matMul(mw, tf.reshape(y, [W, B * Ho * C]) as Tensor2D);
    return tf.transpose(tf.reshape(cols, [Wo, B, Ho, C]), [1, 2, 0, 3]) as Tensor4D;
  });
}
