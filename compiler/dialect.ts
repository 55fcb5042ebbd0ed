// Dialects: which repositories' main.py would accept this config (CompVis/latent-diffusion,
// CompVis/stable-diffusion, Stability-AI/stablediffusion). Every target, param and enum value the
// config *writes* (defaults do not count) carries the dialects that define it (schema/types.ts);
// the config's dialect is the narrowest set accepting all of them, reported as its first member
// in preference order (ldm first). With `--dialect`, anything the chosen repository lacks is an
// error at its line, naming the repository. Pure: reads the IR, reports through the Reporter.
import type { TObject, TSchema } from '@sinclair/typebox';
import { DialectRepos, Dialects, paramDialects, targetDialects, valueDialectsOf, type Dialect } from '../schema/index.js';
import { diag, type Reporter, type Span } from './diagnostics.js';
import type { IRNode, ModelGraph } from './ir.js';
import type { ConfigNode } from './tree.js';

/** One thing the config uses that not every repository accepts. */
export interface DialectUse {
  /** In words: `target 'ldm.models.autoencoder.VQModel'`, `param 'use_linear_in_transformer'`, `value 'v' of 'parameterization'`. */
  readonly what: string;
  readonly accepts: readonly Dialect[];
  readonly span: Span;
}

export interface DialectInfo {
  /** The dialect reported: `given` when --dialect was passed, else the first of `accepted`. */
  readonly dialect: Dialect;
  /** Every dialect that accepts the whole config (empty when none does). */
  readonly accepted: readonly Dialect[];
  /** Whether --dialect chose it. */
  readonly given: boolean;
  /** The restricted things the config uses (what narrowed `accepted`). */
  readonly uses: readonly DialectUse[];
}

/** A repository's name for messages: `Stability-AI/stablediffusion (sd2)`. */
export function repoName(d: Dialect): string {
  return `${DialectRepos[d]} (${d})`;
}

/** Everything restricted that the graph's nodes write, in node order. */
export function dialectUses(g: ModelGraph): DialectUse[] {
  const out: DialectUse[] = [];
  for (const n of g.nodes) nodeUses(n, out);
  return out;
}

function nodeUses(n: IRNode, out: DialectUse[]): void {
  const t = targetDialects(n.spec);
  if (t.length < Dialects.length) out.push({ what: `target '${n.written}'`, accepts: t, span: n.targetSpan });
  if (n.paramsNode) walkParams(n.spec.params, n.paramsNode, '', out);
}

/** Written params of an object schema, descending into nested param objects (ddconfig). */
function walkParams(schema: TObject, node: ConfigNode, prefix: string, out: DialectUse[]): void {
  if (node.kind !== 'map') return;
  const props = (schema.properties ?? {}) as Record<string, TSchema>;
  for (const [key, e] of node.entries) {
    const s = props[key];
    if (!s) continue; // unknown params are resolve's error, not ours
    const name = prefix + key;
    const p = paramDialects(s);
    if (p.length < Dialects.length) out.push({ what: `param '${name}'`, accepts: p, span: e.keySpan });
    if (e.value.kind === 'scalar') {
      const v = valueDialectsOf(s, e.value.value);
      if (v.length < Dialects.length) out.push({ what: `value '${String(e.value.value)}' of '${name}'`, accepts: v, span: e.value.span });
    } else if (e.value.kind === 'map') {
      const obj = objectSchema(s);
      if (obj) walkParams(obj, e.value, `${name}.`, out);
    }
  }
}

/** The object schema inside a param (through opt/nullable), when it is a plain nested object. */
function objectSchema(s: TSchema): TObject | undefined {
  const o = s as TSchema & { type?: unknown; properties?: unknown; anyOf?: TSchema[]; ldmcChild?: unknown };
  if (o.ldmcChild) return undefined; // a child config is its own IR node
  if (o.type === 'object' && o.properties) return o as unknown as TObject;
  if (o.anyOf) for (const a of o.anyOf) {
    const r = objectSchema(a);
    if (r) return r;
  }
  return undefined;
}

/**
 * Settles the config's dialect. Without `given`: the narrowest set; when the uses leave no
 * repository, LDMC313 at the use that emptied the set, with the earlier uses as related spans.
 * With `given`: LDMC312 at every use the repository lacks.
 */
export function settleDialect(g: ModelGraph, given: Dialect | undefined, ctx: Reporter): DialectInfo {
  const uses = dialectUses(g);
  let accepted: readonly Dialect[] = Dialects;
  let conflicted = false;
  const narrowedBy: DialectUse[] = [];
  for (const u of uses) {
    const next = accepted.filter((d) => u.accepts.includes(d));
    if (next.length === 0) {
      if (!given && !conflicted) {
        ctx.report(diag(u.span, 'Dialect_conflict_0_1_2', [u.what, only(u.accepts), names(accepted)], {
          related: narrowedBy.map((x) => ({ message: `${x.what}: only ${only(x.accepts)}`, span: x.span })),
          hint: 'a config is read by one repository; drop or replace what the other one lacks',
        }));
        conflicted = true;
      }
      continue;
    }
    if (next.length < accepted.length) narrowedBy.push(u);
    accepted = next;
  }
  if (given) {
    for (const u of uses) {
      if (u.accepts.includes(given)) continue;
      ctx.report(diag(u.span, 'Not_in_dialect_0_1_2', [u.what, repoName(given), only(u.accepts)], {
        hint: `remove it, or check (export) with --dialect (--to) ${u.accepts[0]}`,
      }));
    }
  }
  const acceptedAll = conflicted ? [] : accepted;
  return { dialect: given ?? acceptedAll[0] ?? accepted[0]!, accepted: acceptedAll, given: given !== undefined, uses };
}

function only(ds: readonly Dialect[]): string {
  return names(ds);
}

function names(ds: readonly Dialect[]): string {
  return ds.map(repoName).join(', ');
}

export function isDialect(s: string): s is Dialect {
  return (Dialects as readonly string[]).includes(s);
}
