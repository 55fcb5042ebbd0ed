// Position queries on a compile result, for editors (cf. rust-analyzer's `ide` crate): what is at
// an offset, its schema and facts, completions, fixes, definitions and the outline. Everything
// here speaks in ldmc's own types (offsets, Spans, markdown strings); lsp/ turns them into the
// protocol's. No fs: texts come from the Project's result.
import type { TSchema } from '@sinclair/typebox';
import { builtinRegistry, childSlot, ConditioningInputs, closest, familyName, type ChildSlot, type Family, type Registry, type TargetSpec } from '../schema/index.js';
import { concatChannels } from './check.js';
import type { Diagnostic, Span } from './diagnostics.js';
import { fmtFlops, fmtLr } from './emit.js';
import type { Inference } from './infer.js';
import type { IRNode, ModelGraph } from './ir.js';
import type { ProjectResult } from './project.js';
import { getPath, type ConfigNode, type MapEntry, type MapNode } from './tree.js';
import { describeSchema, type JsonSchema } from './validate.js';

// ------------------------------------------------------------------ types

export interface TextEdit {
  readonly file: string;
  readonly offset: number;
  readonly length: number;
  readonly newText: string;
}

export interface Fix {
  readonly title: string;
  readonly edits: readonly TextEdit[];
  readonly diagnostic: Diagnostic;
  readonly preferred: boolean;
}

export interface HoverInfo {
  readonly span: Span;
  readonly markdown: string;
}

export interface InlayHintInfo {
  /** Offset the hint is drawn after (the end of a line). */
  readonly offset: number;
  readonly label: string;
  readonly kind: 'params' | 'attention' | 'learning_rate';
}

export type CompletionKind = 'target' | 'param' | 'value' | 'key';

export interface CompletionEntry {
  readonly label: string;
  readonly kind: CompletionKind;
  readonly detail?: string;
  readonly documentation?: string;
  /** Text to insert; a snippet (`${1:...}` placeholders) when `snippet` is set. */
  readonly insertText: string;
  readonly snippet: boolean;
  /** The word being replaced: [offset, offset + length). */
  readonly replace: { readonly offset: number; readonly length: number };
}

export interface Target {
  readonly file: string;
  /** Undefined: the start of the file. */
  readonly span: Span | undefined;
}

export interface OutlineNode {
  readonly name: string;
  readonly detail: string;
  readonly kind: 'component' | 'section';
  /** From the key to the end of the value. */
  readonly offset: number;
  readonly end: number;
  readonly keySpan: Span;
  readonly children: OutlineNode[];
}

// ------------------------------------------------------------------ what is at an offset

export type Found =
  | { readonly kind: 'target'; readonly node: IRNode; readonly span: Span }
  | { readonly kind: 'param'; readonly node: IRNode; readonly key: string; readonly entry: MapEntry; readonly span: Span };

const within = (s: Span | undefined, file: string, offset: number): s is Span => !!s && s.file === file && s.offset >= 0 && offset >= s.offset && offset <= s.offset + s.length;

/** The innermost target value or param (key or scalar/list value) at `offset` in `file`. */
export function findAt(result: ProjectResult, file: string, offset: number): Found | undefined {
  let best: Found | undefined;
  const better = (s: Span) => !best || s.length < best.span.length;
  for (const n of result.graph?.nodes ?? []) {
    if (within(n.targetSpan, file, offset) && n.node.entries.get('target')?.value.span === n.targetSpan && better(n.targetSpan)) best = { kind: 'target', node: n, span: n.targetSpan };
    const te = n.node.entries.get('target');
    if (te && within(te.keySpan, file, offset) && better(te.keySpan)) best = { kind: 'target', node: n, span: te.keySpan };
    for (const [key, e] of n.paramsNode?.entries ?? []) {
      if (within(e.keySpan, file, offset) && better(e.keySpan)) best = { kind: 'param', node: n, key, entry: e, span: e.keySpan };
      else if (e.value.kind !== 'map' && within(e.value.span, file, offset) && better(e.value.span)) best = { kind: 'param', node: n, key, entry: e, span: e.value.span };
    }
  }
  return best;
}

// ------------------------------------------------------------------ facts of a node

export interface NodeFacts {
  params?: number;
  input?: readonly number[];
  output?: readonly number[];
  latent?: readonly number[];
  flops?: number;
  /** Attention resolutions as sides of the feature map (32 for 32×32). */
  attention?: number[];
}

export function factsOf(g: ModelGraph | undefined, inf: Inference | undefined, n: IRNode): NodeFacts {
  const f: NodeFacts = {};
  if (!inf) return f;
  if (inf.unet?.node === n) {
    const u = inf.unet.facts;
    Object.assign(f, { params: u.paramCount, input: u.inputShape, output: u.outputShape, flops: u.flops, attention: uniq(u.attention.map((a) => a.resolution[0])) });
  } else if (inf.firstStage?.node === n) {
    const a = inf.firstStage.facts;
    Object.assign(f, { params: a.paramCount, input: a.inputShape, output: a.outputShape, latent: a.latentShape, flops: a.flops.total, attention: uniq(a.attention.map((s) => s.side)) });
  } else if (inf.condStage?.node === n && inf.condStage.facts) {
    const c = inf.condStage.facts;
    const out = c.output.kind === 'vector' ? [c.output.width] : c.output.kind === 'unknown' ? null : c.output.shape;
    Object.assign(f, { ...(c.paramCount !== null ? { params: c.paramCount } : {}), ...(c.flops !== null ? { flops: c.flops } : {}), ...(out ? { output: out } : {}) });
  }
  if (g?.model === n && inf.totalParams !== undefined) f.params = inf.totalParams;
  return f;
}

const uniq = (xs: number[]) => [...new Set(xs)];
const fmtInt = (n: number) => n.toLocaleString('en-US');
const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`;
const sides = (xs: readonly number[]) => xs.map((r) => `${r}×${r}`).join(', ');
const className = (id: string) => id.split('.').pop()!;

// ------------------------------------------------------------------ hover

export function hoverAt(result: ProjectResult, file: string, offset: number): HoverInfo | undefined {
  const found = findAt(result, file, offset);
  if (!found) return undefined;
  const n = found.node;
  if (found.kind === 'target') {
    const f = factsOf(result.graph, result.inference, n);
    const lines = [`**${className(n.target)}** — ${n.spec.summary}`, '', `\`${n.target}\` (${n.spec.source})`, ''];
    if (f.params !== undefined) lines.push(`- parameters: **${fmtInt(f.params)}**`);
    if (f.input && f.output) lines.push(`- shapes: ${fmtShape(f.input)} → ${f.latent ? `latent ${fmtShape(f.latent)} → ` : ''}${fmtShape(f.output)}`);
    else if (f.output) lines.push(`- output: ${fmtShape(f.output)}`);
    if (f.flops !== undefined) lines.push(`- FLOPs: ${fmtFlops(f.flops)} per sample`);
    if (f.attention) lines.push(`- attention at: ${f.attention.length ? sides(f.attention) : 'none'}`);
    if (n.spec.note) lines.push('', n.spec.note);
    return { span: found.span, markdown: lines.join('\n').trimEnd() };
  }
  const ps = n.spec.params.properties[found.key] as (TSchema & JsonSchema) | undefined;
  if (!ps) return undefined;
  const lines = [`**${found.key}** — ${describeSchema(ps)}`, ''];
  if (ps.description) lines.push(ps.description, '');
  if ('default' in ps) lines.push(`- default: \`${JSON.stringify(ps.default)}\``);
  const value = n.params[found.key];
  const c = n.children.get(found.key);
  const shown = c && typeof c === 'object' ? c.target : value;
  if (shown !== undefined) lines.push(`- value after merging: \`${JSON.stringify(shown)}\``);
  lines.push(`- set in: ${where(found.entry.value.span)}`);
  lines.push(`- param of \`${className(n.target)}\` at \`${n.path}\``);
  return { span: found.span, markdown: lines.join('\n') };
}

function where(s: Span): string {
  return s.line > 0 ? `${s.file}:${s.line}:${s.col}` : s.file;
}

// ------------------------------------------------------------------ inlay hints

/** Parameter counts after `target:` lines, attention resolutions, the effective learning rate. */
export function inlayHints(result: ProjectResult, file: string, text: string): InlayHintInfo[] {
  const out: InlayHintInfo[] = [];
  const g = result.graph, inf = result.inference;
  const eol = (o: number) => {
    const i = text.indexOf('\n', o);
    return (i < 0 ? text.length : i) - (text[i - 1] === '\r' ? 1 : 0);
  };
  for (const n of g?.nodes ?? []) {
    const f = factsOf(g, inf, n);
    if (f.params !== undefined && n.targetSpan.file === file && n.targetSpan.offset >= 0 && n.node.entries.has('target')) {
      out.push({ offset: eol(n.targetSpan.offset), label: `${fmtInt(f.params)} params`, kind: 'params' });
    }
    if (inf?.unet?.node === n && f.attention) {
      const e = n.paramsNode?.entries.get('attention_resolutions');
      if (e && e.keySpan.file === file) out.push({ offset: eol(e.keySpan.offset), label: `→ ${sides(f.attention) || 'no attention'}`, kind: 'attention' });
    }
  }
  const lr = inf?.learningRate, lrSpan = g?.baseLearningRateSpan;
  if (lr && lrSpan && lrSpan.file === file) {
    out.push({ offset: eol(lrSpan.offset), label: `lr ${fmtLr(lr.value)} = ${lr.accumulateGradBatches} × ${lr.ngpu} gpu × batch ${lr.batchSize} × ${fmtLr(lr.base)}`, kind: 'learning_rate' });
  }
  return out.sort((a, b) => a.offset - b.offset);
}

// ------------------------------------------------------------------ completion

interface LineContext {
  /** Keys of the enclosing mappings, outermost first. */
  readonly path: string[];
  /** Set when the cursor is in the value of `key:` on this line. */
  readonly key: string | undefined;
  readonly word: string;
  readonly wordOffset: number;
  /** Indentation of the cursor's line. */
  readonly indent: number;
}

/** Reads the YAML path at an offset from indentation alone, so it works while the text is half-typed. */
export function lineContext(text: string, offset: number): LineContext {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const before = text.slice(lineStart, offset);
  const indent = before.length - before.trimStart().length;
  let key: string | undefined;
  let word: string;
  const kv = /^\s*(?:-\s+)?([^\s:#'"][^:#]*?):\s+(\S*)$/.exec(before) ?? /^\s*(?:-\s+)?([^\s:#'"][^:#]*?):()$/.exec(before);
  if (kv) {
    key = kv[1]!.trim();
    word = kv[2]!;
  } else word = /[^\s:]*$/.exec(before)![0];
  const path: string[] = [];
  let limit = indent;
  let at = lineStart - 1;
  while (at > 0 && limit > 0) {
    const s = text.lastIndexOf('\n', at - 1) + 1;
    const line = text.slice(s, at).replace(/\r$/, '');
    at = s - 1;
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const ind = line.length - line.trimStart().length;
    if (ind >= limit) continue;
    const m = /^\s*(?:-\s+)?([^\s:#'"][^:#]*?):(\s|$)/.exec(line);
    if (!m) continue;
    path.unshift(m[1]!.trim());
    limit = ind;
  }
  return { path, key, word, wordOffset: offset - word.length, indent };
}

const TOP_SECTIONS = ['model', 'data', 'lightning'];
const MODEL_FAMILIES: readonly Family[] = ['model', 'unet', 'first_stage', 'cond_stage', 'eval'];

/** The slot a `{target, params}` mapping at `path` fills, from the registry and the last graph. */
function slotAt(g: ModelGraph | undefined, path: readonly string[]): ChildSlot | undefined {
  const p = path.join('.');
  if (p === 'model' || path.length === 0) return { families: MODEL_FAMILIES, sentinels: [] };
  if (p === 'data') return { families: ['data_module'], sentinels: [] };
  if (p === 'lightning.modelcheckpoint' || (path.length === 3 && path[0] === 'lightning' && path[1] === 'callbacks')) return { families: ['callback'], sentinels: [] };
  if (p === 'lightning.logger') return { families: ['logger'], sentinels: [] };
  if (path.length >= 3 && path[path.length - 2] === 'params') {
    const owner = nodeAtPath(g, path.slice(0, -2).join('.'));
    const ps = owner?.spec.params.properties[path[path.length - 1]!];
    return ps ? childSlot(ps) : undefined;
  }
  return undefined;
}

function nodeAtPath(g: ModelGraph | undefined, path: string): IRNode | undefined {
  return g?.nodes.find((n) => n.path === path);
}

/**
 * Completions at an offset: `target:` values of the families the slot accepts, param keys of the
 * chosen target (defaults as snippets), enum and boolean values. `graph` is the latest graph that
 * resolved (the text being typed may not parse).
 */
export function completionsAt(graph: ModelGraph | undefined, text: string, offset: number, registry: Registry = builtinRegistry): CompletionEntry[] {
  const c = lineContext(text, offset);
  const replace = { offset: c.wordOffset, length: c.word.length };
  if (c.key === 'target') {
    const slot = slotAt(graph, c.path);
    if (!slot) return [];
    const specs = registry.ofFamilies(slot.families);
    return specs.map((t) => ({ label: t.id, kind: 'target' as const, detail: familyName(t.families[0]!), documentation: t.summary, insertText: t.id, snippet: false, replace }));
  }
  if (c.key !== undefined) {
    if (c.path[c.path.length - 1] !== 'params') return [];
    const owner = nodeAtPath(graph, c.path.slice(0, -1).join('.'));
    const ps = owner?.spec.params.properties[c.key] as JsonSchema | undefined;
    if (!ps) return [];
    const slot = childSlot(ps as TSchema);
    const values = slot ? slot.sentinels : enumValues(ps);
    return values.map((v) => ({ label: String(v), kind: 'value' as const, detail: describeSchema(ps), insertText: String(v), snippet: false, replace }));
  }
  if (c.path.length === 0) return TOP_SECTIONS.map((k) => ({ label: k, kind: 'key' as const, insertText: `${k}:\n  `, snippet: false, replace }));
  if (c.path[c.path.length - 1] === 'params') {
    const owner = nodeAtPath(graph, c.path.slice(0, -1).join('.'));
    if (!owner) return [];
    const present = new Set(owner.paramsNode?.entries.keys() ?? []);
    const out: CompletionEntry[] = [];
    for (const [k, raw] of Object.entries(owner.spec.params.properties)) {
      if (present.has(k) && k !== c.word) continue;
      const ps = raw as JsonSchema;
      const slot = childSlot(raw);
      const insert = slot ? `${k}:\n${' '.repeat(c.indent + 2)}target: \${1}` : `${k}: \${1:${'default' in ps ? snippetText(ps.default) : ''}}`;
      out.push({ label: k, kind: 'param', detail: describeSchema(ps), documentation: [ps.description, 'default' in ps ? `default: ${JSON.stringify(ps.default)}` : 'required'].filter(Boolean).join('\n\n'), insertText: insert, snippet: true, replace });
    }
    return out;
  }
  if (slotAt(graph, c.path)) return ['target', 'params'].map((k) => ({ label: k, kind: 'key' as const, insertText: `${k}: `, snippet: false, replace }));
  return [];
}

function enumValues(s: JsonSchema): (string | number | boolean)[] {
  const out: (string | number | boolean)[] = [];
  const walk = (x: JsonSchema) => {
    if (x.const !== undefined && x.const !== null) out.push(x.const as string);
    for (const v of x.enum ?? []) if (v !== null) out.push(v as string);
    if (x.type === 'boolean') out.push(true, false);
    for (const b of x.anyOf ?? []) walk(b);
  };
  walk(s);
  return [...new Set(out)];
}

function snippetText(v: unknown): string {
  const s = v === null ? 'null' : Array.isArray(v) ? `[${v.map((x) => JSON.stringify(x)).join(', ')}]` : typeof v === 'string' ? v : JSON.stringify(v);
  return s.replace(/[$}\\]/g, (m) => `\\${m}`);
}

// ------------------------------------------------------------------ fixes

/** Quick fixes for the diagnostics of one file: did-you-mean, channel counts, missing params. */
export function fixesFor(result: ProjectResult, file: string): Fix[] {
  const out: Fix[] = [];
  const text = result.sources.get(file);
  if (text === undefined) return out;
  for (const d of result.diagnostics) {
    const s = d.span;
    if (!s || s.file !== file || s.offset < 0) continue;
    const here = text.slice(s.offset, s.offset + s.length);
    const replaceWith = (title: string, newText: string) => out.push({ title, edits: [{ file, offset: s.offset, length: s.length, newText }], diagnostic: d, preferred: true });
    switch (d.code) {
      case 'LDMC400': {
        const owner = result.graph?.nodes.find((n) => n.paramsNode?.entries.get(here)?.keySpan === s);
        const guess = owner ? closest(here, Object.keys(owner.spec.params.properties)) : hinted(d);
        if (guess) replaceWith(`Change '${here}' to '${guess.split('.').pop()}'`, guess.split('.').pop()!);
        break;
      }
      case 'LDMC300': {
        const guess = hinted(d) ?? result.registry.suggest(here.trim());
        if (guess) replaceWith(`Change the target to '${guess}'`, guess);
        break;
      }
      case 'LDMC500':
      case 'LDMC501':
      case 'LDMC502': {
        const fix = channelFix(result, d);
        if (fix && /^\s*\d+\s*$/.test(here)) replaceWith(`Set ${fix.key} to ${fix.value}`, String(fix.value));
        break;
      }
      case 'LDMC402':
        out.push(...missingParamFixes(result, d, text));
        break;
      default: {
        const guess = hinted(d);
        if (guess && here.trim() !== '' && !here.includes('\n')) replaceWith(`Change '${here}' to '${guess}'`, guess);
      }
    }
  }
  return out;
}

/** The name in a did-you-mean hint (the registry's suggestion, made when the diagnostic was). */
function hinted(d: Diagnostic): string | undefined {
  return d.hint ? /did you mean '([^']+)'\?/.exec(d.hint)?.[1] : undefined;
}

function channelFix(result: ProjectResult, d: Diagnostic): { key: string; value: number } | undefined {
  const inf = result.inference;
  const latent = inf?.firstStage?.facts.latentShape[0];
  if (latent === undefined || !inf) return undefined;
  if (d.code === 'LDMC501') return { key: 'out_channels', value: latent };
  if (d.code === 'LDMC502') return { key: 'channels', value: latent };
  const extra = inf.conditioningKey !== null && ConditioningInputs[inf.conditioningKey].concat ? concatChannels(inf, result.graph?.model ?? undefined, latent)?.channels ?? 0 : 0;
  return { key: 'in_channels', value: latent + extra };
}

function missingParamFixes(result: ProjectResult, d: Diagnostic, text: string): Fix[] {
  const s = d.span!;
  const n = result.graph?.nodes.find((x) => x.node.entries.get('params')?.keySpan === s || (x.targetSpan === s && !x.node.entries.has('params')));
  if (!n) return [];
  const required = ((n.spec.params as unknown as JsonSchema).required ?? []).filter((k) => !n.paramsNode?.entries.has(k));
  const lineStart = text.lastIndexOf('\n', s.offset - 1) + 1;
  const indent = /^\s*/.exec(text.slice(lineStart))![0].length;
  const eolAt = text.indexOf('\n', s.offset);
  const at = eolAt < 0 ? text.length : eolAt;
  const hasParams = n.node.entries.get('params')?.keySpan === s;
  return required.map((k) => {
    const ps = n.spec.params.properties[k] as JsonSchema;
    const line = hasParams ? `\n${' '.repeat(indent + 2)}${k}: ` : `\n${' '.repeat(indent)}params:\n${' '.repeat(indent + 2)}${k}: `;
    return { title: `Add the missing required param '${k}' (${describeSchema(ps)})`, edits: [{ file: s.file, offset: at, length: 0, newText: line }], diagnostic: d, preferred: required.length === 1 };
  });
}

// ------------------------------------------------------------------ definitions

/** Where a source tree position sits: the path of keys, and the entry at the end. */
export function pathAt(root: ConfigNode | undefined, offset: number): { path: string[]; entry: MapEntry; onKey: boolean } | undefined {
  let cur = root;
  const path: string[] = [];
  let last: { path: string[]; entry: MapEntry; onKey: boolean } | undefined;
  while (cur) {
    let next: ConfigNode | undefined;
    if (cur.kind === 'map') {
      for (const [k, e] of cur.entries) {
        const inKey = offset >= e.keySpan.offset && offset <= e.keySpan.offset + e.keySpan.length;
        const inValue = offset >= e.value.span.offset && offset <= e.value.span.offset + e.value.span.length;
        if (inKey || inValue) {
          path.push(k);
          last = { path: [...path], entry: e, onKey: inKey };
          next = inKey ? undefined : e.value;
          break;
        }
      }
    } else if (cur.kind === 'seq') {
      const i = cur.items.findIndex((it) => offset >= it.span.offset && offset <= it.span.offset + it.span.length);
      if (i >= 0) {
        path.push(String(i));
        next = cur.items[i];
      }
    }
    cur = next;
  }
  return last;
}

export interface DefinitionInput {
  readonly result: ProjectResult;
  readonly file: string;
  readonly text: string;
  readonly offset: number;
  /** Parse tree of `file` alone, and of any base, by path. */
  readonly treeOf: (path: string) => MapNode | undefined;
}

/**
 * Go to definition: a modeline base to its file; `${a.b}` to the key it reads; a key or value to
 * where the value in effect was set, or, when this file set it, to the base value it overrides.
 */
export function definitionAt(q: DefinitionInput): Target | undefined {
  const { result, file, text, offset } = q;
  for (const b of result.bases.get(file) ?? []) if (offset >= b.offset && offset <= b.offset + b.length) return { file: b.path, span: undefined };
  const own = q.treeOf(file);
  const at = pathAt(own, offset);
  if (!at) return undefined;
  const raw = at.entry.value.kind === 'scalar' ? at.entry.value.value : undefined;
  if (!at.onKey && typeof raw === 'string' && raw.includes('${')) {
    const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
    const lineEnd = text.indexOf('\n', offset);
    const line = text.slice(lineStart, lineEnd < 0 ? text.length : lineEnd);
    const col = offset - lineStart;
    for (const m of line.matchAll(/\$\{([^{}]*)\}/g)) {
      if (col < m.index! || col > m.index! + m[0].length) continue;
      const e = lookupEntry(result.uninterpolated, m[1]!.trim(), at.path);
      return e ? { file: e.keySpan.file, span: e.keySpan } : undefined;
    }
  }
  const merged = entryAtPath(result.uninterpolated, at.path);
  const here = at.entry.value.span;
  if (merged && merged.value.span.file !== file && !merged.value.span.file.startsWith('--set')) return { file: merged.value.span.file, span: merged.value.span };
  if (merged && merged.value.span !== here && merged.value.span.file === file) return { file, span: merged.value.span };
  // This file set the value: show the base value it overrides (the last base that sets it).
  const order = result.files.slice(0, Math.max(0, result.files.indexOf(file)));
  for (const f of [...order].reverse()) {
    const e = entryAtPath(q.treeOf(f), at.path);
    if (e) return { file: f, span: e.value.span };
  }
  return undefined;
}

function entryAtPath(root: MapNode | undefined, path: readonly string[]): MapEntry | undefined {
  const parent = getPath(root, path.slice(0, -1));
  return parent?.kind === 'map' ? parent.entries.get(path[path.length - 1]!) : undefined;
}

/** Resolves `${expr}` as merge.ts does (absolute, or `.`-relative to the site's mapping). */
function lookupEntry(root: MapNode | undefined, expr: string, site: readonly string[]): MapEntry | undefined {
  let base: string[] = [];
  let rest = expr;
  if (expr.startsWith('.')) {
    const dots = /^\.+/.exec(expr)![0].length;
    base = site.slice(0, Math.max(0, site.length - dots));
    rest = expr.slice(dots);
  }
  return entryAtPath(root, [...base, ...rest.split('.').filter((p) => p !== '')]);
}

// ------------------------------------------------------------------ outline

/** The component tree of one file: every mapping with a `target`, and the sections holding them. */
export function outline(root: MapNode | undefined): OutlineNode[] {
  if (!root) return [];
  const walk = (m: MapNode): OutlineNode[] => {
    const out: OutlineNode[] = [];
    for (const [k, e] of m.entries) {
      const v = e.value;
      let kids: OutlineNode[] = [];
      if (v.kind === 'map') kids = walk(v);
      else if (v.kind === 'seq') for (const it of v.items) if (it.kind === 'map') kids.push(...walk(it));
      const t = v.kind === 'map' ? v.entries.get('target')?.value : undefined;
      const target = t?.kind === 'scalar' && typeof t.value === 'string' ? t.value : undefined;
      if (target === undefined && kids.length === 0) continue;
      // `params` is plumbing: its children belong to the component above it.
      if (k === 'params' && target === undefined) {
        out.push(...kids);
        continue;
      }
      out.push({ name: k, detail: target ? className(target) : '', kind: target ? 'component' : 'section', offset: e.keySpan.offset, end: Math.max(e.keySpan.offset + e.keySpan.length, v.span.offset + v.span.length), keySpan: e.keySpan, children: kids });
    }
    return out;
  };
  return walk(root);
}

/** Targets the registry has for a family (for tests and docs). */
export function targetsOf(families: readonly Family[], registry: Registry = builtinRegistry): TargetSpec[] {
  return registry.ofFamilies(families);
}
