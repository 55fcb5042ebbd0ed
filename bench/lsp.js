// The language server, in process: the real server core (lsp/server.js attachServer) on an
// in-memory JSON-RPC pipe, driven by a vscode-jsonrpc client as an editor drives it.
//   node --expose-gc bench/lsp.js [--runs N] [--json]
// Measures, on a copy of examples/celeba256.yaml: didChange -> publishDiagnostics with the debounce
// set to 0 (the debounce is reported on its own), hover and completion latency; then the server's
// memory after opening every reference config. Reads dist/ (build first: npx tsc -p .).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1]) || 30;
const require = createRequire(import.meta.url);
const { createConnection, ProposedFeatures } = require('vscode-languageserver/node');
const { createMessageConnection, StreamMessageReader, StreamMessageWriter } = require('vscode-jsonrpc/node');
const { attachServer, DEFAULT_DEBOUNCE_MS } = await import(join(repoRoot, 'dist', 'lsp', 'server.js'));

const toServer = new PassThrough(), fromServer = new PassThrough();
const server = createConnection(ProposedFeatures.all, new StreamMessageReader(toServer), new StreamMessageWriter(fromServer));
attachServer(server, { debounceMs: 0 });
server.listen();
const client = createMessageConnection(new StreamMessageReader(fromServer), new StreamMessageWriter(toServer));
const waiting = new Map();
client.onNotification('textDocument/publishDiagnostics', (p) => {
  const w = waiting.get(p.uri);
  if (w) {
    waiting.delete(p.uri);
    w(p);
  }
});
client.listen();
await client.sendRequest('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
await client.sendNotification('initialized', {});

const published = (uri) => new Promise((r) => waiting.set(uri, r));
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { min: s[0], median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, max: s[s.length - 1], n: s.length };
};

const celeba = readFileSync(join(repoRoot, 'examples', 'celeba256.yaml'), 'utf8');
const uri = pathToFileURL(join(repoRoot, '.tmp', 'bench-celeba256.yaml')).href;
let p = published(uri);
await client.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'yaml', version: 1, text: celeba } });
await p;

// Each edit is new text (model_channels cycles), so nothing is served from the result cache.
const change = [];
let version = 1;
for (let i = 0; i < runs + 3; i++) {
  const text = celeba.replace('model_channels: 224', `model_channels: ${[224, 192, 256, 96][i % 4]}`).replace('in_channels: 3\n', `in_channels: ${i % 2 ? 4 : 3}\n`);
  p = published(uri);
  const t0 = performance.now();
  await client.sendNotification('textDocument/didChange', { textDocument: { uri, version: ++version }, contentChanges: [{ text }] });
  await p;
  if (i >= 3) change.push(performance.now() - t0);
}
const back = published(uri);
await client.sendNotification('textDocument/didChange', { textDocument: { uri, version: ++version }, contentChanges: [{ text: celeba }] });
await back;

const lines = celeba.split('\n');
const unetLine = lines.findIndex((l) => l.includes('openaimodel.UNetModel'));
const fsLine = lines.findIndex((l) => l.includes('target: ldm.models.autoencoder.VQModelInterface'));
const time = async (f) => {
  const xs = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    await f();
    if (i >= 3) xs.push(performance.now() - t0);
  }
  return xs;
};
const hover = await time(() => client.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line: unetLine, character: lines[unetLine].indexOf('UNet') } }));
const completion = await time(() => client.sendRequest('textDocument/completion', { textDocument: { uri }, position: { line: fsLine, character: lines[fsLine].indexOf(':') + 2 } }));
const inlay = await time(() => client.sendRequest('textDocument/inlayHint', { textDocument: { uri }, range: { start: { line: 0, character: 0 }, end: { line: lines.length, character: 0 } } }));

// Memory: every reference config open at once.
const refDir = process.env.LDMC_REFERENCE ? join(resolve(process.env.LDMC_REFERENCE), 'ldm-configs') : join(repoRoot, '..', 'shared', 'reference', 'ldm-configs');
const yamlFiles = (d) => readdirSync(d).flatMap((e) => (statSync(join(d, e)).isDirectory() ? yamlFiles(join(d, e)) : /\.ya?ml$/.test(e) ? [join(d, e)] : []));
const refs = existsSync(refDir) ? yamlFiles(refDir).sort() : [];
globalThis.gc?.();
const before = process.memoryUsage();
for (const f of refs) {
  const u = pathToFileURL(f).href;
  const done = published(u);
  await client.sendNotification('textDocument/didOpen', { textDocument: { uri: u, languageId: 'yaml', version: 1, text: readFileSync(f, 'utf8') } });
  await done;
}
globalThis.gc?.();
const after = process.memoryUsage();
const loaded = Object.keys(require.cache).filter((m) => /@tensorflow|[\\/]ts-morph[\\/]|[\\/]handlebars[\\/]/.test(m));
const mib = (b) => +(b / 1048576).toFixed(1);
const out = {
  change: stats(change),
  hover: stats(hover),
  completion: stats(completion),
  inlay: stats(inlay),
  debounceMs: DEFAULT_DEBOUNCE_MS,
  configs: refs.length,
  rssMiB: mib(after.rss),
  heapMiB: mib(after.heapUsed),
  heapGrowthMiB: mib(after.heapUsed - before.heapUsed),
  heavyModulesLoaded: loaded,
};
console.log(JSON.stringify(out));
client.dispose();
server.dispose();
process.exit(0); // the server's parent-process watch (an interval) would keep this process alive
