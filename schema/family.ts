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

/** Autoencoders (first stages; also a config's model when it trains one). */
export interface FirstStageStatics {
  readonly family: 'first_stage';
  /** `o.inputSide`: the side of the images it runs on (a LatentDiffusion's image_size × factor); default ddconfig.resolution. */
  facts(p: FilledParams, o?: { readonly inputSide?: number }): AutoencoderFacts;
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
  /** torch.nn.Identity: nothing is built; conditioning passes through unchanged. */
  readonly passthrough?: boolean;
}

/** The child slots of a latent-diffusion model, by role. */
export interface DiffusionSlots {
  readonly unet: string;
  readonly firstStage: string;
  readonly condStage: string;
}

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

/** A family's static descriptor. Switches over `family` end in a `never` check (assertNever). */
export type FamilyStatics = UNetStatics | FirstStageStatics | CondStageStatics | DiffusionStatics;

export { assertNever } from './assert-never.js';
