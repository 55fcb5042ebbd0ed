// The diffusion wrapper class a registry target names (TargetSpec.runtime, module
// runtime/diffusion/index.js), for the commands that build whole models (train, sample). The
// counterpart of runtime/build.ts, which builds components: wrappers take their resolved child
// configs and build the components themselves. A target without a runtime class (sd2's wrapper
// subclasses, for now) gives undefined, so the commands can say it is not supported yet.
import type { WrapperModulePath } from '../../schema/family.js';
import { allTargets, lookupTarget } from '../../schema/index.js';
import * as diffusion from './index.js';
import { LatentDiffusion, type LatentDiffusionArgs, type LatentDiffusionOptions } from './latent-diffusion.js';

/** The wrapper modules, by the path the registry names (a closed map: see WrapperModulePath). */
const modules: Record<WrapperModulePath, Readonly<Record<string, unknown>>> = {
  'runtime/diffusion/index.js': diffusion,
};

export type WrapperClass = new (args: LatentDiffusionArgs, opts?: LatentDiffusionOptions) => LatentDiffusion;

/** The runtime class of a diffusion wrapper target (LatentDiffusion or a subclass), or undefined. */
export function wrapperClass(target: string): WrapperClass | undefined {
  const spec = lookupTarget(target);
  const ref = spec?.runtime;
  if (spec?.statics?.family !== 'diffusion' || !ref || !(ref.module in modules)) return undefined;
  const c = modules[ref.module as WrapperModulePath][ref.export];
  if (typeof c !== 'function' || !(c === LatentDiffusion || c.prototype instanceof LatentDiffusion)) return undefined;
  return c as WrapperClass;
}

/** The diffusion wrapper targets the runtime builds (canonical ids), for messages. */
export function buildableWrapperIds(): string[] {
  return allTargets.map((t) => t.id).filter((id) => wrapperClass(id) !== undefined);
}
