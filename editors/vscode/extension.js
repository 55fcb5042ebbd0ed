// The ldmc VS Code extension: a thin client. It starts `ldmc lsp --stdio` for YAML files (the
// server answers only for files that carry a `target:` tree or the `# ldmc:` modeline) and maps
// the ldmc JSON Schema in the Red Hat YAML extension's `yaml.schemas`.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

/** The workspace's own ldmc (node_modules/.bin/ldmc) first, then `ldmc` on the PATH. */
function serverCommand() {
  const configured = vscode.workspace.getConfiguration('ldmc').get('serverPath');
  if (configured) return configured;
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    const local = path.join(folder.uri.fsPath, 'node_modules', '.bin', process.platform === 'win32' ? 'ldmc.cmd' : 'ldmc');
    if (fs.existsSync(local)) return local;
    const repo = path.join(folder.uri.fsPath, 'bin', 'ldmc.js');
    if (fs.existsSync(repo)) return repo;
  }
  return 'ldmc';
}

async function mapSchema(context) {
  const cfg = vscode.workspace.getConfiguration('ldmc');
  if (!cfg.get('addSchemaToYamlSettings') || !vscode.workspace.workspaceFolders) return;
  const schema = vscode.Uri.file(context.asAbsolutePath('ldmc.schema.json')).toString();
  const yaml = vscode.workspace.getConfiguration('yaml');
  const schemas = { ...(yaml.get('schemas') ?? {}) };
  const globs = cfg.get('schemaGlobs') ?? [];
  if (JSON.stringify(schemas[schema]) === JSON.stringify(globs)) return;
  schemas[schema] = globs;
  await yaml.update('schemas', schemas, vscode.ConfigurationTarget.Workspace);
}

async function activate(context) {
  const command = serverCommand();
  const args = ['lsp', '--stdio'];
  const run = command.endsWith('.js') ? { command: process.execPath, args: [command, ...args] } : { command, args };
  client = new LanguageClient(
    'ldmc',
    'ldmc',
    { run: { ...run, transport: TransportKind.stdio }, debug: { ...run, transport: TransportKind.stdio } },
    {
      documentSelector: [{ scheme: 'file', language: 'yaml' }],
      initializationOptions: { debounceMs: vscode.workspace.getConfiguration('ldmc').get('debounceMs') },
      synchronize: { configurationSection: 'ldmc' },
    },
  );
  await client.start();
  context.subscriptions.push({ dispose: () => client && client.stop() });
  mapSchema(context).catch((e) => client.warn(`ldmc: could not update yaml.schemas: ${e.message}`));
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
