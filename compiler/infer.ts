// Phase 5, infer: static facts of the whole model from validated params — parameter counts,
// shapes, attention sites, FLOPs, a training-memory estimate and main.py's learning-rate rule.
// No tensors are allocated; the per-module walkers live in schema/facts.
import { dirname, isAbsolute, join } from 'node:path';
import type { AutoencoderFacts, CondStageFacts, Shape3, UNetFacts } from '../schema/facts/index.js';
import { assertNever, type CondEnv } from '../schema/family.js';
import { Sentinel, type ConditioningKey as SchemaConditioningKey, type SentinelValue } from '../schema/index.js';
import { diag, type Reporter } from './diagnostics.js';
import { child, className, paramSpan, type IRNode, type ModelGraph } from './ir.js';
import { PluginFactsError } from '../schema/plugin.js';
import { isPluginTarget, pluginFactsOf, pluginParts, reportPluginFacts, type PluginPart } from './plugin-facts.js';

/** LatentDiffusion's settled conditioning_key; null = unconditional. */
export type ConditioningKey = SchemaConditioningKey | null;

export interface MemoryEstimate {
  readonly batchSize: number;
  readonly trainableParams: number;
  readonly frozenParams: number;
  readonly weightsBytes: number;
  readonly gradientsBytes: number;
  /** Adam: two float32 moments per trainable parameter. */
  readonly optimizerBytes: number;
  /** EMA copy of the trained network (LitEma). */
  readonly emaBytes: number;
  readonly activationsBytes: number;
  readonly totalBytes: number;
}

export interface LearningRate {
  readonly value: number;
  readonly base: number;
  readonly batchSize: number;
  readonly ngpu: number;
  readonly accumulateGradBatches: number;
}

export interface Inference {
  unet?: { node: IRNode; facts: UNetFacts };
  firstStage?: { node: IRNode; facts: AutoencoderFacts };
  condStage?: { node: IRNode | undefined; sentinel: SentinelValue | undefined; facts: CondStageFacts | undefined };
  /** What LatentDiffusion.__init__ settles on after concat_mode and the sentinels. */
  conditioningKey: ConditioningKey;
  latentShape?: Shape3;
  /** Image size the data module feeds (dataset `size`), when the config says. */
  dataImageSize?: number;
  /**
   * Conditioning modules a diffusion wrapper holds besides its cond stage (sd2's embedder_config,
   * noise_aug_config, low_scale_config, depth_stage_config): every other child whose target is
   * a cond stage. Their parameters are the model's too.
   */
  extras?: { slot: string; node: IRNode; facts: CondStageFacts | undefined }[];
  /** Sum of the known parameter counts; see `unknownParams`. */
  totalParams?: number;
  /** Parts whose count is unknown (`slot: Class — why`): `totalParams` is then partial. */
  unknownParams?: string[];
  /** Modules a plugin hangs on the model through an extended slot (e.g. personalization_config), cond stages aside. */
  pluginParts?: PluginPart[];
  memory?: MemoryEstimate;
  learningRate?: LearningRate;
}

/** Reads a file by its path (the compiler's host, through the project so edits re-run inference). */
export type FileReader = (path: string) => string | Error;

/**
 * `files`: how facts read the files a param names (an encoder's model-config JSON). Without it
 * such params are looked up by name only.
 */
export function inferGraph(g: ModelGraph, ctx: Reporter, files?: FileReader): Inference {
  const inf: Inference = { conditioningKey: null };
  const m = g.model;
  inf.dataImageSize = dataImageSize(g);
  if (!m) return inf;
  const st = m.spec.statics;
  // The model's family decides how its facts are gathered; targets without statics (a plugin's,
  // say) have no facts, and the totals stay unknown.
  if (st) {
    switch (st.family) {
      case 'first_stage':
        // An autoencoder config: the model is the first stage.
        inf.firstStage = firstStage(m, ctx);
        break;
      case 'unet': {
        const facts = unetOf(m, 1, ctx);
        if (facts) inf.unet = { node: m, facts };
        break;
      }
      case 'cond_stage':
        inf.condStage = { node: m, sentinel: undefined, facts: condFacts(m, inf.dataImageSize, ctx, files) };
        break;
      case 'diffusion': {
        const u = child(m, st.slots.unet);
        const fs = child(m, st.slots.firstStage);
        // The model samples image_size × image_size latents, so its first stage encodes and decodes
        // images of image_size × its factor, whatever ddconfig.resolution records (SD's VAE says
        // 256; SD samples 64×64 latents, 512px images): ddpm.py never hands resolution on, and the
        // convolutional Encoder/Decoder read it only to place attention levels.
        // An image_size validation refused (0, negative, fractional) sizes nothing: its error is reported.
        const size = m.params.image_size;
        const side = typeof size === 'number' && Number.isInteger(size) && size >= 1 ? size : undefined;
        if (fs) inf.firstStage = firstStage(fs, ctx, side);
        const cs = m.children.get(st.slots.condStage);
        const sentinel = typeof cs === 'string' ? cs : undefined;
        const csNode = cs && typeof cs === 'object' ? cs : undefined;
        inf.conditioningKey = conditioningKey(m, sentinel);
        const imageSide = inf.dataImageSize ?? (inf.firstStage ? inf.firstStage.facts.inputShape[1] : undefined);
        inf.condStage = { node: csNode, sentinel, facts: csNode ? condFacts(csNode, imageSide, ctx, files) : undefined };
        inf.extras = extraStages(m, [st.slots.unet, st.slots.firstStage, st.slots.condStage], imageSide, ctx, files);
        if (u) {
          const contextTokens = inf.condStage.facts?.output.kind === 'tokens' ? inf.condStage.facts.output.shape[0] : 1;
          // The UNet runs on image_size × image_size latents (the diffusion model's, not its own
          // recorded-only image_size), so its facts and generated shapes use that size.
          const facts = unetOf(u, contextTokens, ctx, side);
          if (facts) inf.unet = { node: u, facts };
        }
        break;
      }
      case 'loss':
      case 'lr_scheduler':
      case 'callback':
        break; // not a model: resolve refuses them in the model slot
      default:
        assertNever(st, 'family');
    }
  }
  inf.latentShape = inf.firstStage?.facts.latentShape;
  inf.pluginParts = pluginParts(g, ctx);
  inf.totalParams = totalParams(inf, m, ctx);
  inf.memory = memory(g, inf, m);
  inf.learningRate = learningRate(g);
  return inf;
}

function guard<T>(ctx: Reporter, n: IRNode, f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    // A plugin's own facts function threw: the plugin's fault, not ldmc's.
    if (e instanceof PluginFactsError) {
      reportPluginFacts(n, e, ctx);
      return undefined;
    }
    ctx.report(diag(n.targetSpan, 'Internal_error_0', [`static inference of ${className(n)} failed: ${(e as Error).message}`], { hint: 'please report this config to the ldmc maintainers' }));
    return undefined;
  }
}

// Each asks the node's own spec (schema/family.ts); a node of another family, or a target with no
// statics, has no facts. Validated params already have the shapes the walkers take.
function unetOf(n: IRNode, contextTokens: number, ctx: Reporter, side?: number): UNetFacts | undefined {
  const st = n.spec.statics;
  if (!n.valid || st?.family !== 'unet') return undefined;
  return guard(ctx, n, () => st.facts(n.params, { contextTokens, ...(side !== undefined ? { inputSize: [side, side] as [number, number] } : {}) }));
}

/**
 * A first stage's facts; `latentSide` (a diffusion wrapper's image_size) runs them on the images
 * of that many latents per side, i.e. latentSide × the downsampling factor. Without it (an
 * autoencoder config) they run at ddconfig.resolution.
 */
function firstStage(n: IRNode, ctx: Reporter, latentSide?: number): { node: IRNode; facts: AutoencoderFacts } | undefined {
  const st = n.spec.statics;
  if (!n.valid || st?.family !== 'first_stage') return undefined;
  const recorded = guard(ctx, n, () => st.facts(n.params));
  if (!recorded || latentSide === undefined) return recorded ? { node: n, facts: recorded } : undefined;
  const inputSide = latentSide * recorded.downsamplingFactor;
  if (inputSide === recorded.inputShape[1]) return { node: n, facts: recorded };
  const facts = guard(ctx, n, () => st.facts(n.params, { inputSide }));
  return facts ? { node: n, facts } : undefined;
}

function condFacts(n: IRNode, imageSide: number | undefined, ctx: Reporter, files: FileReader | undefined, vectorInput?: number): CondStageFacts | undefined {
  const st = n.spec.statics;
  if (!n.valid || st?.family !== 'cond_stage') return undefined;
  const env: CondEnv = { imageSide, ...(vectorInput === undefined ? {} : { vectorInput }), ...(files ? { readParamFile: paramFileReader(n, files) } : {}) };
  return guard(ctx, n, () => st.facts(n.params, env));
}

/**
 * A param's path is relative to the config file that wrote it (a base config's paths stay its
 * own), like a modeline base; an absolute path is itself.
 */
function paramFileReader(n: IRNode, files: FileReader): (param: string, path: string) => string | Error {
  return (param, path) => files(isAbsolute(path) ? path : join(dirname(paramSpan(n, param).file), path));
}

/**
 * The wrapper's other cond-stage children, in config order. A stage that noises another stage's
 * vector (unCLIP's noise augmentor after its image embedder) is given that vector's width: the
 * only vector-output stage among them.
 */
function extraStages(m: IRNode, taken: readonly string[], imageSide: number | undefined, ctx: Reporter, files: FileReader | undefined): NonNullable<Inference['extras']> {
  const out: NonNullable<Inference['extras']> = [];
  for (const [slot, c] of m.children) {
    if (taken.includes(slot) || !c || typeof c !== 'object' || c.spec.statics?.family !== 'cond_stage') continue;
    out.push({ slot, node: c, facts: condFacts(c, imageSide, ctx, files) });
  }
  const vec = out.find((e) => e.facts?.output.kind === 'vector')?.facts?.output;
  if (vec?.kind === 'vector') {
    for (const e of out) if (e.facts?.noiseLevel?.kind === 'vector') e.facts = condFacts(e.node, imageSide, ctx, files, vec.width);
  }
  return out;
}

/** LatentDiffusion.__init__: `conditioning_key` defaults from concat_mode; unconditional wins. */
export function conditioningKey(m: IRNode, sentinel: SentinelValue | undefined): ConditioningKey {
  if (sentinel === Sentinel.Unconditional) return null;
  const explicit = m.params.conditioning_key as ConditioningKey | undefined;
  if (explicit) return explicit;
  return m.params.concat_mode === false ? 'crossattn' : 'concat';
}

function dataImageSize(g: ModelGraph): number | undefined {
  const train = child(g.data, 'train') ?? child(g.data, 'validation');
  const size = train?.params.size;
  return typeof size === 'number' ? size : undefined;
}

function totalParams(inf: Inference, m: IRNode, ctx: Reporter): number | undefined {
  const unknown: string[] = [];
  // Plugin targets with no statics (a plugin UNet, first stage or model) count what their plugin
  // gives, else they are unknown parts; so do the modules a plugin hangs on the model.
  const plugin = (slot: string, n: IRNode | undefined): number | undefined => {
    if (!n || !isPluginTarget(n.spec) || n.spec.statics) return undefined;
    const c = pluginFactsOf(n, ctx)?.paramCount;
    if (c === undefined) unknown.push(`${slot}: ${className(n)} (a target of plugin ${n.spec.plugin!.file} without a param count)`);
    return c ?? 0;
  };
  let extra = 0;
  for (const p of inf.pluginParts ?? []) {
    if (p.paramCount !== undefined) extra += p.paramCount;
    else unknown.push(`${p.slot}: ${className(p.node)} (${isPluginTarget(p.node.spec) ? `a target of plugin ${p.node.spec.plugin!.file} without a param count` : 'no facts'})`);
  }
  const own = plugin('model', m);
  const total = own !== undefined ? own : builtinTotal(inf, m, unknown, plugin);
  if (unknown.length) inf.unknownParams = [...(inf.unknownParams ?? []), ...unknown];
  return total === undefined ? undefined : total + extra;
}

function builtinTotal(inf: Inference, m: IRNode, unknown: string[], plugin: (slot: string, n: IRNode | undefined) => number | undefined): number | undefined {
  if (m.spec.families.includes('first_stage')) return inf.firstStage?.facts.paramCount;
  if (m.spec.families.includes('unet')) return inf.unet?.facts.paramCount;
  if (m.spec.families.includes('cond_stage')) {
    const f = inf.condStage?.facts;
    if (f && f.paramCount === null) inf.unknownParams = [unknownPart('model', m, f)];
    return f?.paramCount ?? undefined;
  }
  const st = m.spec.statics;
  const slots = st?.family === 'diffusion' ? st.slots : undefined;
  const unetCount = inf.unet?.facts.paramCount ?? plugin(slots?.unet ?? 'unet_config', slots ? child(m, slots.unet) : undefined);
  const firstCount = inf.firstStage?.facts.paramCount ?? plugin(slots?.firstStage ?? 'first_stage_config', slots ? child(m, slots.firstStage) : undefined);
  if (unetCount === undefined || firstCount === undefined) return undefined;
  let cond = 0;
  const stages = [...(inf.condStage?.node ? [{ slot: 'cond_stage_config', node: inf.condStage.node, facts: inf.condStage.facts }] : []), ...(inf.extras ?? [])];
  for (const e of stages) {
    if (e.facts?.paramCount == null) unknown.push(unknownPart(e.slot, e.node, e.facts));
    else cond += e.facts.paramCount;
  }
  const logvar = m.params.learn_logvar ? (m.params.timesteps as number) : 0;
  return unetCount + firstCount + cond + logvar;
}

function unknownPart(slot: string, n: IRNode, f: CondStageFacts | undefined): string {
  return `${slot}: ${className(n)}${f?.note ? ` (${f.note})` : ''}`;
}

/** Known parameters of the cond stage and the extra stages (what is frozen with them). */
function condParamCount(inf: Inference): number {
  let n = inf.condStage?.facts?.paramCount ?? 0;
  for (const e of inf.extras ?? []) n += e.facts?.paramCount ?? 0;
  return n;
}

function batchSize(g: ModelGraph): number {
  const b = g.data?.params.batch_size;
  return typeof b === 'number' ? b : 1;
}

function memory(g: ModelGraph, inf: Inference, m: IRNode): MemoryEstimate | undefined {
  const B = batchSize(g);
  const F = 4; // float32
  if (m.spec.families.includes('first_stage')) {
    const fs = inf.firstStage?.facts;
    if (!fs) return undefined;
    const trainable = fs.paramCount;
    const ema = m.params.use_ema ? trainable : 0;
    return finish(B, trainable, 0, ema, fs.activationElements * B * F);
  }
  if (m.spec.families.includes('unet')) {
    if (!inf.unet) return undefined;
    const u = inf.unet.facts;
    return finish(B, u.paramCount, 0, 0, (u.activationElements + u.recomputePeakElements) * B * F);
  }
  if (!inf.unet || !inf.firstStage) return undefined;
  const condParams = condParamCount(inf);
  // cond_stage_trainable trains the cond stage only; the extra stages stay frozen.
  const condTrainable = m.params.cond_stage_trainable ? inf.condStage?.facts?.paramCount ?? 0 : 0;
  const trainable = inf.unet.facts.paramCount + condTrainable + (m.params.learn_logvar ? (m.params.timesteps as number) : 0);
  const frozen = inf.firstStage.facts.paramCount + (condParams - condTrainable);
  const ema = m.params.use_ema ? inf.unet.facts.paramCount : 0;
  // The first stage encodes under no_grad; its activations are transient, the UNet's are kept.
  const acts = (inf.unet.facts.activationElements + inf.unet.facts.recomputePeakElements) * B * F;
  return finish(B, trainable, frozen, ema, acts);
}

function finish(B: number, trainable: number, frozen: number, emaParams: number, activationsBytes: number): MemoryEstimate {
  const F = 4;
  const weightsBytes = (trainable + frozen) * F;
  const gradientsBytes = trainable * F;
  const optimizerBytes = 2 * trainable * F;
  const emaBytes = emaParams * F;
  return {
    batchSize: B,
    trainableParams: trainable,
    frozenParams: frozen,
    weightsBytes,
    gradientsBytes,
    optimizerBytes,
    emaBytes,
    activationsBytes,
    totalBytes: weightsBytes + gradientsBytes + optimizerBytes + emaBytes + activationsBytes,
  };
}

/** main.py: `lr = accumulate_grad_batches × ngpu × batch_size × base_learning_rate` (scale_lr on). */
function learningRate(g: ModelGraph): LearningRate | undefined {
  if (g.baseLearningRate === undefined) return undefined;
  const bs = batchSize(g);
  const acc = typeof g.trainer.accumulate_grad_batches === 'number' ? g.trainer.accumulate_grad_batches : 1;
  const ngpu = countGpus(g.trainer.gpus);
  return { value: acc * ngpu * bs * g.baseLearningRate, base: g.baseLearningRate, batchSize: bs, ngpu, accumulateGradBatches: acc };
}

/** main.py: `len(trainer.gpus.strip(",").split(","))`, and 1 when training on the CPU. */
export function countGpus(gpus: unknown): number {
  if (typeof gpus === 'string') return Math.max(1, gpus.replace(/^,+|,+$/g, '').split(',').filter((s) => s.trim() !== '').length);
  if (typeof gpus === 'number' && gpus > 0) return gpus;
  if (Array.isArray(gpus) && gpus.length > 0) return gpus.length;
  return 1;
}
