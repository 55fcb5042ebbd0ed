// The front end an editor can drive (cf. TypeScript's LanguageService over a host, and
// rust-analyzer's cached queries): a Project holds versioned in-memory documents over a host
// that reads the rest, parses each text once, and re-runs merge -> resolve -> infer -> check from
// the cached parse trees when a document changes. `compile()` in program.ts and `ldmc check` go
// through it too, so modeline bases (`# ldmc: base=...`) work the same in the CLI and the editor.
import { checkGraph } from './check.js';
import { settleDialect, type DialectInfo } from './dialect.js';
import { DiagnosticBag, diag, spanAt, type Diagnostic, type Span } from './diagnostics.js';
import type { Dialect } from '../schema/types.js';
import { inferGraph, type Inference } from './infer.js';
import { checkSourceLimits, sourceLimits, type SourceLimits } from './limits.js';
import type { ModelGraph } from './ir.js';
import { applyOverrides, mergeAll, resolveInterpolations } from './merge.js';
import { readModeline, type BaseRef } from './modeline.js';
import { resolveGraph } from './resolve.js';
import { parseSource } from './source.js';
import type { MapNode } from './tree.js';
import { builtinRegistry, type Registry } from '../schema/registry.js';
import { isTsConfigPath, parseTsConfig } from './ts-config.js';

export interface CompilerHost {
  /** File text, or an Error whose message says why it could not be read. */
  readFile(path: string): string | Error;
  fileExists(path: string): boolean;
}

/**
 * What a host returns for a file whose bytes are not UTF-8: the text decoded with U+FFFD for the bad
 * bytes (for the code frame), and where the first one is. The compiler reports it as LDMC113.
 */
export class NotUtf8Error extends Error {
  constructor(
    readonly text: string,
    /** Offset in `text` of the first replaced byte. */
    readonly offset: number,
    /** That byte's value. */
    readonly byte: number,
  ) {
    super(`byte 0x${byte.toString(16).padStart(2, '0')} is not UTF-8`);
  }
}

export interface CompileInput {
  readonly files: readonly string[];
  readonly overrides?: readonly string[];
  /** Limits on each document's text (defaults in limits.ts). */
  readonly limits?: Partial<SourceLimits>;
  /** The run's vocabulary: the built-ins, or those plus plugins (compiler/plugins.ts). */
  readonly registry?: Registry;
  /** `--dialect`: check against this repository; inferred from the config when absent. */
  readonly dialect?: Dialect;
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
  /** The vocabulary the config was checked against (plugins included). */
  readonly registry: Registry;
  /** Which repository's main.py the config is for (compiler/dialect.ts); absent before resolve. */
  readonly dialect?: DialectInfo;
}

export interface ProjectResult extends CompileResult {
  /** The merged tree after `--set`, before `${...}` are resolved: what an interpolation reads. */
  readonly uninterpolated: MapNode | undefined;
  /** Each file's modeline bases, resolved. */
  readonly bases: ReadonlyMap<string, readonly BaseRef[]>;
}

interface Parsed {
  readonly text: string;
  readonly root: MapNode | undefined;
  readonly diagnostics: readonly Diagnostic[];
  readonly bases: readonly BaseRef[];
}

interface CachedResult {
  readonly texts: ReadonlyMap<string, string | Error>;
  readonly result: ProjectResult;
}

export interface Document {
  readonly text: string;
  readonly version: number;
}

const CONFIG_EXT = /\.(ya?ml|json)$/i;

export class Project {
  private readonly docs = new Map<string, Document>();
  private readonly parsed = new Map<string, Parsed>();
  private readonly results = new Map<string, CachedResult>();
  private readonly limits: SourceLimits;

  constructor(
    private readonly host: CompilerHost,
    limits?: Partial<SourceLimits>,
    /** Per project, never global: the language server may serve projects with different plugins. */
    readonly registry: Registry = builtinRegistry,
  ) {
    this.limits = sourceLimits(limits);
  }

  /** Opens or updates an in-memory document; it shadows the host's file of the same path. */
  setDocument(path: string, text: string, version: number): void {
    this.docs.set(path, { text, version });
  }

  /** Closes a document: the host's file is read again. */
  removeDocument(path: string): void {
    this.docs.delete(path);
    // Closed documents leave no cached state behind: an editor session opens many files over a day.
    this.parsed.delete(path);
    for (const [key, c] of this.results) if (c.texts.has(path)) this.results.delete(key);
  }

  /** How many parses and results are cached (the language server reports them; tests bound them). */
  cacheSizes(): { cachedParses: number; cachedResults: number } {
    return { cachedParses: this.parsed.size, cachedResults: this.results.size };
  }

  document(path: string): Document | undefined {
    return this.docs.get(path);
  }

  documents(): IterableIterator<string> {
    return this.docs.keys();
  }

  readFile(path: string): string | Error {
    return this.docs.get(path)?.text ?? this.host.readFile(path);
  }

  /** Parse tree and modeline of one file; reused while its text is the same. */
  parse(path: string, text: string): Parsed {
    const hit = this.parsed.get(path);
    if (hit && hit.text === text) return hit;
    const bag = new DiagnosticBag();
    const root = !isTsConfigPath(path) ? parseSource(path, text, bag, this.limits) : checkSourceLimits(path, text, this.limits, bag) ? parseTsConfig(path, text, bag) : undefined;
    const bases = isTsConfigPath(path) ? [] : readModeline(path, text);
    const p: Parsed = { text, root, diagnostics: bag.items, bases };
    this.parsed.set(path, p);
    return p;
  }

  compile(input: CompileInput): ProjectResult {
    const key = JSON.stringify([input.files, input.overrides ?? [], input.dialect ?? null]);
    const cached = this.results.get(key);
    if (cached && [...cached.texts].every(([p, t]) => sameText(this.readFile(p), t))) return cached.result;
    const texts = new Map<string, string | Error>();
    const result = this.build(input, texts);
    this.results.set(key, { texts, result });
    return result;
  }

  private build(input: CompileInput, texts: Map<string, string | Error>): ProjectResult {
    const bag = new DiagnosticBag();
    const order: string[] = [];
    const roots: MapNode[] = [];
    const sources = new Map<string, string>();
    const bases = new Map<string, readonly BaseRef[]>();
    let failed = false;
    const read = (path: string): string | Error => {
      if (!texts.has(path)) texts.set(path, this.readFile(path));
      return texts.get(path)!;
    };
    const visit = (f: string, stack: readonly string[], namedAt: Span | undefined): void => {
      if (order.includes(f)) return;
      if (stack.includes(f)) {
        bag.report(diag(namedAt, 'Base_cycle_0', [[...stack.slice(stack.indexOf(f)), f].join(' -> ')], { hint: 'remove one of the `# ldmc: base=` entries' }));
        failed = true;
        return;
      }
      if (!CONFIG_EXT.test(f) && !isTsConfigPath(f) && /\.[A-Za-z0-9]+$/.test(f)) {
        bag.report(diag(namedAt ?? fileStart(f), 'Unsupported_config_extension_0', [f], { hint: 'pass the YAML config; weights go to `ldmc forward --weights` or `ldmc convert`' }));
        failed = true;
        return;
      }
      const text = read(f);
      if (text instanceof NotUtf8Error) {
        sources.set(f, text.text);
        bag.report(diag(spanAt(f, text.text, text.offset, 1), 'Not_UTF8_0_byte_1', [f, `0x${text.byte.toString(16).padStart(2, '0')}`], { hint: 'a config is a UTF-8 text file; is this a binary file (weights, an image)? Otherwise re-save it as UTF-8' }));
        failed = true;
        return;
      }
      if (text instanceof Error) {
        bag.report(diag(namedAt ?? fileStart(f), 'File_0_not_found', [f, text.message], { hint: namedAt ? 'the modeline base is relative to the file that names it' : 'check the path' }));
        failed = true;
        return;
      }
      sources.set(f, text);
      const p = this.parse(f, text);
      for (const d of p.diagnostics) bag.report(d);
      bases.set(f, p.bases);
      for (const b of p.bases) visit(b.path, [...stack, f], spanAt(f, text, b.offset, b.length));
      if (!p.root) failed = true;
      else roots.push(p.root);
      order.push(f);
    };
    for (const f of input.files) visit(f, [], undefined);
    const done = (graph?: ModelGraph, inference?: Inference, merged?: MapNode, uninterpolated?: MapNode, dialect?: DialectInfo): ProjectResult => ({
      files: order,
      diagnostics: bag.sorted(),
      graph,
      inference,
      merged,
      hasErrors: bag.hasErrors,
      sources,
      uninterpolated,
      bases,
      registry: this.registry,
      ...(dialect ? { dialect } : {}),
    });
    if (failed || roots.length === 0 || bag.hasErrors) return done();
    let merged = mergeAll(roots)!;
    merged = applyOverrides(merged, input.overrides ?? [], bag);
    const uninterpolated = merged;
    merged = resolveInterpolations(merged, bag);
    const graph = resolveGraph(merged, order, bag, this.registry);
    const dialect = settleDialect(graph, input.dialect, bag);
    // Files the config names (an encoder's model-config JSON) are read like the configs (recorded,
    // so an edit re-runs this), once the host says they exist: a hub name is looked up as a local
    // folder first, and most are not one.
    const exists = (p: string) => this.docs.has(p) || this.host.fileExists(p);
    const inference = inferGraph(graph, bag, (p) => (exists(p) ? read(p) : new Error('no such file')));
    checkGraph(graph, inference, { fileExists: exists }, bag);
    return done(graph, inference, merged, uninterpolated, dialect);
  }
}

function sameText(now: string | Error, then: string | Error): boolean {
  if (typeof now === 'string' || typeof then === 'string') return now === then;
  return now.message === then.message;
}

function fileStart(file: string): Span {
  return { file, line: 1, col: 1, endLine: 1, endCol: 1, offset: 0, length: 0 };
}
