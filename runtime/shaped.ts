// Tensors whose shape is known statically: the generated classes type their inputs and outputs
// with the literal shapes the compiler inferred (e.g. latents `[number, 8, 8, 3]`), so a tensor of
// another model's shape is a compile error, not a broadcasting surprise at run time.
import type { Tensor } from '@tensorflow/tfjs-core';

/** A tensor `T` whose shape is `S` (NHWC for images; `number` where the size is free, e.g. the batch). */
export type Shaped<T extends Tensor, S extends readonly number[]> = T & { readonly shape: S };

/** The shape type of a pattern: `null` (any size) becomes `number`, a literal stays. */
export type ShapeOf<P extends readonly (number | null)[]> = { -readonly [K in keyof P]: P[K] extends number ? P[K] : number };

/**
 * Refines `t` to the shape `pattern` after checking it (`null` matches any size). The check reads
 * only `t.shape`, never the data, so it costs nothing; a mismatch throws a RangeError naming both.
 */
export function shaped<T extends Tensor, const P extends readonly (number | null)[]>(t: T, pattern: P, what = 'tensor'): Shaped<T, ShapeOf<P>> {
  const ok = t.shape.length === pattern.length && pattern.every((d, i) => d === null || d === t.shape[i]);
  if (!ok) throw new RangeError(`${what} has shape [${t.shape.join(', ')}], expected [${pattern.map((d) => d ?? 'B').join(', ')}]`);
  return t as Shaped<T, ShapeOf<P>>;
}
