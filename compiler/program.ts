// The pipeline in one call: source -> merge -> resolve -> infer -> check. I/O goes through the
// host (the CLI gives the disk, tests an in-memory map), so the phases never touch fs. The work is
// done by a Project (project.ts), the same front end the language server keeps open.
import { Project, type CompileInput, type CompilerHost, type ProjectResult } from './project.js';

export type { CompileInput, CompileResult, CompilerHost } from './project.js';
export { NotUtf8Error } from './project.js';

/** One batch run, as `ldmc check` does it: a fresh Project over the host (modeline bases included). */
export function compile(input: CompileInput, host: CompilerHost): ProjectResult {
  return new Project(host, input.limits, input.registry).compile(input);
}
