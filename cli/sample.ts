// `ldmc sample CONFIG... --ckpt CKPT --out grid.png`: draws samples from a trained LatentDiffusion
// (DDIM, PLMS or DDPM ancestral sampling, optional classifier-free guidance for class-conditional
// models), decodes them with the first stage and writes one make_grid-style PNG.
// Loaded lazily by main.ts: tfjs and sharp start only for the commands that run models.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { child, className, paramSpan, type IRNode } from '../compiler/ir.js';
import { compile } from '../compiler/program.js';
import { resolvedNode } from '../compiler/resolved.js';
import { backendsToSkipForWeights, float32Bytes } from '../runtime/fit.js';
import { initBackend } from '../runtime/backend.js';
import { buildableWrapperIds, wrapperClass } from '../runtime/diffusion/build.js';
import type { LatentDiffusion, LatentDiffusionArgs } from '../runtime/diffusion/latent-diffusion.js';
import { assertNever, diffusionSlots } from '../schema/family.js';
import { Sentinel } from '../schema/index.js';
import { seededNoise, type NoiseSource } from '../runtime/diffusion/noise.js';
import { DEFAULT_SAMPLE_STEPS, sampleLatents, sampleStepCount, type SamplerName } from '../runtime/diffusion/sample.js';
import { makeGrid, toUint8Images, type Uint8Images } from '../runtime/images/grid.js';
import { writePng } from '../runtime/images/png.js';
import { Progress } from '../runtime/util/progress.js';
import type { LazyTensor } from '../runtime/weights/safetensors.js';
import { formatReport, loadStateDict } from '../runtime/weights/state-dict.js';
import { intOption, numberOption, UsageError, type ArgSpec, type ParsedArgs } from './args.js';
import { CliError } from './errors.js';
import { parseBackend } from './forward.js';
import { DiskHost } from './host.js';
import { printDiagnostics, type Io } from './io.js';
import { openWeightsFile, withWeightsFile } from './weights-file.js';
import { emaChoice, withEmaWeights } from './ld-weights.js';

/** The options `ldmc sample` takes (main.ts parses argv with this). */
export const SAMPLE_ARGS: ArgSpec = {
  values: ['set', 'ckpt', 'sampler', 'steps', 'eta', 'scale', 'uc-class', 'class', 'n', 'seed', 'backend', 'threads', 'out'],
  flags: ['no-ema', 'no-frame'],
  short: { n: 'n' },
};


/** What the command line asks for, validated (before anything is compiled or loaded). */
export interface SampleSettings {
  readonly ckpt: string;
  readonly out: string;
  readonly sampler: SamplerName;
  /** undefined: the default (50) for ddim/plms; ddpm always runs every timestep. */
  readonly steps: number | undefined;
  readonly eta: number | undefined;
  readonly scale: number;
  readonly ucClass: number | undefined;
  readonly classLabel: number | undefined;
  readonly n: number | undefined;
  /** undefined: a random seed, printed so the run can be repeated. */
  readonly seed: number | undefined;
  readonly ema: boolean;
  /** wasm threads; undefined: initBackend's default (1 with the native kernels, else one per core). */
  readonly threads: number | undefined;
}

const CKPT_PATH_SET = 'model.params.first_stage_config.params.ckpt_path';

export function parseSampleSettings(a: ParsedArgs): SampleSettings {
  const last = (k: string) => a.values[k]?.at(-1);
  const ckpt = last('ckpt'), out = last('out');
  if (!ckpt) throw new UsageError('--ckpt is required (the LatentDiffusion checkpoint to sample from)');
  if (!out) throw new UsageError('--out is required (the grid image to write, e.g. --out samples.png)');
  if (extname(out).toLowerCase() !== '.png') throw new UsageError(`--out '${out}' must name a .png file`);
  const sampler = last('sampler') ?? 'ddim';
  if (sampler !== 'ddim' && sampler !== 'plms' && sampler !== 'ddpm') throw new UsageError(`--sampler must be ddim, plms or ddpm, not '${sampler}'`);
  const int = (k: string, min: number) => intOption(a, k, min);
  const num = (k: string, min: number) => numberOption(a, k, min);
  const seed = int('seed', 0);
  if (seed !== undefined && seed > 2 ** 31 - 1) throw new UsageError(`--seed must be below 2^31, not ${seed}`);
  return {
    ckpt,
    out,
    sampler,
    steps: int('steps', 1),
    eta: num('eta', 0),
    scale: num('scale', 0) ?? 1,
    ucClass: int('uc-class', 0),
    classLabel: int('class', 0),
    n: int('n', 1),
    seed,
    ema: !a.flags.has('no-ema'),
    threads: int('threads', 1),
  };
}

/** One batch of the grid: a grid row per class, or every sample of an unconditional model. */
interface Row {
  /** The class of every sample in the row; undefined for an unconditional model. */
  readonly label: number | undefined;
  readonly size: number;
}

interface Plan {
  readonly rows: readonly Row[];
  /** Images per grid row (make_grid's nrow). */
  readonly nrow: number;
  readonly layout: string;
}

export async function sampleCommand(a: ParsedArgs, io: Io): Promise<number> {
  const s = parseSampleSettings(a);
  const backend = parseBackend(a);
  if (a.positionals.length === 0) throw new UsageError('no config file given');
  const host = new DiskHost();
  const result = compile({ files: a.positionals, overrides: a.values.set ?? [] }, host);
  if (result.hasErrors || !result.graph?.model) {
    printDiagnostics(result, a, io, io.out);
    if (!result.hasErrors) io.err(`ldmc: error: the config has no model: to sample, it needs model.target: ${buildableWrapperIds().join(' or ')}`);
    return 1;
  }
  // LDMC510 (a missing ckpt_path) is decided below, where we know what the checkpoint holds.
  printDiagnostics({ ...result, diagnostics: result.diagnostics.filter((d) => d.code !== 'LDMC510') }, a, io, io.err);

  const model = result.graph.model;
  // The registry names the wrapper's runtime class; a model without one (an autoencoder, sd2's
  // wrapper subclasses for now) is refused.
  const Wrapper = wrapperClass(model.target);
  if (!Wrapper) {
    const can = buildableWrapperIds().map((id) => id.split('.').pop()!).join(' or ');
    throw new CliError(`the config's model is a ${className(model)}; ldmc sample draws from a ${can}`, 'run an autoencoder or a single component with ldmc forward');
  }
  const cond = condKind(model);
  const T = Number(model.params.timesteps);
  checkSettings(s, cond, T);

  const file = openWeightsFile(s.ckpt);
  const weights = file.tensors;
  let ld: LatentDiffusion | undefined;
  try {
    const hasFirstStage = [...weights.keys()].some((k) => k.startsWith('first_stage_model.'));
    const firstStage = child(model, diffusionSlots(model.spec).firstStage);
    const firstStageCkpt = hasFirstStage ? undefined : firstStageCheckpoint(s.ckpt, firstStage);

    // A stalled threaded wasm start is retried, then started single-threaded, by initBackend itself.
    // Weights over most of the wasm heap: the cpu backend (native kernels there too) unless --backend.
    // The model holds one UNet (EMA or raw, never both), so the EMA copies are not counted.
    const held = [...weights].filter(([k]) => !k.startsWith('model_ema.')).map(([, t]) => t);
    const choice = backend ? { skip: [] } : backendsToSkipForWeights(float32Bytes(held));
    if (choice.why) io.err(`ldmc: ${choice.why}`);
    await initBackend({ ...(backend ? { backend } : { skip: choice.skip }), ...(s.threads ? { threads: s.threads } : {}) });
    const seed = s.seed ?? randomInt(0, 2 ** 31 - 1);
    const params = resolvedNode(model).params as unknown as LatentDiffusionArgs;
    // Sampling never updates an EMA: the model is built without shadows, and when the EMA weights
    // are used they are read straight into the UNet (the raw ones are then not read at all), so
    // each used tensor is read once and the UNet is held once.
    // Relative paths in params (a CLIP model-config JSON) start at the config's directory, as in `ldmc check`.
    ld = new Wrapper({ ...params, use_ema: false }, { zeroInit: true, configDir: dirname(model.targetSpan.file) });
    const ema = emaChoice(params.use_ema !== false, weights, s.ckpt, !s.ema);
    try {
      ld.loadFull(ema.use ? withEmaWeights(ld, weights) : weights, { strict: true, ignoreKeys: [/^first_stage_model\.loss\./, ...(hasFirstStage ? [] : ['first_stage_model.'])] });
    } catch (e) {
      if (e instanceof CliError) throw e;
      throw new CliError(`'${s.ckpt}' does not fit the config: ${(e as Error).message}`, 'check that the config (and its --set overrides) is the one the checkpoint was trained with');
    }
    file.close();
    if (firstStageCkpt) loadFirstStage(ld, firstStageCkpt, firstStage!, io);
    io.err(`ldmc: weights ${ema.message}`);
    ld.eval();
    const plan = planGrid(s, cond, ld);
    const stepsPerRow = sampleStepCount(ld, s.sampler, s.steps);
    io.err(`ldmc: ${describeSampler(s, stepsPerRow)}, seed ${seed}${s.seed === undefined ? ` (random; --seed ${seed} repeats this run)` : ''}`);
    io.err(`ldmc: ${plan.rows.reduce((n, r) => n + r.size, 0)} samples of [${ld.args.channels}, ${ld.args.image_size}, ${ld.args.image_size}] latents, ${plan.layout}`);
    const images = sampleRows(ld, s, plan, stepsPerRow, seededNoise(seed), io);
    const grid = makeGrid(images, { nrow: plan.nrow, padding: 2 });
    const out = resolve(s.out);
    await writePng(out, grid);
    const [, h, w] = images.shape;
    io.out(`wrote ${s.out}: ${grid.shape[1]}×${grid.shape[0]} grid of ${images.shape[0]} samples (${w}×${h}), ${plan.layout}`);
    return 0;
  } finally {
    file.close();
    ld?.dispose();
  }
}

type CondKind = { kind: 'unconditional' } | { kind: 'class'; nClasses: number } | { kind: 'other'; what: string };

/** What the cond stage conditions on, as its statics say (CondStageStatics.conditioning). */
function condKind(model: IRNode): CondKind {
  const c = model.children.get(diffusionSlots(model.spec).condStage);
  if (c === Sentinel.Unconditional) return { kind: 'unconditional' };
  if (c && typeof c === 'object') {
    const cs = c.spec.statics;
    const input = cs?.family === 'cond_stage' ? cs.conditioning : undefined;
    if (!input) return { kind: 'other', what: className(c) };
    switch (input.kind) {
      case 'class':
        return { kind: 'class', nClasses: Number(c.params[input.countParam] ?? 1000) };
      case 'text':
      case 'image':
      case 'map':
      case 'embedding':
        return { kind: 'other', what: className(c) };
      default:
        return assertNever(input, 'conditioning');
    }
  }
  return { kind: 'other', what: typeof c === 'string' ? c : 'an identity cond stage' };
}

function checkSettings(s: SampleSettings, cond: CondKind, T: number): void {
  if (cond.kind === 'other') {
    throw new CliError(`sampling a model conditioned by ${cond.what} is not supported yet: ldmc sample draws from unconditional and class-conditional (ClassEmbedder) models`);
  }
  if (s.steps !== undefined && s.sampler !== 'ddpm' && s.steps > T) throw new UsageError(`--steps ${s.steps} is more than the model's ${T} timesteps`);
  if (s.sampler === 'plms' && (s.eta ?? 0) !== 0) throw new UsageError('--eta must be 0 with --sampler plms (PLMS is deterministic)');
  if (cond.kind === 'unconditional') {
    if (s.classLabel !== undefined) throw new UsageError('--class needs a class-conditional model; this one is unconditional');
    if (s.scale !== 1) throw new CliError('--scale (classifier-free guidance) needs a conditional model; this one is unconditional');
    return;
  }
  const range = (k: string, v: number | undefined) => {
    if (v !== undefined && v >= cond.nClasses) throw new CliError(`--${k} ${v} is not a class of this model (n_classes is ${cond.nClasses}: 0 to ${cond.nClasses - 1})`);
  };
  range('class', s.classLabel);
  range('uc-class', s.ucClass);
  if (s.scale !== 1) {
    if (s.ucClass === undefined) {
      throw new CliError(
        `--scale ${s.scale} (classifier-free guidance) needs an unconditional class: the model must have been trained with a null class, whose embedding is the unconditional conditioning`,
        `pass --uc-class K with the model's null class (cin256-v2, with n_classes 1001, uses --uc-class 1000), or drop --scale`,
      );
    }
    if (s.sampler === 'ddpm') throw new CliError('classifier-free guidance is not supported with --sampler ddpm yet', 'use --sampler ddim or plms with --scale');
  }
}

/** The first stage's ckpt_path, which must exist when the checkpoint does not carry first_stage_model.* weights. */
function firstStageCheckpoint(ckpt: string, fs: IRNode | undefined): string {
  const p = fs?.params.ckpt_path;
  if (typeof p !== 'string' || p === '') {
    throw new CliError(
      `'${ckpt}' has no first_stage_model.* weights and the first stage has no ckpt_path to load them from`,
      `set ${CKPT_PATH_SET}=PATH to the autoencoder's checkpoint (--set ${CKPT_PATH_SET}=...), or sample from a checkpoint of the whole model`,
    );
  }
  if (!existsSync(p)) {
    const span = paramSpan(fs!, 'ckpt_path');
    const where = span.line > 0 ? ` (${span.file}:${span.line}:${span.col})` : '';
    throw new CliError(
      `the first stage's ckpt_path '${p}'${where} does not exist, and '${ckpt}' has no first_stage_model.* weights to use instead`,
      `paths are relative to the working directory (${process.cwd()}): train the autoencoder first, point ckpt_path at its checkpoint (--set ${CKPT_PATH_SET}=PATH), or pass a --ckpt that includes the first stage`,
    );
  }
  return p;
}

/** LatentDiffusion's first stage from its own checkpoint (init_from_ckpt): `loss.*` and the config's ignore_keys are dropped. */
function loadFirstStage(ld: LatentDiffusion, path: string, fs: IRNode, io: Io): void {
  withWeightsFile(path, (tensors) => loadFirstStageFrom(ld, tensors, path, fs, io));
}

function loadFirstStageFrom(ld: LatentDiffusion, tensors: ReadonlyMap<string, LazyTensor>, path: string, fs: IRNode, io: Io): void {
  const prefix = [...tensors.keys()].some((k) => k.startsWith('first_stage_model.')) ? 'first_stage_model.' : '';
  const ignore = [...((fs.params.ignore_keys as readonly string[] | undefined) ?? []), 'loss.'];
  const report = loadStateDict(ld.first_stage_model, tensors, { prefix, strict: false, ignoreKeys: (k) => ignore.some((p) => k.startsWith(p)) });
  if (report.missing.length || report.shapeMismatch.length) {
    throw new CliError(`the first stage's ckpt_path '${path}' does not fit the config: ${formatReport(className(fs), report)}`, 'check first_stage_config against the autoencoder config the checkpoint was trained with');
  }
  if (report.unexpected.length) io.err(`ldmc: warning: ${path}: ${report.unexpected.length} unused key(s): ${report.unexpected.slice(0, 5).join(', ')}${report.unexpected.length > 5 ? ', …' : ''}`);
  io.err(`ldmc: first stage from ${path} (${report.loaded} tensors)`);
}

function planGrid(s: SampleSettings, cond: CondKind, ld: LatentDiffusion): Plan {
  if (cond.kind !== 'class') {
    const n = s.n ?? 16;
    const nrow = Math.ceil(Math.sqrt(n));
    return { rows: [{ label: undefined, size: n }], nrow, layout: `${Math.ceil(n / nrow)} rows × ${Math.min(nrow, n)} columns, unconditional` };
  }
  const n = s.n ?? 8;
  if (s.classLabel !== undefined) return { rows: [{ label: s.classLabel, size: n }], nrow: n, layout: `1 row × ${n} columns of class ${s.classLabel}` };
  const classes = cond.nClasses;
  const key = ld.condStageKey;
  return {
    rows: Array.from({ length: classes }, (_, k) => ({ label: k, size: n })),
    nrow: n,
    layout: `${classes} rows × ${n} columns, row k = class k (${key} 0 to ${classes - 1}, top to bottom)`,
  };
}

function describeSampler(s: SampleSettings, steps: number): string {
  const guidance = s.scale !== 1 ? `, guidance scale ${s.scale} (unconditional class ${s.ucClass})` : '';
  if (s.sampler === 'ddpm') return `sampler ddpm (ancestral, all ${steps} timesteps${s.steps !== undefined ? `; --steps ${s.steps} ignored` : ''}${s.eta !== undefined ? '; --eta ignored' : ''})${guidance}`;
  const asked = s.steps ?? DEFAULT_SAMPLE_STEPS;
  const count = steps === asked ? `${steps} steps` : `${steps} steps (--steps ${asked} does not divide the model's timesteps)`;
  return `sampler ${s.sampler}, ${count}${s.sampler === 'ddim' ? `, eta ${s.eta ?? 0}` : ''}${guidance}`;
}

/** Runs the sampler row by row (one batch each), decodes, and returns every image in grid order. */
function sampleRows(ld: LatentDiffusion, s: SampleSettings, plan: Plan, stepsPerRow: number, noise: NoiseSource, io: Io): Uint8Images {
  const progress = new Progress(io.progress, plan.rows.length * stepsPerRow, { label: 'ldmc: sampling', unit: 'step' });
  let steps = 0;
  const parts: Uint8Array[] = [];
  let imageShape: readonly [number, number, number] | undefined;
  plan.rows.forEach((row, r) => {
    const rowLabel = plan.rows.length > 1 ? `row ${r + 1}/${plan.rows.length}${row.label !== undefined ? ` (class ${row.label})` : ''}` : '';
    const tick = () => progress.update(++steps, {}, rowLabel);
    const labels = (k: number) => tf.fill([row.size], k, 'int32');
    const held: Tensor[] = [];
    try {
      let c: Tensor | undefined, uc: Tensor | undefined;
      if (row.label !== undefined) {
        const ids = labels(row.label);
        held.push(ids, (c = ld.getLearnedConditioning(ids)));
        if (s.scale !== 1 && s.ucClass !== undefined) {
          const uids = labels(s.ucClass);
          held.push(uids, (uc = ld.getLearnedConditioning(uids)));
        }
      }
      const z = sampleLatents(ld, {
        batchSize: row.size,
        sampler: s.sampler,
        ...(s.steps !== undefined ? { steps: s.steps } : {}),
        ...(s.eta !== undefined ? { eta: s.eta } : {}),
        ...(c ? { cond: c } : {}),
        ...(uc ? { scale: s.scale, uncond: uc } : {}),
        noise,
        onStep: tick,
      });
      held.push(z);
      const x = ld.decodeFirstStage(z);
      held.push(x);
      const img = toUint8Images(x);
      imageShape = [img.shape[1], img.shape[2], img.shape[3]];
      parts.push(img.data);
    } finally {
      tf.dispose(held);
    }
  });
  progress.done();
  const total = plan.rows.reduce((n, r) => n + r.size, 0);
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    data.set(p, off);
    off += p.length;
  }
  return { data, shape: [total, ...imageShape!] };
}
