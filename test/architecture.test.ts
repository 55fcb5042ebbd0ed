// Rules of the source tree that no single module's tests would see: the library (runtime/) never
// takes over its process (exit, signal handlers), and no module imports itself back through
// others (a cycle made cli/sample.ts and cli/main.ts load each other). Read from the .ts sources
// with TypeScript's own parser, so comments and strings are not mistaken for code.
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { repoRoot } from './support/reference.js';

/** The source folders (and files) of the package; tests, fixtures and build output are not. */
const SOURCE_ROOTS = ['index.ts', 'schema', 'compiler', 'cli', 'runtime', 'lsp', 'generated', 'bench'];

function sourceFiles(under: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    if (!existsSync(p)) return;
    if (statSync(p).isDirectory()) for (const f of readdirSync(p).sort()) walk(join(p, f));
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  };
  for (const u of under) walk(join(repoRoot, u));
  return out;
}

const rel = (p: string) => relative(repoRoot, p);

/** What on `process` takes over the process: leaving it, or handling its signals and events. */
const PROCESS_CONTROL = new Set(['exit', 'exitCode', 'abort', 'kill', 'on', 'once', 'addListener', 'prependListener', 'prependOnceListener', 'removeAllListeners', 'setUncaughtExceptionCaptureCallback']);

/** `process.exit(…)`, `process.on('SIGINT', …)`, … in a file, as `file:line: text`. */
function processControl(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const visit = (n: ts.Node) => {
    const isProcess = (e: ts.Expression) => (ts.isIdentifier(e) && e.text === 'process') || (ts.isPropertyAccessExpression(e) && e.name.text === 'process');
    if (ts.isPropertyAccessExpression(n) && isProcess(n.expression) && PROCESS_CONTROL.has(n.name.text)) {
      found.push(`${rel(file)}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}: ${n.getText()}`);
    }
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier) && /^(node:)?process$/.test(n.moduleSpecifier.text)) {
      found.push(`${rel(file)}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}: imports ${n.moduleSpecifier.text}`);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

/** Each file's relative imports (static, `import type`, re-exports and `import()`), as files. */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files) {
    const info = ts.preProcessFile(readFileSync(f, 'utf8'), true, true);
    const deps = info.importedFiles
      .map((i) => i.fileName)
      .filter((s) => s.startsWith('.'))
      .map((s) => resolve(dirname(f), s).replace(/\.js$/, '.ts'))
      .filter((t) => existsSync(t));
    g.set(f, [...new Set(deps)]);
  }
  return g;
}

/** One cycle through each back edge of a depth-first walk: empty exactly when the graph is acyclic. */
function cycles(g: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const out: string[][] = [];
  const visit = (n: string) => {
    state.set(n, 'open');
    stack.push(n);
    for (const t of g.get(n) ?? []) {
      if (state.get(t) === 'open') out.push([...stack.slice(stack.indexOf(t)), t]);
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of g.keys()) if (!state.has(n)) visit(n);
  return out;
}

/**
 * The modules a file loads when it is loaded: static value imports and re-exports, relative ones
 * as files, packages by name. `import type` and `import()` are left out: the first is erased, the
 * second loads only when its command runs.
 */
function staticLoads(file: string): { files: string[]; packages: string[] } {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const files: string[] = [], packages: string[] = [];
  for (const st of sf.statements) {
    let spec: ts.Expression | undefined;
    if (ts.isImportDeclaration(st) && !st.importClause?.isTypeOnly) spec = st.moduleSpecifier;
    if (ts.isExportDeclaration(st) && !st.isTypeOnly) spec = st.moduleSpecifier;
    if (!spec || !ts.isStringLiteral(spec)) continue;
    if (spec.text.startsWith('.')) files.push(resolve(dirname(file), spec.text).replace(/\.js$/, '.ts'));
    else packages.push(spec.text);
  }
  return { files, packages };
}

/** Every source file and package that loading `entry` loads, transitively. */
function loadedBy(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>(), packages = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const f = todo.pop()!;
    if (files.has(f) || !existsSync(f)) continue;
    files.add(f);
    const l = staticLoads(f);
    l.packages.forEach((p) => packages.add(p));
    todo.push(...l.files);
  }
  return { files, packages };
}

describe('architecture', function () {
  it('runtime/ never exits its process nor installs process or signal handlers (that is the CLI\'s)', function () {
    const files = sourceFiles(['runtime']);
    expect(files.length).to.be.above(50);
    expect(files.flatMap(processControl)).to.deep.equal([]);
  });

  it('the process-control scan finds exit, signal handlers and node:process imports', function () {
    // The rule above only means something if the scan sees these forms: the CLI's Ctrl-C handler has them.
    const self = processControl(join(repoRoot, 'cli', 'interrupt.ts'));
    expect(self.some((s) => s.includes('process.exit'))).to.equal(true);
    expect(self.some((s) => s.includes('process.on'))).to.equal(true);
  });

  it('no source module imports itself back through others', function () {
    const g = importGraph(sourceFiles(SOURCE_ROOTS));
    expect(g.size).to.be.above(100);
    // The graph is the real one: main loads sample lazily, and that edge must be seen.
    expect(g.get(join(repoRoot, 'cli', 'main.ts'))).to.include(join(repoRoot, 'cli', 'sample.ts'));
    expect(cycles(g).map((c) => c.map(rel).join(' -> '))).to.deep.equal([]);
  });

  it('data flows one way: schema/ imports no later stage, compiler/ never runtime/, cli/ or lsp/', function () {
    const g = importGraph(sourceFiles(['schema', 'compiler']));
    const bad = [...g].flatMap(([f, deps]) =>
      deps.filter((d) => (rel(f).startsWith('schema') ? /^(compiler|runtime|cli|lsp)\//.test(rel(d)) : /^(runtime|cli|lsp)\//.test(rel(d)))).map((d) => `${rel(f)} -> ${rel(d)}`),
    );
    expect(bad).to.deep.equal([]);
  });

  it('the language server loads no runtime/, no CLI but its disk host, no tfjs, ts-morph or handlebars (what `ldmc lsp` starts with)', function () {
    const l = loadedBy(join(repoRoot, 'lsp', 'server.ts'));
    expect(l.files.has(join(repoRoot, 'compiler', 'project.ts'))).to.equal(true); // the walk is real
    // Of cli/, only the disk host (the same file reading as `ldmc check`), which loads nothing more.
    expect([...l.files].map(rel).filter((f) => /^(runtime|cli)\//.test(f))).to.deep.equal(['cli/host.ts']);
    expect([...l.packages].filter((p) => /^(@tensorflow\/|ts-morph|handlebars|typescript)/.test(p))).to.deep.equal([]);
  });

  it('the cycle finder reports a cycle', function () {
    const c = cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]));
    expect(c).to.deep.equal([['a', 'b', 'c', 'a']]);
  });
});
