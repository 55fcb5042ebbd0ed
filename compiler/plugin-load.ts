// Finding and loading plugins: the user's own code, from the command line (--plugin FILE) or the
// project (the nearest folder above the config that holds ldmc.config.{ts,mts,js,mjs} or a
// package.json: its ldmc.config default export `{ plugins }`, else package.json's "ldmc.plugins").
// Running a plugin is allowed for the same reason ESLint runs eslint.config.js: the user chose it
// outside any config. A config never names one (resolve.ts refuses that, LDMC710).
//
// JavaScript plugins are imported as they are. TypeScript plugins are transpiled with the
// TypeScript bundled in ts-morph (syntax errors are LDMC119 at their line) to a temporary .mjs in
// the OS temp folder, deleted after the import; their import specifiers are rewritten to absolute
// URLs first (relative ones against the plugin's folder, 'ldmc' to this very package), so the copy
// imports what the original would. The language server passes allowTs: false (it never loads
// ts-morph) and reports a .ts plugin as needing a build to .js.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ts as TS } from 'ts-morph';
import type { ProjectDefinition } from '../schema/plugin.js';
import { builtinRegistry, type Registry } from '../schema/registry.js';
import { DiagnosticBag, diag, spanAt, syntheticSpan, type Diagnostic, type Span } from './diagnostics.js';
import { locate, registryWithPlugins, type LoadedPlugin } from './plugins.js';
import { typescript } from './ts-config.js';

export interface PluginRef {
  /** As the user wrote it (messages). */
  readonly name: string;
  readonly path: string;
  /** Where it is named (a package.json entry); undefined for --plugin. */
  readonly namedAt?: Span;
}

export interface PluginLoadOptions {
  /** Transpile .ts plugins (the CLI); the language server says no and never loads ts-morph. */
  readonly allowTs: boolean;
}

export interface PluginRun {
  readonly registry: Registry;
  readonly diagnostics: Diagnostic[];
  readonly hasErrors: boolean;
  /** Texts of the plugin and project files, for code frames. */
  readonly sources: Map<string, string>;
  /** The plugin files loaded, in order. */
  readonly plugins: readonly string[];
}

const PROJECT_FILES = ['ldmc.config.ts', 'ldmc.config.mts', 'ldmc.config.js', 'ldmc.config.mjs'];
const TS_FILE = /\.[cm]?ts$/i;

/** The project root above `dir`: the nearest folder with an ldmc.config.* or a package.json. */
export function projectRoot(dir: string): { dir: string; file: string } | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const cfg = PROJECT_FILES.find((f) => existsSync(join(d, f)));
    if (cfg) return { dir: d, file: join(d, cfg) };
    if (existsSync(join(d, 'package.json'))) return { dir: d, file: join(d, 'package.json') };
    if (dirname(d) === d) return undefined;
  }
}

/** The plugins a project lists (none when it lists none); faults in the list are reported into `bag`. */
export async function projectPluginRefs(dir: string, bag: DiagnosticBag, sources: Map<string, string>, opts: PluginLoadOptions): Promise<PluginRef[]> {
  const root = projectRoot(dir);
  if (!root) return [];
  const shown = displayPath(root.file);
  let text: string;
  try {
    text = readFileSync(root.file, 'utf8');
  } catch (e) {
    bag.report(diag(syntheticSpan(shown), 'Project_plugins_0_invalid_1', [shown, (e as Error).message], { hint: 'make the project file readable' }));
    return [];
  }
  sources.set(shown, text);
  let list: unknown;
  let listSpan: Span;
  if (basename(root.file) === 'package.json') {
    let pkg: unknown;
    try {
      pkg = JSON.parse(text);
    } catch (e) {
      // Not ours to judge unless it speaks to ldmc: npm reports a broken package.json itself.
      if (!text.includes('"ldmc"')) return [];
      bag.report(diag(locate({ file: shown, text }, 'ldmc'), 'Project_plugins_0_invalid_1', [shown, `it is not JSON (${(e as Error).message})`], { hint: 'fix the JSON syntax' }));
      return [];
    }
    const ldmc = typeof pkg === 'object' && pkg !== null ? (pkg as Record<string, unknown>).ldmc : undefined;
    if (ldmc === undefined) return [];
    listSpan = locate({ file: shown, text }, 'plugins');
    if (typeof ldmc !== 'object' || ldmc === null || Array.isArray(ldmc)) {
      bag.report(diag(locate({ file: shown, text }, 'ldmc'), 'Project_plugins_0_invalid_1', [shown, '"ldmc" is not an object'], { hint: 'write "ldmc": { "plugins": ["./my-plugin.js"] }' }));
      return [];
    }
    list = (ldmc as Record<string, unknown>).plugins;
    if (list === undefined) return [];
  } else {
    const loaded = await importPlugin({ name: shown, path: root.file }, bag, sources, opts);
    if (!loaded) return [];
    const def = loaded.value as ProjectDefinition | undefined;
    listSpan = locate({ file: shown, text }, 'plugins');
    if (!loaded.hasDefault || typeof def !== 'object' || def === null) {
      bag.report(diag(locate({ file: shown, text }, 'export default'), 'Project_plugins_0_invalid_1', [shown, 'it has no default export of the form { plugins: [...] }'], { hint: "write `export default defineProject({ plugins: ['./my-plugin.ts'] })`" }));
      return [];
    }
    list = def.plugins;
    if (list === undefined) return [];
  }
  if (!Array.isArray(list)) {
    bag.report(diag(listSpan, 'Project_plugins_0_invalid_1', [shown, "'plugins' is not a list of file paths"], { hint: 'write "plugins": ["./my-plugin.js"], paths relative to this file' }));
    return [];
  }
  const refs: PluginRef[] = [];
  for (const entry of list) {
    if (typeof entry !== 'string' || entry.trim() === '') {
      bag.report(diag(listSpan, 'Project_plugins_0_invalid_1', [shown, `the entry ${JSON.stringify(entry)} is not a file path`], { hint: 'each entry is a path to a .js, .mjs or .ts plugin, relative to this file' }));
      continue;
    }
    refs.push({ name: entry, path: resolve(root.dir, entry), namedAt: locate({ file: shown, text }, entry) });
  }
  return refs;
}

/** Loads the project's plugins (from `projectDir`, when given) and `--plugin` files, and builds the run's registry. */
export async function loadPlugins(cliPlugins: readonly string[], projectDir: string | undefined, opts: PluginLoadOptions): Promise<PluginRun> {
  const bag = new DiagnosticBag();
  const sources = new Map<string, string>();
  const refs: PluginRef[] = projectDir === undefined ? [] : await projectPluginRefs(projectDir, bag, sources, opts);
  refs.push(...cliPlugins.map((p) => ({ name: p, path: resolve(p) })));
  const seen = new Set<string>();
  const loaded: LoadedPlugin[] = [];
  for (const r of refs) {
    if (seen.has(r.path)) continue;
    seen.add(r.path);
    const p = await importPlugin(r, bag, sources, opts);
    if (p) loaded.push(p);
  }
  const registry = loaded.length && !bag.hasErrors ? registryWithPlugins(loaded, bag) : builtinRegistry;
  return { registry, diagnostics: bag.sorted(), hasErrors: bag.hasErrors, sources, plugins: loaded.map((p) => p.file) };
}

/** Reads, (transpiles) and imports one plugin or project file; faults go to `bag`. */
async function importPlugin(r: PluginRef, bag: DiagnosticBag, sources: Map<string, string>, opts: PluginLoadOptions): Promise<LoadedPlugin | undefined> {
  const file = r.name;
  let text: string;
  try {
    if (statSync(r.path).isDirectory()) throw new Error('it is a folder');
    text = readFileSync(r.path, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    bag.report(diag(r.namedAt ?? syntheticSpan(file), 'Plugin_file_0_not_found_1', [file, why], { hint: r.namedAt ? 'the path is relative to the file that lists it' : 'check the path given to --plugin' }));
    return undefined;
  }
  sources.set(file, text);
  let url = pathToFileURL(r.path).href;
  let temp: string | undefined;
  try {
    if (TS_FILE.test(r.path)) {
      if (!opts.allowTs) {
        bag.report(diag(r.namedAt ?? spanAt(file, text, 0, 0), 'Plugin_0_failed_to_load_1', [file, 'the language server loads JavaScript plugins only'], { hint: 'build the plugin to .js (tsc) and list the .js file; `ldmc check --plugin` reads the .ts directly' }));
        return undefined;
      }
      const js = transpile(file, r.path, text, bag);
      if (js === undefined) return undefined;
      temp = mkdtempSync(join(tmpdir(), 'ldmc-plugin-'));
      const out = join(temp, `${basename(r.path).replace(TS_FILE, '')}.mjs`);
      writeFileSync(out, js);
      url = pathToFileURL(out).href;
    } else {
      // A fresh URL per file version: the language server re-imports an edited plugin.
      url += `?v=${statSync(r.path).mtimeMs}`;
    }
    const ns = (await import(url)) as Record<string, unknown>;
    return { file, text, value: ns.default, hasDefault: 'default' in ns };
  } catch (e) {
    const err = e as Error;
    const at = errorLine(err, temp === undefined ? r.path : undefined);
    const span = at !== undefined ? lineSpan(file, text, at) : spanAt(file, text, 0, 0);
    if (err instanceof SyntaxError && temp === undefined) {
      // Node 20 gives no line for a syntax error in an ES module: TypeScript's parser finds it (CLI only).
      const found = at === undefined && opts.allowTs ? jsSyntaxErrors(file, text) : [];
      if (found.length) for (const d of found) bag.report(d);
      else bag.report(diag(span, 'Plugin_syntax_error_0', [err.message], { hint: 'fix the plugin file' }));
    } else bag.report(diag(span, 'Plugin_0_failed_to_load_1', [file, `${err?.name ?? 'Error'}: ${err?.message ?? String(e)}`], { hint: 'the plugin threw while it was imported; run it with node to see the stack' }));
    return undefined;
  } finally {
    if (temp) rmSync(temp, { recursive: true, force: true });
  }
}

/** TS -> ESM JavaScript with absolute import specifiers; undefined (with LDMC119s) on syntax errors. */
function transpile(file: string, path: string, text: string, bag: DiagnosticBag): string | undefined {
  const ts = typescript();
  const out = ts.transpileModule(text, {
    fileName: path,
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false, inlineSourceMap: false },
  });
  const errors = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  for (const d of errors) {
    bag.report(diag(spanAt(file, text, d.start ?? 0, d.length ?? 0), 'Plugin_syntax_error_0', [ts.flattenDiagnosticMessageText(d.messageText, ' ')], { hint: 'fix the plugin file' }));
  }
  if (errors.length) return undefined;
  // Rewrite module specifiers (static imports, re-exports, import()) from the end, so offsets hold.
  const sf = ts.createSourceFile('out.mjs', out.outputText, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const edits: { start: number; end: number; text: string }[] = [];
  const visit = (n: TS.Node): void => {
    let spec: TS.Expression | undefined;
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier) spec = n.moduleSpecifier;
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) spec = n.arguments[0];
    if (spec && ts.isStringLiteral(spec)) edits.push({ start: spec.getStart(sf), end: spec.getEnd(), text: JSON.stringify(specifierUrl(spec.text, path)) });
    ts.forEachChild(n, visit);
  };
  visit(sf);
  let js = out.outputText;
  for (const e of edits.sort((a, b) => b.start - a.start)) js = js.slice(0, e.start) + e.text + js.slice(e.end);
  return js;
}

/** A JavaScript file's syntax errors, as TypeScript's parser reports them (LDMC119 each). */
function jsSyntaxErrors(file: string, text: string): Diagnostic[] {
  const ts = typescript();
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const errors = (sf as unknown as { parseDiagnostics?: readonly TS.DiagnosticWithLocation[] }).parseDiagnostics ?? [];
  return errors.map((e) => diag(spanAt(file, text, e.start, e.length), 'Plugin_syntax_error_0', [ts.flattenDiagnosticMessageText(e.messageText, ' ')], { hint: 'fix the plugin file' }));
}

/** Where a plugin's import resolves, as an absolute URL (so the temp copy can import it). */
function specifierUrl(spec: string, from: string): string {
  if (spec === 'ldmc') return new URL('../index.js', import.meta.url).href;
  if (spec.startsWith('ldmc/runtime/')) return new URL(`../runtime/${spec.slice('ldmc/runtime/'.length)}`, import.meta.url).href;
  if (spec.startsWith('.') || spec.startsWith('/')) return pathToFileURL(resolve(dirname(from), spec)).href;
  if (/^[a-z]+:/.test(spec)) return spec; // node:fs, file:, data:
  try {
    return pathToFileURL(createRequire(from).resolve(spec)).href;
  } catch {
    return spec; // the import then fails with Node's own message (LDMC712)
  }
}

/** The plugin line an error points at (V8 puts `file:///…:LINE` first for syntax errors; frames otherwise). */
function errorLine(e: Error, path: string | undefined): number | undefined {
  if (!path || typeof e?.stack !== 'string') return undefined;
  const href = pathToFileURL(path).href;
  for (const m of e.stack.matchAll(/(file:\/\/[^\s():]+|\/[^\s():]+):(\d+)/g)) {
    const at = m[1]!.split('?')[0]!; // the import URL carries ?v=<mtime>
    const where = at.startsWith('file:') ? at : pathToFileURL(at).href;
    if (where === href) return Number(m[2]);
  }
  return undefined;
}

function lineSpan(file: string, text: string, line: number): Span {
  let offset = 0;
  for (let i = 1; i < line; i++) {
    const nl = text.indexOf('\n', offset);
    if (nl < 0) break;
    offset = nl + 1;
  }
  const end = text.indexOf('\n', offset);
  return spanAt(file, text, offset, (end < 0 ? text.length : end) - offset);
}

/** A path as messages show it: relative to the working directory when inside it. */
function displayPath(p: string): string {
  const cwd = process.cwd() + '/';
  return p.startsWith(cwd) ? p.slice(cwd.length) : p;
}

