// The training loop shared by every model family: optimizer steps over a DataModule with gradient
// accumulation, max_steps / max_epochs, validation with the monitor metric, EMA, checkpoints
// (every N steps, at the end, when its AbortSignal is aborted), a resume that reproduces the
// uninterrupted run, a NaN guard, a progress bar, the JSONL log, the loss curve and image grids.
// It leaves its process alone: no signal handlers, no exit. The CLI turns Ctrl-C into an abort.
//
// Determinism: every random draw of step s comes from seeds mixed from (seed, s), and data order
// from (seed, epoch), so a resumed run replays exactly what an uninterrupted one would.
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Batch as DataBatch, DataLoader, DataModule } from '../data/index.js';
import { mixSeed } from '../data/transforms.js';
import { seedDropout } from '../nn/init.js';
import { loadLatestCheckpoint, saveCheckpoint, type LoopState } from './checkpoint.js';
import { MetricsLog, writeLossCurve, type LogRecord } from './metrics.js';
import { Adam, type AdamOptions } from './optim.js';
import type { LrMultiplier } from './schedulers.js';
import type { F32Tensor } from '../weights/safetensors.js';
import { Progress, type ProgressSink } from '../util/progress.js';

/** A batch as tensors, keyed as the reference's batch dict (`image`, `class_label`, …). */
export type TensorBatch = Record<string, Tensor>;

export interface OptimizerSpec {
  readonly name: string;
  readonly params: ReadonlyMap<string, tf.Variable>;
  readonly adam: AdamOptions;
}

export interface StepLoss {
  readonly loss: Scalar;
  /** Scalars to log (the reference's loss dict). */
  readonly logs: Record<string, Scalar>;
}

/** What a model family plugs into the loop. */
export interface TrainTask {
  readonly optimizers: readonly OptimizerSpec[];
  /** Whether optimizer `k` steps at `step` (the discriminator waits for disc_start). */
  active?(k: number, step: number): boolean;
  /** The loss of optimizer `k` on a batch; `seed` drives its random draws. Runs inside variableGrads. */
  loss(batch: TensorBatch, k: number, step: number, seed: number): StepLoss;
  /** Called once on the first batch of a fresh run (scale_by_std). */
  firstBatch?(batch: TensorBatch): string | undefined;
  /** After each optimizer step (EMA). */
  afterStep?(step: number): void;
  /** Validation metrics of one batch (val/… keys). */
  validate(batch: TensorBatch, seed: number): Record<string, number>;
  /** Image grids for the ImageLogger: name -> NHWC images in [-1, 1] (the loop writes them). */
  logImages?(batch: TensorBatch, seed: number): Promise<Record<string, tf.Tensor4D>>;
  /** The model's weights in PyTorch names (what the reference loads). */
  modelState(): Map<string, F32Tensor>;
  loadModelState(tensors: ReadonlyMap<string, { shape: readonly number[]; data: ArrayLike<number> } & object>): void;
  extraState(): Record<string, number | string | null>;
  loadExtraState(extra: Record<string, number | string | null>): void;
  /** The metric the loop tracks as "loss" in the progress bar and curve. */
  readonly lossKey: string;
}

export interface TrainOptions {
  readonly runDir: string;
  readonly data: DataModule;
  readonly maxSteps: number;
  readonly accumulate: number;
  readonly seed: number;
  readonly configHash: string;
  readonly lr: number;
  readonly lrMultiplier: LrMultiplier;
  readonly checkpointEvery: number;
  readonly validateEvery: number;
  readonly valBatches: number;
  readonly imageEvery: number | undefined;
  readonly maxImages: number;
  readonly monitor: string | undefined;
  readonly resume: boolean;
  readonly log: (s: string) => void;
  /** Where the progress bar goes; none without one. */
  readonly progress?: ProgressSink;
  /**
   * Stops the run: the step under way finishes, a checkpoint is written and the result is
   * 'interrupted'. Aborted before the first step, nothing is trained or written.
   */
  readonly signal?: AbortSignal;
}

export interface TrainResult {
  readonly status: 'done' | 'interrupted' | 'diverged';
  readonly step: number;
  readonly message: string;
  readonly lastCheckpoint: string | undefined;
}

export class NonFiniteLossError extends Error {}

function toTensors(b: DataBatch): TensorBatch {
  const out: TensorBatch = { image: tf.tensor4d(b.image, b.shape) };
  if (b.class_label) out.class_label = tf.tensor1d(b.class_label, 'int32');
  return out;
}

export async function train(task: TrainTask, o: TrainOptions): Promise<TrainResult> {
  mkdirSync(o.runDir, { recursive: true });
  const metrics = new MetricsLog(join(o.runDir, 'metrics.jsonl'));
  const opts = task.optimizers.map((s) => new Adam(s.params, s.adam));
  const optVars = task.optimizers.map((s) => ({ names: [...s.params.keys()], vars: [...s.params.values()] }));
  let state: LoopState = { step: 0, epoch: 0, batchInEpoch: 0, seed: o.seed, configHash: o.configHash, extra: {} };
  let lastCheckpoint: string | undefined;

  if (o.resume) {
    const ck = loadLatestCheckpoint(o.runDir);
    if (!ck) throw new Error(`${o.runDir} has no checkpoint to resume from`);
    if (ck.state.configHash !== o.configHash) throw new Error(`the config differs from the one ${o.runDir} was trained with (hash ${ck.state.configHash.slice(0, 12)} vs ${o.configHash.slice(0, 12)})`);
    task.loadModelState(ck.model);
    opts.forEach((opt, k) => {
      const prefix = `${task.optimizers[k]!.name}.`;
      const sub = new Map([...ck.train].filter(([n]) => n.startsWith(prefix)).map(([n, t]) => [n.slice(prefix.length), t]));
      opt.loadState(Number(ck.state.extra[`${task.optimizers[k]!.name}_step`] ?? ck.state.step), sub);
    });
    task.loadExtraState(ck.state.extra);
    state = ck.state;
    lastCheckpoint = ck.dir;
    metrics.truncate(state.step);
    o.log(`resuming ${o.runDir} at step ${state.step} (epoch ${state.epoch}, batch ${state.batchInEpoch})`);
  }

  const stopped = () => o.signal?.aborted === true;

  const save = () => {
    // A finite loss can still leave NaN weights behind (an overflowing update): never save those.
    const bad = task.optimizers.flatMap((o) => [...o.params]).find(([, v]) => !tf.tidy(() => tf.all(tf.isFinite(v)).dataSync()[0]));
    if (bad) throw new NonFiniteLossError(`parameter ${bad[0]} became non-finite at step ${state.step}`);
    const model = task.modelState();
    const trainState = new Map<string, F32Tensor>();
    const extra: Record<string, number | string | null> = { ...task.extraState() };
    opts.forEach((opt, k) => {
      const st = opt.state();
      extra[`${task.optimizers[k]!.name}_step`] = st.step;
      for (const [n, t] of st.tensors) trainState.set(`${task.optimizers[k]!.name}.${n}`, { shape: t.shape, data: t.dataSync() as Float32Array });
    });
    state = { ...state, extra };
    lastCheckpoint = saveCheckpoint(o.runDir, model, trainState, state);
  };

  const trainLoader = o.data.trainDataloader();
  const progress = new Progress(o.progress, o.maxSteps, { unit: 'step', start: state.step });
  let result: TrainResult | undefined;
  let best: number | undefined = typeof state.extra.best === 'number' ? state.extra.best : undefined;
  const t0 = Date.now();
  let micro = 0;
  const sums = opts.map(() => new Map<string, Tensor>());
  let logs: Record<string, number> = {};
  let interrupted = false;
  const abortedAtStart = stopped();
  try {
    outer: while (state.step < o.maxSteps && !abortedAtStart) {
      const epoch = state.epoch;
      for await (const raw of trainLoader.epoch(epoch, state.batchInEpoch)) {
        const batch = toTensors(raw);
        const lr = o.lr * o.lrMultiplier(state.step);
        try {
          if (state.step === 0 && micro === 0 && !o.resume) {
            const note = task.firstBatch?.(batch);
            if (note) o.log(note);
          }
          const seed = mixSeed(o.seed, state.step, micro);
          for (let k = 0; k < opts.length; k++) {
            if (task.active && !task.active(k, state.step)) continue;
            const spec = task.optimizers[k]!;
            const { names, vars } = optVars[k]!;
            let stepLogs: Record<string, Scalar> = {};
            // Dropout masks from (seed, step, micro-batch, optimizer): a resumed run draws the same ones.
            seedDropout(mixSeed(seed, k, 0xd0));
            const { value, grads } = tf.variableGrads(() => {
              const r = task.loss(batch, k, state.step, seed);
              stepLogs = Object.fromEntries(Object.entries(r.logs).map(([n, s]) => [n, tf.keep(s)]));
              return tf.div(r.loss, o.accumulate) as Scalar;
            }, vars);
            const v = value.dataSync()[0]! * o.accumulate;
            for (const [n, s] of Object.entries(stepLogs)) logs[n] = s.dataSync()[0]!;
            tf.dispose([value, ...Object.values(stepLogs)]);
            if (!Number.isFinite(v)) {
              tf.dispose(Object.values(grads));
              throw new NonFiniteLossError(`the ${spec.name} loss became ${v} at step ${state.step}`);
            }
            // Sum the micro-batch gradients (Lightning divides each loss by accumulate_grad_batches).
            const sum = sums[k]!;
            names.forEach((n, i) => {
              const g = grads[vars[i]!.name];
              if (!g) return;
              const prev = sum.get(n);
              sum.set(n, prev ? tf.keep(tf.add(prev, g)) : tf.keep(g.clone()));
              prev?.dispose();
            });
            tf.dispose(Object.values(grads));
            // Step this optimizer before the next one's loss runs, as Lightning does with several
            // optimizers: the discriminator's pass sees the autoencoder as opt_ae just left it.
            if (micro + 1 >= o.accumulate && sum.size > 0) {
              const opt = opts[k]!;
              opt.lr = lr;
              opt.apply(sum);
              for (const g of sum.values()) g.dispose();
              sum.clear();
            }
          }
        } finally {
          tf.dispose(Object.values(batch));
        }
        micro++;
        state.batchInEpoch = raw.step + 1;
        if (micro < o.accumulate) continue;
        state.step++;
        micro = 0;
        // Let an abort land (from a signal handler or a timer): with in-process data the loop
        // otherwise only ever awaits microtasks.
        await new Promise((r) => setImmediate(r));
        task.afterStep?.(state.step);
        let curveDue = false;
        const rec: LogRecord = { step: state.step, epoch, time: (Date.now() - t0) / 1000, lr, ...logs };
        metrics.append(rec);
        progress.update(state.step, { loss: logs[task.lossKey] ?? NaN, lr });
        logs = {};
        if (o.imageEvery !== undefined && task.logImages && shouldLogImages(state.step, o.imageEvery)) await writeImages(task, o, raw, state.step, epoch);
        if (state.step % o.validateEvery === 0 || state.step === o.maxSteps) {
          const val = await validate(task, o);
          metrics.append({ step: state.step, epoch, time: (Date.now() - t0) / 1000, ...val });
          if (o.monitor && val[o.monitor] !== undefined && (best === undefined || val[o.monitor]! < best)) best = val[o.monitor];
          state.extra = { ...state.extra, best: best ?? null };
          curveDue = true;
        }
        const stop = stopped();
        if (state.step % o.checkpointEvery === 0 || state.step === o.maxSteps || stop) {
          save();
          curveDue = true;
        }
        // Once a step, even when it both validated and checkpointed (it re-reads the whole log).
        if (curveDue) await writeLossCurve(join(o.runDir, 'loss.png'), metrics.read(), [task.lossKey, ...(o.monitor ? [o.monitor] : [])]);
        if (state.step >= o.maxSteps) break outer;
        if (stop) {
          interrupted = true;
          break outer;
        }
      }
      // An accumulation that spans the epoch boundary carries on into the next epoch.
      state.epoch = epoch + 1;
      state.batchInEpoch = 0;
    }
    progress.done();
    if (abortedAtStart) result = { status: 'interrupted', step: state.step, message: `interrupted before step ${state.step + 1}; nothing was trained`, lastCheckpoint };
    else if (interrupted) result = { status: 'interrupted', step: state.step, message: `interrupted at step ${state.step}; checkpoint written. Resume with --resume ${o.runDir}`, lastCheckpoint };
    else result = { status: 'done', step: state.step, message: `trained ${state.step} steps`, lastCheckpoint };
  } catch (e) {
    progress.done();
    if (!(e instanceof NonFiniteLossError)) throw e;
    result = {
      status: 'diverged',
      step: state.step,
      message: `${e.message}; stopped without saving it. ${lastCheckpoint ? `The last good checkpoint is ${lastCheckpoint}` : 'No checkpoint was written yet'}. Lower base_learning_rate or check the data.`,
      lastCheckpoint,
    };
  } finally {
    for (const sum of sums) for (const g of sum.values()) g.dispose();
    await trainLoader.close();
    for (const opt of opts) opt.dispose();
  }
  return result;
}

/** ImageLogger with increase_log_steps: steps 1, 2, 4, … below batch_frequency, then every batch_frequency. */
function shouldLogImages(step: number, every: number): boolean {
  if (step % every === 0) return true;
  return step < every && (step & (step - 1)) === 0;
}

async function writeImages(task: TrainTask, o: TrainOptions, raw: DataBatch, step: number, epoch: number): Promise<void> {
  const { makeGrid, toUint8Images, writePng } = await import('../images/index.js');
  const n = Math.min(o.maxImages, raw.shape[0]);
  const sub: DataBatch = { ...raw, image: raw.image.subarray(0, n * raw.shape[1] * raw.shape[2] * raw.shape[3]), shape: [n, raw.shape[1], raw.shape[2], raw.shape[3]], class_label: raw.class_label ? raw.class_label.subarray(0, n) : null };
  const batch = toTensors(sub);
  try {
    const grids = await task.logImages!(batch, mixSeed(o.seed, step, 0x1ba));
    const dir = join(o.runDir, 'images', 'train');
    mkdirSync(dir, { recursive: true });
    for (const [name, imgs] of Object.entries(grids)) {
      const u8 = toUint8Images(imgs);
      await writePng(join(dir, `${name}_gs-${String(step).padStart(6, '0')}_e-${String(epoch).padStart(6, '0')}.png`), makeGrid(u8, { nrow: Math.min(8, imgs.shape[0]) }));
      imgs.dispose();
    }
  } finally {
    tf.dispose(Object.values(batch));
  }
}

async function validate(task: TrainTask, o: TrainOptions): Promise<Record<string, number>> {
  if (!o.data.configs.validation) return {};
  const loader: DataLoader = o.data.valDataloader();
  const sums: Record<string, number> = {};
  let n = 0;
  try {
    for await (const raw of loader.epoch(0)) {
      const batch = toTensors(raw);
      try {
        const m = task.validate(batch, mixSeed(o.seed, 0x7a1, n));
        for (const [k, v] of Object.entries(m)) sums[k] = (sums[k] ?? 0) + v;
      } finally {
        tf.dispose(Object.values(batch));
      }
      if (++n >= o.valBatches) break;
    }
  } finally {
    await loader.close();
  }
  return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / Math.max(1, n)]));
}
