// The ldmc package entry (`import { defineConfig } from 'ldmc'`): TS-authored configs and the public
// types of the compiler. A `.ts` config is parsed by `ldmc`, never run: `export default
// defineConfig({...})` with literal values only (compiler/ts-config.ts).
import type { Static, TObject } from '@sinclair/typebox';
import {
  allTargets,
  AutoencoderKL,
  BERTEmbedder,
  ClassEmbedder,
  ClipImageEmbedder,
  CLIPEmbeddingNoiseAugmentation,
  FrozenCLIPEmbedder,
  FrozenOpenCLIPEmbedder,
  FrozenOpenCLIPImageEmbedder,
  ImageConcatWithNoiseAugmentation,
  MiDaSInference,
  CUDACallback,
  DataModuleFromConfig,
  DummyLoss,
  Identity,
  ImageFolder,
  ImageEmbeddingConditionedLatentDiffusion,
  ImageLogger,
  LambdaLinearScheduler,
  LambdaWarmUpCosineScheduler,
  LatentDiffusion,
  LatentUpscaleDiffusion,
  LatentInpaintDiffusion,
  LatentDepth2ImageDiffusion,
  LearningRateMonitor,
  LPIPSWithDiscriminator,
  ModelCheckpoint,
  SetupCallback,
  SpatialRescaler,
  TestTubeLogger,
  UNetModel,
  VQLPIPSWithDiscriminator,
  VQModel,
  VQModelInterface,
  WandbLogger,
  type ChildConfig,
  type SentinelValue,
  type TargetSpec,
} from './schema/index.js';

/**
 * The targets whose params are typed in `defineConfig`, keyed by their canonical id. A test checks
 * that every key is the id of its spec and that every other registry id matches `OtherTarget`.
 */
export const typedTargets = {
  'ldm.models.diffusion.ddpm.LatentDiffusion': LatentDiffusion,
  'ldm.models.diffusion.ddpm.LatentUpscaleDiffusion': LatentUpscaleDiffusion,
  'ldm.models.diffusion.ddpm.LatentInpaintDiffusion': LatentInpaintDiffusion,
  'ldm.models.diffusion.ddpm.LatentDepth2ImageDiffusion': LatentDepth2ImageDiffusion,
  'ldm.models.diffusion.ddpm.ImageEmbeddingConditionedLatentDiffusion': ImageEmbeddingConditionedLatentDiffusion,
  'ldm.modules.diffusionmodules.openaimodel.UNetModel': UNetModel,
  'ldm.models.autoencoder.VQModel': VQModel,
  'ldm.models.autoencoder.VQModelInterface': VQModelInterface,
  'ldm.models.autoencoder.AutoencoderKL': AutoencoderKL,
  'ldm.modules.encoders.modules.ClassEmbedder': ClassEmbedder,
  'ldm.modules.encoders.modules.BERTEmbedder': BERTEmbedder,
  'ldm.modules.encoders.modules.SpatialRescaler': SpatialRescaler,
  'torch.nn.Identity': Identity,
  'ldm.modules.encoders.modules.FrozenCLIPEmbedder': FrozenCLIPEmbedder,
  'ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder': FrozenOpenCLIPEmbedder,
  'ldm.modules.encoders.modules.FrozenOpenCLIPImageEmbedder': FrozenOpenCLIPImageEmbedder,
  'ldm.modules.encoders.modules.ClipImageEmbedder': ClipImageEmbedder,
  'ldm.modules.encoders.modules.CLIPEmbeddingNoiseAugmentation': CLIPEmbeddingNoiseAugmentation,
  'ldm.modules.diffusionmodules.upscaling.ImageConcatWithNoiseAugmentation': ImageConcatWithNoiseAugmentation,
  'ldm.modules.midas.api.MiDaSInference': MiDaSInference,
  'ldm.modules.losses.LPIPSWithDiscriminator': LPIPSWithDiscriminator,
  'taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator': VQLPIPSWithDiscriminator,
  'taming.modules.losses.vqperceptual.DummyLoss': DummyLoss,
  'ldm.lr_scheduler.LambdaWarmUpCosineScheduler': LambdaWarmUpCosineScheduler,
  'ldm.lr_scheduler.LambdaLinearScheduler': LambdaLinearScheduler,
  'main.DataModuleFromConfig': DataModuleFromConfig,
  'ldmc.data.ImageFolder': ImageFolder,
  'main.ImageLogger': ImageLogger,
  'main.SetupCallback': SetupCallback,
  'main.CUDACallback': CUDACallback,
  'pytorch_lightning.callbacks.LearningRateMonitor': LearningRateMonitor,
  'pytorch_lightning.callbacks.ModelCheckpoint': ModelCheckpoint,
  'pytorch_lightning.loggers.TestTubeLogger': TestTubeLogger,
  'pytorch_lightning.loggers.WandbLogger': WandbLogger,
} as const;

export type TypedTargetId = keyof typeof typedTargets;

/** Registry targets built in loops (datasets, ldmc's own IDX data and eval models): params untyped. */
export type OtherTarget = `ldm.data.${string}` | `taming.data.${string}` | `ldmc.data.${string}` | `ldmc.eval.${string}`;

type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** A param that holds a nested `{target, params}` config (schema/types.ts `child`). */
type IsChild<T> = Exact<Exclude<T, SentinelValue | null | undefined>, ChildConfig>;
type SlotValue<T> = NodeConfig | Extract<T, SentinelValue | null>;
type ParamsOf<P extends TObject> = { [K in keyof Static<P>]: IsChild<Static<P>[K]> extends true ? SlotValue<Static<P>[K]> : Static<P>[K] };
type SpecParams<S> = S extends TargetSpec<infer P> ? ParamsOf<P> : never;

type TypedNode = {
  [I in TypedTargetId]: {} extends SpecParams<(typeof typedTargets)[I]>
    ? { target: I; params?: SpecParams<(typeof typedTargets)[I]> }
    : { target: I; params: SpecParams<(typeof typedTargets)[I]> };
}[TypedTargetId];

/** One `{target, params}` node: params typed by the target id (children typed recursively). */
export type NodeConfig = TypedNode | { target: OtherTarget; params?: Record<string, unknown> };

/** A whole config, as the YAML would hold it: `model` (+ base_learning_rate), `data`, `lightning`. */
export interface LdmConfig {
  model: NodeConfig & { base_learning_rate?: number };
  data?: NodeConfig;
  lightning?: {
    trainer?: Record<string, unknown>;
    callbacks?: Record<string, NodeConfig>;
    logger?: NodeConfig;
    [key: string]: unknown;
  };
}

/**
 * A typed identity: `export default defineConfig({...})` in `model.config.ts` gives completion and
 * type errors for every param; `ldmc compile model.config.ts` reads the literal without running it.
 */
export function defineConfig(config: LdmConfig): LdmConfig {
  return config;
}

/** Ids in the registry that `defineConfig` types neither exactly nor by pattern (should be none). */
export function untypedTargetIds(): string[] {
  const patterns = [/^ldm\.data\./, /^taming\.data\./, /^ldmc\.data\./, /^ldmc\.eval\./];
  return allTargets.map((t) => t.id).filter((id) => !(id in typedTargets) && !patterns.some((p) => p.test(id)));
}

export { compile, type CompileInput, type CompileResult, type CompilerHost } from './compiler/program.js';
export type { Diagnostic, Span } from './compiler/diagnostics.js';
export type { IRNode, ModelGraph } from './compiler/ir.js';
export type { ConfigNode, MapNode, ScalarNode, SeqNode } from './compiler/tree.js';
export type { ChildConfig, Family, SentinelValue, TargetSpec } from './schema/index.js';
export { resolvedConfig } from './compiler/resolved.js';

// Plugins (`ldmc check --plugin my-plugin.ts`, or "ldmc": { "plugins": [...] } in package.json):
// a plugin file writes `import { definePlugin, Type, params, opt, num } from 'ldmc'` and
// `export default definePlugin({ targets, extend })` (schema/plugin.ts).
export { Type } from '@sinclair/typebox';
export type { Static, TObject, TSchema } from '@sinclair/typebox';
export { bool, child, int, nullable, num, oneOf, opt, params, str, dialects, Sentinel, type Dialect, type PluginFacts } from './schema/types.js';
export { definePlugin, defineProject, isPlugin, type LdmcPlugin, type PluginDefinition, type PluginTarget, type ProjectDefinition } from './schema/plugin.js';
export { Registry, builtinRegistry } from './schema/registry.js';
export { loadPlugins, type PluginRun } from './compiler/plugin-load.js';
export type { CondOutput } from './schema/facts/encoders.js';
