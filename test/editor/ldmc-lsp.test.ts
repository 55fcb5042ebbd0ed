// `ldmc lsp --stdio` end to end: the real server process (bin/ldmc.js), driven over stdio JSON-RPC
// as an editor drives it, on a copy of examples/celeba256.yaml and a variant naming it as its base.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node.js';
import { repoRoot } from '../support/reference.js';

interface Position {
  line: number;
  character: number;
}
interface Range {
  start: Position;
  end: Position;
}
interface Diagnostic {
  range: Range;
  message: string;
  code?: string;
  severity?: number;
  relatedInformation?: { location: { uri: string; range: Range }; message: string }[];
}
interface TextEdit {
  range: Range;
  newText: string;
}

function edit(text: string, from: string, to: string): string {
  const i = text.indexOf(from);
  if (i < 0 || text.indexOf(from, i + 1) >= 0) throw new Error(`example changed: expected exactly one '${from.trim()}'`);
  return text.slice(0, i) + to + text.slice(i + from.length);
}
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle));
const colOf = (text: string, needle: string) => text.split('\n')[lineOf(text, needle)]!.indexOf(needle);

describe('editor: ldmc lsp --stdio (the real server process)', function () {
  this.timeout(60000);
  let dir: string;
  let server: ChildProcess;
  let conn: MessageConnection;
  let stderr = '';
  const published = new Map<string, { at: number; diagnostics: Diagnostic[] }[]>();
  const celeba = readFileSync(join(repoRoot, 'examples/celeba256.yaml'), 'utf8');
  let uri: string;
  let exited: Promise<number | null>;

  async function diagnosticsAfter(u: string, since: number, ok: (d: Diagnostic[]) => boolean, ms = 10000): Promise<{ at: number; diagnostics: Diagnostic[] }> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = published.get(u)?.find((p) => p.at >= since && ok(p.diagnostics));
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no matching diagnostics for ${u}; last: ${JSON.stringify(published.get(u)?.at(-1))}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'ldmc-lsp-'));
    writeFileSync(join(dir, 'celeba256.yaml'), celeba);
    uri = pathToFileURL(join(dir, 'celeba256.yaml')).href;
    server = spawn(process.execPath, [join(repoRoot, 'bin/ldmc.js'), 'lsp', '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    server.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    exited = new Promise((r) => server.on('exit', (code) => r(code)));
    conn = createMessageConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));
    conn.onNotification('textDocument/publishDiagnostics', (p: { uri: string; diagnostics: Diagnostic[] }) => {
      const list = published.get(p.uri) ?? [];
      list.push({ at: performance.now(), diagnostics: p.diagnostics });
      published.set(p.uri, list);
    });
    conn.listen();
    const init = await conn.sendRequest<{ capabilities: Record<string, unknown> }>('initialize', {
      processId: process.pid,
      rootUri: pathToFileURL(dir).href,
      capabilities: {},
      initializationOptions: { debounceMs: 30 },
    });
    expect(init.capabilities).to.include.keys('hoverProvider', 'inlayHintProvider', 'completionProvider', 'codeActionProvider', 'definitionProvider', 'documentSymbolProvider');
    await conn.sendNotification('initialized', {});
    const t0 = performance.now();
    await conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'yaml', version: 1, text: celeba } });
    const first = await diagnosticsAfter(uri, t0, () => true);
    expect(first.diagnostics).to.deep.equal([]);
  });

  after(function () {
    if (server.exitCode === null) server.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hover on the UNet target shows 274,056,163 parameters and the true attention resolutions', async function () {
    const h = await conn.sendRequest<{ contents: { kind: string; value: string } }>('textDocument/hover', {
      textDocument: { uri },
      position: { line: lineOf(celeba, 'openaimodel.UNetModel'), character: colOf(celeba, 'openaimodel.UNetModel') + 3 },
    });
    expect(h.contents.kind).to.equal('markdown');
    expect(h.contents.value).to.contain('274,056,163');
    expect(h.contents.value).to.contain('32×32, 16×16, 8×8');
  });

  it('inlay hints show the parameter count and 32×32', async function () {
    const hints = await conn.sendRequest<{ position: Position; label: string }[]>('textDocument/inlayHint', {
      textDocument: { uri },
      range: { start: { line: 0, character: 0 }, end: { line: celeba.split('\n').length, character: 0 } },
    });
    const at = (needle: string) => hints.find((h) => h.position.line === lineOf(celeba, needle))?.label;
    expect(at('openaimodel.UNetModel')).to.equal('274,056,163 params');
    expect(at('attention_resolutions:')).to.equal('→ 32×32, 16×16, 8×8');
  });

  it('completion of target: inside first_stage_config offers the autoencoders, not the UNet', async function () {
    const line = lineOf(celeba, 'target: ldm.models.autoencoder.VQModelInterface');
    const r = await conn.sendRequest<{ label: string }[] | { items: { label: string }[] }>('textDocument/completion', {
      textDocument: { uri },
      position: { line, character: colOf(celeba, 'target: ldm.models.autoencoder.VQModelInterface') + 'target: '.length },
    });
    const labels = (Array.isArray(r) ? r : r.items).map((c) => c.label);
    expect(labels).to.include.members(['ldm.models.autoencoder.VQModelInterface', 'ldm.models.autoencoder.AutoencoderKL']);
    expect(labels).to.not.include('ldm.modules.diffusionmodules.openaimodel.UNetModel');
  });

  it('an edit gives the LDMC500 channel rule and the unknown param, each with its quick fix', async function () {
    const text = edit(edit(celeba, 'in_channels: 3\n        out', 'in_channels: 4\n        out'), 'model_channels: 224', 'model_channel: 224');
    const t0 = performance.now();
    await conn.sendNotification('textDocument/didChange', { textDocument: { uri, version: 2 }, contentChanges: [{ text }] });
    const got = await diagnosticsAfter(uri, t0, (d) => d.some((x) => x.code === 'LDMC500'));
    const ic = got.diagnostics.find((d) => d.code === 'LDMC500')!;
    expect(ic.range.start.line).to.equal(lineOf(text, 'in_channels: 4'));
    expect(ic.relatedInformation?.[0]?.location.uri).to.equal(uri);
    expect(ic.relatedInformation?.[0]?.location.range.start.line).to.equal(lineOf(text, 'embed_dim: 3'));
    const typo = got.diagnostics.find((d) => d.code === 'LDMC400')!;
    expect(typo.range.start.line).to.equal(lineOf(text, 'model_channel: 224'));
    expect(typo.message).to.contain("did you mean 'model_channels'");
    // The server measures its own compute per edit (its latency is a benchmark, npm run bench --
    // --only lsp, not a timed test): here only that it is measured, after the debounce asked for.
    const stats = await conn.sendRequest<{ lastComputeMs: number; debounceMs: number }>('ldmc/stats');
    expect(stats.debounceMs).to.equal(30);
    expect(stats.lastComputeMs).to.be.a('number').and.above(0);
    expect(got.at - t0).to.be.at.least(stats.debounceMs - 1);

    const actions = await conn.sendRequest<{ title: string; edit: { changes: Record<string, TextEdit[]> } }[]>('textDocument/codeAction', {
      textDocument: { uri },
      range: typo.range,
      context: { diagnostics: [typo] },
    });
    const rename = actions.find((a) => a.title.includes("'model_channels'"))!;
    expect(rename.edit.changes[uri]![0]!.newText).to.equal('model_channels');
    const fixIc = await conn.sendRequest<{ title: string; edit: { changes: Record<string, TextEdit[]> } }[]>('textDocument/codeAction', {
      textDocument: { uri },
      range: ic.range,
      context: { diagnostics: [ic] },
    });
    expect(fixIc.map((a) => a.title)).to.include('Set in_channels to 3');
    await conn.sendNotification('textDocument/didChange', { textDocument: { uri, version: 3 }, contentChanges: [{ text: celeba }] });
  });

  it('a variant with a modeline: go to definition of the base and of the value it overrides, outline', async function () {
    const variant = '# ldmc: base=celeba256.yaml\nmodel:\n  params:\n    unet_config:\n      params:\n        model_channels: 100\n';
    const vuri = pathToFileURL(join(dir, 'small.yaml')).href;
    const t0 = performance.now();
    await conn.sendNotification('textDocument/didOpen', { textDocument: { uri: vuri, languageId: 'yaml', version: 1, text: variant } });
    const d = await diagnosticsAfter(vuri, t0, (x) => x.length > 0);
    expect(d.diagnostics.map((x) => x.code)).to.include('LDMC504'); // 100 does not divide by 32: on the variant's line
    expect(d.diagnostics.find((x) => x.code === 'LDMC504')!.range.start.line).to.equal(5);
    const base = await conn.sendRequest<{ uri: string }>('textDocument/definition', { textDocument: { uri: vuri }, position: { line: 0, character: 16 } });
    expect(base.uri).to.equal(uri);
    const over = await conn.sendRequest<{ uri: string; range: Range }>('textDocument/definition', { textDocument: { uri: vuri }, position: { line: 5, character: 10 } });
    expect(over.uri).to.equal(uri);
    expect(over.range.start.line).to.equal(lineOf(celeba, 'model_channels: 224'));
    const symbols = await conn.sendRequest<{ name: string; detail: string; children: { name: string; detail: string }[] }[]>('textDocument/documentSymbol', { textDocument: { uri } });
    expect(symbols[0]).to.include({ name: 'model', detail: 'LatentDiffusion' });
    expect(symbols[0]!.children.map((c) => c.name)).to.deep.equal(['unet_config', 'first_stage_config']);
  });

  it('stays quiet on YAML that is not an ldmc config (a CI workflow)', async function () {
    const wuri = pathToFileURL(join(dir, 'workflow.yaml')).href;
    const t0 = performance.now();
    await conn.sendNotification('textDocument/didOpen', { textDocument: { uri: wuri, languageId: 'yaml', version: 1, text: 'on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n' } });
    const d = await diagnosticsAfter(wuri, t0, () => true);
    expect(d.diagnostics).to.deep.equal([]);
  });

  it('never loads tfjs, ts-morph or handlebars', async function () {
    const mods = await conn.sendRequest<string[]>('ldmc/debug/loadedModules');
    expect(mods.some((m) => m.includes('vscode-languageserver'))).to.equal(true); // the list is real
    expect(mods.filter((m) => /@tensorflow|[\\/]ts-morph[\\/]|[\\/]handlebars[\\/]|[\\/]dist[\\/]runtime[\\/]/.test(m))).to.deep.equal([]);
  });

  it('shuts down and exits cleanly', async function () {
    await conn.sendRequest('shutdown');
    await conn.sendNotification('exit');
    expect(await exited).to.equal(0);
  });
});
