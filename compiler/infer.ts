// Phase 5, infer: static facts of the whole model from validated params — parameter counts,
// shapes, attention sites, FLOPs, a training-memory estimate and main.py's learning-rate rule.
// No tensors are allocated; the per-module walkers live in schema/facts.
import {
  autoencoderFacts,
  bertEmbedderFacts,
  classEmbedderFacts,
  identityFacts,
  spatialRescalerFacts,
  unetFacts,
  type AutoencoderFacts,
  type CondStageFacts,
  type FirstStageFactsParams,
  type Shape3,
  type UNetFacts,
  type UNetFactsParams,
} from '../schema/facts/index.js';
import { Sentinel, type SentinelValue } from '../schema/index.js';
import { diag, type Reporter } from './diagnostics.js';
import { child, className, type IRNode, type ModelGraph } from './ir.js';
import { extraComponents, isPluginTarget, pluginCondFacts, pluginFactsOf, type ExtraComponent } from './plugin-facts.js';

export type ConditioningKey = 'concat' | 'crossattn' | 'hybrid' | 'adm' | null;

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
  /** The model's parameter count, when every part of it is known. */
  totalParams?: number;
  /** Set instead when plugin targets without facts leave parts unknown: the known sum and the unknown parts' paths. */
  partialParams?: { readonly known: number; readonly unknown: readonly string[] };
  /** Modules a plugin hangs on the model (extended child slots such as personalization_config). */
  extras?: ExtraComponent[];
  memory?: MemoryEstimate;
  learningRate?: LearningRate;
}

export function inferGraph(g: ModelGraph, ctx: Reporter): Inference {
  const inf: Inference = { conditioningKey: null };
  const m = g.model;
  inf.dataImageSize = dataImageSize(g);
  if (!m) return inf;
  const fam = m.spec.families;
  if (fam.includes('first_stage')) {
    // An autoencoder config: the model is the first stage.
    inf.firstStage = firstStage(m, ctx);
  } else if (m.spec.families.includes('unet')) {
    if (m.valid && !isPluginTarget(m.spec)) {
      const facts = guard(ctx, m, () => unetFacts(m.params as unknown as UNetFactsParams));
      if (facts) inf.unet = { node: m, facts };
    }
  } else if (m.spec.families.includes('cond_stage')) {
    inf.condStage = { node: m, sentinel: undefined, facts: condFacts(m, inf.dataImageSize, ctx) };
  } else if (className(m) === 'LatentDiffusion') {
    const u = child(m, 'unet_config');
    const fs = child(m, 'first_stage_config');
    if (fs) inf.firstStage = firstStage(fs, ctx);
    const cs = m.children.get('cond_stage_config');
    const sentinel = typeof cs === 'string' ? cs : undefined;
    const csNode = cs && typeof cs === 'object' ? cs : undefined;
    inf.conditioningKey = conditioningKey(m, sentinel);
    const imageSide = inf.dataImageSize ?? (inf.firstStage ? inf.firstStage.facts.inputShape[1] : undefined);
    inf.condStage = { node: csNode, sentinel, facts: csNode ? condFacts(csNode, imageSide, ctx) : undefined };
    if (u && u.valid && !isPluginTarget(u.spec)) {
      const contextTokens = inf.condStage.facts?.output.kind === 'tokens' ? inf.condStage.facts.output.shape[0] : 1;
      const facts = guard(ctx, u, () => unetFacts(u.params as unknown as UNetFactsParams, { contextTokens }));
      if (facts) inf.unet = { node: u, facts };
    }
  }
  inf.latentShape = inf.firstStage?.facts.latentShape;
  inf.extras = extraComponents(g, ctx);
  const total = totalParams(inf, m, ctx);
  if (total?.unknown.length) inf.partialParams = total;
  else if (total) inf.totalParams = total.known;
  inf.memory = memory(g, inf, m);
  inf.learningRate = learningRate(g);
  return inf;
}

function guard<T>(ctx: Reporter, n: IRNode, f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    ctx.report(diag(n.targetSpan, 'Internal_error_0', [`static inference of ${className(n)} failed: ${(e as Error).message}`], { hint: 'please report this config to the ldmc maintainers' }));
    return undefined;
  }
}

function firstStage(n: IRNode, ctx: Reporter): { node: IRNode; facts: AutoencoderFacts } | undefined {
  // A plugin's first stage has only the facts its plugin gives (counted in totalParams).
  if (!n.valid || isPluginTarget(n.spec)) return undefined;
  const kind = className(n) === 'AutoencoderKL' ? 'kl' : 'vq';
  const facts = guard(ctx, n, () => autoencoderFacts({ kind, ...(n.params as object) } as FirstStageFactsParams));
  return facts ? { node: n, facts } : undefined;
}

function condFacts(n: IRNode, imageSide: number | undefined, ctx: Reporter): CondStageFacts | undefined {
  if (!n.valid) return undefined;
  if (isPluginTarget(n.spec)) return pluginCondFacts(n, ctx);
  // Validated params already have the shapes the facts walkers take (schema/ is their source).
  const p = n.params as never;
  return guard(ctx, n, () => {
    switch (className(n)) {
      case 'ClassEmbedder':
        return classEmbedderFacts(p);
      case 'BERTEmbedder':
        return bertEmbedderFacts(p);
      case 'SpatialRescaler': {
        const side = imageSide ?? 256;
        return spatialRescalerFacts(p, [(n.params.in_channels as number) ?? 3, side, side]);
      }
      case 'Identity':
        return identityFacts(null);
      default:
        return undefined;
    }
  });
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

/**
 * The model's parameter count: the sum of its parts. A part that is a plugin target without facts
 * is unknown (its path listed, the sum partial); a built-in part without facts (invalid params)
 * leaves the total undefined, as before.
 */
function totalParams(inf: Inference, m: IRNode, ctx: Reporter): { known: number; unknown: string[] } | undefined {
  const unknown: string[] = [];
  const part = (node: IRNode | undefined, count: number | undefined): number | undefined => {
    if (count !== undefined) return count;
    if (node && isPluginTarget(node.spec)) {
      unknown.push(node.path);
      return 0;
    }
    return undefined;
  };
  const extras = (inf.extras ?? []).reduce((sum, e) => sum + (part(e.node, e.paramCount) ?? 0), 0);
  const done = (n: number | undefined) => (n === undefined ? undefined : { known: n + extras, unknown });
  if (isPluginTarget(m.spec)) return done(part(m, pluginFactsOf(m, ctx)?.paramCount));
  if (m.spec.families.includes('first_stage')) return done(inf.firstStage?.facts.paramCount);
  if (m.spec.families.includes('unet')) return done(inf.unet?.facts.paramCount);
  if (m.spec.families.includes('cond_stage')) return done(part(inf.condStage?.node, inf.condStage?.facts?.paramCount));
  const u = part(child(m, 'unet_config'), inf.unet?.facts.paramCount);
  const fs = part(child(m, 'first_stage_config'), inf.firstStage?.facts.paramCount);
  if (u === undefined || fs === undefined) return undefined;
  const cs = inf.condStage?.node;
  const cond = cs && isPluginTarget(cs.spec) ? part(cs, inf.condStage?.facts?.paramCount)! : inf.condStage?.facts?.paramCount ?? 0;
  const logvar = m.params.learn_logvar ? (m.params.timesteps as number) : 0;
  return done(u + fs + cond + logvar);
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
  const condParams = inf.condStage?.facts?.paramCount ?? 0;
  const condTrainable = m.params.cond_stage_trainable ? condParams : 0;
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
