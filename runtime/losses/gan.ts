// The GAN pieces of taming/modules/losses/vqperceptual.py: the two discriminator losses, the
// discriminator warm-up switch and the adaptive generator weight.
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor4D } from '@tensorflow/tfjs-core';

/** 0.5·(mean(relu(1 − real)) + mean(relu(1 + fake))). */
export function hinge_d_loss(logits_real: Tensor, logits_fake: Tensor): Scalar {
  return tf.tidy(() => tf.mul(0.5, tf.add(tf.mean(tf.relu(tf.sub(1, logits_real))), tf.mean(tf.relu(tf.add(1, logits_fake))))));
}

/** 0.5·(mean(softplus(−real)) + mean(softplus(fake))). */
export function vanilla_d_loss(logits_real: Tensor, logits_fake: Tensor): Scalar {
  return tf.tidy(() => tf.mul(0.5, tf.add(tf.mean(tf.softplus(tf.neg(logits_real))), tf.mean(tf.softplus(logits_fake)))));
}

export type DiscLossFn = (logits_real: Tensor, logits_fake: Tensor) => Scalar;

/** `weight`, or `value` while `global_step < threshold` (the discriminator's warm-up). */
export function adopt_weight(weight: number, global_step: number, threshold = 0, value = 0): number {
  return global_step < threshold ? value : weight;
}

/**
 * What the adaptive weight differentiates against: the decoder's last weight
 * (`decoder.conv_out.weight`) and a function that recomputes the reconstructions from it.
 *
 * PyTorch takes `torch.autograd.grad(loss, last_layer)` of a graph it already holds; tfjs
 * gradients only reach through ops run inside the gradient function, so the reconstructions must
 * be recomputed there. `decodeWithLastLayer` makes one that re-runs only the decoder's head.
 */
export interface LastLayer {
  readonly variable: tf.Variable;
  /** Reconstructions as a function of `variable` (same values as the ones given to the loss). */
  reconstruct(): Tensor4D;
}

/**
 * d_weight = ‖∇_last nll‖ / (‖∇_last g‖ + 1e-4), clamped to [0, 1e4], times `discWeight`.
 * Returned as a number: it is detached, as in the reference, and the training log needs it anyway.
 * Both gradients are taken with respect to `lastLayer` only. Works inside an optimizer's
 * `minimize` (tfjs nests the gradient tapes).
 */
export function calculateAdaptiveWeight(nllLossFn: () => Scalar, gLossFn: () => Scalar, lastLayer: tf.Variable, discWeight = 1): number {
  const nllNorm = gradNorm(nllLossFn, lastLayer, 'nll_loss');
  const gNorm = gradNorm(gLossFn, lastLayer, 'g_loss');
  // Rounded to float32 at each step, as torch computes it.
  const w = Math.min(Math.max(Math.fround(nllNorm / Math.fround(gNorm + 1e-4)), 0), 1e4);
  return Math.fround(w * discWeight);
}

function gradNorm(f: () => Scalar, v: tf.Variable, what: string): number {
  if (!v.trainable) throw new Error(`calculateAdaptiveWeight: the last layer variable '${v.name}' is not trainable`);
  const { value, grads } = tf.variableGrads(f, [v]);
  const g = grads[v.name];
  value.dispose();
  if (!g) throw new Error(`calculateAdaptiveWeight: ${what} does not depend on the last layer variable '${v.name}'`);
  const n = tf.tidy(() => tf.norm(g).dataSync()[0]!);
  tf.dispose(Object.values(grads));
  return n;
}
