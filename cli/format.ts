// Text rendering of diagnostics: `FILE:LINE:COL: error[LDMC123]: message`, a code frame, `help:`.
// Every line printed stays readable whatever the input: a frame shows a window of at most
// FRAME_COLUMNS columns around the caret, with `…` where the line goes on; characters a terminal
// would act on or hide (controls, bidi overrides, U+FFFD standing for an invalid byte) are
// shown escaped; and no line goes past MAX_LINE characters.
import type { Diagnostic, Span } from '../compiler/diagnostics.js';

export interface FormatOptions {
  readonly color: boolean;
  readonly frames: boolean;
  /** Source text by file name, for code frames. */
  readonly sources: ReadonlyMap<string, string>;
}

/** Columns of source a frame line shows at most (the caret's window). */
export const FRAME_COLUMNS = 160;
/** Characters of any printed line, at most (colour codes aside). */
export const MAX_LINE = 200;
/** Columns kept before the caret when a line has to be cut. */
const BEFORE_CARET = 60;

const ansi = (code: string, on: boolean) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

export function formatDiagnostic(d: Diagnostic, o: FormatOptions): string {
  const red = ansi('1;31', o.color), yellow = ansi('1;33', o.color), cyan = ansi('1;36', o.color), bold = ansi('1', o.color), dim = ansi('2', o.color);
  const label = d.severity === 'error' ? `error[${d.code}]` : d.severity === 'warning' ? `warning[${d.code}]` : `info[${d.code}]`;
  const sev = d.severity === 'error' ? red(label) : d.severity === 'warning' ? yellow(label) : cyan(label);
  const where = clip(printable(d.span ? (d.span.line > 0 ? `${d.span.file}:${d.span.line}:${d.span.col}` : d.span.file) : 'ldmc'), MAX_LINE / 2);
  const lines = [`${bold(where)}: ${sev}: ${clip(printable(d.message), MAX_LINE - where.length - label.length - 4)}`];
  if (o.frames && d.span) {
    const frame = codeFrame(d.span, o.sources, dim, d.severity === 'error' ? red : yellow);
    if (frame) lines.push(frame);
  }
  for (const r of d.related) {
    if (r.span.line > 0) lines.push(`  ${dim('note:')} ${clip(printable(`${r.message} (${r.span.file}:${r.span.line}:${r.span.col})`), MAX_LINE - 8)}`);
  }
  if (d.hint) lines.push(`  ${cyan('help:')} ${clip(printable(d.hint), MAX_LINE - 8)}`);
  return lines.join('\n');
}

function codeFrame(span: Span, sources: ReadonlyMap<string, string>, dim: (s: string) => string, mark: (s: string) => string): string | undefined {
  if (span.line <= 0) return undefined;
  let text = sources.get(span.file);
  if (text === undefined && span.file.startsWith('--set ')) text = span.file;
  if (text === undefined) return undefined;
  const line = lineAt(text, span.line);
  if (line === undefined) return undefined;
  const gutter = String(span.line).length;
  const start = Math.max(0, span.col - 1);
  const width = span.endLine === span.line ? Math.max(1, span.endCol - span.col) : Math.max(1, line.length - start);
  const shown = windowOf(line, start, width);
  const out: string[] = [];
  const above = span.line > 1 ? lineAt(text, span.line - 1) : undefined;
  if (above !== undefined && above.trim() !== '' && shown.from < above.length) out.push(dim(`  ${String(span.line - 1).padStart(gutter)} | `) + windowOf(above, shown.from, 1, shown.from).text);
  out.push(dim(`  ${String(span.line).padStart(gutter)} | `) + shown.text);
  out.push(dim(`  ${' '.repeat(gutter)} | `) + ' '.repeat(shown.caretAt) + mark('^'.repeat(shown.caretWidth)));
  return out.join('\n');
}

/** Line `n` (1-based) of `text`, without its line break; found with indexOf, not by splitting a huge text. */
function lineAt(text: string, n: number): string | undefined {
  let at = 0;
  for (let i = 1; i < n; i++) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) return undefined;
    at = nl + 1;
  }
  const nl = text.indexOf('\n', at);
  const line = text.slice(at, nl < 0 ? text.length : nl);
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

interface Window {
  readonly text: string;
  /** Raw index of the first character shown. */
  readonly from: number;
  /** Display column of the caret within `text`. */
  readonly caretAt: number;
  readonly caretWidth: number;
}

/**
 * At most FRAME_COLUMNS display columns of `line` around raw index `start`, escaped, with `…` at a
 * cut end. `from`, when given, fixes the first raw index shown (the line above keeps the caret line's columns).
 */
function windowOf(line: string, start: number, width: number, from?: number): Window {
  let lo = from ?? start;
  if (from === undefined) {
    // Walk back from the caret up to BEFORE_CARET display columns (all of them for a short line).
    const wholeFits = line.length <= FRAME_COLUMNS && displayWidth(line, 0, line.length) <= FRAME_COLUMNS;
    if (wholeFits) lo = 0;
    else for (let cols = 0; lo > 0 && cols + cell(line[lo - 1]!).length <= BEFORE_CARET; ) cols += cell(line[--lo]!).length;
  }
  lo = Math.min(lo, line.length);
  const cutStart = lo > 0;
  const room = FRAME_COLUMNS - (cutStart ? 1 : 0);
  let text = cutStart ? '…' : '';
  let cols = 0, hi = lo, caretAt = -1, caretEnd = -1;
  while (hi < line.length) {
    const c = cell(line[hi]!);
    // Keep a column for the closing `…` unless this is the last character.
    if (cols + c.length > room - (hi + 1 < line.length ? 1 : 0)) break;
    if (hi === start) caretAt = cols;
    text += c;
    cols += c.length;
    hi++;
    if (hi === start + width) caretEnd = cols;
  }
  if (hi < line.length) text += '…';
  if (start >= hi) caretAt = start === line.length && hi === line.length ? cols : Math.max(0, cols - 1);
  if (caretEnd < 0) caretEnd = Math.max(caretAt + 1, cols);
  const lead = cutStart ? 1 : 0;
  return { text, from: lo, caretAt: caretAt + lead, caretWidth: Math.max(1, Math.min(caretEnd - caretAt, 80, FRAME_COLUMNS)) };
}

function displayWidth(line: string, a: number, b: number): number {
  let n = 0;
  for (let i = a; i < b; i++) n += cell(line[i]!).length;
  return n;
}

/**
 * How one UTF-16 unit is shown: a tab as one visible column (so the caret stays aligned and a tab in
 * the indentation shows), controls, bidi overrides and U+FFFD (an invalid byte) escaped.
 */
function cell(ch: string): string {
  const c = ch.charCodeAt(0);
  if (c === 9) return '\u2192';
  if (c < 0x20 || c === 0x7f) return `\\x${c.toString(16).padStart(2, '0')}`;
  if ((c >= 0x80 && c < 0xa0) || c === 0xfffd || c === 0xfeff || c === 0x2028 || c === 0x2029 || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)) return `\\u${c.toString(16).padStart(4, '0')}`;
  return ch;
}

/** A message or hint with the same characters escaped as in frames. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x1f\x7f-\x9f\ufffd\ufeff\u2028\u2029\u202a-\u202e\u2066-\u2069]/.test(s) ? Array.from(s, (ch) => (ch.length > 1 || ch === '\n' ? ch : cell(ch))).join('') : s;
}

/** `s` cut to `max` characters with a closing `…`. */
export function clip(s: string, max: number): string {
  const m = Math.max(20, max);
  return s.length <= m ? s : `${s.slice(0, m - 1)}…`;
}
