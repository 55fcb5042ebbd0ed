// A loader worker: rebuilds the dataset from its spec, then decodes and collates the batches the
// main thread asks for, transferring the buffers back. Errors go back as plain DataError data.
import { parentPort, workerData } from 'node:worker_threads';
import { loadBatch, type BatchData } from './batch.js';
import type { Dataset, DatasetSpec } from './dataset.js';
import { asDataError, type DataErrorData } from './errors.js';
import { createDataset } from './registry.js';

export interface WorkerInit {
  spec: DatasetSpec;
}
export interface WorkerRequest {
  id: number;
  indices: Int32Array;
  seeds: Uint32Array;
}
export type WorkerReply =
  | { type: 'batch'; id: number; batch: BatchData }
  | { type: 'error'; id: number; error: DataErrorData }
  | { type: 'fatal'; error: DataErrorData };

const port = parentPort;
if (!port) throw new Error('runtime/data/worker.js must run in a worker thread');
const { spec } = workerData as WorkerInit;

let dataset: Dataset | undefined;
try {
  dataset = createDataset(spec.target, spec.params as Record<string, unknown>, spec.dataRoot !== undefined ? { dataRoot: spec.dataRoot } : {});
} catch (e) {
  port.postMessage({ type: 'fatal', error: asDataError(e, null).toData() } satisfies WorkerReply);
}

port.on('message', (req: WorkerRequest) => {
  if (!dataset) return;
  loadBatch(dataset, req.indices, req.seeds).then(
    (batch) => {
      const transfer: ArrayBuffer[] = [batch.image.buffer as ArrayBuffer, batch.index.buffer as ArrayBuffer];
      if (batch.class_label) transfer.push(batch.class_label.buffer as ArrayBuffer);
      port.postMessage({ type: 'batch', id: req.id, batch } satisfies WorkerReply, transfer);
    },
    (e: unknown) => port.postMessage({ type: 'error', id: req.id, error: asDataError(e, null).toData() } satisfies WorkerReply),
  );
});
