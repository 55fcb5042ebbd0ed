// LatentDiffusion (ldm/models/diffusion/ddpm.py): a frozen first stage, an optional cond stage,
// the UNet behind DiffusionWrapper, the DDPM schedule and losses, and LitEma — with the
// reference's checkpoint names (`model.diffusion_model.*`, `first_stage_model.*`,
// `cond_stage_model.*`, `model_ema.*`, the schedule buffers), so checkpoints move both ways.
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor1D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { assertNever, isPassthrough, type CondInput, type FirstStageStatics } from '../../schema/family.js';
import { lookupTarget, type ChildConfig, type LatentDiffusionParams, type ReadonlyParams, type SentinelValue } from '../../schema/index.js';
import type { AutoencoderKL, VQModel, VQModelInterface } from '../autoencoder/index.js';
import { buildComponent, type RuntimeComponent } from '../build.js';
import { buildWithZeroInit } from '../nn/init.js';
import type { BERTEmbedder, ClassEmbedder, FrozenCLIPEmbedder, FrozenOpenCLIPEmbedder, SpatialRescaler } from '../encoders/index.js';
import { Module } from '../module.js';
import type { UNetModel } from '../unet/index.js';
import { checkStateDict, formatReport, fromTorch, loadStateDict, stateDict, toTorch, type LoadReport, type TorchTensor } from '../weights/state-dict.js';
import { DiffusionWrapper, toCondDict, type Cond, type ConditioningKey } from './conditioning.js';
import { DDPM, stdScaleFactor, type LossResult } from './ddpm.js';
import { LitEma } from './ema.js';
import { SCHEDULE_BUFFER_NAMES } from './schedule.js';

/** LatentDiffusion's params as the compiler resolves them: children as `{target, params}` or a sentinel. */
export type LatentDiffusionArgs = ReadonlyParams<Omit<LatentDiffusionParams, 'unet_config' | 'first_stage_config' | 'cond_stage_config' | 'scheduler_config'>> & {
  readonly unet_config: ResolvedChild;
  readonly first_stage_config: ResolvedChild;
  readonly cond_stage_config: ResolvedChild | SentinelValue;
  readonly scheduler_config?: ResolvedChild | null;
};

export interface ResolvedChild extends ChildConfig {
  readonly target: string;
  readonly params: Readonly<Record<string, unknown>>;
}

export type FirstStage = VQModelInterface | VQModel | AutoencoderKL;
export type CondStage = ClassEmbedder | SpatialRescaler | BERTEmbedder | FrozenCLIPEmbedder | FrozenOpenCLIPEmbedder;

export interface LatentDiffusionOptions {
  /** Zero-initialise (weights are loaded next). */
  zeroInit?: boolean;
  /** The config file's directory, where relative paths in the children's params start (BuildOptions.configDir). */
  configDir?: string;
  /**
   * Builders of the children, used instead of building them from their configs (the generated
   * classes pass their typed UNet, first stage and cond stage). They run in the reference's
   * attribute order, under zeroInit when set, so state_dict names and init draws are unchanged.
   */
  components?: LatentDiffusionComponents;
}

export interface LatentDiffusionComponents {
  readonly unet?: () => UNetModel;
  readonly firstStage?: () => FirstStage;
  /** Ignored when cond_stage_config is a sentinel or torch.nn.Identity. */
  readonly condStage?: () => CondStage;
}

/** A training batch: NHWC images in [-1, 1] under first_stage_key, the conditioning under cond_stage_key. */
export type Batch = Readonly<Record<string, Tensor>>;

export class LatentDiffusion extends Module {
  static override readonly className = 'LatentDiffusion';
  readonly model: DiffusionWrapper;
  readonly first_stage_model: FirstStage;
  readonly cond_stage_model: CondStage | null;
  readonly ddpm: DDPM;
  readonly ema: LitEma | null;
  readonly conditioningKey: ConditioningKey | null;
  readonly condSentinel: SentinelValue | undefined;
  /** How the first stage encodes (its registry statics: 'vq' quantizes, 'vq-interface' stops before, 'kl' samples the posterior). */
  readonly firstStageKind: FirstStageStatics['codegen'];
  /** What the cond stage reads (its registry statics), which decides how it is called; undefined without one. */
  readonly condInput: CondInput | undefined;
  /** Latents are multiplied by this before diffusion (a buffer once scale_by_std has set it). */
  scaleFactor: number;
  /** Whether scale_by_std still has to measure the first batch. */
  needsScale: boolean;

  constructor(readonly args: LatentDiffusionArgs, opts: LatentDiffusionOptions = {}) {
    super();
    const given = opts.components ?? {};
    const build = (c: ResolvedChild, own?: () => RuntimeComponent): RuntimeComponent =>
      own ? (opts.zeroInit ? buildWithZeroInit(own) : own()) : buildComponent(c.target, c.params as Record<string, unknown>, opts);
    const cs = args.cond_stage_config;
    this.condSentinel = typeof cs === 'string' ? cs : undefined;
    // LatentDiffusion.__init__: conditioning_key from concat_mode, reset for unconditional models.
    this.conditioningKey = this.condSentinel === '__is_unconditional__' ? null : ((args.conditioning_key as ConditioningKey | null) ?? (args.concat_mode ? 'concat' : 'crossattn'));
    // Attribute order of the reference: model (DDPM.__init__), then first_stage_model, cond_stage_model.
    this.model = this.add('model', new DiffusionWrapper(build(args.unet_config, given.unet) as UNetModel, this.conditioningKey));
    // The registry's statics say what each child is and how it is called, never its class.
    const fsStatics = lookupTarget(args.first_stage_config.target)?.statics;
    if (fsStatics?.family !== 'first_stage') throw new Error(`LatentDiffusion: first_stage_config must be an autoencoder, got ${args.first_stage_config.target}`);
    this.firstStageKind = fsStatics.codegen;
    this.first_stage_model = this.add('first_stage_model', build(args.first_stage_config, given.firstStage) as FirstStage);
    let cond: CondStage | null = null;
    let condInput: CondInput | undefined;
    const csSpec = typeof cs === 'string' ? undefined : lookupTarget(cs.target);
    // A passthrough cond stage (torch.nn.Identity: the registry says so) builds nothing.
    if (typeof cs !== 'string' && !isPassthrough(csSpec)) {
      const st = csSpec?.statics;
      if (st?.family !== 'cond_stage') throw new Error(`LatentDiffusion: cond_stage_config ${cs.target} is not a conditioning stage`);
      condInput = st.conditioning;
      cond = this.add('cond_stage_model', build(cs, given.condStage) as CondStage);
    }
    this.cond_stage_model = cond;
    this.condInput = condInput;
    this.ddpm = new DDPM(this.model.asEpsModel(), {
      timesteps: args.timesteps,
      betaSchedule: args.beta_schedule,
      linearStart: args.linear_start,
      linearEnd: args.linear_end,
      cosineS: args.cosine_s,
      ...(args.given_betas ? { givenBetas: args.given_betas } : {}),
      vPosterior: args.v_posterior,
      parameterization: args.parameterization,
      lossType: args.loss_type,
      lSimpleWeight: args.l_simple_weight,
      originalElboWeight: args.original_elbo_weight,
      learnLogvar: args.learn_logvar,
      logvarInit: args.logvar_init,
      clipDenoised: false, // LatentDiffusion turns clipping off
      conditioningKey: this.conditioningKey,
    });
    this.ema = args.use_ema ? new LitEma(this.model) : null;
    this.scaleFactor = args.scale_factor;
    this.needsScale = args.scale_by_std;
    // The first stage is frozen (instantiate_first_stage: eval mode, requires_grad False).
    this.first_stage_model.eval();
  }

  get condStageKey(): string {
    return this.args.cond_stage_key;
  }

  get firstStageKey(): string {
    return this.args.first_stage_key;
  }

  /** Variables the optimizer updates: the UNet, the cond stage when trainable, a learned logvar. */
  trainableVariables(): tf.Variable[] {
    const vs = this.model.parameters().filter((v) => v.trainable);
    if (this.cond_stage_model && this.args.cond_stage_trainable) vs.push(...this.cond_stage_model.parameters().filter((v) => v.trainable));
    if (this.ddpm.learnLogvar) vs.push(this.ddpm.logvar as tf.Variable);
    return vs;
  }

  /** apply_model: the UNet behind DiffusionWrapper, the conditioning wrapped by conditioning_key. */
  applyModel(x: Tensor4D, t: Tensor1D, cond?: Cond): Tensor4D {
    return this.model.forward(x, t, toCondDict(cond, this.conditioningKey));
  }

  /** encode_first_stage + get_first_stage_encoding: a latent sample, times scale_factor. */
  encodeFirstStage(x: Tensor4D, eps?: Tensor4D): Tensor4D {
    return tf.tidy(() => {
      const z = this.encodeUnscaled(x, eps);
      return tf.mul(z, this.scaleFactor) as Tensor4D;
    });
  }

  /** The first stage's encode, as its kind (registry statics) defines it. */
  private encodeUnscaled(x: Tensor4D, eps?: Tensor4D): Tensor4D {
    const kind = this.firstStageKind;
    switch (kind) {
      case 'kl': {
        const post = (this.first_stage_model as AutoencoderKL).encode(x);
        const z = post.sample(eps);
        post.dispose();
        return z;
      }
      case 'vq-interface':
        return (this.first_stage_model as VQModelInterface).encode(x);
      case 'vq':
        return (this.first_stage_model as VQModel).encode(x).quant;
      default:
        return assertNever(kind, 'first stage kind');
    }
  }

  /** decode_first_stage: latents / scale_factor, then the decoder (VQModelInterface quantizes first). */
  decodeFirstStage(z: Tensor4D): Tensor4D {
    return tf.tidy(() => {
      const h = tf.div(z, this.scaleFactor) as Tensor4D;
      return this.first_stage_model.decode(h);
    });
  }

  /** get_learned_conditioning: the cond stage applied to the raw conditioning input. */
  getLearnedConditioning(c: Tensor): Tensor {
    if (this.condSentinel === '__is_first_stage__') return this.encodeFirstStage(c as Tensor4D);
    const m = this.cond_stage_model;
    if (!m) return c; // torch.nn.Identity
    const input = this.condInput;
    if (!input) return (m as { forward(c: Tensor): Tensor }).forward(c);
    switch (input.kind) {
      case 'class':
        return (m as ClassEmbedder).embedClasses(c);
      case 'map':
      case 'image':
        return (m as { forward(c: Tensor4D): Tensor }).forward(c as Tensor4D);
      case 'text':
      case 'embedding':
        return (m as { forward(c: tf.Tensor2D): Tensor }).forward(c as tf.Tensor2D);
      default:
        return assertNever(input, 'conditioning');
    }
  }

  /** The conditioning of a batch, or undefined for an unconditional model. */
  conditioning(batch: Batch): Cond | undefined {
    if (this.conditioningKey === null) return undefined;
    const raw = batch[this.condStageKey];
    if (!raw) throw new Error(`LatentDiffusion: the batch has no '${this.condStageKey}' (cond_stage_key); it has ${Object.keys(batch).join(', ')}`);
    return this.getLearnedConditioning(raw);
  }

  /**
   * scale_by_std: on the very first batch, scale_factor = 1 / std(z) of the unscaled latents
   * (on_train_batch_start in the reference). Returns the new factor, or undefined.
   */
  maybeSetScale(images: Tensor4D): number | undefined {
    if (!this.needsScale) return undefined;
    this.needsScale = false;
    const prev = this.scaleFactor;
    this.scaleFactor = 1;
    const z = this.encodeFirstStage(images);
    this.scaleFactor = stdScaleFactor(z);
    z.dispose();
    return prev === this.scaleFactor ? undefined : this.scaleFactor;
  }

  /** shared_step: encode the images (no gradient), draw t, p_losses. */
  trainingLoss(batch: Batch, opts: { t?: Tensor1D; noise?: Tensor4D; training?: boolean } = {}): LossResult {
    const images = batch[this.firstStageKey] as Tensor4D | undefined;
    if (!images) throw new Error(`LatentDiffusion: the batch has no '${this.firstStageKey}' (first_stage_key)`);
    // No gradient reaches the first stage: its variables are never in the optimizer's list.
    const z = this.encodeFirstStage(images);
    const B = z.shape[0];
    const t = opts.t ?? (tf.randomUniform([B], 0, this.ddpm.numTimesteps, 'int32') as Tensor1D);
    try {
      const cond = this.conditioning(batch);
      return this.ddpm.pLosses(z, t, { ...(cond ? { cond } : {}), ...(opts.noise ? { noise: opts.noise } : {}), training: opts.training ?? true });
    } finally {
      z.dispose();
      if (!opts.t) t.dispose();
    }
  }

  /** The whole state_dict in PyTorch names: what `model.state_dict()` of the reference holds. */
  fullStateDict(): Map<string, { shape: number[]; data: Float32Array }> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    const f32 = this.ddpm.schedule.f32 as unknown as Record<string, Float32Array>;
    for (const name of SCHEDULE_BUFFER_NAMES) out.set(name, { shape: [f32[name]!.length], data: f32[name]! });
    if (this.ddpm.learnLogvar) out.set('logvar', { shape: [this.ddpm.numTimesteps], data: this.ddpm.logvar.dataSync() as Float32Array });
    for (const [k, v] of stateDict(this.model, 'model.')) out.set(k, v);
    for (const [k, v] of stateDict(this.first_stage_model, 'first_stage_model.')) out.set(k, v);
    if (this.cond_stage_model) for (const [k, v] of stateDict(this.cond_stage_model, 'cond_stage_model.')) out.set(k, v);
    if (this.args.scale_by_std) out.set('scale_factor', { shape: [], data: new Float32Array([this.scaleFactor]) });
    if (this.ema) {
      for (const b of this.ema.buffers()) {
        const t = toTorch(b.tensor, b.layout);
        out.set(`model_ema.${b.name}`, { shape: [...t.shape], data: Float32Array.from(t.dataSync()) });
        t.dispose();
        if (b.name === 'decay' || b.name === 'num_updates') b.tensor.dispose();
      }
    }
    return out;
  }

  /**
   * Loads a whole LatentDiffusion state_dict (as fullStateDict writes it, or the reference's
   * checkpoint after `ldmc convert`): module weights by name, then the EMA shadows, logvar and
   * scale_factor. Schedule buffers are recomputed from the config, so they are accepted but not read.
   */
  loadFull(tensors: ReadonlyMap<string, TorchTensor>, opts: { strict?: boolean; ignoreKeys?: readonly (string | RegExp)[] } = {}): LoadReport {
    const report = loadStateDict(this, tensors, { strict: false, ignoreKeys: fullIgnorer(opts.ignoreKeys) });
    if ((opts.strict ?? true) && (report.missing.length || report.unexpected.length || report.shapeMismatch.length)) throw new Error(formatReport('LatentDiffusion', report));
    this.loadExtras(tensors);
    return report;
  }

  /** What loadFull would report for these tensors (same keys ignored), without reading any. */
  checkFull(tensors: ReadonlyMap<string, TorchTensor>, opts: { ignoreKeys?: readonly (string | RegExp)[] } = {}): LoadReport {
    return checkStateDict(this, tensors, { ignoreKeys: fullIgnorer(opts.ignoreKeys) });
  }

  /** Restores EMA shadows, logvar and scale_factor from a full state_dict (the modules load through loadStateDict). */
  loadExtras(tensors: ReadonlyMap<string, TorchTensor>): void {
    const sf = tensors.get('scale_factor');
    if (sf) {
      this.scaleFactor = Number(sf.data[0]);
      this.needsScale = false;
    }
    const lv = tensors.get('logvar');
    if (lv && this.ddpm.learnLogvar) (this.ddpm.logvar as tf.Variable).assign(tf.tensor1d(Float32Array.from(lv.data as ArrayLike<number>)));
    if (this.ema) {
      for (const b of this.ema.buffers()) {
        const t = tensors.get(`model_ema.${b.name}`);
        if (b.name === 'decay' || b.name === 'num_updates') {
          if (b.name === 'num_updates' && t) this.ema.numUpdates = Number(t.data[0]);
          b.tensor.dispose();
          continue;
        }
        if (!t) continue;
        const v = fromTorch(t, b.layout);
        this.ema.setShadow(b.name, v);
        v.dispose();
      }
    }
  }

  override dispose(): void {
    super.dispose();
    this.ddpm.dispose();
    this.ema?.dispose();
  }
}

/** The keys loadFull does not load as parameters (schedule buffers, EMA, logvar, scale_factor), plus `ignore` (prefixes or patterns). */
function fullIgnorer(ignore: readonly (string | RegExp)[] = []): (k: string) => boolean {
  const extras = (k: string) => (SCHEDULE_BUFFER_NAMES as readonly string[]).includes(k) || k === 'lvlb_weights' || k === 'logvar' || k === 'scale_factor' || k.startsWith('model_ema.');
  return (k) => extras(k) || ignore.some((p) => (typeof p === 'string' ? k.startsWith(p) : p.test(k)));
}

export type { Scalar, Tensor3D };
