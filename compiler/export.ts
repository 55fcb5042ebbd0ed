// `ldmc export --to ldm|sd1|sd2`: the merged, resolved, validated config written back in the
// reference's own format (`model: {base_learning_rate, target, params}`, `data`, `lightning`), for
// that repository. The CLI compiles with `dialect: to`, so anything the repository lacks that the
// config writes is already an error at its line (LDMC312); here, defaulted params the repository
// does not accept are left out (its constructor would reject the keyword). Pure: returns the text
// and the notes to print; the CLI writes.
import type { TObject, TSchema } from '@sinclair/typebox';
import { stringify as yamlStringify } from 'yaml';
import { DialectRepos, Dialects, paramDialects, type Dialect } from '../schema/types.js';
import type { IRNode } from './ir.js';
import type { CompileResult } from './program.js';
import { resolvedConfig } from './resolved.js';

export type ExportFormat = Dialect;
export const EXPORT_FORMATS: readonly ExportFormat[] = Dialects;

export interface ExportOutput {
  /** The YAML text. */
  readonly text: string;
  /** Targets the repository cannot import (ldmc's own), with the config path that uses them. */
  readonly ldmcOnly: readonly { readonly path: string; readonly target: string }[];
}

/** How each repository runs a config (Stability-AI ships no main.py: its scripts take --config). */
function usage(to: Dialect): string {
  switch (to) {
    case 'ldm':
    case 'sd1':
      return `# For ${DialectRepos[to]}: python main.py --base <this file> -t`;
    case 'sd2':
      return `# For ${DialectRepos[to]}: python scripts/txt2img.py --config <this file> ...`;
    default: {
      const never: never = to;
      throw new Error(`unknown export format '${String(never)}'`);
    }
  }
}

/** The config as the repository reads it. Call only on a result without errors, compiled with `dialect: to`. */
export function exportConfig(r: CompileResult, to: ExportFormat = 'ldm'): ExportOutput {
  if (!Dialects.includes(to)) throw new Error(`unknown export format '${String(to)}'`);
  if (!r.graph || r.hasErrors) throw new Error('exportConfig needs a config without errors');
  const cfg = resolvedConfig(r, (n) => exportedNode(n, to));
  // main.py also reads `lightning.modelcheckpoint` and `lightning.logger` next to `callbacks`.
  for (const c of r.graph.callbacks) {
    const m = /^lightning\.([^.]+)$/.exec(c.path);
    if (!m) continue;
    const l = (cfg.lightning ??= {}) as Record<string, unknown>;
    l[m[1]!] = exportedNode(c, to);
  }
  const ldmcOnly = r.graph.nodes
    .filter((n) => n.target.startsWith('ldmc.'))
    .map((n) => ({ path: n.path, target: n.target }));
  const header = [
    `# Exported by ldmc from ${r.files.join(' + ')} for ${DialectRepos[to]} (${to}): merged, interpolated, validated, defaults filled.`,
    usage(to),
    ...ldmcOnly.map((t) => `# warning: ${t.path} uses ${t.target}, an ldmc-only target that ${DialectRepos[to]}'s main.py cannot import`),
  ];
  const body = yamlStringify(cfg, { lineWidth: 0, aliasDuplicateObjects: false });
  return { text: `${header.join('\n')}\n${body}`, ldmcOnly };
}

/** One node with its children expanded, without the params `to` does not accept. */
function exportedNode(n: IRNode, to: Dialect): { target: string; params: Record<string, unknown> } {
  const params: Record<string, unknown> = {};
  const props = n.spec.params.properties as Record<string, TSchema>;
  for (const [k, v] of Object.entries(n.params)) {
    const s = props[k];
    if (s && !paramDialects(s).includes(to)) continue;
    const c = n.children.get(k);
    params[k] = c === undefined ? (s ? keepNested(s, v, to) : v) : c === null ? null : typeof c === 'string' ? c : exportedNode(c, to);
  }
  return { target: n.target, params };
}

/** Nested param objects (ddconfig) lose their foreign keys too. */
function keepNested(s: TSchema, v: unknown, to: Dialect): unknown {
  const o = s as TSchema & { type?: unknown; properties?: Record<string, TSchema>; anyOf?: TSchema[] };
  const obj = o.type === 'object' && o.properties ? (o as unknown as TObject) : o.anyOf?.find((a) => (a as { type?: unknown }).type === 'object') as TObject | undefined;
  if (!obj?.properties || v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const ks = (obj.properties as Record<string, TSchema>)[k];
    if (ks && !paramDialects(ks).includes(to)) continue;
    out[k] = ks ? keepNested(ks, x, to) : x;
  }
  return out;
}
