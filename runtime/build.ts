// Builds runtime components from the compiler's validated params. The registry names each buildable
// target's class by module path and export (TargetSpec.runtime, schema/family.ts); this one
// generic loader resolves that name. Adding a target whose class lives in an existing runtime
// module therefore touches nothing here; a new runtime module is one line in `modules`.
import type { TObject } from '@sinclair/typebox';
import type { ComponentModulePath, RuntimeRef } from '../schema/family.js';
import { childSlot, lookupTarget, type TargetSpec } from '../schema/index.js';
import * as autoencoder from './autoencoder/index.js';
import * as encoders from './encoders/index.js';
import { Module } from './module.js';
import { buildWithZeroInit } from './nn/init.js';
import * as unet from './unet/index.js';

/** The classes the registry names, by their module (a closed map: see RuntimeModulePath). */
const modules: Record<ComponentModulePath, Readonly<Record<string, unknown>>> = {
  'runtime/unet/index.js': unet,
  'runtime/autoencoder/index.js': autoencoder,
  'runtime/encoders/index.js': encoders,
};

export type RuntimeComponent = Module;

export class UnsupportedTargetError extends Error {}

/** A class the runtime builds: `new C(params)`, `new C(C[ref.args](params))`, or `C.fromParams(params)` when it defines one. */
type Buildable = (new (p: unknown) => Module) & { fromParams?: (p: Record<string, unknown>) => Module } & Readonly<Record<string, unknown>>;

function resolve(ref: RuntimeRef): Buildable {
  if (!(ref.module in modules)) throw new UnsupportedTargetError(`${ref.module} holds no buildable components`);
  const c = modules[ref.module as ComponentModulePath][ref.export];
  if (typeof c !== 'function' || !(c.prototype instanceof Module)) throw new UnsupportedTargetError(`${ref.module} exports no module class '${ref.export}'`);
  return c as Buildable;
}

/** Child configs (lossconfig, scheduler_config, …) are built by whoever owns them, not by the module. */
function ownParams(spec: TargetSpec<TObject>, p: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) {
    const s = spec.params.properties[k];
    if (s && childSlot(s) && spec.statics?.family !== 'diffusion') continue;
    out[k] = v;
  }
  return out;
}

export function canBuild(target: string): boolean {
  const spec = lookupTarget(target);
  return !!spec?.runtime && spec.statics?.family !== 'diffusion';
}

export interface BuildOptions {
  /** Zero-initialise instead of the reference's random init (when weights are loaded next). */
  zeroInit?: boolean;
  /**
   * The directory of the config file, which relative paths in params (a CLIP model-config JSON)
   * start from, as `ldmc check` resolves them; default: the working directory.
   */
  configDir?: string;
}

/** Builds the module for a target id from validated params (defaults filled, as the IR holds them). */
export function buildComponent(target: string, params: Record<string, unknown>, opts: BuildOptions = {}): RuntimeComponent {
  const spec = lookupTarget(target);
  if (!spec?.runtime || !canBuild(target)) throw new UnsupportedTargetError(`the runtime has no module for '${target}' yet`);
  const C = resolve(spec.runtime);
  const p = ownParams(spec, params);
  const args = spec.runtime.args === undefined ? undefined : C[spec.runtime.args];
  if (spec.runtime.args !== undefined && typeof args !== 'function') throw new UnsupportedTargetError(`${spec.runtime.export} has no static ${spec.runtime.args}()`);
  const ctx = opts.configDir === undefined ? {} : { configDir: opts.configDir };
  const b = () => (typeof args === 'function' ? new C((args as (q: Record<string, unknown>, c: { configDir?: string }) => unknown).call(C, p, ctx)) : C.fromParams ? C.fromParams(p) : new C(p));
  return opts.zeroInit ? buildWithZeroInit(b) : b();
}

export type { Module };
