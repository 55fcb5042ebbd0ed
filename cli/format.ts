// Text rendering of diagnostics: `FILE:LINE:COL: error[LDMC123]: message`, a code frame, `help:`.
import type { Diagnostic, Span } from '../compiler/diagnostics.js';

export interface FormatOptions {
  readonly color: boolean;
  readonly frames: boolean;
  /** Source text by file name, for code frames. */
  readonly sources: ReadonlyMap<string, string>;
}

const ansi = (code: string, on: boolean) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

export function formatDiagnostic(d: Diagnostic, o: FormatOptions): string {
  const red = ansi('1;31', o.color), yellow = ansi('1;33', o.color), cyan = ansi('1;36', o.color), bold = ansi('1', o.color), dim = ansi('2', o.color);
  const sev = d.severity === 'error' ? red(`error[${d.code}]`) : d.severity === 'warning' ? yellow(`warning[${d.code}]`) : cyan(`info[${d.code}]`);
  const where = d.span ? (d.span.line > 0 ? `${d.span.file}:${d.span.line}:${d.span.col}` : d.span.file) : 'ldmc';
  const lines = [`${bold(where)}: ${sev}: ${d.message}`];
  if (o.frames && d.span) {
    const frame = codeFrame(d.span, o.sources, dim, d.severity === 'error' ? red : yellow);
    if (frame) lines.push(frame);
  }
  for (const r of d.related) {
    if (r.span.line > 0) lines.push(`  ${dim('note:')} ${r.message} (${r.span.file}:${r.span.line}:${r.span.col})`);
  }
  if (d.hint) lines.push(`  ${cyan('help:')} ${d.hint}`);
  return lines.join('\n');
}

function codeFrame(span: Span, sources: ReadonlyMap<string, string>, dim: (s: string) => string, mark: (s: string) => string): string | undefined {
  if (span.line <= 0) return undefined;
  let text = sources.get(span.file);
  if (text === undefined && span.file.startsWith('--set ')) text = span.file;
  if (text === undefined) return undefined;
  const all = text.split(/\r?\n/);
  const line = all[span.line - 1];
  if (line === undefined) return undefined;
  const gutter = String(span.line).length;
  const width = span.endLine === span.line ? Math.max(1, span.endCol - span.col) : Math.max(1, line.length - span.col + 1);
  const out: string[] = [];
  if (span.line > 1 && all[span.line - 2]!.trim() !== '') out.push(dim(`  ${String(span.line - 1).padStart(gutter)} | `) + visible(all[span.line - 2]!));
  out.push(dim(`  ${String(span.line).padStart(gutter)} | `) + visible(line));
  out.push(dim(`  ${' '.repeat(gutter)} | `) + ' '.repeat(Math.max(0, span.col - 1)) + mark('^'.repeat(Math.min(width, 80))));
  return out.join('\n');
}

/** A tab shown as one visible column, so the caret line stays aligned and a tab in the indentation shows. */
function visible(line: string): string {
  return line.replace(/\t/g, '\u2192');
}
