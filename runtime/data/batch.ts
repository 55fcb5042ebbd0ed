// Collating items into a batch (torch's default_collate for our Example): NHWC float32 images,
// int32 class labels, the per-item text fields. Runs in the loader's workers and in-process alike.
import { exampleTextKeys, type Dataset, type Example, type ExampleTextKey } from './dataset.js';
import { DataError } from './errors.js';

/** A collated batch (plain data: it crosses threads by structured clone + transfer). */
export interface BatchData {
  /** NHWC images in [-1, 1]. */
  image: Float32Array;
  shape: [number, number, number, number];
  /** class_label per item, or null when the dataset has none. */
  class_label: Int32Array | null;
  /** Dataset index of each item. */
  index: Int32Array;
  /** human_label, file_path_, ... per item, for the keys the items have. */
  text: Partial<Record<ExampleTextKey, string[]>>;
}

/** Loads items `indices` (item seeds `seeds`) concurrently and collates them. */
export async function loadBatch(ds: Dataset, indices: ArrayLike<number>, seeds: ArrayLike<number>): Promise<BatchData> {
  const n = indices.length;
  const items = await Promise.all(Array.from({ length: n }, (_, k) => ds.get(indices[k]!, { seed: seeds[k]! })));
  return collate(ds, items, indices);
}

const where = (ds: Dataset, ex: Example, i: number) => ex.file_path_ ?? `${ds.name} item ${i}`;

export function collate(ds: Dataset, items: readonly Example[], indices: ArrayLike<number>): BatchData {
  const n = items.length;
  if (n === 0) throw new DataError(`${ds.name}: empty batch`);
  const first = items[0]!;
  const [h, w, c] = first.shape;
  const per = h * w * c;
  const image = new Float32Array(n * per);
  const hasLabel = first.class_label !== undefined;
  const class_label = hasLabel ? new Int32Array(n) : null;
  const text: Partial<Record<ExampleTextKey, string[]>> = {};
  for (const k of exampleTextKeys) if (first[k] !== undefined) text[k] = [];
  const index = new Int32Array(n);
  for (let b = 0; b < n; b++) {
    const ex = items[b]!;
    const [eh, ew, ec] = ex.shape;
    if (eh !== h || ew !== w || ec !== c || ex.image.length !== per) {
      throw new DataError(
        `image is ${eh}×${ew}×${ec} but the batch's first image (${where(ds, first, indices[0]!)}) is ${h}×${w}×${c}`,
        where(ds, ex, indices[b]!),
        'images of one batch must have the same size: set the dataset\'s size so every image is resized and cropped to size×size',
      );
    }
    image.set(ex.image, b * per);
    index[b] = indices[b]!;
    if (class_label) {
      if (ex.class_label === undefined) throw new DataError(`${ds.name}: item ${indices[b]} has no class_label`, where(ds, ex, indices[b]!));
      class_label[b] = ex.class_label;
    }
    for (const k of exampleTextKeys) text[k]?.push(ex[k] ?? '');
  }
  return { image, shape: [n, h, w, c], class_label, index, text };
}
