// The dataset contract: what main.py's DataModuleFromConfig gets from `instantiate_from_config`
// (a torch Dataset: __len__ + __getitem__), made async because decoding is.

/** How to rebuild a dataset in another thread: the registry id, its params and the data root. */
export interface DatasetSpec {
  readonly target: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly dataRoot?: string;
}

/**
 * One item, as the reference's `example` dict: `image` is HWC float32 in [-1, 1]
 * (`image / 127.5 - 1`), `shape` its [height, width, channels].
 */
export interface Example {
  image: Float32Array;
  shape: [number, number, number];
  class_label?: number;
  human_label?: string;
  /** Absolute (or data-root-relative) path of the source file. */
  file_path_?: string;
  /** Path relative to the dataset's root, as the list file gives it. */
  relative_file_path_?: string;
  /** ImageNet synset (folder name). */
  synset?: string;
}

/** String-valued Example fields that batches carry along (per item). */
export const exampleTextKeys = ['human_label', 'file_path_', 'relative_file_path_', 'synset'] as const;
export type ExampleTextKey = (typeof exampleTextKeys)[number];

export interface GetOptions {
  /**
   * Seed of this item's random transforms (crop offsets, flips). The loader derives it from its
   * seed, the epoch and the index, so items come out the same in any thread. Default: `index`.
   */
  seed?: number;
}

export interface Dataset {
  /** Number of items. */
  readonly length: number;
  /** Item `i` (0 ≤ i < length). Rejects with a DataError naming the file on bad data. */
  get(i: number, opts?: GetOptions): Promise<Example>;
  /** Set by `createDataset`: lets the loader rebuild the dataset in its worker threads. */
  readonly spec?: DatasetSpec;
  /** A short name for messages, e.g. the target id. */
  readonly name: string;
}

/** main.py's WrappedDataset: a Dataset view of anything with length and get (here: a pass-through). */
export class WrappedDataset implements Dataset {
  constructor(readonly data: Dataset) {}
  get length(): number {
    return this.data.length;
  }
  get spec(): DatasetSpec | undefined {
    return this.data.spec;
  }
  get name(): string {
    return this.data.name;
  }
  get(i: number, opts?: GetOptions): Promise<Example> {
    return this.data.get(i, opts);
  }
}

/** Throws a RangeError unless 0 ≤ i < length (an integer). */
export function checkIndex(ds: { length: number; name: string }, i: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= ds.length) {
    throw new RangeError(`${ds.name}: index ${i} out of range [0, ${ds.length})`);
  }
}
