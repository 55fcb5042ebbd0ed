// PyTorch state_dict ↔ Module parameters: names are the module's dotted paths (plus a prefix such
// as 'model.diffusion_model.'); layouts are converted per ParamLayout.
import * as tf from '@tensorflow/tfjs-core';
import type { Module, NamedParam, ParamLayout } from '../module.js';

/** A PyTorch-layout tensor: what parseSafetensors returns, or what stateDict produces. */
export interface TorchTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array | Int32Array | Uint8Array;
}

export interface LoadStateDictOptions {
  /** Prefix of the module's keys in `tensors` ('model.diffusion_model.'); keys without it are not considered. */
  prefix?: string;
  /** Keys (after the prefix) to leave alone: exact names, patterns, or a predicate. */
  ignoreKeys?: ReadonlyArray<string | RegExp> | ((key: string) => boolean);
  /** Throw when anything is missing, unexpected or mis-shaped (default true, as in PyTorch). */
  strict?: boolean;
}

export interface ShapeMismatch {
  readonly key: string;
  /** PyTorch-layout shape the module expects. */
  readonly expected: readonly number[];
  readonly got: readonly number[];
}

export interface LoadReport {
  /** Parameters of the module with no tensor in the file (full keys, with prefix). */
  readonly missing: string[];
  /** Tensors under the prefix that match no parameter. */
  readonly unexpected: string[];
  readonly shapeMismatch: ShapeMismatch[];
  /** Number of parameters assigned. */
  readonly loaded: number;
}

/** The PyTorch shape of a parameter held in tfjs layout. */
export function torchShape(shape: readonly number[], layout: ParamLayout): number[] {
  switch (layout) {
    case 'plain':
      return [...shape];
    case 'linear':
      return [shape[1]!, shape[0]!];
    case 'conv1d':
      return [shape[1]!, shape[0]!, 1];
    case 'conv2d':
      return [shape[3]!, shape[2]!, shape[0]!, shape[1]!];
  }
}

/** torch layout → tfjs layout. */
/** A PyTorch-layout tensor as a tfjs tensor in the runtime layout. */
export function fromTorch(t: TorchTensor, layout: ParamLayout): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.tensor(Float32Array.from(t.data), [...t.shape], 'float32');
    switch (layout) {
      case 'plain':
        return x;
      case 'linear':
        return tf.transpose(x, [1, 0]);
      case 'conv1d':
        return tf.transpose(tf.reshape(x, [t.shape[0]!, t.shape[1]!]), [1, 0]);
      case 'conv2d':
        return tf.transpose(x, [2, 3, 1, 0]);
    }
  });
}

/** tfjs layout → torch layout. */
/** A runtime tensor in PyTorch layout (the caller disposes it). */
export function toTorch(v: tf.Tensor, layout: ParamLayout): tf.Tensor {
  return tf.tidy(() => {
    switch (layout) {
      case 'plain':
        return tf.clone(v);
      case 'linear':
        return tf.transpose(v, [1, 0]);
      case 'conv1d':
        return tf.reshape(tf.transpose(v, [1, 0]), torchShape(v.shape, 'conv1d'));
      case 'conv2d':
        return tf.transpose(v, [3, 2, 0, 1]);
    }
  });
}

function ignorer(opt: LoadStateDictOptions['ignoreKeys']): (key: string) => boolean {
  if (!opt) return () => false;
  if (typeof opt === 'function') return opt;
  return (key) => opt.some((p) => (typeof p === 'string' ? p === key : p.test(key)));
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Assigns every parameter of `module` from `tensors` (PyTorch names and layouts). Returns what
 * did not match; with `strict` (the default) any mismatch throws one error listing all of them,
 * and nothing is assigned.
 */
export function loadStateDict(module: Module, tensors: ReadonlyMap<string, TorchTensor>, opts: LoadStateDictOptions = {}): LoadReport {
  const prefix = opts.prefix ?? '', ignored = ignorer(opts.ignoreKeys), strict = opts.strict ?? true;
  const params = module.paramEntries();
  const byName = new Map<string, NamedParam>(params.map((p) => [p.name, p]));
  const missing: string[] = [], unexpected: string[] = [], shapeMismatch: ShapeMismatch[] = [];
  const plan: Array<[NamedParam, TorchTensor]> = [];
  for (const p of params) {
    if (ignored(p.name)) continue;
    const t = tensors.get(prefix + p.name);
    if (!t) {
      missing.push(prefix + p.name);
      continue;
    }
    const expected = torchShape(p.variable.shape, p.layout);
    if (!sameShape(expected, t.shape)) shapeMismatch.push({ key: prefix + p.name, expected, got: [...t.shape] });
    else plan.push([p, t]);
  }
  for (const key of tensors.keys()) {
    if (!key.startsWith(prefix)) continue;
    const name = key.slice(prefix.length);
    if (!byName.has(name) && !ignored(name)) unexpected.push(key);
  }
  const report: LoadReport = { missing, unexpected, shapeMismatch, loaded: plan.length };
  if (strict && (missing.length || unexpected.length || shapeMismatch.length)) {
    throw new Error(formatReport(module.className, report));
  }
  for (const [p, t] of plan) {
    const v = fromTorch(t, p.layout);
    p.variable.assign(v);
    v.dispose();
  }
  return report;
}

export function formatReport(what: string, r: LoadReport): string {
  const lines = [`Error(s) loading the state_dict of ${what}:`];
  const list = (label: string, keys: string[]) => {
    if (!keys.length) return;
    const shown = keys.slice(0, 20).join(', ');
    lines.push(`  ${label} (${keys.length}): ${shown}${keys.length > 20 ? ', …' : ''}`);
  };
  list('missing keys', r.missing);
  list('unexpected keys', r.unexpected);
  for (const m of r.shapeMismatch) lines.push(`  size mismatch for ${m.key}: expected [${m.expected.join(', ')}], got [${m.got.join(', ')}]`);
  return lines.join('\n');
}

/** The module's parameters in PyTorch names (with `prefix`) and layouts, as float32 arrays. */
export function stateDict(module: Module, prefix = ''): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const p of module.paramEntries()) {
    const t = toTorch(p.variable, p.layout);
    out.set(prefix + p.name, { shape: [...t.shape], data: t.dataSync() as Float32Array });
    t.dispose();
  }
  return out;
}
