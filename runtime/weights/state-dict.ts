// PyTorch state_dict ↔ Module parameters: names are the module's dotted paths (plus a prefix such
// as 'model.diffusion_model.'); layouts are converted per ParamLayout.
import * as tf from '@tensorflow/tfjs-core';
import type { Module, NamedParam, ParamLayout } from '../module.js';
import { storeOf } from '../perf/native-kernels.js';

/** A PyTorch-layout tensor: what parseSafetensors returns, or what stateDict produces. */
export interface TorchTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array | Int32Array | Uint8Array;
  /**
   * Present on tensors still in their file (LazyTensor, ./safetensors.ts): writes the values as
   * float32 into `dest`, so loading reads each tensor once, into the array the runtime keeps.
   */
  readInto?(dest: Float32Array): void;
  /** With `readInto`: whether the tensor is a float one (only those are read in place). */
  readonly floating?: boolean;
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
/**
 * A PyTorch-layout tensor as a tfjs tensor in the runtime layout. A tensor still in its file is
 * read once: straight into the array the new tensor owns (the cpu backend keeps that array as
 * the tensor's storage; wasm copies it into its heap), or, when the layout differs, into a
 * reused scratch array that is permuted into it. In-memory tensors are copied (the caller keeps
 * its arrays).
 */
export function fromTorch(t: TorchTensor, layout: ParamLayout): tf.Tensor {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const shape = [...t.shape];
  const lazy = t.readInto !== undefined && t.floating !== false;
  if (layout === 'plain') {
    return placed(shape, (out) => {
      if (lazy) t.readInto!(out);
      else out.set(t.data as ArrayLike<number>);
    });
  }
  let src: Float32Array;
  if (lazy) {
    src = scratchF32(numel);
    t.readInto!(src);
  } else if (t.data instanceof Float32Array) {
    src = t.data;
  } else {
    src = Float32Array.from(t.data as ArrayLike<number>);
  }
  switch (layout) {
    case 'linear': // [out, in] → [in, out]
    case 'conv1d': // [out, in, 1] → [in, out]
      return placed([shape[1]!, shape[0]!], (out) => transpose2d(src, shape[0]!, shape[1]!, out));
    case 'conv2d': { // [O, I, kh, kw] → [kh, kw, I, O]
      const [O, I, kh, kw] = shape as [number, number, number, number];
      return placed([kh, kw, I, O], (out) => convToHwio(src, O, I, kh * kw, out));
    }
  }
}

/**
 * A new float32 tensor whose values `fill` writes in place: into the wasm heap itself on the wasm
 * backend (no JS array, no copy into the heap), else into the Float32Array the cpu backend keeps
 * as the tensor's storage. `fill` must not run tfjs ops (a growing heap would move the view).
 */
function placed(shape: number[], fill: (out: Float32Array) => void): tf.Tensor {
  if (tf.getBackend() === 'wasm') {
    const store = storeOf(tf.backend());
    const info = store.out(shape, 'float32');
    fill(store.f32(info));
    return tf.engine().makeTensorFromTensorInfo(info);
  }
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  fill(out);
  return tf.tensor(out, shape, 'float32');
}

let scratch = new Float32Array(0);
/** A reused array of at least `n` floats (a view of exactly `n`): the read-then-permute buffer. */
function scratchF32(n: number): Float32Array {
  if (scratch.length < n) scratch = new Float32Array(n);
  return scratch.subarray(0, n);
}

/** `src` [rows, cols] row-major → `dst` [cols, rows], in cache-sized tiles. */
function transpose2d(src: Float32Array, rows: number, cols: number, dst: Float32Array): void {
  const T = 32;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let r = r0; r < r1; r++) {
        const base = r * cols;
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[base + c]!;
      }
    }
  }
}

/**
 * `src` [O, I, K] (K = kh·kw) → `dst` [K, I, O]: for each kernel tap, an [O, I] → [I, O] transpose,
 * in 32×32 tiles so that both the reads and the writes stay within a few cache lines (the plain
 * loop wrote with a stride of O floats and took 2 s of celeba256's load).
 */
function convToHwio(src: Float32Array, O: number, I: number, K: number, dst: Float32Array): void {
  const IO = I * O, T = 32;
  for (let k = 0; k < K; k++) {
    const dk = k * IO;
    for (let o0 = 0; o0 < O; o0 += T) {
      const o1 = Math.min(O, o0 + T);
      for (let i0 = 0; i0 < I; i0 += T) {
        const i1 = Math.min(I, i0 + T);
        for (let o = o0; o < o1; o++) {
          const so = o * I * K + k;
          for (let i = i0; i < i1; i++) dst[dk + i * O + o] = src[so + i * K]!;
        }
      }
    }
  }
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

/** Which tensors fit which parameters, and what does not fit (nothing is read or assigned). */
function planStateDict(module: Module, tensors: ReadonlyMap<string, TorchTensor>, opts: LoadStateDictOptions): { report: LoadReport; plan: Array<[NamedParam, TorchTensor]> } {
  const prefix = opts.prefix ?? '', ignored = ignorer(opts.ignoreKeys);
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
  return { report: { missing, unexpected, shapeMismatch, loaded: plan.length }, plan };
}

/**
 * What loadStateDict would report for these tensors, without reading or assigning any: a check
 * to run before loading, so that a checkpoint that does not fit is refused before gigabytes are read.
 */
export function checkStateDict(module: Module, tensors: ReadonlyMap<string, TorchTensor>, opts: LoadStateDictOptions = {}): LoadReport {
  return planStateDict(module, tensors, opts).report;
}

/**
 * Assigns every parameter of `module` from `tensors` (PyTorch names and layouts). Returns what
 * did not match; with `strict` (the default) any mismatch throws one error listing all of them,
 * and nothing is assigned.
 */
export function loadStateDict(module: Module, tensors: ReadonlyMap<string, TorchTensor>, opts: LoadStateDictOptions = {}): LoadReport {
  const strict = opts.strict ?? true;
  const { report, plan } = planStateDict(module, tensors, opts);
  if (strict && (report.missing.length || report.unexpected.length || report.shapeMismatch.length)) {
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
