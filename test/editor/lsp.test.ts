// The editor experience, end to end: drives the real yaml-language-server (what VS Code's Red Hat
// YAML extension runs) over stdio JSON-RPC, as an editor does, against the committed schema
// (schema/ldmc.schema.json), and checks completion, hover and diagnostics on the celeba256 example.
//
// Two ways of attaching the schema are exercised, as README "Editor set-up" documents them:
// the modeline at the top of examples/*.yaml, and the `yaml.schemas` setting (for configs/**).
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node.js';
import { SCHEMA_PATH } from '../../compiler/emit-schema.js';
import { repoRoot } from '../support/reference.js';

interface Position {
  line: number;
  character: number;
}
interface Diagnostic {
  range: { start: Position; end: Position };
  message: string;
  severity?: number;
}
interface CompletionItem {
  label: string;
  documentation?: string | { kind: string; value: string };
}
interface Hover {
  contents: string | { kind: string; value: string } | Array<string | { language: string; value: string }>;
}

const MODELINE = '# yaml-language-server: $schema=../schema/ldmc.schema.json\n';

/** Replaces exactly one occurrence, so a changed example fails loudly here instead of testing nothing. */
function edit(text: string, from: string, to: string): string {
  const i = text.indexOf(from);
  if (i < 0 || text.indexOf(from, i + 1) >= 0) throw new Error(`example changed: expected exactly one '${from.trim()}'`);
  return text.slice(0, i) + to + text.slice(i + from.length);
}
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle));
const hoverText = (h: Hover | null): string =>
  !h ? '' : typeof h.contents === 'string' ? h.contents : Array.isArray(h.contents) ? h.contents.map((c) => (typeof c === 'string' ? c : c.value)).join('\n') : h.contents.value;

describe('editor: yaml-language-server with the ldmc schema', function () {
  this.timeout(30000);
  let dir: string;
  let server: ChildProcess | undefined;
  let conn: MessageConnection | undefined;
  const published = new Map<string, Diagnostic[][]>();
  const waiters: Array<() => void> = [];
  let base: string;
  const docs: Record<string, { uri: string; text: string }> = {};

  function open(name: string, rel: string, text: string): void {
    const uri = pathToFileURL(join(dir, rel)).href;
    docs[name] = { uri, text };
    conn!.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'yaml', version: 1, text } });
  }

  /** The latest diagnostics for a document once `ok` holds for them (or whatever came last, after `ms`). */
  async function diagnostics(name: string, ok: (d: Diagnostic[]) => boolean, ms = 8000): Promise<Diagnostic[]> {
    const uri = docs[name]!.uri;
    const deadline = Date.now() + ms;
    for (;;) {
      const last = published.get(uri)?.at(-1);
      if ((last && ok(last)) || Date.now() > deadline) return last ?? [];
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  async function complete(name: string, line: number, character: number): Promise<CompletionItem[]> {
    const r = await conn!.sendRequest<{ items: CompletionItem[] } | CompletionItem[] | null>('textDocument/completion', { textDocument: { uri: docs[name]!.uri }, position: { line, character } });
    return Array.isArray(r) ? r : (r?.items ?? []);
  }

  before(async function () {
    this.timeout(30000);
    dir = mkdtempSync(join(tmpdir(), 'ldmc-lsp-'));
    mkdirSync(join(dir, 'schema'));
    mkdirSync(join(dir, 'examples'));
    mkdirSync(join(dir, 'configs'));
    copyFileSync(join(repoRoot, SCHEMA_PATH), join(dir, SCHEMA_PATH));
    base = readFileSync(join(repoRoot, 'examples', 'celeba256.yaml'), 'utf8').replace(/\r\n/g, '\n');
    if (!base.startsWith(MODELINE)) base = MODELINE + base;

    const req = createRequire(import.meta.url);
    const bin = req.resolve('yaml-language-server/bin/yaml-language-server');
    server = spawn(process.execPath, [bin, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    server.stderr!.resume(); // never let a full stderr pipe block the server
    conn = createMessageConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));

    const yamlSettings = {
      validate: true,
      completion: true,
      hover: true,
      schemaStore: { enable: false }, // the default fetches the schemastore.org catalog over the network
      schemas: { [pathToFileURL(join(dir, SCHEMA_PATH)).href]: ['configs/**/*.yaml'] },
    };
    // The server ignores didChangeConfiguration's payload and pulls settings (yaml, http, [yaml], editor).
    conn.onRequest('workspace/configuration', (p: { items: { section?: string }[] }) =>
      p.items.map((i) => (i.section === 'yaml' ? yamlSettings : i.section === 'http' ? {} : null)),
    );
    conn.onRequest('client/registerCapability', () => null);
    conn.onRequest('window/workDoneProgress/create', () => null);
    conn.onNotification('textDocument/publishDiagnostics', (p: { uri: string; diagnostics: Diagnostic[] }) => {
      published.set(p.uri, [...(published.get(p.uri) ?? []), p.diagnostics]);
      for (const w of waiters.splice(0)) w();
    });
    // Sent once the server has applied the configuration (after `yaml/supportSchemaSelection`).
    const applied = new Promise<void>((r) => conn!.onNotification('yaml/schema/store/initialized', () => r()));
    conn.listen();

    const root = pathToFileURL(dir).href;
    await conn.sendRequest('initialize', {
      processId: process.pid,
      rootUri: root,
      workspaceFolders: [{ uri: root, name: 'ldmc' }],
      capabilities: {
        workspace: { configuration: true, didChangeConfiguration: { dynamicRegistration: true } },
        textDocument: {
          completion: { completionItem: { snippetSupport: true, documentationFormat: ['markdown', 'plaintext'] } },
          hover: { contentFormat: ['markdown', 'plaintext'] },
          publishDiagnostics: { relatedInformation: true },
        },
      },
    });
    await conn.sendNotification('initialized', {});
    await conn.sendNotification('yaml/supportSchemaSelection', {});
    const exited = new Promise<never>((_, reject) => server!.once('exit', (code) => reject(new Error(`yaml-language-server exited (${code})`))));
    await Promise.race([
      applied,
      exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('yaml-language-server did not apply its settings within 20 s')), 20000).unref()),
    ]);
    exited.catch(() => undefined); // a later exit (in `after`) is expected

    open('clean', 'examples/celeba256.yaml', base);
    open(
      'unet',
      'examples/unet-completion.yaml',
      edit(edit(edit(base, '        model_channels: 224\n', ''), '        num_head_channels: 32\n', ''), '        out_channels: 3\n', '        out_channels: 3\n        \n'),
    );
    open('vq', 'examples/vq-completion.yaml', edit(base, '          z_channels: 3\n', '          \n'));
    open('target', 'examples/target-completion.yaml', edit(base, '      target: ldm.models.autoencoder.VQModelInterface', '      target: '));
    open('top', 'examples/top-completion.yaml', MODELINE + '\n');
    const errors = edit(edit(base, 'model_channels: 224', 'model_channel: 224'), '        num_res_blocks: 2\n        channel_mult', '        num_res_blocks: two\n        channel_mult');
    open('errors', 'examples/errors.yaml', errors);
    open('settings', 'configs/celeba/errors.yaml', errors.slice(MODELINE.length)); // no modeline: yaml.schemas applies
  });

  after(async function () {
    this.timeout(10000);
    try {
      if (conn && server?.exitCode === null) {
        await Promise.race([conn.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 2000).unref())]);
        await conn.sendNotification('exit');
      }
    } catch {
      // the server is going away either way
    }
    conn?.dispose();
    server?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('completes the params of a UNet (and only those)', async function () {
    const { text } = docs.unet!;
    const items = await complete('unet', lineOf(text, 'out_channels: 3') + 1, 8);
    const labels = items.map((i) => i.label);
    expect(labels).to.include.members(['model_channels', 'num_head_channels', 'num_heads', 'use_spatial_transformer', 'context_dim', 'dropout']);
    expect(labels, 'keys already present').not.to.include.members(['in_channels']);
    expect(labels, 'params of other targets').not.to.include.members(['embed_dim', 'z_channels', 'unet_config', 'batch_size']);
    const mc = items.find((i) => i.label === 'model_channels')!;
    const doc = typeof mc.documentation === 'string' ? mc.documentation : mc.documentation?.value;
    expect(doc).to.include('Base width');
  });

  it('completes ddconfig keys inside a VQ first stage', async function () {
    const { text } = docs.vq!;
    const line = text.split('\n').findIndex((l, i, all) => l === '          ' && all[i - 1]!.includes('double_z'));
    const labels = (await complete('vq', line, 10)).map((i) => i.label);
    expect(labels).to.include.members(['z_channels', 'give_pre_end', 'attn_type']);
    expect(labels).not.to.include.members(['ch', 'embed_dim', 'model_channels']);
  });

  it('completes the target ids of the slot\'s family, and the top-level sections', async function () {
    const { text } = docs.target!;
    const targets = (await complete('target', text.split('\n').indexOf('      target: '), 14)).map((i) => i.label);
    expect(targets).to.have.members(['ldm.models.autoencoder.VQModel', 'ldm.models.autoencoder.VQModelInterface', 'ldm.models.autoencoder.AutoencoderKL']);
    const top = (await complete('top', 1, 0)).map((i) => i.label);
    expect(top).to.include.members(['model', 'data', 'lightning']);
  });

  it('shows the description, default and source on hover', async function () {
    const { uri, text } = docs.clean!;
    const h = await conn!.sendRequest<Hover | null>('textDocument/hover', { textDocument: { uri }, position: { line: lineOf(text, 'model_channels: 224'), character: 10 } });
    expect(hoverText(h)).to.include('Base width; level i has model_channels').and.include('openaimodel.py:413');
    const h2 = await conn!.sendRequest<Hover | null>('textDocument/hover', { textDocument: { uri }, position: { line: lineOf(text, 'num_head_channels: 32'), character: 10 } });
    expect(hoverText(h2)).to.include('Channels per attention head').and.include('Default: `-1`');
  });

  it('reports a misspelled param and a wrong type at their lines (modeline)', async function () {
    const { text } = docs.errors!;
    const misspelled = lineOf(text, 'model_channel: 224');
    const wrongType = lineOf(text, 'num_res_blocks: two');
    const found = (d: Diagnostic[]) => d.some((x) => x.range.start.line === misspelled) && d.some((x) => x.range.start.line === wrongType);
    const d = await diagnostics('errors', found);
    const shown = d.map((x) => `${x.range.start.line}:${x.range.start.character} ${x.message}`);
    expect(shown).to.include(`${misspelled}:8 Property model_channel is not allowed.`);
    expect(shown).to.include(`${wrongType}:24 Incorrect type. Expected "integer".`);
    // Removing model_channels also leaves a required param missing, reported at the UNet's params.
    expect(shown.filter((s) => !s.startsWith(`${misspelled}:`) && !s.startsWith(`${wrongType}:`)).join('\n')).to.match(/Missing property "model_channels"/);
  });

  it('attaches the schema through yaml.schemas too, and a clean config has no diagnostics', async function () {
    const { text } = docs.settings!;
    const d = await diagnostics('settings', (x) => x.length > 0);
    expect(d.map((x) => x.range.start.line)).to.include.members([lineOf(text, 'model_channel: 224'), lineOf(text, 'num_res_blocks: two')]);
    const clean = await diagnostics('clean', () => true);
    expect(published.get(docs.clean!.uri), 'the clean example was validated').to.exist;
    expect(clean).to.deep.equal([]);
  });
});
