// Loader batches as tensors, typed by the keys the dataset yields (schema/data.ts datasetFacts):
// the generated data modules iterate their splits through these, so `batch.class_label` exists
// in the type exactly when the dataset has labels, and the images carry their literal shape.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import type { BatchKey } from '../../schema/data.js';
import type { BatchData } from './batch.js';
import type { ExampleTextKey } from './dataset.js';
import { DataError } from './errors.js';

/** Every batch key in tensor form: NHWC float32 images in [-1, 1], int32 labels, per-item strings. */
export interface BatchTensors {
  image: Tensor4D;
  class_label: Tensor1D;
  human_label: string[];
  file_path_: string[];
  relative_file_path_: string[];
  synset: string[];
}

/** The batch of a dataset yielding `K`. */
export type TensorBatch<K extends BatchKey> = Pick<BatchTensors, K>;

// schema/ names the text keys for codegen, runtime/ for collation: they must be the same set.
type TextKeys = Exclude<BatchKey, 'image' | 'class_label'>;
const sameTextKeys: [TextKeys, ExampleTextKey] extends [ExampleTextKey, TextKeys] ? true : never = true;
void sameTextKeys;

/**
 * The keys `keys` of a collated batch as tensors (the caller disposes them: disposeBatch).
 * A key the batch lacks, or an image of another [H, W, C] than `imageShape`, is a DataError:
 * the generated types promised them.
 */
export function toTensors<B extends Partial<BatchTensors>>(b: BatchData, keys: readonly (keyof B & BatchKey)[], imageShape: readonly [number, number, number] | null = null): B {
  const [, h, w, c] = b.shape;
  if (imageShape && (imageShape[0] !== h || imageShape[1] !== w || imageShape[2] !== c)) {
    throw new DataError(`batch images are ${h}×${w}×${c}, but the config declares ${imageShape.join('×')}`, null, 'regenerate the data module (npm run generate) after changing the dataset params');
  }
  const out: Partial<Record<BatchKey, unknown>> = {};
  for (const k of keys) {
    if (k === 'image') continue;
    if (k === 'class_label') {
      if (!b.class_label) throw new DataError('the batch has no class_label, but the data module declares it');
      continue;
    }
    const text = b.text[k];
    if (!text) throw new DataError(`the batch has no ${k}, but the data module declares it`);
    out[k] = [...text];
  }
  // Tensors last, so a missing key leaks nothing.
  if (keys.includes('image' as keyof B & BatchKey)) out.image = tf.tensor4d(b.image, b.shape);
  if (keys.includes('class_label' as keyof B & BatchKey)) out.class_label = tf.tensor1d(b.class_label!, 'int32');
  return out as B;
}

/** toTensors over a loader (or any iterable of collated batches). */
export async function* tensorBatches<B extends Partial<BatchTensors>>(
  batches: AsyncIterable<BatchData>,
  keys: readonly (keyof B & BatchKey)[],
  imageShape: readonly [number, number, number] | null = null,
): AsyncGenerator<B> {
  for await (const b of batches) yield toTensors<B>(b, keys, imageShape);
}

/** Disposes the tensors of a batch from toTensors. */
export function disposeBatch(b: Partial<BatchTensors>): void {
  b.image?.dispose();
  b.class_label?.dispose();
}
