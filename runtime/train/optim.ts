// Adam / AdamW with PyTorch's update rule and named state, so a checkpoint holds the optimizer
// exactly and a resumed run continues bit for bit. (tfjs's own Adam keeps its moments under
// global variable names, which don't survive a rebuild of the model.)
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, Tensor } from '@tensorflow/tfjs-core';
import { ADAM, nativeKernelsActive } from '../perf/native-kernels.js';

export interface AdamOptions {
  lr: number;
  betas?: readonly [number, number];
  eps?: number;
  /** Decoupled weight decay (AdamW, torch default 0.01 there); 0 gives plain Adam. */
  weightDecay?: number;
}

export class Adam {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  /** `params` are named (the names key the state in checkpoints). */
  constructor(readonly params: ReadonlyMap<string, tf.Variable>, opts: AdamOptions) {
    this.lr = opts.lr;
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  /** One update from gradients keyed like `params` (torch.optim.AdamW.step). */
  apply(grads: ReadonlyMap<string, Tensor> | Record<string, Tensor>): void {
    this.step++;
    const b1 = this.beta1, b2 = this.beta2, lr = this.lr, step = this.step;
    const bc1 = 1 - b1 ** step, bc2 = 1 - b2 ** step;
    const get = (k: string) => (grads instanceof Map ? grads.get(k) : (grads as Record<string, Tensor>)[k]);
    const native = nativeKernelsActive();
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g = get(name);
        if (!g) continue;
        const m = this.m.get(name)!, v = this.v.get(name)!;
        if (native && g.dtype === 'float32') {
          // The same update in one pass (runtime/perf/native-kernels.ts); ~12 kernels a parameter otherwise.
          const attrs = { lr, beta1: b1, beta2: b2, eps: this.eps, weightDecay: this.weightDecay, bc1, bc2 };
          const [pn, mn, vn] = tf.engine().runKernel(ADAM, { p, m, v, g }, attrs as unknown as NamedAttrMap) as unknown as Tensor[];
          p.assign(pn!);
          m.assign(mn!);
          v.assign(vn!);
          continue;
        }
        if (this.weightDecay) p.assign(tf.mul(p, 1 - lr * this.weightDecay));
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), this.eps);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), lr / bc1)));
      }
    });
  }

  /** State for a checkpoint: `exp_avg.<name>`, `exp_avg_sq.<name>` (tfjs layout) and the step. */
  state(): { step: number; tensors: Map<string, Tensor> } {
    const tensors = new Map<string, Tensor>();
    for (const [n, t] of this.m) tensors.set(`exp_avg.${n}`, t);
    for (const [n, t] of this.v) tensors.set(`exp_avg_sq.${n}`, t);
    return { step: this.step, tensors };
  }

  loadState(step: number, tensors: ReadonlyMap<string, { shape: readonly number[]; data: ArrayLike<number> }>): void {
    for (const [kind, map] of [['exp_avg', this.m], ['exp_avg_sq', this.v]] as const) {
      for (const [n, t] of map) {
        const src = tensors.get(`${kind}.${n}`);
        if (!src) throw new Error(`optimizer state has no ${kind}.${n}`);
        if (src.shape.join(',') !== t.shape.join(',')) throw new Error(`optimizer state ${kind}.${n} has shape [${src.shape}] but the parameter has [${t.shape}]`);
        t.assign(tf.tensor(Float32Array.from(src.data), [...src.shape]));
      }
    }
    this.step = step;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}
