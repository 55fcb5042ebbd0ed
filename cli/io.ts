// Where the CLI's commands write: stdout for results, stderr for messages, and a progress sink.
// Every command takes an Io, so a test (or an application) can run `main` with its own.
import type { CompileResult } from '../compiler/program.js';
import type { ProgressSink } from '../runtime/util/progress.js';
import type { ParsedArgs } from './args.js';
import { clip, formatDiagnostic, MAX_LINE } from './format.js';
import type { Diagnostic } from '../compiler/diagnostics.js';

export interface Io {
  out(s: string): void;
  err(s: string): void;
  color: boolean;
  /** Progress bars of train, sample and convert; without one they show none. */
  progress?: ProgressSink;
}

// Getters, so a run that prints nothing (a clean `ldmc check`) never sets up the output streams
// (a few milliseconds of its start-up).
export const defaultIo = (): Io => ({
  out: (s) => process.stdout.write(s + '\n'),
  err: (s) => process.stderr.write(s + '\n'),
  get color() {
    return Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  },
  progress: {
    write: (s) => process.stderr.write(s),
    get tty() {
      return Boolean(process.stderr.isTTY);
    },
  },
});

/** Diagnostics printed per file in text output; the rest are counted in one line (JSON output keeps all). */
export const MAX_PRINTED_PER_FILE = 5;

/**
 * Prints each diagnostic with a frame quoting the compiled text (to `write`, stdout by default), at most
 * MAX_PRINTED_PER_FILE per file and a line saying how many more there were, then the error/warning count to stderr.
 */
export function printDiagnostics(r: CompileResult, a: ParsedArgs, io: Io, write: (s: string) => void = io.out): void {
  const printed = new Map<string, number>();
  const more = new Map<string, Diagnostic[]>();
  for (const d of r.diagnostics) {
    const file = d.span?.file ?? '';
    const n = printed.get(file) ?? 0;
    if (n >= MAX_PRINTED_PER_FILE) {
      const list = more.get(file);
      if (list) list.push(d);
      else more.set(file, [d]);
      continue;
    }
    printed.set(file, n + 1);
    write(formatDiagnostic(d, { color: io.color, frames: !a.flags.has('no-frame'), sources: r.sources }));
  }
  for (const [file, rest] of more) {
    const e = rest.filter((d) => d.severity === 'error').length, w = rest.filter((d) => d.severity === 'warning').length, i = rest.length - e - w;
    const parts = [e ? plural(e, 'error') : '', w ? plural(w, 'warning') : '', i ? `${i} info` : ''].filter(Boolean).join(', ');
    write(clip(`${file || 'ldmc'}: ${plural(rest.length, 'more diagnostic')} not shown (${parts}); --format json lists them all`, MAX_LINE));
  }
  const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = r.diagnostics.filter((d) => d.severity === 'warning').length;
  if (errors || warnings) io.err(`${plural(errors, 'error')}, ${plural(warnings, 'warning')}`);
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}
