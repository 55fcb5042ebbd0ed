// ldm/modules/ema.py `LitEma`: an exponential moving average of a module's trainable parameters,
// with the reference's warm-up decay min(decay, (1 + n)/(10 + n)) and its buffer names (the
// parameter path with the dots removed, e.g. `diffusion_modelinput_blocks00weight`), so the
// shadows can be saved under `model_ema.` in a checkpoint PyTorch reads back.
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, Tensor } from '@tensorflow/tfjs-core';
import type { Module, ParamLayout } from '../module.js';
import { EMA, nativeKernelsActive } from '../perf/native-kernels.js';

const f32 = Math.fround;

export interface LitEmaOptions {
  /** default 0.9999 */
  decay?: number;
  /** Warm up through num_updates (default true); false stores num_updates = −1 and uses `decay` throughout. */
  useNumUpdates?: boolean;
}

export interface EmaBuffer {
  /** Buffer name as in LitEma's state_dict (without the `model_ema.` prefix). */
  readonly name: string;
  readonly tensor: Tensor;
  /** Layout of the tensor (a shadow has its parameter's tfjs layout; decay/num_updates are scalars). */
  readonly layout: ParamLayout;
  readonly dtype: 'float32' | 'int32';
}

/** The buffer LitEma keeps for parameter `paramName` ('.' is not allowed in torch buffer names). */
export function emaBufferName(paramName: string): string {
  return paramName.replaceAll('.', '');
}

export class LitEma {
  /** The decay buffer: a float32 value, as the reference stores it. */
  readonly decay: number;
  /** −1 when warm-up is off. */
  numUpdates: number;
  private readonly shadows = new Map<string, { variable: tf.Variable; layout: ParamLayout }>();
  private readonly mName2sName = new Map<string, string>();
  private collected: Tensor[] = [];

  constructor(model: Module, opts: LitEmaOptions = {}) {
    const decay = opts.decay ?? 0.9999;
    if (decay < 0 || decay > 1) throw new Error('LitEma: decay must be between 0 and 1');
    this.decay = f32(decay);
    this.numUpdates = (opts.useNumUpdates ?? true) ? 0 : -1;
    for (const p of model.paramEntries()) {
      if (!p.variable.trainable) continue;
      const s = emaBufferName(p.name);
      const clash = [...this.mName2sName].find(([, v]) => v === s);
      // torch would silently let both parameters share one shadow; refuse instead
      if (clash) throw new Error(`LitEma: parameters '${clash[0]}' and '${p.name}' both map to buffer '${s}'`);
      this.mName2sName.set(p.name, s);
      this.shadows.set(s, { variable: tf.variable(tf.clone(p.variable), false), layout: p.layout });
    }
  }

  /** The decay the next update would use after incrementing num_updates (float32, as torch computes it). */
  static warmupDecay(decay: number, numUpdates: number): number {
    return numUpdates >= 0 ? Math.min(f32(decay), f32((1 + numUpdates) / (10 + numUpdates))) : f32(decay);
  }

  /** LitEma.forward: shadow −= (1 − decay)·(shadow − param) for every trainable parameter. */
  update(model: Module): void {
    let decay = this.decay;
    if (this.numUpdates >= 0) {
      this.numUpdates += 1;
      decay = LitEma.warmupDecay(this.decay, this.numUpdates);
    }
    const oneMinusDecay = f32(1 - decay);
    const native = nativeKernelsActive();
    tf.tidy(() => {
      for (const p of model.paramEntries()) {
        if (!p.variable.trainable) continue;
        const s = this.shadowOf(p.name);
        if (native && s.dtype === 'float32') {
          // One pass (runtime/perf/native-kernels.ts) instead of three kernels per parameter.
          s.assign(tf.engine().runKernel(EMA, { shadow: s, param: p.variable }, { oneMinusDecay } as unknown as NamedAttrMap) as tf.Tensor);
          continue;
        }
        s.assign(tf.sub(s, tf.mul(oneMinusDecay, tf.sub(s, p.variable))));
      }
    });
  }

  /** Copies the averages into the model's parameters. */
  copyTo(model: Module): void {
    for (const p of model.paramEntries()) if (p.variable.trainable) p.variable.assign(this.shadowOf(p.name));
  }

  /** Saves copies of `params` (e.g. `model.parameters()`) for restore(). */
  store(params: readonly tf.Variable[]): void {
    tf.dispose(this.collected);
    this.collected = params.map((p) => tf.clone(p));
  }

  /** Puts the stored values back, in the order they were stored. */
  restore(params: readonly tf.Variable[]): void {
    this.collected.forEach((c, i) => params[i]?.assign(c));
  }

  /** The shadow of a model parameter (by its dotted path). */
  shadowOf(paramName: string): tf.Variable {
    const s = this.mName2sName.get(paramName);
    const v = s === undefined ? undefined : this.shadows.get(s);
    if (!v) throw new Error(`LitEma: no shadow for parameter '${paramName}' (was it trainable when the EMA was made?)`);
    return v.variable;
  }

  /** Buffers in LitEma's registration order: decay, num_updates, then one shadow per parameter. */
  buffers(): EmaBuffer[] {
    return [
      { name: 'decay', tensor: tf.scalar(this.decay, 'float32'), layout: 'plain', dtype: 'float32' },
      { name: 'num_updates', tensor: tf.scalar(this.numUpdates, 'int32'), layout: 'plain', dtype: 'int32' },
      ...[...this.shadows].map(([name, s]): EmaBuffer => ({ name, tensor: s.variable, layout: s.layout, dtype: 'float32' })),
    ];
  }

  /** Sets a shadow from a checkpoint (tfjs layout), by buffer name. */
  setShadow(bufferName: string, value: Tensor): void {
    const s = this.shadows.get(bufferName);
    if (!s) throw new Error(`LitEma: no buffer '${bufferName}'`);
    s.variable.assign(value);
  }

  dispose(): void {
    for (const s of this.shadows.values()) s.variable.dispose();
    tf.dispose(this.collected);
    this.collected = [];
  }
}
