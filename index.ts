// The ldmc package entry (`import { defineConfig } from 'ldmc'`): TS-authored configs and the public
// types of the compiler. A `.ts` config is parsed by `ldmc`, never run: `export default
// defineConfig({...})` with literal values only (compiler/ts-config.ts).
import type { Static, TObject } from '@sinclair/typebox';
import { allTargets, typedTargetList, type ChildConfig, type SentinelValue, type TargetSpec } from './schema/index.js';

type TypedSpec = (typeof typedTargetList)[number];
/** A spec's id when it is one literal string (a pattern or plain `string` id gives never). */
type LiteralId<S> = S extends { readonly id: infer I extends string } ? ({} extends Record<I, true> ? never : I) : never;
/** Canonical id → spec of every target in schema/registry.ts `typedTargetList`. */
export type TypedTargets = { readonly [S in TypedSpec as LiteralId<S>]: S };

/**
 * The targets whose params are typed in `defineConfig`, keyed by their canonical id: derived from
 * the registry's family lists, so adding a target needs no edit here. A test checks that every key
 * is the id of its spec and that every other registry id matches `OtherTarget`.
 */
export const typedTargets: TypedTargets = Object.fromEntries(typedTargetList.map((t) => [t.id, t])) as unknown as TypedTargets;

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
