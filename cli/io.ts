// Where the CLI's commands write: stdout for results, stderr for messages, and a progress sink.
// Every command takes an Io, so a test (or an application) can run `main` with its own.
import type { CompileResult } from '../compiler/program.js';
import type { ProgressSink } from '../runtime/util/progress.js';
import type { ParsedArgs } from './args.js';
import { formatDiagnostic } from './format.js';

export interface Io {
  out(s: string): void;
  err(s: string): void;
  color: boolean;
  /** Progress bars of train, sample and convert; without one they show none. */
  progress?: ProgressSink;
}

export const defaultIo = (): Io => ({
  out: (s) => process.stdout.write(s + '\n'),
  err: (s) => process.stderr.write(s + '\n'),
  color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
  progress: { write: (s) => process.stderr.write(s), tty: Boolean(process.stderr.isTTY) },
});

/** Prints each diagnostic with a frame quoting the compiled text (to `write`, stdout by default) and the error/warning count to stderr. */
export function printDiagnostics(r: CompileResult, a: ParsedArgs, io: Io, write: (s: string) => void = io.out): void {
  for (const d of r.diagnostics) {
    write(formatDiagnostic(d, { color: io.color, frames: !a.flags.has('no-frame'), sources: r.sources }));
  }
  const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = r.diagnostics.filter((d) => d.severity === 'warning').length;
  if (errors || warnings) io.err(`${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`);
}
