// `ldmc train CONFIG... [--data DIR] [--max-steps N] [--resume RUN] [--set ...]`: builds the model
// and data from the typed graph and trains it, writing a run folder (resolved config, metrics.jsonl,
// loss.png, image grids, checkpoints).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as yamlStringify } from 'yaml';
import { defaultName } from '../compiler/emit.js';
import { child, className, type IRNode } from '../compiler/ir.js';
import type { CompileResult } from '../compiler/program.js';
import { resolvedConfig, resolvedNode } from '../compiler/resolved.js';
import { initBackend, type BackendName } from '../runtime/backend.js';
import type { AutoencoderKL, VQModel } from '../runtime/autoencoder/index.js';
import type { Module } from '../runtime/module.js';
import { seedInit } from '../runtime/nn/init.js';
import { DataModule, type DataModuleParams } from '../runtime/data/index.js';
import type { LatentDiffusionArgs } from '../runtime/diffusion/latent-diffusion.js';
import { makeScheduler } from '../runtime/train/schedulers.js';
import { LdmTask } from '../runtime/train/ldm-task.js';
import { train, type TrainTask } from '../runtime/train/trainer.js';
import type { ProgressSink } from '../runtime/util/progress.js';
import { loadStateDict, formatReport } from '../runtime/weights/state-dict.js';
import { assertNever, diffusionSlots, type Regularizer } from '../schema/family.js';
import { allTargets } from '../schema/index.js';
import { CliError } from './errors.js';
import { EXIT_INTERRUPTED, onInterrupt } from './interrupt.js';
import { withWeightsFile } from './weights-file.js';
import type { LazyTensor } from '../runtime/weights/safetensors.js';

export interface TrainCliOptions {
  readonly files: readonly string[];
  readonly result: CompileResult;
  readonly dataRoot: string | undefined;
  readonly maxSteps: number | undefined;
  readonly resume: string | undefined;
  readonly runDir: string | undefined;
  readonly backend: BackendName | undefined;
  readonly seed: number;
  readonly checkpointEvery: number | undefined;
  readonly validateEvery: number | undefined;
  readonly valBatches: number | undefined;
  readonly numWorkers: number | undefined;
  readonly lpipsWeights: string | undefined;
  readonly log: (s: string) => void;
  readonly progress?: ProgressSink;
}

/** A fresh run folder: runs/<name>, or runs/<name>-2, -3, … when taken. */
function freshRunDir(name: string): string {
  let dir = join('runs', name);
  for (let i = 2; existsSync(dir); i++) dir = join('runs', `${name}-${i}`);
  return dir;
}

/**
 * A first stage's `lossconfig`, or null without one. perceptual_weight > 0 needs the LPIPS weights
 * (--lpips-weights), which ldmc cannot download: refused with the two ways out.
 */
async function firstStageLoss(m: IRNode, lpipsWeights: string | undefined) {
  const { createLoss, LpipsWeightsRequired } = await import('../runtime/losses/index.js');
  const lc = child(m, 'lossconfig');
  try {
    return lc ? createLoss(lc.target, lc.params, lpipsWeights ? { lpipsWeights } : {}) : null;
  } catch (e) {
    if (e instanceof LpipsWeightsRequired) throw new CliError(e.message, 'or set model.params.lossconfig.params.perceptual_weight=0');
    throw e;
  }
}

/**
 * init_from_ckpt of the reference's autoencoders: the checkpoint's keys minus those starting with
 * an ignore_keys entry, loaded non-strictly into the model and its loss (`loss.*`). Missing keys
 * keep their initialisation, as with load_state_dict(strict=False); a shape mismatch is an error.
 */
function initFromCkpt(model: Module, loss: Module, path: string, ignoreKeys: readonly string[], log: (s: string) => void): void {
  withWeightsFile(path, (weights) => initFromWeights(model, loss, weights, path, ignoreKeys, log));
}

function initFromWeights(model: Module, loss: Module, weights: ReadonlyMap<string, LazyTensor>, path: string, ignoreKeys: readonly string[], log: (s: string) => void): void {
  const ignored = (key: string) => ignoreKeys.some((p) => key.startsWith(p));
  const a = loadStateDict(model, weights, { strict: false, ignoreKeys: (k) => k.startsWith('loss.') || ignored(k) });
  const b = loadStateDict(loss, weights, { prefix: 'loss.', strict: false, ignoreKeys: (k) => ignored(`loss.${k}`) });
  const shapeMismatch = [...a.shapeMismatch, ...b.shapeMismatch];
  if (shapeMismatch.length) throw new CliError(formatReport(`${model.className} from ${path}`, { ...a, missing: [], unexpected: [], shapeMismatch }), 'ckpt_path must hold weights of this config');
  const missing = [...a.missing, ...b.missing];
  log(`Restored from ${path}: ${a.loaded + b.loaded} tensors${missing.length ? `; ${missing.length} keep their initialisation (${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', …' : ''})` : ''}`);
}

/** What the model's family trains it with: the registry's statics decide, never its class name. */
async function trainTask(m: IRNode, o: TrainCliOptions, lr: number): Promise<{ task: TrainTask; dispose: () => void }> {
  const st = m.spec.statics;
  if (!st) throw await notTrainable(m);
  switch (st.family) {
    case 'diffusion':
      return diffusionTask(m, o, lr);
    case 'first_stage':
      return autoencoderTask(m, st.regularizer, o, lr);
    case 'unet':
    case 'cond_stage':
    case 'loss':
    case 'lr_scheduler':
    case 'callback':
      throw await notTrainable(m);
    default:
      return assertNever(st, 'family');
  }
}

async function notTrainable(m: IRNode): Promise<CliError> {
  const { buildableWrapperIds } = await import('../runtime/diffusion/build.js');
  const { canBuild } = await import('../runtime/build.js');
  const autoencoders = allTargets.filter((t) => t.statics?.family === 'first_stage' && canBuild(t.id)).map((t) => shortName(t.id));
  const wrappers = buildableWrapperIds().map(shortName);
  return new CliError(`ldmc train does not train ${className(m)} yet`, `it trains ${wrappers.join(', ')} and VQ and KL first stages (${autoencoders.join(', ')})`);
}

const shortName = (id: string) => id.split('.').pop()!;

/** A latent-diffusion wrapper on its pretrained, frozen first stage (first_stage_config.ckpt_path). */
async function diffusionTask(m: IRNode, o: TrainCliOptions, lr: number): Promise<{ task: TrainTask; dispose: () => void }> {
  const { wrapperClass } = await import('../runtime/diffusion/build.js');
  const Wrapper = wrapperClass(m.target);
  if (!Wrapper) throw await notTrainable(m);
  const ld = new Wrapper(resolvedNode(m).params as unknown as LatentDiffusionArgs);
  const dispose = () => ld.dispose();
  try {
    if (!o.resume) {
      const fs = child(m, diffusionSlots(m.spec).firstStage);
      const path = fs?.params.ckpt_path;
      if (typeof path !== 'string') throw new CliError(`the first stage has no ckpt_path: ${className(m)} trains on a pretrained, frozen autoencoder`, `set model.params.first_stage_config.params.ckpt_path`);
      const rep = withWeightsFile(path, (weights) => {
        const prefix = [...weights.keys()].some((k) => k.startsWith('first_stage_model.')) ? 'first_stage_model.' : '';
        return loadStateDict(ld.first_stage_model, weights, { prefix, strict: false, ignoreKeys: [/^loss\./] });
      });
      if (rep.missing.length || rep.shapeMismatch.length) throw new CliError(formatReport(`the first stage from ${path}`, rep), 'the first stage config must match the checkpoint');
      o.log(`first stage: ${rep.loaded} tensors from ${path}`);
    }
  } catch (e) {
    dispose();
    throw e;
  }
  return { task: new LdmTask(ld, lr), dispose };
}

/**
 * An autoencoder with its lossconfig. The first stage's regulariser (its statics) decides the
 * training step, and the loss must train the same one: the reference's VQModel and AutoencoderKL
 * call their losses with different signatures.
 */
async function autoencoderTask(m: IRNode, regularizer: Regularizer, o: TrainCliOptions, lr: number): Promise<{ task: TrainTask; dispose: () => void }> {
  const { buildComponent } = await import('../runtime/build.js');
  const { LPIPSWithDiscriminator, VQLPIPSWithDiscriminator } = await import('../runtime/losses/index.js');
  const ae = buildComponent(m.target, m.params) as VQModel | AutoencoderKL;
  let loss: Awaited<ReturnType<typeof firstStageLoss>> = null;
  const dispose = () => {
    ae.dispose();
    loss?.dispose();
  };
  try {
    loss = await firstStageLoss(m, o.lpipsWeights);
    const lc = child(m, 'lossconfig');
    const ls = lc?.spec.statics;
    if (!loss || ls?.family !== 'loss' || ls.trains !== regularizer) {
      const want = allTargets.filter((t) => t.statics?.family === 'loss' && t.statics.trains === regularizer).map((t) => shortName(t.id));
      throw new CliError(`training ${className(m)} needs a ${want.join(' or ')} loss (lossconfig), not ${lc?.target ?? 'none'}`);
    }
    if (!o.resume && typeof m.params.ckpt_path === 'string') initFromCkpt(ae, loss, m.params.ckpt_path, (m.params.ignore_keys as readonly string[] | undefined) ?? [], o.log);
    // The runtime loss class is the one the registry's loss target builds (runtime/losses/factory.ts);
    // the instanceof checks narrow its type for the task.
    switch (regularizer) {
      case 'kl': {
        if (!(loss instanceof LPIPSWithDiscriminator)) throw new CliError(`internal: ${lc!.target} built no LPIPSWithDiscriminator (schema/losses.ts and runtime/losses/factory.ts disagree)`);
        const { KlTask } = await import('../runtime/train/kl-task.js');
        return { task: new KlTask(ae as AutoencoderKL, loss, lr), dispose };
      }
      case 'vq': {
        if (!(loss instanceof VQLPIPSWithDiscriminator)) throw new CliError(`internal: ${lc!.target} built no VQLPIPSWithDiscriminator (schema/losses.ts and runtime/losses/factory.ts disagree)`);
        const { VqTask } = await import('../runtime/train/vq-task.js');
        return { task: new VqTask(ae as VQModel, loss, lr, (m.params.lr_g_factor as number | undefined) ?? 1), dispose };
      }
      default:
        return assertNever(regularizer, 'regularizer');
    }
  } catch (e) {
    dispose();
    throw e;
  }
}

export async function runTrain(o: TrainCliOptions): Promise<number> {
  const r = o.result;
  const g = r.graph!;
  const m = g.model!;
  // A missing ckpt_path is only a warning for check; training needs the weights.
  const missing = r.diagnostics.filter((d) => d.code === 'LDMC510');
  if (missing.length) {
    const d = missing[0]!;
    throw new CliError(`${d.span?.file}:${d.span?.line}:${d.span?.col}: ${d.message}`, 'train the first stage first (ldmc train examples/fashion-vq-f4.yaml) or fix the path');
  }
  if (!g.data) throw new CliError('the config has no data section: ldmc train needs `data: {target: main.DataModuleFromConfig, …}`');
  const resolved = resolvedConfig(r);
  const configHash = createHash('sha256').update(JSON.stringify(resolved)).digest('hex');
  const runDir = o.resume ?? o.runDir ?? freshRunDir(defaultName(o.files[o.files.length - 1]!));
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, 'config.yaml'), `# Resolved by ldmc from ${o.files.join(' + ')}\n${yamlStringify(resolved, { lineWidth: 0 })}`);

  const mem = r.inference?.memory;
  const { backendsToSkip, checkTrainingFits } = await import('../runtime/fit.js');
  // Without --backend, a run over the wasm heap goes to the cpu backend (native kernels there too).
  const choice = !o.backend && mem ? backendsToSkip(mem) : { skip: [] };
  if (choice.why) o.log(choice.why);
  const backend = await initBackend(o.backend ? { backend: o.backend } : { skip: choice.skip });
  const lr = r.inference?.learningRate;
  if (!lr) throw new CliError('the model has no base_learning_rate', 'add `base_learning_rate:` under `model:`');
  o.log(`Setting learning rate to ${lr.value.toExponential(2)} = ${lr.accumulateGradBatches} (accumulate_grad_batches) * ${lr.ngpu} (num_gpus) * ${lr.batchSize} (batchsize) * ${lr.base.toExponential(2)} (base_lr)`);
  if (mem) {
    const fit = checkTrainingFits(mem, backend);
    if (!fit.fits) throw new CliError(fit.message ?? 'the model does not fit the backend', fit.suggestion);
  }
  // The same seed gives the same initial weights (and so the same run).
  seedInit(o.seed);
  const { task, dispose } = await trainTask(m, o, lr.value);

  const trainer = g.trainer;
  const maxSteps = o.maxSteps ?? (typeof trainer.max_steps === 'number' ? trainer.max_steps : undefined);
  const dm = new DataModule(resolvedNode(g.data).params as unknown as DataModuleParams, {
    seed: o.seed,
    ...(o.dataRoot !== undefined ? { dataRoot: o.dataRoot } : {}),
    ...(o.numWorkers !== undefined ? { numWorkers: o.numWorkers } : {}),
  }).setup();
  const perEpoch = dm.trainDataloader().batchesPerEpoch;
  const steps = maxSteps ?? (typeof trainer.max_epochs === 'number' ? Math.ceil((trainer.max_epochs * perEpoch) / lr.accumulateGradBatches) : undefined);
  if (steps === undefined) throw new CliError('how long to train? pass --max-steps N, or set lightning.trainer.max_steps or max_epochs');
  const sched = m.params.scheduler_config && typeof m.params.scheduler_config === 'object' ? resolvedNode(child(m, 'scheduler_config')!) : undefined;
  // The image-logging callback (main.ImageLogger), as its statics say, and the params it reads.
  const logger = g.callbacks.map((c) => ({ c, st: c.spec.statics })).find((x) => x.st?.family === 'callback' && x.st.imageLogging);
  const imageLogging = logger?.st?.family === 'callback' ? logger.st.imageLogging : undefined;
  const monitor = typeof m.params.monitor === 'string' ? m.params.monitor : undefined;
  const every = (x: unknown) => (typeof x === 'number' && x >= 1 ? Math.floor(x) : undefined);
  o.log(`training ${className(m)} for ${steps} steps on ${backend}; run folder ${runDir}`);
  try {
    const notice = '\ninterrupt: finishing this step and writing a checkpoint (Ctrl-C again to quit at once)';
    const res = await onInterrupt(notice, o.log, (signal) => train(task, {
      runDir,
      data: dm,
      maxSteps: steps,
      accumulate: lr.accumulateGradBatches,
      seed: o.seed,
      configHash,
      lr: lr.value,
      lrMultiplier: makeScheduler(sched?.target, sched?.params),
      checkpointEvery: o.checkpointEvery ?? every((g.callbacks.find((c) => c.path === 'lightning.modelcheckpoint')?.params.every_n_train_steps)) ?? 500,
      validateEvery: o.validateEvery ?? every(trainer.val_check_interval) ?? Math.max(1, Math.min(perEpoch, 1000)),
      valBatches: o.valBatches ?? (typeof trainer.limit_val_batches === 'number' && trainer.limit_val_batches >= 1 ? trainer.limit_val_batches : 20),
      imageEvery: logger && imageLogging ? (logger.c.params[imageLogging.everyParam] as number) : undefined,
      maxImages: logger && imageLogging ? (logger.c.params[imageLogging.maxImagesParam] as number) : 8,
      monitor,
      resume: o.resume !== undefined,
      log: o.log,
      signal,
      progress: o.progress,
    }));
    o.log(res.message);
    if (res.status === 'diverged') return 1;
    if (res.status === 'interrupted') return EXIT_INTERRUPTED;
    o.log(`checkpoint: ${join(runDir, 'checkpoints', 'last.safetensors')}`);
    return 0;
  } finally {
    dispose();
  }
}
