// Will a training run fit in the memory the backend can use? A check made before any tensor is
// allocated, from the compiler's memory estimate (compile() → inference.memory).
import os from 'node:os';

/** What the check reads from an estimate: the compiler's MemoryEstimate has all of these. */
export interface TrainingMemoryEstimate {
  totalBytes: number;
  batchSize?: number;
  weightsBytes?: number;
  gradientsBytes?: number;
  optimizerBytes?: number;
  emaBytes?: number;
  activationsBytes?: number;
}

export interface FitResult {
  fits: boolean;
  /** Bytes the backend can hold (Infinity when unknown). */
  limitBytes: number;
  message?: string;
  suggestion?: string;
}

/**
 * The wasm backend's heap: wasm32 addresses 4 GiB at most (tfjs-backend-wasm builds with
 * MAXIMUM_MEMORY=4GB), and every tensor lives in that one heap.
 */
export const WASM_HEAP_LIMIT_BYTES = 4 * 1024 ** 3;

/** Left to the OS, Node and V8 on the cpu backend (whose tensors are JS ArrayBuffers, uncapped by V8). */
export const CPU_MARGIN_BYTES = 1.5 * 1024 ** 3;

const GiB = 1024 ** 3;
const fmt = (n: number): string => (n >= GiB ? `${(n / GiB).toFixed(2)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`);

/** Bytes the cpu backend can use on this machine: total memory minus a margin. */
export function cpuLimitBytes(totalMem = os.totalmem()): number {
  return Math.max(0, totalMem - CPU_MARGIN_BYTES);
}

/**
 * Compares a training-memory estimate with what `backend` ('wasm', 'cpu', 'tensorflow') can
 * hold. tensorflow (tfjs-node / tfjs-node-gpu) is limited by GPU or host memory that tfjs does
 * not report: it is treated as fitting, with a note.
 */
export function checkTrainingFits(estimate: TrainingMemoryEstimate, backend: string, opts: { totalMemBytes?: number } = {}): FitResult {
  const need = estimate.totalBytes;
  if (!Number.isFinite(need) || need < 0) throw new Error(`checkTrainingFits: totalBytes must be a non-negative number, not ${need}`);
  const cpuLimit = cpuLimitBytes(opts.totalMemBytes);
  const what = `training needs about ${fmt(need)}${estimate.batchSize ? ` at batch ${estimate.batchSize}` : ''}${breakdown(estimate)}`;
  switch (backend) {
    case 'wasm': {
      const limit = WASM_HEAP_LIMIT_BYTES;
      if (need <= limit) return { fits: true, limitBytes: limit };
      const alt = need <= cpuLimit ? `the cpu backend (${fmt(cpuLimit)} usable here) would fit it` : 'the tensorflow backend (tfjs-node or tfjs-node-gpu) is the one left to try';
      return {
        fits: false, limitBytes: limit,
        message: `${what}; the wasm backend's heap is capped at ${fmt(limit)} (wasm32)`,
        suggestion: `${alt}: --backend ${need <= cpuLimit ? 'cpu' : 'tensorflow'}; or lower the batch size (activations scale with it)`,
      };
    }
    case 'cpu': {
      const limit = cpuLimit;
      if (need <= limit) return { fits: true, limitBytes: limit };
      return {
        fits: false, limitBytes: limit,
        message: `${what}; the cpu backend can use about ${fmt(limit)} here (${fmt(opts.totalMemBytes ?? os.totalmem())} of memory less ${fmt(CPU_MARGIN_BYTES)} for the system)`,
        suggestion: 'use the tensorflow backend (tfjs-node-gpu) on a machine with more memory, or lower the batch size',
      };
    }
    case 'tensorflow':
    case 'webgl':
    case 'webgpu':
      return {
        fits: true, limitBytes: Infinity,
        message: `${what}; the ${backend} backend's limit (GPU or host memory) is not known to ldmc: not checked`,
      };
    default:
      throw new Error(`checkTrainingFits: unknown backend '${backend}' (expected wasm, cpu or tensorflow)`);
  }
}

/**
 * The backends that the default order (tensorflow > wasm > cpu, runtime/backend.ts) should leave
 * out for a training run of this size: wasm when the run does not fit its heap, so that the cpu
 * backend (with the native kernels when they load) takes it. A run that fits no backend is still
 * refused by checkTrainingFits on the backend that starts, before any tensor is made.
 */
export function backendsToSkip(estimate: TrainingMemoryEstimate): { skip: Array<'wasm'>; why?: string } {
  if (estimate.totalBytes <= WASM_HEAP_LIMIT_BYTES) return { skip: [] };
  return { skip: ['wasm'], why: `training needs about ${fmt(estimate.totalBytes)}, over the wasm backend's ${fmt(WASM_HEAP_LIMIT_BYTES)} heap: using the cpu backend` };
}

function breakdown(e: TrainingMemoryEstimate): string {
  const parts: string[] = [];
  if (e.weightsBytes) parts.push(`weights ${fmt(e.weightsBytes)}`);
  if (e.gradientsBytes) parts.push(`grads ${fmt(e.gradientsBytes)}`);
  if (e.optimizerBytes) parts.push(`Adam ${fmt(e.optimizerBytes)}`);
  if (e.emaBytes) parts.push(`EMA ${fmt(e.emaBytes)}`);
  if (e.activationsBytes) parts.push(`activations ${fmt(e.activationsBytes)}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}
