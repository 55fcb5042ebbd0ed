// Parameterised and parameter-free layers, channels-last (NHWC images, [B, T, C] sequences).
// Each mirrors one torch.nn class: same className, same parameter names.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { Module, type UnaryModule } from '../module.js';
import { nextDropoutSeed, normal, ones, uniformFanIn, zeros, type Init } from './init.js';
import { groupNormFused } from '../perf/group-norm.js';
import { GELU as GELU_KERNEL, GELU_GRAD, SILU, SILU_GRAD, nativeKernelsActive } from '../perf/native-kernels.js';

/** PyTorch padding: a number (all sides) or explicit [top, bottom, left, right]. */
export type Padding2d = number | readonly [number, number, number, number];

export interface Conv2dOptions {
  stride?: number;
  /** Default 0 as in torch. The first-stage Downsample uses [0, 1, 0, 1] (bottom/right only). */
  padding?: Padding2d;
  bias?: boolean;
  /** 'zeros' for the reference's zero_module(...) convolutions. */
  init?: Init;
}

/** `nn.Conv2d` on NHWC input. Weight `[kh, kw, in, out]` (torch `[out, in, kh, kw]`). */
export class Conv2d extends Module implements UnaryModule {
  static override readonly className = 'Conv2d';
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly stride: number;
  readonly pad: readonly [number, number, number, number];

  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number, opts: Conv2dOptions = {}) {
    super();
    const k = kernelSize, fanIn = inChannels * k * k, init = opts.init ?? 'default';
    this.stride = opts.stride ?? 1;
    const p = opts.padding ?? 0;
    this.pad = typeof p === 'number' ? [p, p, p, p] : [p[0], p[1], p[2], p[3]];
    this.weight = this.addParam('weight', uniformFanIn([k, k, inChannels, outChannels], fanIn, init), 'conv2d');
    this.bias = opts.bias === false ? null : this.addParam('bias', uniformFanIn([outChannels], fanIn, init));
  }

  forward(x: Tensor4D): Tensor4D {
    return tf.tidy(() => {
      const y = conv2dTorch(x, this.weight as unknown as Tensor4D, this.stride, this.pad);
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }
}

/**
 * conv2d with PyTorch's explicit padding. tfjs's 'same' pads the extra row at the bottom/right
 * for stride 2, where torch pads both sides equally, so explicit pads are passed unless they
 * coincide with 'valid' or with a stride-1 'same'.
 */
export function conv2dTorch(x: Tensor4D, w: Tensor4D, stride: number, pad: readonly [number, number, number, number]): Tensor4D {
  const [t, b, l, r] = pad;
  const k = w.shape[0];
  if (t === 0 && b === 0 && l === 0 && r === 0) return tf.conv2d(x, w, stride, 'valid');
  if (stride === 1 && k % 2 === 1 && w.shape[1] === k && [t, b, l, r].every((v) => v === (k - 1) / 2)) {
    return tf.conv2d(x, w, 1, 'same');
  }
  return tf.conv2d(x, w, stride, [[0, 0], [t, b], [l, r], [0, 0]]);
}

export interface LinearOptions {
  bias?: boolean;
  init?: Init;
}

/** `nn.Linear` over the last axis of any rank ≥ 2. Weight `[in, out]` (torch `[out, in]`). */
export class Linear extends Module implements UnaryModule {
  static override readonly className = 'Linear';
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LinearOptions = {}) {
    super();
    const init = opts.init ?? 'default';
    this.weight = this.addParam('weight', uniformFanIn([inFeatures, outFeatures], inFeatures, init), 'linear');
    this.bias = opts.bias === false ? null : this.addParam('bias', uniformFanIn([outFeatures], inFeatures, init));
  }

  forward<T extends Tensor>(x: T): T {
    return tf.tidy(() => matmulLastAxis(x, this.weight, this.bias)) as T;
  }
}

/**
 * `nn.Conv1d` with kernel size 1 (the UNet AttentionBlock's `qkv` and `proj_out`): a matmul over
 * the channel axis of channels-last `[B, T, C]`. Weight `[in, out]` (torch `[out, in, 1]`).
 */
export class Conv1d extends Module implements UnaryModule {
  static override readonly className = 'Conv1d';
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(readonly inChannels: number, readonly outChannels: number, opts: LinearOptions = {}) {
    super();
    const init = opts.init ?? 'default';
    this.weight = this.addParam('weight', uniformFanIn([inChannels, outChannels], inChannels, init), 'conv1d');
    this.bias = opts.bias === false ? null : this.addParam('bias', uniformFanIn([outChannels], inChannels, init));
  }

  forward<T extends Tensor>(x: T): T {
    return tf.tidy(() => matmulLastAxis(x, this.weight, this.bias)) as T;
  }
}

function matmulLastAxis(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  const inF = w.shape[0], outF = w.shape[1]!;
  // tfjs matMul wants equal ranks; flatten the leading axes instead of broadcasting w.
  const lead = x.shape.slice(0, -1);
  const y = tf.matMul(tf.reshape(x, [-1, inF]) as Tensor2D, w as Tensor2D);
  const yb = b ? tf.add(y, b) : y;
  return tf.reshape(yb, [...lead, outF]);
}

/**
 * `nn.GroupNorm` on channels-last input of any rank ≥ 2 (`[B, ..., C]`). Statistics are computed
 * over the spatial axes and the channels of each group, two-pass (mean, then mean of squared
 * deviations) as torch does. All tensors are float32, which is what GroupNorm32's `x.float()` asks.
 * Default eps 1e-5 (UNet `normalization`); the first stage's `Normalize` uses 1e-6.
 */
export class GroupNorm extends Module implements UnaryModule {
  static override readonly className: string = 'GroupNorm';
  readonly weight: tf.Variable | null;
  readonly bias: tf.Variable | null;

  constructor(readonly numGroups: number, readonly numChannels: number, readonly eps = 1e-5, affine = true) {
    super();
    if (numChannels % numGroups !== 0) {
      throw new Error(`GroupNorm: ${numChannels} channels are not divisible into ${numGroups} groups`);
    }
    this.weight = affine ? this.addParam('weight', ones([numChannels])) : null;
    this.bias = affine ? this.addParam('bias', zeros([numChannels])) : null;
  }

  forward<T extends Tensor>(x: T): T {
    return this.run(x, false);
  }

  /** silu(this.forward(x)), one pass each way with the native kernels. */
  forwardSilu<T extends Tensor>(x: T): T {
    return this.run(x, true);
  }

  fuseWith(next: UnaryModule): ((x: Tensor) => Tensor) | undefined {
    return next instanceof SiLU ? (x) => this.forwardSilu(x) : undefined;
  }

  private run<T extends Tensor>(x: T, withSilu: boolean): T {
    return tf.tidy(() => {
      const B = x.shape[0], C = x.shape[x.rank - 1]!, G = this.numGroups;
      if (C !== this.numChannels) throw new Error(`GroupNorm: expected ${this.numChannels} channels, got ${C}`);
      if (B === 0) return tf.reshape(x, x.shape);
      // Same forward ops as (x − mean)·rsqrt(var + eps)·γ + β; backward written out (runtime/perf/group-norm.ts).
      return groupNormFused(x, this.weight, this.bias, G, this.eps, withSilu);
    }) as T;
  }
}

/** The UNet's `GroupNorm32` (ldm `normalization(channels)`): 32 groups, eps 1e-5. */
export class GroupNorm32 extends GroupNorm {
  static override readonly className = 'GroupNorm32';
  constructor(channels: number, eps = 1e-5) {
    super(32, channels, eps);
  }
}

/** `nn.LayerNorm` over the last axis. */
export class LayerNorm extends Module implements UnaryModule {
  static override readonly className = 'LayerNorm';
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(readonly normalizedShape: number, readonly eps = 1e-5) {
    super();
    this.weight = this.addParam('weight', ones([normalizedShape]));
    this.bias = this.addParam('bias', zeros([normalizedShape]));
  }

  forward<T extends Tensor>(x: T): T {
    return tf.tidy(() => {
      if (nativeKernelsActive() && x.dtype === 'float32' && x.size > 0) {
        // A LayerNorm is a one-group GroupNorm of each row: the native kernels' one-pass forward and backward.
        const C = this.normalizedShape;
        return tf.reshape(groupNormFused(tf.reshape(x, [-1, 1, C]), this.weight, this.bias, 1, this.eps), x.shape);
      }
      const { mean, variance } = tf.moments(x, -1, true);
      const xn = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(xn, this.weight), this.bias);
    }) as T;
  }
}

/** `nn.Embedding`. Looked up as oneHot(ids)·table: wasm has no UnsortedSegmentSum, the gather gradient. */
export class Embedding extends Module {
  static override readonly className = 'Embedding';
  readonly weight: tf.Variable;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number) {
    super();
    this.weight = this.addParam('weight', normal([numEmbeddings, embeddingDim]));
  }

  /** ids: integer-valued (int32 or float32 holding integers), any shape; returns [...ids.shape, dim]. */
  forward(ids: Tensor): Tensor {
    return tf.tidy(() => {
      const flat = tf.cast(tf.reshape(ids, [-1]), 'int32') as Tensor1D;
      const oh = tf.cast(tf.oneHot(flat, this.numEmbeddings), 'float32') as Tensor2D;
      return tf.reshape(tf.matMul(oh, this.weight as Tensor2D), [...ids.shape, this.embeddingDim]);
    });
  }
}

export function silu<T extends Tensor>(x: T): T {
  if (nativeKernelsActive() && x.dtype === 'float32') return siluNative(x);
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x))) as T;
}

/**
 * An elementwise op and its gradient as two native kernels (runtime/perf/native-kernels.ts): one
 * pass each, where the tfjs formulations take 2 forward and 4–6 backward kernels.
 */
function nativeUnary(kernel: string, gradKernel: string): <T extends Tensor>(x: T) => T {
  return tf.customGrad((...args: Array<Tensor | tf.GradSaveFunc>) => {
    const [x, save] = args as [Tensor, tf.GradSaveFunc];
    save([x]);
    return {
      value: tf.engine().runKernel(kernel, { x }) as Tensor,
      gradFunc: (dy: Tensor, saved: Tensor[]) => tf.engine().runKernel(gradKernel, { dy, x: saved[0]! }) as Tensor,
    };
  }) as <T extends Tensor>(x: T) => T;
}
const siluNative = nativeUnary(SILU, SILU_GRAD);
const geluNative = nativeUnary(GELU_KERNEL, GELU_GRAD);

/** Exact (erf) GELU, torch's F.gelu default. */
export function gelu<T extends Tensor>(x: T): T {
  if (nativeKernelsActive() && x.dtype === 'float32') return geluNative(x);
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))))) as T;
}

export class SiLU extends Module implements UnaryModule {
  static override readonly className = 'SiLU';
  forward<T extends Tensor>(x: T): T {
    return silu(x);
  }
}

export class GELU extends Module implements UnaryModule {
  static override readonly className = 'GELU';
  forward<T extends Tensor>(x: T): T {
    return gelu(x);
  }
}

export class Identity extends Module implements UnaryModule {
  static override readonly className = 'Identity';
  forward<T extends Tensor>(x: T): T {
    return x;
  }
}

/** `nn.Dropout`: active only while `training`. */
export class Dropout extends Module implements UnaryModule {
  static override readonly className = 'Dropout';
  constructor(readonly p = 0) {
    super();
  }
  forward<T extends Tensor>(x: T): T {
    if (!this.training || this.p <= 0) return x;
    return tf.dropout(x, this.p, undefined, nextDropoutSeed()) as T;
  }
}
