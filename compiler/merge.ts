// Phase 2, merge: OmegaConf semantics as latent-diffusion's main.py uses them —
// `OmegaConf.merge(*bases, cli)`: mappings merge deeply, anything else (lists included) is replaced,
// dotlist overrides go on top, then `${...}` interpolations are resolved. Nodes are moved, never
// re-created from text, so every value keeps the span of the file or override that set it.
import { diag, type Reporter, type Span } from './diagnostics.js';
import { parseOverrideValue } from './source.js';
import type { ConfigNode, MapEntry, MapNode, ScalarNode } from './tree.js';

export function mergeNodes(base: ConfigNode, over: ConfigNode): ConfigNode {
  if (base.kind !== 'map' || over.kind !== 'map') return over;
  const entries = new Map<string, MapEntry>(base.entries);
  for (const [k, e] of over.entries) {
    const prev = entries.get(k);
    entries.set(k, prev ? { key: k, keySpan: e.keySpan, value: mergeNodes(prev.value, e.value) } : e);
  }
  return { kind: 'map', entries, span: base.span };
}

export function mergeAll(roots: readonly MapNode[]): MapNode | undefined {
  if (roots.length === 0) return undefined;
  let acc: ConfigNode = roots[0]!;
  for (const r of roots.slice(1)) acc = mergeNodes(acc, r);
  return acc as MapNode;
}

/** Applies `key.path=value` overrides, creating missing mappings as OmegaConf.from_dotlist does. */
export function applyOverrides(root: MapNode, overrides: readonly string[], ctx: Reporter): MapNode {
  let acc: MapNode = root;
  for (const arg of overrides) {
    const eq = arg.indexOf('=');
    const label = `--set ${arg}`;
    const argSpan: Span = { file: label, line: 1, col: 7, endLine: 1, endCol: 7 + arg.length, offset: 6, length: arg.length };
    const path = eq > 0 ? arg.slice(0, eq).trim().split('.') : [];
    if (eq <= 0 || path.some((p) => p === '')) {
      ctx.report(diag(argSpan, 'Set_override_0_is_not_key_eq_value', [arg], { hint: 'for example: --set model.params.unet_config.params.model_channels=256' }));
      continue;
    }
    // Columns in the override's span count from the start of the "--set " label.
    const value = parseOverrideValue(`--set ${arg}`.slice(6), eq + 1, {
      report: (d) => ctx.report(d.withSpan(d.span ? { ...d.span, file: label, col: d.span.col + 6, endCol: d.span.endCol + 6 } : argSpan)),
    });
    if (!value) continue;
    const relabeled = relabel(value, label, 6);
    const keySpan: Span = { ...argSpan, endCol: 7 + eq, length: eq };
    const patched = setPath(acc, path, 0, relabeled, keySpan, ctx);
    if (patched) acc = patched;
  }
  return acc;
}

function relabel(n: ConfigNode, file: string, shift: number): ConfigNode {
  const s = (sp: Span): Span => ({ ...sp, file, col: sp.col + shift, endCol: sp.endCol + shift, offset: sp.offset + shift });
  switch (n.kind) {
    case 'scalar':
      return { ...n, span: s(n.span) };
    case 'seq':
      return { kind: 'seq', items: n.items.map((i) => relabel(i, file, shift)), span: s(n.span) };
    case 'map': {
      const entries = new Map<string, MapEntry>();
      for (const [k, e] of n.entries) entries.set(k, { key: k, keySpan: s(e.keySpan), value: relabel(e.value, file, shift) });
      return { kind: 'map', entries, span: s(n.span) };
    }
  }
}

/** Sets `full[at..]` under `node`; `full` is the whole dotted path, for messages. */
function setPath(node: MapNode, full: readonly string[], at: number, value: ConfigNode, keySpan: Span, ctx: Reporter): MapNode | undefined {
  const head = full[at]!;
  const upTo = (i: number) => full.slice(0, i + 1).join('.');
  const entries = new Map(node.entries);
  const prev = entries.get(head);
  if (at === full.length - 1) {
    entries.set(head, { key: head, keySpan, value: prev ? mergeNodes(prev.value, value) : value });
    return { kind: 'map', entries, span: node.span };
  }
  let child: ConfigNode | undefined = prev?.value;
  const next = full[at + 1]!;
  if (child && child.kind === 'seq' && /^\d+$/.test(next)) {
    // Index into a list: `a.list.1=5`.
    const idx = Number(next);
    if (idx >= child.items.length) {
      ctx.report(diag(keySpan, 'Set_override_path_0_crosses_non_mapping_1', [full.join('.'), `${upTo(at)} (a list of ${child.items.length})`]));
      return undefined;
    }
    const items = [...child.items];
    const cur = items[idx]!;
    if (at + 1 === full.length - 1) items[idx] = mergeNodes(cur, value);
    else if (cur.kind === 'map') {
      const sub = setPath(cur, full, at + 2, value, keySpan, ctx);
      if (!sub) return undefined;
      items[idx] = sub;
    } else {
      ctx.report(diag(keySpan, 'Set_override_path_0_crosses_non_mapping_1', [full.join('.'), upTo(at + 1)], { hint: `set it whole: --set ${upTo(at + 1)}=...` }));
      return undefined;
    }
    entries.set(head, { key: head, keySpan: prev!.keySpan, value: { kind: 'seq', items, span: child.span } });
    return { kind: 'map', entries, span: node.span };
  }
  if (child && child.kind !== 'map') {
    if (child.kind === 'scalar' && child.value === null) child = undefined;
    else {
      ctx.report(diag(keySpan, 'Set_override_path_0_crosses_non_mapping_1', [full.join('.'), upTo(at)], { hint: `'${upTo(at)}' holds ${child.kind === 'seq' ? 'a list' : 'a value'}; set it whole: --set ${upTo(at)}=...` }));
      return undefined;
    }
  }
  const base: MapNode = child ?? { kind: 'map', entries: new Map(), span: keySpan };
  const sub = setPath(base, full, at + 1, value, keySpan, ctx);
  if (!sub) return undefined;
  entries.set(head, { key: head, keySpan: prev?.keySpan ?? keySpan, value: sub });
  return { kind: 'map', entries, span: node.span };
}

// ---------------------------------------------------------------- interpolation

const INTERP = /(\\?)\$\{([^{}]*)\}/g;

/** Resolves `${a.b}`, `${.sibling}` and `${..uncle}` in place of OmegaConf's lazy resolution. */
export function resolveInterpolations(root: MapNode, ctx: Reporter): MapNode {
  const resolver = new Interpolator(root, ctx);
  return resolver.node(root, []) as MapNode;
}

class Interpolator {
  private readonly done = new Map<string, ConfigNode>();
  private readonly active: string[] = [];

  constructor(
    private readonly root: MapNode,
    private readonly ctx: Reporter,
  ) {}

  node(n: ConfigNode, path: string[]): ConfigNode {
    switch (n.kind) {
      case 'scalar':
        return typeof n.value === 'string' && n.value.includes('${') ? this.scalar(n, path) : n;
      case 'seq':
        return { kind: 'seq', items: n.items.map((it, i) => this.node(it, [...path, String(i)])), span: n.span };
      case 'map': {
        const entries = new Map<string, MapEntry>();
        for (const [k, e] of n.entries) entries.set(k, { ...e, value: this.node(e.value, [...path, k]) });
        return { kind: 'map', entries, span: n.span };
      }
    }
  }

  private scalar(n: ScalarNode, path: string[]): ConfigNode {
    const key = path.join('.');
    const cached = this.done.get(key);
    if (cached) return cached;
    if (this.active.includes(key)) {
      this.ctx.report(diag(n.span, 'Interpolation_cycle_0', [[...this.active.slice(this.active.indexOf(key)), key].join(' -> ')]));
      return { ...n, value: null };
    }
    this.active.push(key);
    try {
      const out = this.expand(n, path);
      this.done.set(key, out);
      return out;
    } finally {
      this.active.pop();
    }
  }

  private expand(n: ScalarNode, path: string[]): ConfigNode {
    const text = n.value as string;
    const whole = /^\$\{([^{}]*)\}$/.exec(text);
    if (whole) {
      const target = this.lookup(whole[1]!.trim(), path, n);
      if (!target) return { ...n, value: null };
      return { ...target, span: n.span } as ConfigNode;
    }
    let failed = false;
    const value = text.replace(INTERP, (m, esc: string, expr: string) => {
      if (esc) return m.slice(1);
      const t = this.lookup(expr.trim(), path, n);
      if (!t) {
        failed = true;
        return '';
      }
      if (t.kind !== 'scalar') {
        this.ctx.report(diag(n.span, 'Interpolation_0_inserts_a_1_into_a_string', [expr, t.kind === 'map' ? 'mapping' : 'list']));
        failed = true;
        return '';
      }
      return String(t.value);
    });
    if (failed) return { ...n, value: null };
    if (/\$\{[^}]*$/.test(value)) this.ctx.report(diag(n.span, 'Interpolation_0_malformed', [text]));
    return { kind: 'scalar', value, span: n.span };
  }

  private lookup(expr: string, path: string[], site: ScalarNode): ConfigNode | undefined {
    if (expr === '') {
      this.ctx.report(diag(site.span, 'Interpolation_0_malformed', ['${}']));
      return undefined;
    }
    const colon = expr.indexOf(':');
    if (colon >= 0) {
      this.ctx.report(diag(site.span, 'Interpolation_resolver_0_not_supported', [expr.slice(0, colon)], { hint: 'write the value itself, or pass it with --set' }));
      return undefined;
    }
    let base: string[] = [];
    let rest = expr;
    if (expr.startsWith('.')) {
      const dots = /^\.+/.exec(expr)![0].length;
      base = path.slice(0, Math.max(0, path.length - dots));
      rest = expr.slice(dots);
    }
    const parts = [...base, ...rest.split('.').filter((p) => p !== '')];
    let cur: ConfigNode | undefined = this.root;
    const walked: string[] = [];
    for (const p of parts) {
      walked.push(p);
      if (cur?.kind === 'map') cur = cur.entries.get(p)?.value;
      else if (cur?.kind === 'seq' && /^\d+$/.test(p)) cur = cur.items[Number(p)];
      else cur = undefined;
      if (!cur) break;
    }
    if (!cur) {
      this.ctx.report(diag(site.span, 'Interpolation_0_not_found', [expr], { hint: `no value at '${walked.join('.')}'` }));
      return undefined;
    }
    if (cur.kind === 'scalar' && typeof cur.value === 'string' && cur.value.includes('${')) return this.scalar(cur, parts);
    if (cur.kind !== 'scalar') return this.node(cur, parts);
    return cur;
  }
}
