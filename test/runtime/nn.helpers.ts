// Shared helpers for the runtime tests (not a test file itself).
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { parse } from 'yaml';
import { parseSafetensors, type RawTensor } from '../../runtime/weights/safetensors.js';
import { referencePath } from '../support/reference.js';

export function readSafetensors(...parts: string[]): Map<string, RawTensor> {
  return parseSafetensors(new Uint8Array(readFileSync(referencePath(...parts)))).tensors;
}

export function readYamlParams<T>(...parts: string[]): T {
  return (parse(readFileSync(referencePath(...parts), 'utf8')) as { params: T }).params;
}

export function get(map: ReadonlyMap<string, RawTensor>, key: string): RawTensor {
  const t = map.get(key);
  if (!t) throw new Error(`missing tensor '${key}'`);
  return t;
}

/** A float32 tfjs tensor from a reference tensor; 4-D NCHW ones become NHWC. */
export function toTf(t: RawTensor, nchwToNhwc = true): tf.Tensor {
  const x = tf.tensor(Float32Array.from(t.data), [...t.shape], 'float32');
  if (nchwToNhwc && t.shape.length === 4) {
    const y = tf.transpose(x, [0, 2, 3, 1]);
    x.dispose();
    return y;
  }
  return x;
}

/** max |a - b| where `a` is ours (NHWC for 4-D) and `b` the reference (NCHW for 4-D). */
export function maxAbsDiff(ours: tf.Tensor, ref: RawTensor): number {
  const o = ours.rank === 4 ? tf.transpose(ours, [0, 3, 1, 2]) : ours;
  if (o.shape.join() !== ref.shape.join()) throw new Error(`shape [${o.shape}] vs reference [${ref.shape}]`);
  const a = o.dataSync();
  if (o !== ours) o.dispose();
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - ref.data[i]!));
  return m;
}

/** Deterministic values in [-0.5, 0.5) (a Park–Miller stream from `seed`), for op-level comparisons. */
export function seededData(shape: readonly number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1), a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 16807) % 2147483647;
    a[i] = s / 2147483647 - 0.5;
  }
  return a;
}

/** max |a[i] − b[i]| (the lengths must agree). */
export function maxAbsBetween(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
