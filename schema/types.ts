// The vocabulary's building blocks. A target's params are one TypeBox object: it is the TypeScript
// type (Static<>), the JSON Schema the editor reads, and what the checker validates against.
// Params that hold a nested `{target, params}` config are marked with `ldmcChild`.
import type { Static, TObject, TProperties, TSchema } from '@sinclair/typebox';
import { Type } from './type-builder.js';
import type { FamilyStatics, RuntimeRef } from './family.js';

export type Family =
  | 'model'
  | 'unet'
  | 'first_stage'
  | 'cond_stage'
  | 'loss'
  | 'lr_scheduler'
  | 'data_module'
  | 'dataset'
  | 'callback'
  | 'logger'
  | 'eval';

export const FamilyNames: Record<Family, string> = {
  model: 'a model (diffusion wrapper or autoencoder)',
  unet: 'a denoising network',
  first_stage: 'a first-stage autoencoder',
  cond_stage: 'a conditioning stage',
  loss: 'a loss',
  lr_scheduler: 'a learning-rate schedule',
  data_module: 'a data module',
  dataset: 'a dataset',
  callback: 'a Lightning callback',
  logger: 'a Lightning logger',
  eval: 'an evaluation model',
};

/**
 * The repositories whose `main.py` reads these configs. 'ldm' = CompVis/latent-diffusion (our seed),
 * 'sd1' = CompVis/stable-diffusion, 'sd2' = Stability-AI/stablediffusion. The same target name has a
 * different constructor in each, so a target, a param and an enum value each record which accept it.
 */
import type { Dialect } from './dialect.js';
export type { Dialect };
/** Every dialect, in preference order: when several fit a config, the first is reported. */
export const Dialects: readonly Dialect[] = ['ldm', 'sd1', 'sd2'];
export const DialectRepos: Record<Dialect, string> = {
  ldm: 'CompVis/latent-diffusion',
  sd1: 'CompVis/stable-diffusion',
  sd2: 'Stability-AI/stablediffusion',
};

/** A family a plugin declares for its own targets (e.g. 'personalization'); any lower_snake_case name. */
export type PluginFamily = string & Record<never, never>;

/** A family's name in messages; a plugin may declare a family of its own (e.g. 'personalization'). */
export function familyName(f: string): string {
  return Object.prototype.hasOwnProperty.call(FamilyNames, f) ? FamilyNames[f as Family] : `a ${f} module`;
}

export function isBuiltinFamily(f: string): f is Family {
  return Object.prototype.hasOwnProperty.call(FamilyNames, f);
}

export const Sentinel = {
  Unconditional: '__is_unconditional__',
  FirstStage: '__is_first_stage__',
} as const;
export type SentinelValue = (typeof Sentinel)[keyof typeof Sentinel];

export interface ChildSlot {
  readonly families: readonly Family[];
  readonly sentinels: readonly SentinelValue[];
  /** Whether a mapping without `target` is allowed (main.py fills a default target). */
  readonly defaultTarget?: string;
}

export interface TargetSpec<P extends TObject = TObject> {
  /** Canonical dotted path, as the reference configs spell it. */
  readonly id: string;
  readonly aliases: readonly string[];
  readonly families: readonly Family[];
  readonly summary: string;
  /** Where the reference defines it, e.g. `ldm/models/autoencoder.py:14`. */
  readonly source: string;
  /** Set when the reference repository does not ship the class (see targets.json). */
  readonly note?: string;
  readonly params: P;
  /** `**kwargs`-only classes such as torch.nn.Identity accept and ignore any params. */
  readonly openParams?: boolean;
  /** The repositories that define this target; absent = all three. */
  readonly dialects?: readonly Dialect[];
  /** Its family's static descriptor: facts, codegen info, cross-module rules (schema/family.ts). */
  readonly statics?: FamilyStatics;
  /** The runtime class: generated code extends it; runtime/registry.ts builds it. Absent: not buildable. */
  readonly runtime?: RuntimeRef;
  /** Set on a target a plugin declares, or on a built-in a plugin extended (schema/plugin.ts). */
  readonly plugin?: PluginOrigin;
}

/** Static facts a plugin gives for one of its targets; what it leaves out stays unknown (never guessed). */
export interface PluginFacts {
  /** Parameter count of the module (`sum(p.numel() for p in m.parameters())`). */
  readonly paramCount?: number;
  /** What a cond stage hands the UNet, per sample (cross-module rules check context_dim against it). */
  readonly output?: PluginOutput;
}

/**
 * The outputs a plugin cond stage can declare: the known kinds of schema/facts/results.ts CondOutput
 * (spelled out here, as facts/ imports this module; compiler/plugin-facts.ts assigns one to the other, so tsc keeps them in step).
 */
export type PluginOutput =
  | { readonly kind: 'tokens'; readonly shape: [number, number] }
  | { readonly kind: 'spatial'; readonly shape: [number, number, number] }
  | { readonly kind: 'vector'; readonly width: number };

export interface PluginOrigin {
  /** The plugin file, as named on the command line or in the project file. */
  readonly file: string;
  /** The params this plugin added to a built-in target (empty for the plugin's own targets). */
  readonly extended: readonly string[];
  /** The plugin's facts function for its own target, run on validated params (guarded: a throw is LDMC717). */
  readonly facts?: (params: Record<string, unknown>) => PluginFacts;
}

/**
 * A target spec. Its id keeps its literal type, so that index.ts derives the map from id to spec
 * that types `defineConfig` from the family lists (schema/registry.ts `typedTargetList`).
 */
export function defineTarget<const I extends string, P extends TObject>(spec: TargetSpec<P> & { readonly id: I }): TargetSpec<P> & { readonly id: I } {
  return spec;
}

// ----------------------------------------------------------------- param helpers

interface Doc {
  readonly description: string;
}

/** A required int. */
export const int = (description: string, opts: { minimum?: number; maximum?: number } = {}) =>
  Type.Integer({ description, ...opts });
/** A float param (Python accepts an int there too). */
export const num = (description: string, opts: { minimum?: number; maximum?: number; exclusiveMinimum?: number } = {}) =>
  Type.Number({ description, ...opts });
export const bool = (description: string) => Type.Boolean({ description });
export const str = (description: string) => Type.String({ description });
export const oneOf = <T extends string>(values: readonly T[], description: string) =>
  Type.Union(values.map((v) => Type.Literal(v)), { description });

/** A param with a default: optional in the YAML, always present after the checker fills defaults. */
export function opt<T extends TSchema>(schema: T, dflt: Static<T>) {
  return Type.Optional(Type.Unsafe<Static<T>>({ ...schema, default: dflt }));
}

/** `X | None` in the reference signature. */
export function nullable<T extends TSchema>(schema: T) {
  const { description, ...rest } = schema as T & Doc;
  return Type.Union([rest as unknown as T, Type.Null()], { description });
}

// ----------------------------------------------------------------- dialects

type WithDialects = TSchema & { ldmcDialects?: readonly Dialect[]; ldmcValueDialects?: Readonly<Record<string, readonly Dialect[]>>; anyOf?: TSchema[] };

/**
 * A param only some repositories accept. Composes with opt() and nullable() in either order:
 * `opt(dialects(['sd2'], bool('…')), false)` and `dialects(['sd2'], opt(bool('…'), false))` both work
 * (the mark is an own property, so opt()'s spread keeps it; paramDialects() looks inside nullable's anyOf).
 */
export function dialects<T extends TSchema>(which: readonly Dialect[], schema: T): T {
  return { ...schema, ldmcDialects: [...which] } as T;
}

/** Enum values only some repositories accept, e.g. `valueDialects(oneOf(['eps','x0','v']), { v: ['sd2'] })`. */
export function valueDialects<T extends TSchema>(schema: T, byValue: Readonly<Record<string, readonly Dialect[]>>): T {
  return { ...schema, ldmcValueDialects: { ...byValue } } as T;
}

/** The dialects that accept a param (all three when unmarked). */
export function paramDialects(schema: TSchema): readonly Dialect[] {
  return findMark(schema as WithDialects, 'ldmcDialects') ?? Dialects;
}

/** The dialects that accept this value of a param (all three unless the value is marked). */
export function valueDialectsOf(schema: TSchema, value: unknown): readonly Dialect[] {
  if (typeof value !== 'string') return Dialects;
  const marks = findMark(schema as WithDialects, 'ldmcValueDialects');
  return (marks && Object.prototype.hasOwnProperty.call(marks, value) ? marks[value] : undefined) ?? Dialects;
}

/** The dialects that define a target (all three when unmarked). */
export function targetDialects(spec: Pick<TargetSpec, 'dialects'>): readonly Dialect[] {
  return spec.dialects ?? Dialects;
}

function findMark<K extends 'ldmcDialects' | 'ldmcValueDialects'>(s: WithDialects, key: K): WithDialects[K] {
  if (s[key]) return s[key];
  if (s.anyOf) for (const a of s.anyOf) {
    const m = findMark(a as WithDialects, key);
    if (m) return m;
  }
  return undefined;
}

export interface ChildConfig {
  target?: string;
  params?: Record<string, unknown>;
}

/** A nested `{target, params}` config of one of these families (or one of the sentinels). */
export function child(families: readonly (Family | PluginFamily)[], description: string, sentinels: readonly SentinelValue[] = [], defaultTarget?: string) {
  // A plugin's own family is a plain string at run time; compiler/plugins.ts checks that a target declares it.
  const slot: ChildSlot = { families: families as readonly Family[], sentinels, ...(defaultTarget ? { defaultTarget } : {}) };
  return Type.Unsafe<ChildConfig | SentinelValue>({ description, ldmcChild: slot });
}

export function childSlot(schema: TSchema): ChildSlot | undefined {
  const s = schema as TSchema & { ldmcChild?: ChildSlot; anyOf?: TSchema[] };
  if (s.ldmcChild) return s.ldmcChild;
  if (s.anyOf) for (const a of s.anyOf) {
    const c = childSlot(a);
    if (c) return c;
  }
  return undefined;
}

export function params<P extends TProperties>(props: P) {
  return Type.Object(props, { additionalProperties: false });
}

/** The params of a target with every default filled in. */
export type Filled<P extends TObject> = { [K in keyof Static<P>]-?: Exclude<Static<P>[K], undefined> };

/** The same params with read-only lists, so `as const` configs (generated config.ts) fit. */
export type ReadonlyParams<T> = { readonly [K in keyof T]: T[K] extends (infer U)[] ? readonly U[] : T[K] extends (infer U)[] | null ? readonly U[] | null : T[K] };

/** The defaults a params schema declares, by param name (the reference constructor's defaults). */
export function defaultsOf(schema: TObject): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(schema.properties as Record<string, TSchema & { default?: unknown }>)) {
    if ('default' in s) out[k] = structuredClone(s.default);
  }
  return out;
}
