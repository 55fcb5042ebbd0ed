// The language service: compiler/'s Project and queries, in the protocol's types. It has no
// connection, so tests and the benchmark drive it in process; server.ts wires it to JSON-RPC.
// Only lsp/ imports the protocol library (DESIGN.md: compiler/ never does).
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

export interface ServiceOptions {
  /** Overrides (`key.path=value`) applied on top of every document, as `ldmc check --set` does. */
  readonly overrides?: readonly string[];
}

export const uriToPath = (uri: string): string => (uri.startsWith('file:') ? fileURLToPath(uri) : uri);
export const pathToUri = (path: string): string => (path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path) ? pathToFileURL(path).href : path);

export class LdmcService {
  readonly project: Project;
  private readonly docs = new Map<string, TextDocument>();
  /** The latest result per document that produced a graph: completion works while the text is half-typed. */
  private readonly lastGood = new Map<string, ProjectResult>();

  constructor(
    host: CompilerHost,
    private readonly options: ServiceOptions = {},
  ) {
    this.project = new Project(host);
  }

  open(uri: string, text: string, version: number): void {
    this.docs.set(uri, TextDocument.create(uri, 'yaml', version, text));
    this.project.setDocument(uriToPath(uri), text, version);
  }

  /** Full-text change (the server asks for TextDocumentSyncKind.Full). */
  change(uri: string, text: string, version: number): void {
    const d = this.docs.get(uri);
    this.docs.set(uri, d ? TextDocument.update(d, [{ text }], version) : TextDocument.create(uri, 'yaml', version, text));
    this.project.setDocument(uriToPath(uri), text, version);
  }

  /** Full or incremental changes, applied in order (the server asks for TextDocumentSyncKind.Incremental). */
  applyChanges(uri: string, changes: readonly TextDocumentContentChangeEvent[], version: number): void {
    const d = this.docs.get(uri) ?? TextDocument.create(uri, 'yaml', version, '');
    const next = TextDocument.update(d, [...changes], version);
    this.docs.set(uri, next);
    this.project.setDocument(uriToPath(uri), next.getText(), version);
  }

  close(uri: string): void {
    this.docs.delete(uri);
    this.lastGood.delete(uri);
    this.project.removeDocument(uriToPath(uri));
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
    const r = this.project.compile({ files: [uriToPath(uri)], overrides: this.options.overrides ?? [] });
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
    return completionsAt(graph, doc.getText(), doc.offsetAt(pos)).map((c, i) => ({
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
