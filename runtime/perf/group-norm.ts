// GroupNorm with a hand-written gradient. The forward is the same op sequence as before
// (tf.moments, (x − mean)·rsqrt(var + eps), ·γ + β), so its numbers are unchanged; the backward is
// the closed form, 11 kernels over the activation, where autodiff through tf.moments ran about
// 30 (several of them broadcasting Sum/Mul pairs) and kept more intermediates alive.
//   x̂ = (x − μ)·r,  r = (σ² + eps)^-½,  g = dy·γ
//   dx = r·(g − mean_grp(g) − x̂·mean_grp(g·x̂)),  dγ = Σ dy·x̂,  dβ = Σ dy
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, Tensor } from '@tensorflow/tfjs-core';
import { GROUP_NORM, GROUP_NORM_GRAD, nativeKernelsActive } from './native-kernels.js';

/**
 * GroupNorm over channels-last x ([B, ..., C]) with `groups` groups; gamma/beta [C] or null
 * (no affine). Statistics two-pass as torch does.
 */
export function groupNormFused(x: Tensor, gamma: Tensor | null, beta: Tensor | null, groups: number, eps: number, withSilu = false): Tensor {
  if (nativeKernelsActive() && x.dtype === 'float32') return groupNormNative(x, gamma, beta, groups, eps, withSilu);
  if (withSilu) return tf.tidy(() => {
    const y = groupNormFused(x, gamma, beta, groups, eps);
    return tf.mul(y, tf.sigmoid(y));
  });
  const B = x.shape[0]!, C = x.shape[x.rank - 1]!, G = groups, Cg = C / G;
  const shape = x.shape;
  const normalize = (xi: Tensor) => {
    const xr = tf.reshape(xi, [B, -1, G, Cg]);
    const { mean, variance } = tf.moments(xr, [1, 3], true);
    const rstd = tf.rsqrt(tf.add(variance, eps));
    return { xhat: tf.mul(tf.sub(xr, mean), rstd), rstd };
  };
  const backwardCore = (dy: Tensor, xhat: Tensor, rstd: Tensor, g: Tensor | null) => {
    const gr = tf.reshape(g ? tf.mul(dy, g) : dy, xhat.shape);
    const m1 = tf.mean(gr, [1, 3], true);
    const m2 = tf.mean(tf.mul(gr, xhat), [1, 3], true);
    return tf.reshape(tf.mul(tf.sub(tf.sub(gr, m1), tf.mul(xhat, m2)), rstd), shape);
  };
  const lead = [...Array(x.rank - 1).keys()];
  if (gamma && beta) {
    const f = tf.customGrad((...args: Array<Tensor | tf.GradSaveFunc>) => {
      const [xi, gi, bi, save] = args as [Tensor, Tensor, Tensor, tf.GradSaveFunc];
      const { xhat, rstd } = normalize(xi);
      save([xhat, rstd, gi]);
      const value = tf.add(tf.mul(tf.reshape(xhat, shape), gi), bi);
      return {
        value,
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [xh, r, gs] = saved as [Tensor, Tensor, Tensor];
          const xn = tf.reshape(xh, shape);
          return [backwardCore(dy, xh, r, gs), tf.sum(tf.mul(dy, xn), lead), tf.sum(dy, lead)];
        },
      };
    });
    return f(x, gamma, beta);
  }
  const f = tf.customGrad((...args: Array<Tensor | tf.GradSaveFunc>) => {
    const [xi, save] = args as [Tensor, tf.GradSaveFunc];
    const { xhat, rstd } = normalize(xi);
    save([xhat, rstd]);
    return {
      value: tf.reshape(xhat, shape),
      gradFunc: (dy: Tensor, saved: Tensor[]) => backwardCore(dy, saved[0]!, saved[1]!, null),
    };
  });
  return f(x);
}

/**
 * The same GroupNorm on the native kernels (runtime/perf/native-kernels.ts): one pass over x for
 * the forward and one for the backward, with μ and r saved between them. With `withSilu` the
 * kernels apply SiLU after the norm and differentiate through it, recomputing the pre-activation
 * from x, μ, r, γ and β instead of keeping it.
 */
function groupNormNative(x: Tensor, gamma: Tensor | null, beta: Tensor | null, groups: number, eps: number, withSilu: boolean): Tensor {
  const run = (name: string, inputs: Record<string, Tensor>, attrs: Record<string, number>) =>
    tf.engine().runKernel(name, inputs, attrs as unknown as NamedAttrMap) as unknown as Tensor[];
  const silu = withSilu ? 1 : 0;
  if (gamma && beta) {
    const f = tf.customGrad((...args: Array<Tensor | tf.GradSaveFunc>) => {
      const [xi, gi, bi, save] = args as [Tensor, Tensor, Tensor, tf.GradSaveFunc];
      const [y, mean, rstd] = run(GROUP_NORM, { x: xi, gamma: gi, beta: bi }, { groups, eps, silu }) as [Tensor, Tensor, Tensor];
      save([xi, mean, rstd, gi, bi]);
      return {
        value: y,
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [xs, m, r, gs, bs] = saved as [Tensor, Tensor, Tensor, Tensor, Tensor];
          return run(GROUP_NORM_GRAD, { dy, x: xs, mean: m, rstd: r, gamma: gs, beta: bs }, { groups, silu });
        },
      };
    });
    return f(x, gamma, beta);
  }
  const f = tf.customGrad((...args: Array<Tensor | tf.GradSaveFunc>) => {
    const [xi, save] = args as [Tensor, tf.GradSaveFunc];
    const [y, mean, rstd] = run(GROUP_NORM, { x: xi }, { groups, eps, silu }) as [Tensor, Tensor, Tensor];
    save([xi, mean, rstd]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => run(GROUP_NORM_GRAD, { dy, x: saved[0]!, mean: saved[1]!, rstd: saved[2]! }, { groups, silu })[0]!,
    };
  });
  return f(x);
}
