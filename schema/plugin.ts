// What a plugin file declares: `export default definePlugin({ targets, extend })`. A plugin is the
// user's own code, loaded only from the command line (--plugin) or the project's package.json /
// ldmc.config.ts, never from a config (compiler/plugins.ts checks it and builds a run's Registry).
// This module is data only: definePlugin brands the value so the loader can tell a plugin from any
// other default export.
import type { TObject, TProperties } from '@sinclair/typebox';
import type { Dialect, PluginFacts } from './types.js';

/** One new target. `family` is a built-in family (cond_stage, dataset, …) or a plugin's own name. */
export interface PluginTarget<P extends TObject = TObject> {
  /** The dotted class path the fork's configs write, e.g. `ldm.modules.embedding_manager.EmbeddingManager`. */
  readonly id: string;
  readonly family: string;
  /** The constructor's params as a TypeBox object (`params({...})` or `Type.Object({...})`). */
  readonly params: P;
  readonly summary?: string;
  /** Where the fork defines it, e.g. `ldm/modules/embedding_manager.py:30`. */
  readonly source?: string;
  readonly aliases?: readonly string[];
  readonly dialects?: readonly Dialect[];
  /** Static facts from validated params; leave it out and `ldmc inspect` shows the count as unknown. */
  readonly facts?: (params: Record<string, unknown>) => PluginFacts;
}

export interface PluginDefinition {
  /** A name for messages (default: the file name). */
  readonly name?: string;
  readonly targets?: readonly PluginTarget[];
  /** Params added to built-in targets, by target id: `{ 'ldm.models.diffusion.ddpm.LatentDiffusion': { reg_weight: … } }`. */
  readonly extend?: Readonly<Record<string, TProperties>>;
}

/** Symbol.for, so a plugin that imports another copy of ldmc (an installed one) is still recognised. */
export const PLUGIN_BRAND: unique symbol = Symbol.for('ldmc.plugin');

export type LdmcPlugin = PluginDefinition & { readonly [PLUGIN_BRAND]: 1 };

/** Declares a plugin: `export default definePlugin({ targets: [...], extend: {...} })`. */
export function definePlugin(def: PluginDefinition): LdmcPlugin {
  return Object.freeze({ ...def, [PLUGIN_BRAND]: 1 as const });
}

export function isPlugin(v: unknown): v is LdmcPlugin {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[PLUGIN_BRAND] === 1;
}

/** What a project file (`ldmc.config.ts`) exports: `export default defineProject({ plugins: ['./my-plugin.ts'] })`. */
export interface ProjectDefinition {
  readonly plugins?: readonly string[];
}

export function defineProject(def: ProjectDefinition): ProjectDefinition {
  return def;
}

/** Thrown by a plugin target's facts when the plugin's own function throws: reported as LDMC717, not as an ldmc bug. */
export class PluginFactsError extends Error {
  constructor(
    readonly plugin: string,
    message: string,
  ) {
    super(message);
  }
}
