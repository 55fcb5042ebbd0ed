// The two normalisations taming's NLayerDiscriminator can use, NHWC: `nn.BatchNorm2d` (batch
// statistics while training, running statistics in eval) and taming's `ActNorm` (data-dependent
// init on the first training batch). Their buffers are non-trainable variables so that a
// checkpoint's `running_mean` / `initialized` keys load and save, while optimizers (which only
// see trainable variables) leave them alone.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { Module, type UnaryModule } from '../module.js';

/** A norm layer of the discriminator: `updateStats` false runs it without touching its buffers. */
export interface DiscriminatorNorm extends UnaryModule {
  forward(x: Tensor4D, updateStats?: boolean): Tensor4D;
}

/** `nn.BatchNorm2d(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)`. */
export class BatchNorm2d extends Module implements DiscriminatorNorm {
  static override readonly className = 'BatchNorm2d';
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly running_mean: tf.Variable;
  readonly running_var: tf.Variable;
  /** int64 in PyTorch; a float32 scalar here (exact up to 2^24 steps, and loads either way). */
  readonly num_batches_tracked: tf.Variable;

  constructor(readonly numFeatures: number, readonly eps = 1e-5, readonly momentum = 0.1) {
    super();
    // PyTorch's state_dict order: parameters, then buffers.
    this.weight = this.addParam('weight', tf.ones([numFeatures]));
    this.bias = this.addParam('bias', tf.zeros([numFeatures]));
    this.running_mean = this.addParam('running_mean', tf.zeros([numFeatures]), 'plain', false);
    this.running_var = this.addParam('running_var', tf.ones([numFeatures]), 'plain', false);
    this.num_batches_tracked = this.addParam('num_batches_tracked', tf.scalar(0), 'plain', false);
  }

  /**
   * Training: normalises with the batch's mean and biased variance and (when `updateStats`)
   * moves the running mean / unbiased variance by `momentum`. Eval: uses the running statistics.
   */
  forward(x: Tensor4D, updateStats = true): Tensor4D {
    return tf.tidy(() => {
      const C = x.shape[3];
      if (C !== this.numFeatures) throw new Error(`BatchNorm2d: expected ${this.numFeatures} channels, got ${C}`);
      let mean: tf.Tensor, variance: tf.Tensor;
      if (this.training) {
        const n = x.size / C;
        if (n <= 1) throw new Error(`BatchNorm2d: expected more than 1 value per channel when training, got input shape [${x.shape.join(', ')}]`);
        ({ mean, variance } = tf.moments(x, [0, 1, 2]));
        if (updateStats) this.updateRunningStats(mean, variance, n);
      } else {
        mean = this.running_mean;
        variance = this.running_var;
      }
      const xn = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(xn, this.weight), this.bias) as Tensor4D;
    });
  }

  private updateRunningStats(mean: tf.Tensor, variance: tf.Tensor, n: number): void {
    const m = this.momentum;
    // Not on any path to a loss, so no gradient flows here even under a tape (no sync needed).
    const newMean = tf.add(tf.mul(this.running_mean, 1 - m), tf.mul(mean, m));
    const newVar = tf.add(tf.mul(this.running_var, 1 - m), tf.mul(variance, (m * n) / (n - 1)));
    this.running_mean.assign(newMean);
    this.running_var.assign(newVar);
    this.num_batches_tracked.assign(tf.add(this.num_batches_tracked, 1));
  }
}

/**
 * taming `ActNorm(num_features)` (affine, no logdet): h = scale·(x + loc), with loc/scale of
 * PyTorch shape [1, C, 1, 1]. The first forward in training mode sets loc = −mean and
 * scale = 1/(std + 1e-6) per channel (unbiased std, as torch's `.std`) and marks `initialized`.
 */
export class ActNorm extends Module implements DiscriminatorNorm {
  static override readonly className = 'ActNorm';
  readonly loc: tf.Variable;
  readonly scale: tf.Variable;
  /** uint8 0/1 in PyTorch. */
  readonly initialized: tf.Variable;

  constructor(readonly numFeatures: number) {
    super();
    this.loc = this.addParam('loc', tf.zeros([1, numFeatures, 1, 1]));
    this.scale = this.addParam('scale', tf.ones([1, numFeatures, 1, 1]));
    this.initialized = this.addParam('initialized', tf.scalar(0), 'plain', false);
  }

  /** `updateStats` false skips the data-dependent initialisation (it is ActNorm's only state). */
  forward(x: Tensor4D, updateStats = true): Tensor4D {
    if (this.training && updateStats && this.initialized.dataSync()[0] === 0) this.initialize(x);
    return tf.tidy(() => {
      const C = this.numFeatures;
      return tf.mul(tf.reshape(this.scale, [1, 1, 1, C]), tf.add(x, tf.reshape(this.loc, [1, 1, 1, C]))) as Tensor4D;
    });
  }

  private initialize(x: Tensor4D): void {
    tf.tidy(() => {
      const C = this.numFeatures, n = x.size / C;
      const flat = tf.tensor2d(x.dataSync(), [n, C]); // a copy: initialisation is not differentiated
      const mean = tf.mean(flat, 0);
      const std = tf.sqrt(tf.div(tf.sum(tf.square(tf.sub(flat, mean)), 0), n - 1));
      this.loc.assign(tf.reshape(tf.neg(mean), [1, C, 1, 1]));
      this.scale.assign(tf.reshape(tf.div(1, tf.add(std, 1e-6)), [1, C, 1, 1]));
      this.initialized.assign(tf.scalar(1));
    });
  }
}
