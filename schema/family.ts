// What a target family tells the rest of ldmc, beyond its params schema. Every target spec
// (schema/<family>.ts) carries its family's static descriptor here — facts, codegen info, the
// runtime class to build — so that the compiler, codegen, the CLI and the runtime ask the spec
// and never switch on a class-name string. This module is static: it names the runtime class by
// module path and export (codegen needs exactly that), and runtime/registry.ts resolves the name.
// Nothing here imports runtime/, so `ldmc check` and the language server never load tfjs.
import type { AutoencoderFacts, CondStageFacts, UNetFacts, UNetFactsOptions } from './facts/results.js';
import type { FactIssue } from './facts/types.js';

/**
 * The runtime modules that export buildable components. A closed list: runtime/build.ts maps each
 * to its namespace, so adding a module here fails to compile there until it is wired (once per
 * module, not per target).
 */
export type ComponentModulePath = 'runtime/unet/index.js' | 'runtime/autoencoder/index.js' | 'runtime/encoders/index.js';
/** Diffusion wrappers are built by their own class from built components, not by the component loader. */
export type WrapperModulePath = 'runtime/diffusion/index.js';
export type RuntimeModulePath = ComponentModulePath | WrapperModulePath;

/** The runtime class of a target: generated code extends it, runtime/registry.ts builds it. */
export interface RuntimeRef {
  /** Path from the package root, e.g. `runtime/encoders/index.js`. */
  readonly module: RuntimeModulePath;
  /** The exported class. It is built as `new Class(params)`, or as `new Class(Class[args](params))` with `args`. */
  readonly export: string;
  /**
   * A static method of the class that turns the validated params into its constructor's argument,
   * for a class whose constructor takes something else (e.g. an architecture the params only name).
   * Both the runtime builder and the generated subclass's constructor call it, so neither needs to
   * know the class.
   */
  readonly args?: string;
}

/** Validated params, every default filled (what the IR holds). */
export type FilledParams = Readonly<Record<string, unknown>>;

/** How codegen types a tensor argument: `Tensor1D`…`Tensor4D` or plain `Tensor`. */
export type TensorType = 'Tensor' | 'Tensor1D' | 'Tensor2D' | 'Tensor3D' | 'Tensor4D';

// ----------------------------------------------------------------- per-family static descriptors

/** ldm.modules.diffusionmodules.openaimodel.UNetModel and its kin. */
export interface UNetStatics {
  readonly family: 'unet';
  facts(p: FilledParams, o: UNetFactsOptions): UNetFacts;
}

/**
 * How an autoencoder regularises its latent, which decides how it is trained: 'vq' (VQModel's
 * training_step: codebook loss, val and val_ema validation) or 'kl' (AutoencoderKL's: posterior
 * KL, aeloss/discloss logs). Its loss must train the same regulariser (LossStatics.trains).
 */
export type Regularizer = 'vq' | 'kl';

/** Autoencoders (first stages; also a config's model when it trains one). */
export interface FirstStageStatics {
  readonly family: 'first_stage';
  /** `o.inputSide`: the side of the images it runs on (a LatentDiffusion's image_size × factor); default ddconfig.resolution. */
  facts(p: FilledParams, o?: { readonly inputSide?: number }): AutoencoderFacts;
  readonly regularizer: Regularizer;
  /**
   * The encode/decode signature generated code declares: 'vq' and 'kl' decode a latent;
   * 'vq-interface' (VQModelInterface) encodes to pre-quantization h and decodes with forceNotQuantize.
   */
  readonly codegen: 'vq' | 'vq-interface' | 'kl';
}

/** What a cond stage's facts need from the rest of the config. */
export interface CondEnv {
  /** Side of the images the data module feeds (or of the first stage's input), when known. */
  readonly imageSide: number | undefined;
  /** Width of the vector this stage is fed by a sibling stage (unCLIP's noise augmentor gets the image embedding), when known. */
  readonly vectorInput?: number;
  /**
   * Reads a file that param `param` names (a model-config JSON), a relative path resolved against
   * the config file that wrote the param; an Error says why it cannot ('no such file' when absent).
   * Absent: no files are read (a path-valued param's facts are then unknown).
   */
  readonly readParamFile?: (param: string, path: string) => string | Error;
}

/** Conditioning stages (ldm.modules.encoders.modules.*, torch.nn.Identity). */
export interface CondStageStatics {
  readonly family: 'cond_stage';
  facts(p: FilledParams, env: CondEnv): CondStageFacts;
  /** The raw input, per sample, that generated code documents (e.g. `[max_seq_len]` token ids). */
  inputShape(p: FilledParams): number[];
  /** Its tensor type and words for the generated getLearnedConditioning. */
  readonly input: { readonly type: TensorType; readonly doc: string };
  /** The param that sets the output width (context_dim's counterpart), for related spans. */
  readonly widthParam?: string;
  /**
   * torch.nn.Identity: nothing is built; conditioning passes through unchanged (and, in a
   * `lossconfig` slot, there is no loss). Read it with isPassthrough().
   */
  readonly passthrough?: boolean;
  /** What the stage conditions on, where a command needs to know (ldmc sample feeds class labels). Absent: not stated. */
  readonly conditioning?: CondInput;
}

/**
 * What a cond stage reads. 'class': one class id per sample, `countParam` naming the number of
 * classes; 'text': token ids; 'image': images; 'map': a spatial map (segmentation, depth);
 * 'embedding': a vector made by another stage. Switches over `kind` end in assertNever.
 */
export type CondInput =
  | { readonly kind: 'class'; readonly countParam: string }
  | { readonly kind: 'text' }
  | { readonly kind: 'image' }
  | { readonly kind: 'map' }
  | { readonly kind: 'embedding' };

/** The child slots of a latent-diffusion model, by role. */
export interface DiffusionSlots {
  readonly unet: string;
  readonly firstStage: string;
  readonly condStage: string;
}

/** LatentDiffusion's slots (main.py's config keys), which its sd2 subclasses keep. */
export const LatentDiffusionSlots = { unet: 'unet_config', firstStage: 'first_stage_config', condStage: 'cond_stage_config' } as const satisfies DiffusionSlots;

/** Facts of a latent-diffusion model's parts, for its cross-module rules. */
export interface DiffusionView {
  readonly params: FilledParams;
  readonly unet: { readonly params: FilledParams; readonly facts: UNetFacts } | undefined;
  readonly firstStage: { readonly params: FilledParams; readonly facts: AutoencoderFacts } | undefined;
  readonly condStage: { readonly params: FilledParams; readonly facts: CondStageFacts | undefined } | undefined;
}

/** Diffusion wrappers (LatentDiffusion and its subclasses). */
export interface DiffusionStatics {
  readonly family: 'diffusion';
  readonly slots: DiffusionSlots;
  /**
   * Extra channels this wrapper concatenates to the latent before the UNet, besides the cond
   * stage's (inpainting: mask + masked image; upscaling: the low-res image). 0 when absent.
   */
  extraConcatChannels?(p: FilledParams, latentChannels?: number): number;
  /** This wrapper's own cross-module rules, as facts issues (mapped to LDMC codes by compiler/check.ts). */
  rules?(view: DiffusionView): FactIssue[];
}

/** Autoencoder losses (lossconfig). */
export interface LossStatics {
  readonly family: 'loss';
  /** The regulariser whose training step calls this loss (the call signatures differ); null: it trains nothing (DummyLoss). */
  readonly trains: Regularizer | null;
  /** Keys of the loss dicts it returns (generator, then discriminator); the training step logs them under train/, val/. */
  readonly logged: readonly string[];
  /** Runs a PatchGAN discriminator of `disc_num_layers` stride-2 layers on the images. */
  readonly patchGan: boolean;
}

/** Learning-rate schedules (scheduler_config): which LambdaLR multiplier runtime/train/schedulers.ts computes. */
export interface SchedulerStatics {
  readonly family: 'lr_scheduler';
  /** 'warm-up-cosine': LambdaWarmUpCosineScheduler; 'linear-cycles': LambdaLinearScheduler. */
  readonly schedule: 'warm-up-cosine' | 'linear-cycles';
}

/** Lightning callbacks, where ldmc train does what they configure. */
export interface CallbackStatics {
  readonly family: 'callback';
  /** Writes image grids: every `everyParam` steps, at most `maxImagesParam` images per grid (main.ImageLogger). */
  readonly imageLogging?: { readonly everyParam: string; readonly maxImagesParam: string };
}

/** A family's static descriptor. Switches over `family` end in a `never` check (assertNever). */
export type FamilyStatics = UNetStatics | FirstStageStatics | CondStageStatics | DiffusionStatics | LossStatics | SchedulerStatics | CallbackStatics;

/**
 * torch.nn.Identity and its kind: nothing to build. In a cond_stage slot the conditioning passes
 * through; in a lossconfig slot there is no loss (an inference-only first stage).
 */
export function isPassthrough(spec: { readonly statics?: FamilyStatics } | undefined): boolean {
  return spec?.statics?.family === 'cond_stage' && spec.statics.passthrough === true;
}

/** The slots a model keeps its parts in: its wrapper's statics', else (a plugin's model) LatentDiffusion's. */
export function diffusionSlots(spec: { readonly statics?: FamilyStatics }): DiffusionSlots {
  return spec.statics?.family === 'diffusion' ? spec.statics.slots : LatentDiffusionSlots;
}

export { assertNever } from './assert-never.js';
