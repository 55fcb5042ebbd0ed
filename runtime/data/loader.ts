// DataLoader and DataModule: torch's DataLoader (batch_size, shuffle, drop_last, num_workers) and
// main.py's DataModuleFromConfig (train/validation/test/predict splits, wrap, the shuffle rules).
//
// Decoding runs off the training thread: with num_workers > 0 a pool of worker_threads rebuilds the
// dataset from its spec and decodes + collates whole batches, up to `prefetch` batches ahead of
// the consumer. Results are yielded in order. Randomness never depends on the thread: the epoch's
// order is a permutation seeded by (seed, epoch) and each item's transforms by (seed, epoch, index),
// so 0 and N workers give identical batches. A worker error (or crash) rejects every pending batch,
// terminates the pool and surfaces as a DataError: the loader never hangs on bad data.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DataModuleFromConfigParams } from '../../schema/data.js';
import { loadBatch, type BatchData } from './batch.js';
import { WrappedDataset, type Dataset, type DatasetSpec } from './dataset.js';
import { DataError } from './errors.js';
import { createDataset, type CreateDatasetOptions } from './registry.js';
import { loadSharp, mixSeed, permutation } from './transforms.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker.js';

export interface Batch extends BatchData {
  epoch: number;
  /** Batch number within the epoch. */
  step: number;
}

export interface DataLoaderOptions {
  batchSize: number;
  /** Reshuffle every epoch (default false). */
  shuffle?: boolean;
  /** Seed of the shuffles and of the items' random transforms (default 0). */
  seed?: number;
  /** Drop the last incomplete batch of an epoch (default false, as torch). */
  dropLast?: boolean;
  /** Epochs the loader's own iterator runs (default 1; Infinity for step-bounded training). */
  epochs?: number;
  /** Worker threads decoding batches; 0 decodes in-process (default 0). */
  numWorkers?: number;
  /** Batches decoded ahead of the consumer (default max(2, 2 × workers)). */
  prefetch?: number;
}

interface Task {
  epoch: number;
  step: number;
  indices: Int32Array;
}

export class DataLoader implements AsyncIterable<Batch> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly epochs: number;
  /** Worker threads in use: numWorkers, or 0 when the dataset has no spec to rebuild it in a worker. */
  readonly numWorkers: number;
  readonly prefetch: number;
  private pool: WorkerPool | undefined;

  constructor(readonly dataset: Dataset, opts: DataLoaderOptions) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${opts.batchSize}`);
    this.batchSize = opts.batchSize;
    this.shuffle = opts.shuffle ?? false;
    this.seed = opts.seed ?? 0;
    this.dropLast = opts.dropLast ?? false;
    this.epochs = opts.epochs ?? 1;
    const want = opts.numWorkers ?? 0;
    this.numWorkers = dataset.spec ? Math.max(0, Math.floor(want)) : 0;
    this.prefetch = Math.max(1, opts.prefetch ?? Math.max(2, 2 * this.numWorkers));
  }

  /** Batches per epoch (ceil or floor of length / batchSize, by dropLast). */
  get batchesPerEpoch(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The item order of an epoch. */
  order(epoch: number): Int32Array {
    const n = this.dataset.length;
    if (this.shuffle) return permutation(n, mixSeed(this.seed, epoch));
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return p;
  }

  /** The seed of item `index`'s random transforms in `epoch`. */
  itemSeed(epoch: number, index: number): number {
    return mixSeed(this.seed, epoch, index);
  }

  /** All `epochs` epochs; the worker pool is closed when the iteration ends (or breaks). */
  async *[Symbol.asyncIterator](): AsyncGenerator<Batch> {
    const self = this;
    function* tasks(): Generator<Task> {
      for (let e = 0; e < self.epochs; e++) yield* self.tasks(e);
    }
    try {
      yield* this.run(tasks());
    } finally {
      await this.close();
    }
  }

  /**
   * One epoch, from batch `fromStep` on (a resumed run skips what it has seen without decoding
   * it). The pool stays up for the next epoch: call close() at the end.
   */
  epoch(epoch: number, fromStep = 0): AsyncGenerator<Batch> {
    return this.run(this.tasks(epoch, fromStep));
  }

  /** Worker threads now running (0 in-process, before the first batch and after close()). */
  get liveWorkers(): number {
    return this.pool?.size ?? 0;
  }

  /** Terminates the worker threads (a later iteration starts new ones). */
  async close(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    if (p) await p.terminate();
  }

  private *tasks(epoch: number, fromStep = 0): Generator<Task> {
    this.checkNonEmpty();
    const order = this.order(epoch);
    for (let s = fromStep; s < this.batchesPerEpoch; s++) {
      yield { epoch, step: s, indices: order.subarray(s * this.batchSize, Math.min(order.length, (s + 1) * this.batchSize)) };
    }
  }

  private checkNonEmpty(): void {
    const n = this.dataset.length;
    const where = this.dataset.spec?.target ?? this.dataset.name;
    if (n === 0) throw new DataError(`dataset ${where} is empty`, null, 'check the data root and the list file or folder');
    if (this.batchesPerEpoch === 0) throw new DataError(`dataset ${where} has ${n} items, fewer than batch_size ${this.batchSize}, and drop_last is set: no batches`, null, 'lower batch_size or unset drop_last');
  }

  private async *run(tasks: Iterator<Task>): AsyncGenerator<Batch> {
    const inflight: Promise<Batch>[] = [];
    const launch = () => {
      while (inflight.length < this.prefetch) {
        const t = tasks.next();
        if (t.done) return;
        const p = this.load(t.value);
        p.catch(() => undefined); // a prefetched failure is reported when its turn comes
        inflight.push(p);
      }
    };
    try {
      launch();
      while (inflight.length > 0) {
        const batch = await inflight.shift()!;
        launch();
        yield batch;
      }
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  private async load(t: Task): Promise<Batch> {
    const seeds = new Uint32Array(t.indices.length);
    for (let k = 0; k < seeds.length; k++) seeds[k] = this.itemSeed(t.epoch, t.indices[k]!);
    let data: BatchData;
    if (this.numWorkers === 0) {
      data = await loadBatch(this.dataset, t.indices, seeds);
    } else {
      this.pool ??= new WorkerPool(this.dataset.spec!, this.numWorkers);
      data = await this.pool.run(Int32Array.from(t.indices), seeds);
    }
    return { ...data, epoch: t.epoch, step: t.step };
  }
}

// ------------------------------------------------------------------------------------ the pool

const workerUrl = new URL('./worker.js', import.meta.url);

interface Pending {
  resolve: (b: BatchData) => void;
  reject: (e: Error) => void;
  worker: Slot;
}
interface Slot {
  worker: Worker;
  busy: number;
}

/** worker_threads running runtime/data/worker.js; one failure fails the pool. */
class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: DataError | undefined;
  private readonly ready: Promise<unknown>;

  constructor(spec: DatasetSpec, n: number) {
    // sharp must be loaded by the main thread before workers load it (glibc Linux keeps the
    // shared libraries alive that way).
    this.ready = loadSharp().catch(() => undefined).then(() => {
      if (this.failure) return;
      for (let k = 0; k < n; k++) this.slots.push(this.spawn(spec, k));
    });
  }

  private spawn(spec: DatasetSpec, k: number): Slot {
    const worker = new Worker(workerUrl, { workerData: { spec } satisfies WorkerInit, name: `ldmc-data-${k}` });
    const slot: Slot = { worker, busy: 0 };
    worker.unref();
    worker.on('message', (m: WorkerReply) => {
      if (m.type === 'fatal') return this.fail(DataError.fromData(m.error));
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      this.settle(slot);
      if (m.type === 'batch') p.resolve(m.batch);
      else p.reject(DataError.fromData(m.error));
    });
    worker.on('error', (e) => this.fail(new DataError(`loader worker ${k} crashed: ${e.message}`, null, 'a bug or an out-of-memory in decoding: try num_workers: 0 to see the error in-process')));
    worker.on('messageerror', (e) => this.fail(new DataError(`loader worker ${k} sent an unreadable message: ${e.message}`)));
    worker.on('exit', (code) => {
      if (!this.failure) this.fail(new DataError(`loader worker ${k} exited (code ${code})`));
    });
    return slot;
  }

  get size(): number {
    return this.failure ? 0 : this.slots.length;
  }

  private settle(slot: Slot): void {
    slot.busy--;
    if (slot.busy === 0) slot.worker.unref();
  }

  async run(indices: Int32Array, seeds: Uint32Array): Promise<BatchData> {
    await this.ready;
    if (this.failure) throw this.failure;
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    return new Promise<BatchData>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: slot });
      if (slot.busy++ === 0) slot.worker.ref();
      slot.worker.postMessage({ id, indices, seeds } satisfies WorkerRequest, [indices.buffer as ArrayBuffer, seeds.buffer as ArrayBuffer]);
    });
  }

  private fail(e: DataError): void {
    if (this.failure) return;
    this.failure = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    void this.terminate();
  }

  async terminate(): Promise<void> {
    this.failure ??= new DataError('the loader was closed');
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
    await this.ready;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

// ------------------------------------------------------------------------------- data module

export type Split = 'train' | 'validation' | 'test' | 'predict';

/** A `{target, params}` dataset config, as the compiler's IR gives it. */
export interface DatasetConfig {
  target?: string;
  params?: Record<string, unknown>;
}

export interface DataModuleOptions extends CreateDatasetOptions {
  /** Seed of the loaders' shuffles and transforms (default 0; main.py seeds with --seed 23). */
  seed?: number;
  /** Overrides num_workers (e.g. 0 for debugging). */
  numWorkers?: number;
  /** Epochs of the loaders' own iterators (default 1). */
  epochs?: number;
  prefetch?: number;
}

/** The DataModuleFromConfig params this class reads (schema/data.ts, defaults filled or not). */
export type DataModuleParams = Partial<Omit<DataModuleFromConfigParams, 'train' | 'validation' | 'test' | 'predict'>> & {
  batch_size: number;
  train?: DatasetConfig | null | string;
  validation?: DatasetConfig | null | string;
  test?: DatasetConfig | null | string;
  predict?: DatasetConfig | null | string;
};

/**
 * main.py DataModuleFromConfig: datasets per split (wrapped when `wrap`), loaders with batch_size
 * and num_workers (default 2 × batch_size, capped at the cores less one: more threads than cores
 * only add memory). Train shuffles; validation shuffles when shuffle_val_dataloader, test when
 * shuffle_test_loader; predict never. use_worker_init_fn needs no counterpart: item seeds never
 * depend on the worker.
 */
export class DataModule {
  readonly batchSize: number;
  readonly numWorkers: number;
  readonly wrap: boolean;
  readonly configs: Partial<Record<Split, DatasetConfig>> = {};
  datasets: Partial<Record<Split, Dataset>> = {};

  constructor(readonly params: DataModuleParams, readonly opts: DataModuleOptions = {}) {
    this.batchSize = params.batch_size;
    const cores = Math.max(1, (os.availableParallelism?.() ?? os.cpus().length) - 1);
    this.numWorkers = opts.numWorkers ?? params.num_workers ?? Math.min(2 * params.batch_size, cores);
    this.wrap = params.wrap ?? false;
    for (const s of ['train', 'validation', 'test', 'predict'] as const) {
      const c = params[s];
      if (c === undefined || c === null) continue;
      if (typeof c !== 'object' || typeof c.target !== 'string') throw new DataError(`data.params.${s} needs a {target, params} dataset config`, null, `e.g. ${s}: {target: ldmc.data.FashionMNIST, params: {split: train}}`);
      this.configs[s] = c;
    }
  }

  /** Instantiates the datasets (main.py setup()). */
  setup(): this {
    for (const [s, c] of Object.entries(this.configs) as [Split, DatasetConfig][]) {
      const ds = createDataset(c.target!, c.params ?? {}, this.opts.dataRoot !== undefined ? { dataRoot: this.opts.dataRoot } : {});
      this.datasets[s] = this.wrap ? new WrappedDataset(ds) : ds;
    }
    return this;
  }

  trainDataloader(): DataLoader {
    return this.loader('train', true);
  }
  valDataloader(): DataLoader {
    return this.loader('validation', this.params.shuffle_val_dataloader ?? false);
  }
  testDataloader(): DataLoader {
    return this.loader('test', this.params.shuffle_test_loader ?? false);
  }
  predictDataloader(): DataLoader {
    return this.loader('predict', false);
  }

  private loader(split: Split, shuffle: boolean): DataLoader {
    if (!this.configs[split]) throw new DataError(`the data module has no ${split} dataset`, null, `add data.params.${split}`);
    if (!this.datasets[split]) this.setup();
    return new DataLoader(this.datasets[split]!, {
      batchSize: this.batchSize,
      shuffle,
      numWorkers: this.numWorkers,
      seed: this.opts.seed ?? 0,
      ...(this.opts.epochs !== undefined ? { epochs: this.opts.epochs } : {}),
      ...(this.opts.prefetch !== undefined ? { prefetch: this.opts.prefetch } : {}),
    });
  }
}
