// The language service: compiler/'s Project and queries, in the protocol's types. It has no
// connection, so tests and the benchmark drive it in process; server.ts wires it to JSON-RPC.
// Only lsp/ imports the protocol library (DESIGN.md: compiler/ never does).
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  CodeActionKind,
  CompletionItemKind,
  DiagnosticSeverity,
  InlayHintKind,
  InsertTextFormat,
  MarkupKind,
  SymbolKind,
  type CodeAction,
  type CompletionItem,
  type Diagnostic as LspDiagnostic,
  type DocumentSymbol,
  type Hover,
  type InlayHint,
  type Location,
  type Position,
  type Range,
} from 'vscode-languageserver';
import { TextDocument, type TextDocumentContentChangeEvent } from 'vscode-languageserver-textdocument';
import { diag, type Diagnostic, type Span } from '../compiler/diagnostics.js';
import type { CompilerHost } from '../compiler/program.js';
import { Project, type ProjectResult } from '../compiler/project.js';
import { completionsAt, definitionAt, fixesFor, hoverAt, inlayHints, outline, type CompletionKind, type OutlineNode } from '../compiler/query.js';
import type { MapNode } from '../compiler/tree.js';
import { loadPlugins, projectRoot } from '../compiler/plugin-load.js';
import { builtinRegistry } from '../schema/registry.js';

export interface ServiceOptions {
  /** Overrides (`key.path=value`) applied on top of every document, as `ldmc check --set` does. */
  readonly overrides?: readonly string[];
}

export const uriToPath = (uri: string): string => (uri.startsWith('file:') ? fileURLToPath(uri) : uri);
export const pathToUri = (path: string): string => (path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path) ? pathToFileURL(path).href : path);

/** A project root's own Project, over the registry its plugins make, and the faults of loading them. */
interface PluginProject {
  readonly project: Project;
  readonly faults: readonly Diagnostic[];
}

export class LdmcService {
  /** The Project of documents whose project has no plugins (the built-in registry). */
  readonly project: Project;
  /**
   * Per project root (its package.json / ldmc.config.*): the Project over its plugins' registry, or
   * 'loading'. Never global: two projects with different plugins are served side by side.
   */
  private readonly roots = new Map<string, PluginProject | 'loading'>();
  private readonly rootOfDir = new Map<string, string | null>();
  private readonly loads = new Set<Promise<void>>();
  /** Called when a project's plugins have loaded, so the server republishes diagnostics. */
  onPluginsLoaded: (() => void) | undefined;
  private readonly docs = new Map<string, TextDocument>();
  /** The latest result per document that produced a graph: completion works while the text is half-typed. */
  private readonly lastGood = new Map<string, ProjectResult>();

  constructor(
    private readonly host: CompilerHost,
    private readonly options: ServiceOptions = {},
  ) {
    this.project = new Project(host);
  }

  /** Every Project in use (documents are set in each). */
  private projects(): Project[] {
    const out = new Set<Project>([this.project]);
    for (const r of this.roots.values()) if (r !== 'loading') out.add(r.project);
    return [...out];
  }

  /**
   * The Project a document compiles in: its project root's, once that root's plugins have loaded
   * (asynchronously: until then the built-in one answers, then onPluginsLoaded fires). The language
   * server loads JavaScript plugins only (no ts-morph here): a .ts plugin is reported, to be built to .js.
   */
  private projectOf(uri: string): PluginProject {
    const none: PluginProject = { project: this.project, faults: [] };
    if (!uri.startsWith('file:') && !uri.startsWith('/')) return none;
    const dir = dirname(uriToPath(uri));
    let key = this.rootOfDir.get(dir);
    if (key === undefined) {
      key = projectRoot(dir)?.file ?? null;
      this.rootOfDir.set(dir, key);
    }
    if (key === null) return none;
    const hit = this.roots.get(key);
    if (hit === undefined) {
      this.roots.set(key, 'loading');
      const p = this.loadRoot(key, dir).finally(() => this.loads.delete(p));
      this.loads.add(p);
      return none;
    }
    return hit === 'loading' ? none : hit;
  }

  private async loadRoot(key: string, dir: string): Promise<void> {
    const run = await loadPlugins([], dir, { allowTs: false }).catch(() => undefined);
    if (!run || (run.registry === builtinRegistry && !run.hasErrors)) {
      this.roots.set(key, { project: this.project, faults: [] });
      return;
    }
    const project = new Project(this.host, undefined, run.registry);
    for (const [uri, d] of this.docs) project.setDocument(uriToPath(uri), d.getText(), d.version);
    this.roots.set(key, { project, faults: run.diagnostics });
    this.onPluginsLoaded?.();
  }

  /** Resolves when every plugin load started so far has finished (tests; the server uses onPluginsLoaded). */
  async pluginsLoaded(): Promise<void> {
    while (this.loads.size) await Promise.all([...this.loads]);
  }

  open(uri: string, text: string, version: number): void {
    this.docs.set(uri, TextDocument.create(uri, 'yaml', version, text));
    for (const p of this.projects()) p.setDocument(uriToPath(uri), text, version);
  }

  /** Full-text change (the server asks for TextDocumentSyncKind.Full). */
  change(uri: string, text: string, version: number): void {
    const d = this.docs.get(uri);
    this.docs.set(uri, d ? TextDocument.update(d, [{ text }], version) : TextDocument.create(uri, 'yaml', version, text));
    for (const p of this.projects()) p.setDocument(uriToPath(uri), text, version);
  }

  /** Full or incremental changes, applied in order (the server asks for TextDocumentSyncKind.Incremental). */
  applyChanges(uri: string, changes: readonly TextDocumentContentChangeEvent[], version: number): void {
    const d = this.docs.get(uri) ?? TextDocument.create(uri, 'yaml', version, '');
    const next = TextDocument.update(d, [...changes], version);
    this.docs.set(uri, next);
    for (const p of this.projects()) p.setDocument(uriToPath(uri), next.getText(), version);
  }

  close(uri: string): void {
    this.docs.delete(uri);
    this.lastGood.delete(uri);
    for (const p of this.projects()) p.removeDocument(uriToPath(uri));
  }

  /**
   * Editors attach the server to every YAML file; only those with a `target:` tree or the ldmc
   * modeline are configs (a CI workflow is not, and must not get "missing model section").
   */
  isConfig(uri: string): boolean {
    const text = this.docs.get(uri)?.getText() ?? '';
    return /^[ \t-]*target:/m.test(text) || /^#\s*ldmc:/m.test(text);
  }

  openUris(): string[] {
    return [...this.docs.keys()];
  }

  document(uri: string): TextDocument | undefined {
    return this.docs.get(uri);
  }

  /** The compile result with this document as the entry (its modeline bases merged first). */
  result(uri: string): ProjectResult {
    const r = this.projectOf(uri).project.compile({ files: [uriToPath(uri)], overrides: this.options.overrides ?? [] });
    if (r.graph) this.lastGood.set(uri, r);
    return r;
  }

  /** Open documents whose result reads `uri` (itself, and variants that name it as a base). */
  dependents(uri: string): string[] {
    const path = uriToPath(uri);
    return this.openUris().filter((u) => {
      if (u === uri) return true;
      try {
        return this.result(u).files.includes(path);
      } catch {
        return true; // its diagnostics() reports the failure
      }
    });
  }

  /**
   * Diagnostics to publish, never an exception: the editor sends a broken config on almost every
   * keystroke, and a compiler bug on one of them must become an LDMC900 on the document, not a
   * dead server or a V8 message.
   */
  safeDiagnostics(uri: string): LspDiagnostic[] {
    try {
      return this.diagnostics(uri);
    } catch (e) {
      const reason = e instanceof RangeError && /call stack/i.test(e.message) ? 'the config is nested too deeply to analyse' : 'the analysis of this text failed';
      const d = diag(undefined, 'Internal_error_0', [reason], { hint: 'simplify the text near the last edit; please report this config to the ldmc maintainers' });
      return [toLspDiagnostic(d, firstLine(this.docs.get(uri)), false)];
    }
  }

  /**
   * Diagnostics to publish for a document: its own, plus those that land in a base file, shown at
   * the modeline entry that pulls the base in (with the real place as related information).
   */
  diagnostics(uri: string): LspDiagnostic[] {
    if (!this.isConfig(uri)) return [];
    const r = this.result(uri);
    const file = uriToPath(uri);
    const doc = this.docs.get(uri);
    const out: LspDiagnostic[] = [];
    const fixable = new Set(fixesFor(r, file).map((f) => f.diagnostic));
    // A project plugin's faults (in package.json or the plugin file) show on the document's first line.
    for (const d of this.projectOf(uri).faults) {
      const inner = toLspDiagnostic(d, firstLine(doc), false);
      const s = d.span;
      out.push(s && s.line > 0 ? { ...inner, message: `in ${s.file}:${s.line}:${s.col}: ${inner.message}`, relatedInformation: [{ location: { uri: pathToUri(s.file), range: range(s) }, message: 'here' }] } : inner);
    }
    for (const d of r.diagnostics) {
      const s = d.span;
      if (!s || s.file === file || s.line === 0) {
        out.push(toLspDiagnostic(d, s && s.file === file ? range(s) : firstLine(doc), fixable.has(d)));
        continue;
      }
      const via = this.baseRefTo(r, file, s.file);
      if (!via) continue;
      const inner = toLspDiagnostic(d, via, false);
      out.push({ ...inner, message: `in ${s.file}:${s.line}:${s.col}: ${inner.message}`, relatedInformation: [{ location: { uri: pathToUri(s.file), range: range(s) }, message: 'set here' }, ...(inner.relatedInformation ?? [])] });
    }
    return out;
  }

  /** The range of the modeline entry in `file` through which `target` is merged. */
  private baseRefTo(r: ProjectResult, file: string, target: string): Range | undefined {
    const reaches = (from: string, seen: Set<string>): boolean => {
      if (from === target) return true;
      if (seen.has(from)) return false;
      seen.add(from);
      return (r.bases.get(from) ?? []).some((b) => reaches(b.path, seen));
    };
    const doc = this.docs.get(pathToUri(file));
    const ref = (r.bases.get(file) ?? []).find((b) => reaches(b.path, new Set()));
    if (!ref || !doc) return undefined;
    return rangeOf(doc, ref.offset, ref.offset + ref.length);
  }

  hover(uri: string, pos: Position): Hover | null {
    const doc = this.docs.get(uri);
    if (!doc) return null;
    const h = hoverAt(this.result(uri), uriToPath(uri), doc.offsetAt(pos));
    return h ? { contents: { kind: MarkupKind.Markdown, value: h.markdown }, range: range(h.span) } : null;
  }

  inlayHints(uri: string, within?: Range): InlayHint[] {
    const doc = this.docs.get(uri);
    if (!doc) return [];
    const r = this.result(uri);
    const lo = within ? doc.offsetAt(within.start) : 0, hi = within ? doc.offsetAt(within.end) : Infinity;
    return inlayHints(r, uriToPath(uri), doc.getText())
      .filter((h) => h.offset >= lo && h.offset <= hi)
      .map((h) => ({ position: doc.positionAt(h.offset), label: h.label, kind: h.kind === 'params' ? InlayHintKind.Type : InlayHintKind.Parameter, paddingLeft: true }));
  }

  completion(uri: string, pos: Position): CompletionItem[] {
    const doc = this.docs.get(uri);
    if (!doc || !this.isConfig(uri)) return [];
    const r = this.result(uri);
    const graph = r.graph ?? this.lastGood.get(uri)?.graph;
    return completionsAt(graph, doc.getText(), doc.offsetAt(pos), r.registry).map((c, i) => ({
      label: c.label,
      kind: completionKind(c.kind),
      ...(c.detail ? { detail: c.detail } : {}),
      ...(c.documentation ? { documentation: { kind: MarkupKind.Markdown, value: c.documentation } } : {}),
      textEdit: { range: rangeOf(doc, c.replace.offset, c.replace.offset + c.replace.length), newText: c.insertText },
      insertTextFormat: c.snippet ? InsertTextFormat.Snippet : InsertTextFormat.PlainText,
      sortText: String(i).padStart(4, '0'),
    }));
  }

  codeActions(uri: string, within: Range): CodeAction[] {
    const doc = this.docs.get(uri);
    if (!doc) return [];
    const r = this.result(uri);
    const lo = doc.offsetAt(within.start), hi = doc.offsetAt(within.end);
    return fixesFor(r, uriToPath(uri))
      .filter((f) => f.diagnostic.span!.offset <= hi && f.diagnostic.span!.offset + f.diagnostic.span!.length >= lo)
      .map((f) => ({
        title: f.title,
        kind: CodeActionKind.QuickFix,
        isPreferred: f.preferred,
        diagnostics: [toLspDiagnostic(f.diagnostic, range(f.diagnostic.span!), true)],
        edit: { changes: { [uri]: f.edits.map((e) => ({ range: rangeOf(doc, e.offset, e.offset + e.length), newText: e.newText })) } },
      }));
  }

  definition(uri: string, pos: Position): Location | null {
    const doc = this.docs.get(uri);
    if (!doc) return null;
    const r = this.result(uri);
    const t = definitionAt({ result: r, file: uriToPath(uri), text: doc.getText(), offset: doc.offsetAt(pos), treeOf: (p) => this.tree(p) });
    if (!t) return null;
    return { uri: pathToUri(t.file), range: t.span ? range(t.span) : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } } };
  }

  symbols(uri: string): DocumentSymbol[] {
    const doc = this.docs.get(uri);
    if (!doc) return [];
    const toSymbol = (n: OutlineNode): DocumentSymbol => ({
      name: n.name,
      detail: n.detail,
      kind: n.kind === 'component' ? SymbolKind.Class : SymbolKind.Namespace,
      range: rangeOf(doc, n.offset, n.end),
      selectionRange: range(n.keySpan),
      children: n.children.map(toSymbol),
    });
    return outline(this.tree(uriToPath(uri))).map(toSymbol);
  }

  private tree(path: string): MapNode | undefined {
    const text = this.project.readFile(path);
    return typeof text === 'string' ? this.project.parse(path, text).root : undefined;
  }
}

/** The editor range of offsets [start, end) in the document's current text. */
function rangeOf(doc: TextDocument, start: number, end: number): Range {
  return { start: doc.positionAt(start), end: doc.positionAt(end) };
}

export function range(s: Span): Range {
  if (s.line <= 0) return { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  return { start: { line: s.line - 1, character: s.col - 1 }, end: { line: s.endLine - 1, character: s.endCol - 1 } };
}

function firstLine(doc: TextDocument | undefined): Range {
  const end = doc ? doc.getText().indexOf('\n') : 0;
  return { start: { line: 0, character: 0 }, end: { line: 0, character: Math.max(0, end) } };
}

function toLspDiagnostic(d: Diagnostic, at: Range, fixable: boolean): LspDiagnostic {
  const severity = d.severity === 'error' ? DiagnosticSeverity.Error : d.severity === 'warning' ? DiagnosticSeverity.Warning : DiagnosticSeverity.Information;
  const related = d.related.filter((r) => r.span.line > 0 && !r.span.file.startsWith('--set')).map((r) => ({ location: { uri: pathToUri(r.span.file), range: range(r.span) }, message: r.message }));
  return {
    range: at,
    severity,
    code: d.code,
    source: 'ldmc',
    message: d.hint ? `${d.message}\nhelp: ${d.hint}` : d.message,
    ...(related.length ? { relatedInformation: related } : {}),
    ...(fixable ? { data: { fixable: true } } : {}),
  };
}

function completionKind(k: CompletionKind): CompletionItemKind {
  switch (k) {
    case 'target':
      return CompletionItemKind.Class;
    case 'param':
      return CompletionItemKind.Property;
    case 'value':
      return CompletionItemKind.EnumMember;
    case 'key':
      return CompletionItemKind.Keyword;
    default: {
      const never: never = k;
      return never;
    }
  }
}
