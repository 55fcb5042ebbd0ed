// Builds runtime modules from the compiler's validated params, keyed by the registry's target ids.
// Passing the schema's `Filled<>` param types to the constructors is what ties the two together:
// if schema/ and runtime/ disagree on a param, this file stops compiling.
import type { AutoencoderKLParams, BERTEmbedderParams, ClassEmbedderParams, SpatialRescalerParams, UNetModelParams, VQModelParams } from '../schema/index.js';
import { AutoencoderKL, VQModel, VQModelInterface } from './autoencoder/index.js';
import { BERTEmbedder, ClassEmbedder, SpatialRescaler } from './encoders/index.js';
import type { Module } from './module.js';
import { buildWithZeroInit } from './nn/init.js';
import { UNetModel } from './unet/index.js';

export type RuntimeComponent = UNetModel | VQModel | VQModelInterface | AutoencoderKL | ClassEmbedder | SpatialRescaler | BERTEmbedder;

export class UnsupportedTargetError extends Error {}

const builders: Record<string, (p: Record<string, unknown>) => RuntimeComponent> = {
  'ldm.modules.diffusionmodules.openaimodel.UNetModel': (p) => new UNetModel(p as unknown as UNetModelParams),
  'ldm.models.autoencoder.VQModel': (p) => new VQModel(stripChildren(p) as unknown as Omit<VQModelParams, Children>),
  'ldm.models.autoencoder.VQModelInterface': (p) => new VQModelInterface(stripChildren(p) as unknown as Omit<VQModelParams, Children>),
  'ldm.models.autoencoder.AutoencoderKL': (p) => new AutoencoderKL(stripChildren(p) as unknown as Omit<AutoencoderKLParams, Children>),
  'ldm.modules.encoders.modules.ClassEmbedder': (p) => new ClassEmbedder(p as unknown as ClassEmbedderParams),
  'ldm.modules.encoders.modules.SpatialRescaler': (p) => new SpatialRescaler(p as unknown as SpatialRescalerParams),
  'ldm.modules.encoders.modules.BERTEmbedder': (p) => new BERTEmbedder(p as unknown as BERTEmbedderParams),
};

type Children = 'lossconfig' | 'scheduler_config';

/** The loss and scheduler configs are training concerns; the module itself does not hold them. */
function stripChildren(p: Record<string, unknown>): Record<string, unknown> {
  const { lossconfig: _l, scheduler_config: _s, ...rest } = p;
  return rest;
}

export function canBuild(target: string): boolean {
  return target in builders;
}

export interface BuildOptions {
  /** Zero-initialise instead of the reference's random init (when weights are loaded next). */
  zeroInit?: boolean;
}

/** Builds the module for a target id from validated params (defaults filled, as the IR holds them). */
export function buildComponent(target: string, params: Record<string, unknown>, opts: BuildOptions = {}): RuntimeComponent {
  const b = builders[target];
  if (!b) throw new UnsupportedTargetError(`the runtime has no module for '${target}' yet`);
  return opts.zeroInit ? buildWithZeroInit(() => b(params)) : b(params);
}

export type { Module };
