// Phase 1, source: YAML text -> ConfigNode tree with spans. Uses eemeli/yaml for parsing (it keeps
// ranges) and converts to our own tree, expanding aliases under a node budget so an alias bomb is a
// diagnostic, not an out-of-memory crash.
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Document,
  type Node as YNode,
} from 'yaml';
import { diag, type Reporter, type Span } from './diagnostics.js';
import { checkSourceLimits, DEFAULT_LIMITS, firstTooDeep, type SourceLimits } from './limits.js';
import { firstLine, locateSyntaxFaults, type RawSyntaxError } from './syntax-faults.js';
import type { ConfigNode, MapEntry, MapNode, ScalarNode } from './tree.js';

/** At most this many nodes after alias expansion; the largest reference config has ~400. */
export const MAX_EXPANDED_NODES = 100_000;

const KNOWN_TAGS = new Set([
  'tag:yaml.org,2002:str',
  'tag:yaml.org,2002:int',
  'tag:yaml.org,2002:float',
  'tag:yaml.org,2002:bool',
  'tag:yaml.org,2002:null',
  'tag:yaml.org,2002:map',
  'tag:yaml.org,2002:seq',
]);

export interface SourceFile {
  readonly path: string;
  readonly text: string;
  readonly lines: LineCounter;
}

export function spanOf(file: SourceFile, start: number, end: number): Span {
  const a = file.lines.linePos(start);
  const b = file.lines.linePos(Math.max(start, end));
  return { file: file.path, line: a.line, col: a.col, endLine: b.line, endCol: b.col, offset: start, length: Math.max(0, end - start) };
}

/** Parses one config file. Returns undefined (with diagnostics reported) when nothing usable is left. */
export function parseSource(path: string, text: string, ctx: Reporter, limits: SourceLimits = DEFAULT_LIMITS): MapNode | undefined {
  // Before the parser: it recurses on nesting, and a binary file only gives it noise to report.
  if (!checkSourceLimits(path, text, limits, ctx)) return undefined;
  const lines = new LineCounter();
  const file: SourceFile = { path, text, lines };
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const whole = spanOf(file, 0, Math.min(text.length, 1));
  if (list.length === 0 || list[0]!.contents === null) {
    ctx.report(diag(whole, 'File_is_empty', [], { hint: 'a config needs at least a `model:` section with `target:` and `params:`' }));
    return undefined;
  }
  if (list.length > 1) {
    const second = list[1]!.range[0];
    ctx.report(diag(spanOf(file, second, second + 3), 'Multiple_documents', [list.length], { hint: 'split the documents into separate files and pass them in order: ldmc check a.yaml b.yaml' }));
  }
  const doc = list[0]!;
  const reportDuplicate = ([s, t]: readonly [number, number]) => {
    const key = /^\s*(?:"([^"]*)"|'([^']*)'|([^:#\n]*?))\s*:/.exec(text.slice(s))?.slice(1).find((k) => k !== undefined)?.trim() || text.slice(s, t).trim() || '?';
    ctx.report(diag(spanOf(file, s, t), 'Duplicate_key_0', [key], { hint: 'YAML keeps only one of them; remove or rename the other' }));
  };
  if (doc.errors.some((e) => e.code !== 'DUPLICATE_KEY')) {
    // One diagnostic per mistake, at the line to edit (yaml's own positions are often a line early).
    const { faults, duplicateKeys } = locateSyntaxFaults(text, doc.errors, syntaxErrorsOf, syntaxHint);
    for (const f of faults) ctx.report(diag(spanOf(file, f.start, f.end), 'YAML_syntax_error_0', [f.message], { hint: f.hint }));
    duplicateKeys.forEach(reportDuplicate);
    return undefined;
  }
  for (const e of doc.errors) reportDuplicate(e.pos);
  const conv = new Converter(file, doc, ctx, limits.maxScalarLength);
  const root = conv.convert(doc.contents as YNode);
  if (!root) return undefined;
  if (root.kind !== 'map') {
    ctx.report(diag(root.span, 'Top_level_must_be_a_mapping_not_0', [root.kind === 'seq' ? 'a list' : 'a scalar'], { hint: 'start the file with `model:`' }));
    return undefined;
  }
  return root;
}

/** The errors of a text parsed as parseSource parses it, for checking a repair. */
function syntaxErrorsOf(text: string): readonly RawSyntaxError[] {
  const docs = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: false, strict: true });
  return (Array.isArray(docs) ? docs : [docs])[0]?.errors ?? [];
}

function syntaxHint(code: string): string | undefined {
  switch (code) {
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
      return 'check the indentation and the brackets on this line';
    case 'TAB_AS_INDENT':
      return 'YAML indentation must use spaces, not tabs';
    case 'MULTILINE_IMPLICIT_KEY':
    case 'BLOCK_AS_IMPLICIT_KEY':
      return 'a nested mapping needs its own indented line: `key:` then the entries below it';
    default:
      return undefined;
  }
}

class Converter {
  private budget = MAX_EXPANDED_NODES;
  private bombReported = false;
  private readonly expanding = new Set<YNode>();

  constructor(
    private readonly file: SourceFile,
    private readonly doc: Document,
    private readonly ctx: Reporter,
    private readonly maxScalarLength = DEFAULT_LIMITS.maxScalarLength,
  ) {}

  private span(n: YNode): Span {
    const r = n.range ?? [0, 0, 0];
    return spanOf(this.file, r[0], r[1]);
  }

  convert(n: YNode | null, aliasSpan?: Span): ConfigNode | undefined {
    if (n === null) return undefined;
    if (--this.budget < 0) {
      if (!this.bombReported) {
        this.bombReported = true;
        this.ctx.report(diag(aliasSpan ?? this.span(n), 'Alias_expansion_exceeds_0_nodes', [MAX_EXPANDED_NODES], { hint: 'write the repeated values out, or use fewer nested aliases' }));
      }
      return undefined;
    }
    if (isAlias(n)) {
      const target = n.resolve(this.doc) as YNode | undefined;
      const at = aliasSpan ?? this.span(n);
      if (!target || this.expanding.has(target)) {
        this.ctx.report(diag(at, 'YAML_syntax_error_0', [`alias *${n.source} has no anchor before it`], {}));
        return undefined;
      }
      this.expanding.add(target);
      try {
        return this.convert(target, at);
      } finally {
        this.expanding.delete(target);
      }
    }
    const span = aliasSpan ?? this.span(n);
    const tag = n.tag;
    if (tag && !KNOWN_TAGS.has(tag) && tag !== '!') {
      this.ctx.report(diag(span, 'Unsupported_YAML_tag_0', [tag], { hint: 'ldmc reads plain data only; remove the tag' }));
      return undefined;
    }
    if (isScalar(n)) {
      if (typeof n.value === 'string' && n.value.length > this.maxScalarLength) {
        this.ctx.report(diag(span, 'Scalar_too_long_0_limit_1', [n.value.length, this.maxScalarLength], { hint: 'no config value is this long; check for a missing closing quote or a pasted file' }));
        return undefined;
      }
      return this.scalar(n.value, n.source, span);
    }
    if (isSeq(n)) {
      const items: ConfigNode[] = [];
      for (const it of n.items) {
        const c = this.convert(it as YNode | null, aliasSpan);
        items.push(c ?? { kind: 'scalar', value: null, span: it && (it as YNode).range ? this.span(it as YNode) : span });
      }
      return { kind: 'seq', items, span };
    }
    if (isMap(n)) {
      const entries = new Map<string, MapEntry>();
      const merges: MapNode[] = [];
      for (const p of n.items) {
        if (!isPair(p)) continue;
        const k = p.key as YNode | null;
        if (!k || !isScalar(k) || (k.value !== null && typeof k.value === 'object')) {
          this.ctx.report(diag(k ? this.span(k) : span, 'Key_must_be_a_scalar', []));
          continue;
        }
        const key = String(k.value);
        const keySpan = aliasSpan ?? this.span(k);
        const v = p.value as YNode | null;
        if (key === '<<' && v) {
          // YAML 1.1 merge key, as PyYAML (and so OmegaConf) applies it: earlier keys win.
          const mv = this.convert(v, aliasSpan);
          if (mv?.kind === 'map') merges.push(mv);
          else if (mv?.kind === 'seq') for (const it of mv.items) if (it.kind === 'map') merges.push(it);
          continue;
        }
        const value = v ? this.convert(v, aliasSpan) : undefined;
        entries.set(key, { key, keySpan, value: value ?? { kind: 'scalar', value: null, span: keySpan } });
      }
      for (const m of merges) for (const [k, e] of m.entries) if (!entries.has(k)) entries.set(k, e);
      return { kind: 'map', entries, span };
    }
    return undefined;
  }

  private scalar(value: unknown, source: string | undefined, span: Span): ScalarNode {
    if (typeof value === 'number') {
      const src = source ?? String(value);
      const numKind = /[.eEnN]/.test(src) && !/^[-+]?0x/i.test(src) ? 'float' : 'int';
      return { kind: 'scalar', value, numKind, span };
    }
    if (typeof value === 'bigint') return { kind: 'scalar', value: Number(value), numKind: 'int', span };
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return { kind: 'scalar', value, span };
    return { kind: 'scalar', value: String(value), span };
  }
}

/** Parses a `--set` value the way OmegaConf parses dotlist values: as a YAML scalar or flow collection. */
export function parseOverrideValue(argument: string, valueStart: number, ctx: Reporter): ConfigNode | undefined {
  const label = `--set ${argument}`;
  const padded = ' '.repeat(valueStart) + argument.slice(valueStart);
  const root = parseFragment(label, padded, ctx);
  return root;
}

function parseFragment(path: string, text: string, ctx: Reporter): ConfigNode | undefined {
  const lines = new LineCounter();
  const file: SourceFile = { path, text, lines };
  const deep = firstTooDeep(text, DEFAULT_LIMITS.maxDepth);
  if (deep >= 0) {
    ctx.report(diag(spanOf(file, deep, deep + 1), 'Nesting_deeper_than_0', [DEFAULT_LIMITS.maxDepth], { hint: 'a --set value is a scalar or a small list or mapping' }));
    return undefined;
  }
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  const doc = list[0];
  const start = text.length - text.trimStart().length;
  if (!doc || doc.contents === null) return { kind: 'scalar', value: null, span: spanOf(file, start, text.length) };
  for (const e of doc.errors) {
    ctx.report(diag(spanOf(file, e.pos[0], e.pos[1]), 'YAML_syntax_error_0', [firstLine(e.message)]));
    return undefined;
  }
  return new Converter(file, doc, ctx).convert(doc.contents as YNode);
}
