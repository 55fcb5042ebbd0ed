// The pipeline in one call: source -> merge -> resolve -> infer -> check. I/O goes through the
// host (the CLI gives the disk, tests an in-memory map), so the phases never touch fs.
import { checkGraph } from './check.js';
import { DiagnosticBag, diag, type Diagnostic } from './diagnostics.js';
import { inferGraph, type Inference } from './infer.js';
import type { ModelGraph } from './ir.js';
import { applyOverrides, mergeAll, resolveInterpolations } from './merge.js';
import { resolveGraph } from './resolve.js';
import { parseSource } from './source.js';
import { isTsConfigPath, parseTsConfig } from './ts-config.js';
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
  readonly files: readonly string[];
  readonly diagnostics: Diagnostic[];
  readonly graph: ModelGraph | undefined;
  readonly inference: Inference | undefined;
  /** The merged, interpolated config tree. */
  readonly merged: MapNode | undefined;
  readonly hasErrors: boolean;
}

export function compile(input: CompileInput, host: CompilerHost): CompileResult {
  const bag = new DiagnosticBag();
  const roots: MapNode[] = [];
  for (const f of input.files) {
    if (!/\.(ya?ml|json)$/i.test(f) && !isTsConfigPath(f) && /\.[A-Za-z0-9]+$/.test(f)) {
      bag.report(diag({ file: f, line: 1, col: 1, endLine: 1, endCol: 1, offset: 0, length: 0 }, 'Unsupported_config_extension_0', [f], { hint: 'pass the YAML config; weights go to `ldmc forward --weights` or `ldmc convert`' }));
      continue;
    }
    const text = host.readFile(f);
    if (text instanceof Error) {
      bag.report(diag({ file: f, line: 1, col: 1, endLine: 1, endCol: 1, offset: 0, length: 0 }, 'File_0_not_found', [f, text.message], { hint: 'check the path' }));
      continue;
    }
    const root = isTsConfigPath(f) ? parseTsConfig(f, text, bag) : parseSource(f, text, bag);
    if (root) roots.push(root);
  }
  const done = (graph?: ModelGraph, inference?: Inference, merged?: MapNode): CompileResult => ({
    files: input.files,
    diagnostics: bag.sorted(),
    graph,
    inference,
    merged,
    hasErrors: bag.hasErrors,
  });
  if (roots.length !== input.files.length || bag.hasErrors) return done();
  let merged = mergeAll(roots)!;
  merged = applyOverrides(merged, input.overrides ?? [], bag);
  merged = resolveInterpolations(merged, bag);
  const graph = resolveGraph(merged, input.files, bag);
  const inference = inferGraph(graph, bag);
  checkGraph(graph, inference, host, bag);
  return done(graph, inference, merged);
}
