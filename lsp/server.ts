// `ldmc lsp --stdio`: the protocol layer. It turns requests into LdmcService calls and publishes
// diagnostics after a short debounce (configurable: initializationOptions.debounceMs, the
// `ldmc.debounceMs` setting, or `ldmc lsp --debounce MS`). Only this folder imports the protocol
// library; runtime/ (tfjs), ts-morph and handlebars are never loaded here.
import { createRequire } from 'node:module';
import { createConnection, ProposedFeatures, TextDocumentSyncKind, type Connection, type InitializeParams } from 'vscode-languageserver/node';
// The CLI's disk host (a leaf module: fs and the compiler's types) reads modeline bases that are
// not open in the editor, with the same UTF-8 check as `ldmc check`.
import { DiskHost } from '../cli/host.js';
import { LdmcService } from './service.js';

export interface ServerOptions {
  /** Quiet time after the last edit before diagnostics are computed (default 75 ms). */
  readonly debounceMs?: number;
}

export const DEFAULT_DEBOUNCE_MS = 75;

/** Timings of the last diagnostics run, for `ldmc/stats` (tests and the benchmark read them). */
interface Stats {
  lastComputeMs: number;
  publishes: number;
  debounceMs: number;
}

/** What `ldmc/stats` answers: the timings, plus memory and cache sizes (the fuzz test bounds them). */
interface StatsReply extends Stats {
  rssBytes: number;
  heapUsedBytes: number;
  openDocuments: number;
  cachedParses: number;
  cachedResults: number;
}

export function attachServer(connection: Connection, options: ServerOptions = {}): void {
  const service = new LdmcService(new DiskHost());
  const timers = new Map<string, NodeJS.Timeout>();
  const stats: Stats = { lastComputeMs: 0, publishes: 0, debounceMs: options.debounceMs ?? DEFAULT_DEBOUNCE_MS };

  const publish = (uri: string) => {
    for (const u of service.dependents(uri)) {
      const t0 = performance.now();
      const diagnostics = service.safeDiagnostics(u);
      stats.lastComputeMs = performance.now() - t0;
      stats.publishes++;
      void connection.sendDiagnostics({ uri: u, version: service.document(u)?.version, diagnostics });
    }
  };
  // A project's plugins load in the background; when they arrive, every open config is checked again.
  service.onPluginsLoaded = () => {
    for (const u of service.openUris()) safe('publish', undefined, publish)(u);
  };
  const schedule = (uri: string) => {
    clearTimeout(timers.get(uri));
    timers.set(
      uri,
      setTimeout(() => {
        timers.delete(uri);
        if (service.document(uri)) safe('publish', undefined, publish)(uri);
      }, stats.debounceMs),
    );
  };
  // Every handler answers from the compiler's results; an exception would be our bug, so it becomes
  // a logged error and an empty answer rather than a dead server.
  const safe = <A extends unknown[], R>(name: string, empty: R, f: (...a: A) => R) => (...a: A): R => {
    try {
      return f(...a);
    } catch (e) {
      connection.console.error(`ldmc: internal error in ${name}: ${(e as Error).stack ?? String(e)}`);
      return empty;
    }
  };

  connection.onInitialize((params: InitializeParams) => {
    const init = params.initializationOptions as { debounceMs?: unknown } | undefined;
    if (options.debounceMs === undefined && typeof init?.debounceMs === 'number' && init.debounceMs >= 0) stats.debounceMs = init.debounceMs;
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
        hoverProvider: true,
        inlayHintProvider: true,
        completionProvider: { triggerCharacters: [':', ' '] },
        codeActionProvider: { codeActionKinds: ['quickfix'] },
        definitionProvider: true,
        documentSymbolProvider: true,
      },
      serverInfo: { name: 'ldmc', version: '0.1.0' },
    };
  });
  connection.onDidChangeConfiguration((p) => {
    const s = (p.settings as { ldmc?: { debounceMs?: unknown } } | undefined)?.ldmc;
    if (options.debounceMs === undefined && typeof s?.debounceMs === 'number' && s.debounceMs >= 0) stats.debounceMs = s.debounceMs;
  });
  connection.onDidOpenTextDocument(
    safe('didOpen', undefined, (p) => {
      service.open(p.textDocument.uri, p.textDocument.text, p.textDocument.version);
      publish(p.textDocument.uri);
    }),
  );
  connection.onDidChangeTextDocument(
    safe('didChange', undefined, (p) => {
      if (!p.contentChanges.length) return;
      service.applyChanges(p.textDocument.uri, p.contentChanges, p.textDocument.version);
      schedule(p.textDocument.uri);
    }),
  );
  connection.onDidCloseTextDocument(
    safe('didClose', undefined, (p) => {
      clearTimeout(timers.get(p.textDocument.uri));
      service.close(p.textDocument.uri);
      void connection.sendDiagnostics({ uri: p.textDocument.uri, diagnostics: [] });
    }),
  );
  connection.onHover(safe('hover', null, (p) => service.hover(p.textDocument.uri, p.position)));
  connection.languages.inlayHint.on(safe('inlayHint', [], (p) => service.inlayHints(p.textDocument.uri, p.range)));
  connection.onCompletion(safe('completion', [], (p) => service.completion(p.textDocument.uri, p.position)));
  connection.onCodeAction(safe('codeAction', [], (p) => service.codeActions(p.textDocument.uri, p.range)));
  connection.onDefinition(safe('definition', null, (p) => service.definition(p.textDocument.uri, p.position)));
  connection.onDocumentSymbol(safe('documentSymbol', [], (p) => service.symbols(p.textDocument.uri)));
  connection.onRequest('ldmc/stats', (): StatsReply => {
    const m = process.memoryUsage();
    return { ...stats, rssBytes: m.rss, heapUsedBytes: m.heapUsed, openDocuments: service.openUris().length, ...service.project.cacheSizes() };
  });
  // Only when node runs with --expose-gc (the fuzz test does): lets a memory bound compare live heaps.
  connection.onRequest('ldmc/debug/gc', () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) gc();
    return gc !== undefined;
  });
  // Evidence for the test that the server stays light: every CommonJS module loaded so far (tfjs,
  // ts-morph and handlebars are CommonJS, so they would show up here).
  connection.onRequest('ldmc/debug/loadedModules', () => Object.keys(createRequire(import.meta.url).cache));
}

/** Serves the protocol on stdin/stdout until the client says `exit` (the library then ends the process). */
export function startStdioServer(options: ServerOptions = {}): Promise<void> {
  const connection = createConnection(ProposedFeatures.all, process.stdin, process.stdout);
  attachServer(connection, options);
  return new Promise<void>((resolve) => {
    connection.onExit(() => resolve());
    connection.listen();
  });
}
