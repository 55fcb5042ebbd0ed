// The VS Code extension builds into a .vsix with @vscode/vsce (installed in editors/vscode by
// scripts/install-editor-deps.sh, as CI does), and the package holds the client, its manifest,
// the JSON Schema and the language client library it needs at run time.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import { repoRoot } from '../support/reference.js';

describe('editor: the VS Code extension (.vsix)', function () {
  this.timeout(180000);
  const ext = join(repoRoot, 'editors/vscode');

  it('builds with vsce into a zip holding extension/package.json, the client and the schema', function () {
    if (!existsSync(join(ext, 'node_modules/@vscode/vsce'))) {
      // CI installs them (scripts/install-editor-deps.sh): there their absence is a failure.
      if (process.env.CI) expect.fail('editors/vscode has no node_modules: .ci/run runs scripts/install-editor-deps.sh, which should have installed them');
      console.log('      pending: editors/vscode has no node_modules (run scripts/install-editor-deps.sh)');
      this.skip();
    }
    const r = spawnSync('npm', ['run', 'package'], { cwd: ext, encoding: 'utf8', timeout: 150000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).to.equal(0);
    const bytes = readFileSync(join(ext, 'ldmc-vscode.vsix'));
    expect(strFromU8(bytes.subarray(0, 2))).to.equal('PK');
    const files = unzipSync(new Uint8Array(bytes));
    const names = Object.keys(files);
    expect(names).to.include.members(['extension/package.json', 'extension/extension.js', 'extension/ldmc.schema.json', 'extension/LICENSE.txt', 'extension/node_modules/vscode-languageclient/package.json']);
    expect(names.some((n) => n.includes('@vscode/vsce'))).to.equal(false);
    const manifest = JSON.parse(strFromU8(files['extension/package.json']!)) as { main: string; activationEvents: string[]; engines: { vscode: string } };
    expect(manifest.main).to.equal('./extension.js');
    expect(manifest.activationEvents).to.include('onLanguage:yaml');
    const client = strFromU8(files['extension/extension.js']!);
    expect(client).to.contain("'lsp', '--stdio'");
    const schema = JSON.parse(strFromU8(files['extension/ldmc.schema.json']!)) as { $schema?: string };
    expect(schema).to.be.an('object');
  });
});
