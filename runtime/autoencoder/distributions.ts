// ldm/modules/distributions/distributions.py `DiagonalGaussianDistribution`, NHWC: the
// parameters' channel axis (last here, dim 1 in torch) is split into mean and logvar halves.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';

export class DiagonalGaussianDistribution {
  readonly mean: Tensor4D;
  /** Clamped to [−30, 20] as the reference does. */
  readonly logvar: Tensor4D;
  readonly std: Tensor4D;
  readonly var: Tensor4D;

  /** Takes ownership of `parameters` ([B, H, W, 2·C]): dispose() frees it with the rest. */
  constructor(readonly parameters: Tensor4D, readonly deterministic = false) {
    const [mean, logvar] = tf.tidy(() => {
      const [m, lv] = tf.split(parameters, 2, -1) as [Tensor4D, Tensor4D];
      return [m, tf.clipByValue(lv, -30, 20) as Tensor4D];
    });
    this.mean = mean;
    this.logvar = logvar;
    if (deterministic) {
      this.std = tf.zerosLike(mean);
      this.var = tf.zerosLike(mean);
    } else {
      this.std = tf.tidy(() => tf.exp(tf.mul(logvar, 0.5)) as Tensor4D);
      this.var = tf.tidy(() => tf.exp(logvar));
    }
  }

  /** mean + std·eps; eps defaults to a standard normal draw (pass it for reproducible samples). */
  sample(eps?: Tensor4D): Tensor4D {
    return tf.tidy(() => tf.add(this.mean, tf.mul(this.std, eps ?? tf.randomNormal(this.mean.shape))));
  }

  mode(): Tensor4D {
    return tf.clone(this.mean);
  }

  /** KL to N(0, I) (or to `other`), summed over all but the batch axis: [B]. 0 when deterministic. */
  kl(other?: DiagonalGaussianDistribution): Tensor1D {
    return tf.tidy(() => {
      if (this.deterministic) return tf.zeros([this.mean.shape[0]]);
      const terms = other
        ? tf.sub(tf.add(tf.div(tf.square(tf.sub(this.mean, other.mean)), other.var), tf.div(this.var, other.var)),
          tf.add(1, tf.sub(this.logvar, other.logvar)))
        : tf.sub(tf.sub(tf.add(tf.square(this.mean), this.var), 1), this.logvar);
      return tf.mul(0.5, tf.sum(terms, [1, 2, 3])) as Tensor1D;
    });
  }

  /** Negative log-likelihood of `sample`, summed over `axes` (default all but the batch axis). */
  nll(sample: Tensor, axes: number[] = [1, 2, 3]): Tensor {
    return tf.tidy(() => {
      if (this.deterministic) return tf.zeros([this.mean.shape[0]]);
      const logTwoPi = Math.log(2 * Math.PI);
      return tf.mul(0.5, tf.sum(tf.add(tf.add(logTwoPi, this.logvar), tf.div(tf.square(tf.sub(sample, this.mean)), this.var)), axes));
    });
  }

  dispose(): void {
    tf.dispose([this.parameters, this.mean, this.logvar, this.std, this.var]);
  }
}
