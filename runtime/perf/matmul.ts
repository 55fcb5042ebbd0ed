// Matrix products the wasm backend runs fast. tfjs-backend-wasm 4.22 hands a BatchMatMul to
// XNNPACK only when neither operand is transposed: with transposeA or transposeB set it falls back
// to a plain loop nest, 10–30× slower here (e.g. [1024,256]·[256,768]ᵀ: ~200 ms vs ~15 ms for an
// explicit Transpose followed by the untransposed product). tfjs-core's BatchMatMul gradient asks
// for exactly those flags (dA = dy·bᵀ, dB = aᵀ·dy), so every Linear/attention backward hit the slow
// loop. Here the transposes are made explicit on wasm; other backends keep the flags.
import * as tf from '@tensorflow/tfjs-core';
import { nativeKernelsActive } from './native-kernels.js';
import type { GradConfig, NamedAttrMap, Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';

/** Swaps the last two axes (a no-op for the data of a [.., 1, n] or [.., n, 1] tensor, still a copy). */
export function transposeLast2<T extends Tensor>(x: T): T {
  const r = x.rank;
  if (r < 2) throw new Error(`transposeLast2: rank ${r} < 2`);
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(x, perm) as T;
}

/** True where transposed operands should be materialised before a matMul (the wasm backend). */
export function explicitTransposes(): boolean {
  // The native BatchMatMul (./native-kernels.ts) takes the flags as strides, at full speed.
  return tf.getBackend() === 'wasm' && !nativeKernelsActive();
}

/**
 * `tf.matMul(a, b, transposeA, transposeB)` with the same result, computed on wasm as
 * matMul(aᵀ?, bᵀ?) after explicit transposes (XNNPACK), elsewhere with the flags.
 */
export function matMulFast<T extends Tensor>(a: T, b: T, transposeA = false, transposeB = false): T {
  if (!(transposeA || transposeB) || !explicitTransposes()) return tf.matMul(a, b, transposeA, transposeB) as T;
  return tf.tidy(() => tf.matMul(transposeA ? transposeLast2(a) : a, transposeB ? transposeLast2(b) : b)) as T;
}

let previous: GradConfig | undefined;
let installed = false;

/**
 * Installs a BatchMatMul gradient whose products never set the transpose flags on wasm (see the
 * file comment); the algebra is tfjs-core's. Other backends, and operands whose batch axes
 * broadcast, use the gradient registered before. Idempotent.
 */
export function registerBatchMatMulGradient(): void {
  if (installed) return;
  previous = tf.getGradient('BatchMatMul');
  if (!previous) return; // gradients not loaded yet: nothing to wrap (initBackend loads them first)
  installed = true;
  tf.registerGradient({
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      const [a, b] = saved as [Tensor, Tensor];
      const g = dy as Tensor;
      const sameBatch = a.rank === b.rank && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
      if (!explicitTransposes() || !sameBatch) return previous!.gradFunc(dy, saved, attrs);
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const T = transposeLast2;
      if (!transposeA && !transposeB) return { a: () => tf.matMul(g, T(b)), b: () => tf.matMul(T(a), g) };
      if (!transposeA && transposeB) return { a: () => tf.matMul(g, b), b: () => tf.matMul(T(g), a) };
      if (transposeA && !transposeB) return { a: () => tf.matMul(b, T(g)), b: () => tf.matMul(a, g) };
      return { a: () => tf.matMul(T(b), T(g)), b: () => tf.matMul(T(g), T(a)) };
    },
  });
}

/**
 * Batched product of rank-3 tensors (same batch size, no broadcasting). On wasm a rank-3
 * BatchMatMul never reaches XNNPACK (~3 GFLOP/s here against ~30–40 for 2-D products), so it is
 * computed as one 2-D product per batch item; elsewhere it is tf.matMul. The flags mean what
 * tf.matMul's do.
 */
/** Multiply-adds per batch item above which batchMatMul loops over 2-D products on wasm. */
export const MIN_LOOP_MACS = 1 << 20;

export function batchMatMul(a: Tensor3D, b: Tensor3D, transposeA = false, transposeB = false): Tensor3D {
  if (!explicitTransposes() || a.shape[0] !== b.shape[0]) return tf.matMul(a, b, transposeA, transposeB);
  const [n, m, k] = [a.shape[0], transposeA ? a.shape[2] : a.shape[1], transposeA ? a.shape[1] : a.shape[2]];
  const cols = transposeB ? b.shape[1] : b.shape[2];
  // Per-item ops cost ~0.2–0.5 ms of overhead here: the loop pays off only for large items (the
  // UNet's 8×8 cross-attention at batch 64 ran 26k tiny products and got slower).
  if (n > 64 || m * k * cols < MIN_LOOP_MACS) return matMulFast(a, b, transposeA, transposeB);
  if (a.shape[0] === 1) return tf.tidy(() => tf.expandDims(matMulFast(tf.squeeze(a, [0]) as Tensor2D, tf.squeeze(b, [0]) as Tensor2D, transposeA, transposeB), 0) as Tensor3D);
  return tf.tidy(() => {
    const as = tf.unstack(transposeA ? transposeLast2(a) : a) as Tensor2D[];
    const bs = tf.unstack(transposeB ? transposeLast2(b) : b) as Tensor2D[];
    return tf.stack(as.map((ai, i) => tf.matMul(ai, bs[i]!))) as Tensor3D;
  });
}
