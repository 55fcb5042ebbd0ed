// Diagnostics are data (cf. TypeScript's `Diagnostic`): phases collect them through
// `ctx.report`, never throw, and the CLI formats them last.
import { formatTemplate, Messages, type MessageKey, type Severity } from './messages.js';

/** Where something came from: 1-based line and column, plus offsets for code frames. */
export interface Span {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly endLine: number;
  readonly endCol: number;
  readonly offset: number;
  readonly length: number;
}

/** A span from offsets into `text`, counting lines by hand: for faults found before (or without) the YAML parser's line table. */
export function spanAt(file: string, text: string, offset: number, length: number): Span {
  const pos = (o: number) => {
    let line = 1, lineStart = 0;
    for (let i = text.indexOf('\n'); i >= 0 && i < o; i = text.indexOf('\n', i + 1)) {
      line++;
      lineStart = i + 1;
    }
    return { line, col: o - lineStart + 1 };
  };
  const a = pos(offset), b = pos(offset + length);
  return { file, line: a.line, col: a.col, endLine: b.line, endCol: b.col, offset, length };
}

export interface RelatedInfo {
  readonly message: string;
  readonly span: Span;
}

export interface DiagnosticOptions {
  readonly hint?: string;
  readonly related?: readonly RelatedInfo[];
}

/**
 * One diagnostic. Only `diag` makes one, from a key of the message table: the private brand makes
 * the type nominal, so an object literal or a spread copy with another message or severity is
 * not a `Diagnostic` and cannot be reported.
 */
export class Diagnostic {
  readonly #fromTable = true;
  readonly code: string;
  readonly severity: Severity;
  readonly message: string;
  readonly hint: string | undefined;
  readonly related: readonly RelatedInfo[];

  constructor(
    readonly key: MessageKey,
    readonly args: readonly unknown[],
    readonly span: Span | undefined,
    opts: DiagnosticOptions,
  ) {
    const t = Messages[key];
    this.code = t.code;
    this.severity = t.severity;
    this.message = formatTemplate(t.message, args);
    this.hint = opts.hint;
    this.related = opts.related ?? [];
  }

  /** The same diagnostic at another place (e.g. moved from a parsed snippet to its `--set`). */
  withSpan(span: Span | undefined): Diagnostic {
    return new Diagnostic(this.key, this.args, span, { hint: this.hint, related: this.related });
  }
}

export function diag(span: Span | undefined, key: MessageKey, args: readonly unknown[] = [], opts: DiagnosticOptions = {}): Diagnostic {
  return new Diagnostic(key, args, span, opts);
}

export class DiagnosticBag {
  readonly items: Diagnostic[] = [];
  report(d: Diagnostic): void {
    this.items.push(d);
  }
  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error');
  }
  /** Stable order for output: by file, then position, then code. */
  sorted(): Diagnostic[] {
    return [...this.items].sort((a, b) => {
      const fa = a.span?.file ?? '', fb = b.span?.file ?? '';
      if (fa !== fb) return fa < fb ? -1 : 1;
      const la = a.span?.offset ?? -1, lb = b.span?.offset ?? -1;
      if (la !== lb) return la - lb;
      return a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
    });
  }
}

export interface Reporter {
  report(d: Diagnostic): void;
}

/** A span for something that has no source text (defaults, synthesized values). */
export function syntheticSpan(file: string): Span {
  return { file, line: 0, col: 0, endLine: 0, endCol: 0, offset: -1, length: 0 };
}

export function isSynthetic(span: Span | undefined): boolean {
  return !span || span.line === 0;
}
