// The pipeline in one call: source -> merge -> resolve -> infer -> check. I/O goes through the
// host (the CLI gives the disk, tests an in-memory map), so the phases never touch fs. The work is
// done by a Project (project.ts), the same front end the language server keeps open.
import type { Diagnostic } from './diagnostics.js';
import type { Inference } from './infer.js';
import type { ModelGraph } from './ir.js';
import { Project, type ProjectResult } from './project.js';
import type { MapNode } from './tree.js';

export interface CompilerHost {
  /** File text, or an Error whose message says why it could not be read. */
  readFile(path: string): string | Error;
  fileExists(path: string): boolean;
}

export interface CompileInput {
  readonly files: readonly string[];
  readonly overrides?: readonly string[];
}

export interface CompileResult {
  /** The files merged, in order: the inputs with their modeline bases before them. */
  readonly files: readonly string[];
  readonly diagnostics: Diagnostic[];
  readonly graph: ModelGraph | undefined;
  readonly inference: Inference | undefined;
  /** The merged, interpolated config tree. */
  readonly merged: MapNode | undefined;
  readonly hasErrors: boolean;
  /** The text of every file the result was built from, by path (code frames, editors). */
  readonly sources: ReadonlyMap<string, string>;
}

/** One batch run, as `ldmc check` does it: a fresh Project over the host (modeline bases included). */
export function compile(input: CompileInput, host: CompilerHost): ProjectResult {
  return new Project(host).compile(input);
}
