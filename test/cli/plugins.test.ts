// Plugins through the real CLI (`node bin/ldmc.js`, real files): the worked example
// (examples/plugins/textual-inversion.ts + v1-finetune_unfrozen.yaml) checks, and without it the
// fork-only keys are errors at their lines; inspect shows unknown counts and partial totals; a
// plugin cond stage is a real family member (its facts feed the totals and the context_dim rule);
// the project's package.json "ldmc.plugins" and ldmc.config.ts are found from the config's folder;
// the JSON Schema includes plugin targets. The fault codes each have a broken-config fixture
// (test/fixtures/broken/140-149). In-process: the built-in registry is never changed by a run.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPlugins } from '../../compiler/plugin-load.js';
import { compile } from '../../compiler/program.js';
import { DiskHost } from '../../cli/host.js';
import { LdmcService, pathToUri } from '../../lsp/service.js';
import { builtinRegistry } from '../../schema/registry.js';
import { runCli, STACK_TRACE, type JsonDiagnostic, type RunResult } from '../support/broken-fixtures.js';
import { repoRoot } from '../support/reference.js';
import { showTsDiagnostic, strictProgram } from '../support/typecheck.js';

const example = 'examples/plugins/v1-finetune_unfrozen.yaml';
const plugin = 'examples/plugins/textual-inversion.ts';

function diagnostics(r: RunResult): JsonDiagnostic[] {
  return (JSON.parse(r.stdout) as { diagnostics: JsonDiagnostic[] }).diagnostics;
}

function noCrash(r: RunResult): void {
  const both = `${r.stdout}\n${r.stderr}`;
  expect(both).to.not.match(STACK_TRACE);
  expect(both).to.not.include('internal error');
}

/** The line (1-based) of the first line of `file` that starts with `prefix` after its indentation. */
function lineOf(file: string, prefix: string): number {
  const i = readFileSync(join(repoRoot, file), 'utf8').split('\n').findIndex((l) => l.trimStart().startsWith(prefix));
  expect(i, `${prefix} in ${file}`).to.be.at.least(0);
  return i + 1;
}

describe('plugins (ldmc --plugin, package.json ldmc.plugins, ldmc.config.ts)', function () {
  this.timeout(120_000);
  let tmp: string;

  before(function () {
    tmp = mkdtempSync(join(tmpdir(), 'ldmc-plugins-test-'));
  });
  after(function () {
    rmSync(tmp, { recursive: true, force: true });
  });

  it("the example plugin type-checks as a user's project would (strict, nodenext, 'ldmc' from the package exports)", function () {
    const program = strictProgram([join(repoRoot, plugin)]);
    const diags = [...program.getSyntacticDiagnostics(), ...program.getSemanticDiagnostics()].map(showTsDiagnostic);
    expect(diags).to.deep.equal([]);
  });

  it('the DreamBooth example checks with the textual-inversion plugin (exit 0, no errors)', async function () {
    const r = await runCli(['check', '--format', 'json', example, '--plugin', plugin]);
    noCrash(r);
    expect(diagnostics(r).filter((d) => d.severity === 'error'), r.stdout).to.deep.equal([]);
    expect(r.status).to.equal(0);
  });

  it('without the plugin, each fork-only key is an error at its line, with a hint naming --plugin', async function () {
    const r = await runCli(['check', '--format', 'json', example]);
    noCrash(r);
    expect(r.status).to.equal(1);
    const ds = diagnostics(r);
    for (const key of ['reg_weight', 'embedding_reg_weight', 'unfreeze_model', 'model_lr', 'personalization_config']) {
      const d = ds.find((x) => x.code === 'LDMC400' && x.message.includes(`'${key}'`));
      expect(d, key).to.not.equal(undefined);
      expect(d!.line).to.equal(lineOf(example, `${key}:`));
      expect(d!.hint).to.include('--plugin');
    }
    const persBase = ds.filter((x) => x.code === 'LDMC300' && x.message.includes('PersonalizedBase')).map((x) => x.line);
    expect(persBase.length).to.be.at.least(2);
    expect(ds.find((x) => x.code === 'LDMC400' && x.message.includes("'reg'"))?.line).to.equal(lineOf(example, 'reg:'));
    // Nothing else: the built-in parts of the config are fine.
    expect(ds.filter((x) => x.severity === 'error' && !['LDMC300', 'LDMC400'].includes(x.code))).to.deep.equal([]);
  });

  it('inspect: the EmbeddingManager (no facts) is unknown and the total says it is partial', async function () {
    const j = await runCli(['inspect', '--format', 'json', example, '--plugin', plugin]);
    noCrash(j);
    const out = JSON.parse(j.stdout) as {
      components: { plugin_parts: { slot: string; target: string; params: number | null }[]; cond_stage: { params: number } };
      model: { params: number; params_unknown: string[] };
    };
    expect(out.components.plugin_parts.map((p) => [p.slot, p.target, p.params])).to.deep.equal([['personalization_config', 'ldm.modules.embedding_manager.EmbeddingManager', null]]);
    expect(out.model.params_unknown.length).to.equal(1);
    expect(out.model.params_unknown[0]).to.match(/^personalization_config: EmbeddingManager/);
    // The known parts are still summed: UNet + VAE + CLIP text model.
    expect(out.model.params).to.equal(859_520_964 + 83_653_863 + 123_060_480);
    const t = await runCli(['inspect', example, '--plugin', plugin]);
    expect(t.stdout).to.match(/personalization\s+EmbeddingManager\s+unknown/);
    expect(t.stdout).to.match(/total\s+LatentDiffusion\s+≥ 1,066,235,307/);
    expect(t.stdout).to.include('partial');
  });

  it('a plugin cond stage is a family member: its facts count, and context_dim is checked against its output', async function () {
    const dir = join(tmp, 'cond');
    mkdirSync(dir, { recursive: true });
    const pluginFile = join(dir, 'tiny.plugin.ts');
    writeFileSync(
      pluginFile,
      [
        "import { definePlugin, int, opt, params } from 'ldmc';",
        'export default definePlugin({',
        '  targets: [{',
        "    id: 'my.fork.encoders.TinyText', family: 'cond_stage',",
        "    params: params({ width: opt(int('Token width.'), 512) }),",
        "    facts: (p) => ({ paramCount: 1000 * (p.width as number), output: { kind: 'tokens', shape: [77, p.width as number] } }),",
        '  }],',
        '});',
      ].join('\n'),
    );
    const text = readFileSync(join(repoRoot, example), 'utf8').replace('target: ldm.modules.encoders.modules.FrozenCLIPEmbedder', 'target: my.fork.encoders.TinyText');
    const cfg = join(dir, 'config.yaml');
    writeFileSync(cfg, text);
    const r = await runCli(['inspect', '--format', 'json', cfg, '--plugin', plugin, '--plugin', pluginFile]);
    noCrash(r);
    const out = JSON.parse(r.stdout) as { diagnostics: JsonDiagnostic[]; components: { cond_stage: { params: number; output: unknown } } };
    expect(out.components.cond_stage.params).to.equal(512_000);
    expect(out.components.cond_stage.output).to.deep.equal({ kind: 'tokens', shape: [77, 512] });
    const ctx = out.diagnostics.find((d) => d.code === 'LDMC507');
    expect(ctx, JSON.stringify(out.diagnostics)).to.not.equal(undefined);
    expect(ctx!.message).to.include('512');
    expect(r.status).to.equal(1);
  });

  it("finds the project's plugins from the config's folder: package.json \"ldmc.plugins\" (an installed ldmc)", async function () {
    const proj = join(tmp, 'pkg');
    mkdirSync(join(proj, 'configs', 'dreambooth'), { recursive: true });
    mkdirSync(join(proj, 'node_modules'), { recursive: true });
    mkdirSync(join(proj, 'plugins'), { recursive: true });
    // As `npm install ldmc` leaves it: the plugin's `import ... from 'ldmc'` resolves through node_modules.
    symlinkSync(repoRoot, join(proj, 'node_modules', 'ldmc'), 'dir');
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'my-fork', private: true, type: 'module', ldmc: { plugins: ['./plugins/ti.ts'] } }, null, 2));
    writeFileSync(join(proj, 'plugins', 'ti.ts'), readFileSync(join(repoRoot, plugin), 'utf8'));
    const cfg = join(proj, 'configs', 'dreambooth', 'v1-finetune_unfrozen.yaml');
    writeFileSync(cfg, readFileSync(join(repoRoot, example), 'utf8'));
    const r = await runCli(['check', '--format', 'json', cfg]);
    noCrash(r);
    expect(diagnostics(r).filter((d) => d.severity === 'error')).to.deep.equal([]);
    expect(r.status).to.equal(0);
    // A JavaScript plugin that imports 'ldmc' through the project's node_modules loads too.
    writeFileSync(join(proj, 'plugins', 'extra.mjs'), "import { definePlugin, num, opt } from 'ldmc';\nexport default definePlugin({ extend: { 'ldm.modules.diffusionmodules.openaimodel.UNetModel': { lora_rank: opt(num('LoRA rank.'), 0) } } });\n");
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'my-fork', private: true, ldmc: { plugins: ['./plugins/ti.ts', './plugins/extra.mjs'] } }, null, 2));
    writeFileSync(cfg, readFileSync(join(repoRoot, example), 'utf8').replace('legacy: False', 'legacy: False\n        lora_rank: 4'));
    const r2 = await runCli(['check', '--format', 'json', cfg]);
    noCrash(r2);
    expect(diagnostics(r2).filter((d) => d.severity === 'error')).to.deep.equal([]);
  });

  it('finds ldmc.config.ts (export default defineProject({ plugins })) before package.json', async function () {
    const proj = join(tmp, 'cfgts');
    mkdirSync(proj, { recursive: true });
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'x', ldmc: { plugins: ['./missing.mjs'] } }));
    writeFileSync(join(proj, 'ldmc.config.ts'), `import { defineProject } from 'ldmc';\nexport default defineProject({ plugins: [${JSON.stringify(join(repoRoot, plugin))}] });\n`);
    const cfg = join(proj, 'config.yaml');
    writeFileSync(cfg, readFileSync(join(repoRoot, example), 'utf8'));
    const r = await runCli(['check', '--format', 'json', cfg]);
    noCrash(r);
    expect(diagnostics(r).filter((d) => d.severity === 'error')).to.deep.equal([]);
  });

  it('a JavaScript plugin with a syntax error is LDMC119 at its line', async function () {
    const f = join(tmp, 'bad.plugin.mjs');
    writeFileSync(f, "import { definePlugin } from 'ldmc';\n\nexport default definePlugin({ targets: [ }) ;\n");
    const cfg = join(tmp, 'identity.yaml');
    writeFileSync(cfg, 'model:\n  target: torch.nn.Identity\n');
    const r = await runCli(['check', '--format', 'json', cfg, '--plugin', f]);
    noCrash(r);
    const d = diagnostics(r).find((x) => x.code === 'LDMC119');
    expect(d, r.stdout).to.not.equal(undefined);
    expect(d!.line).to.equal(3);
    expect(diagnostics(r).map((x) => x.code)).to.deep.equal(['LDMC119']);
  });

  it('ldmc schema --plugin includes the plugin targets and extended params', async function () {
    const r = await runCli(['schema', '--plugin', plugin]);
    noCrash(r);
    const s = JSON.parse(r.stdout) as { definitions: Record<string, { properties?: Record<string, unknown> }> };
    expect(s.definitions).to.have.property('params:ldm.modules.embedding_manager.EmbeddingManager');
    expect(s.definitions['params:ldm.models.diffusion.ddpm.LatentDiffusion']!.properties).to.include.keys('reg_weight', 'personalization_config', 'unfreeze_model', 'model_lr');
    const plain = JSON.parse((await runCli(['schema'])).stdout) as typeof s;
    expect(plain.definitions).to.not.have.property('params:ldm.modules.embedding_manager.EmbeddingManager');
  });

  it("the language server honours each project's package.json plugins (JavaScript), and shows a .ts one as needing a build", async function () {
    const celeba = readFileSync(join(repoRoot, 'examples', 'celeba256.yaml'), 'utf8').replace('  params:\n', '  params:\n    reg_weight: 1.0\n');
    expect(celeba).to.include('reg_weight');
    const make = (name: string, plugins: string[] | undefined) => {
      const dir = join(tmp, name);
      mkdirSync(join(dir, 'node_modules'), { recursive: true });
      symlinkSync(repoRoot, join(dir, 'node_modules', 'ldmc'), 'dir');
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, ...(plugins ? { ldmc: { plugins } } : {}) }));
      writeFileSync(join(dir, 'db.mjs'), "import { definePlugin, num, opt } from 'ldmc';\nexport default definePlugin({ extend: { 'ldm.models.diffusion.ddpm.LatentDiffusion': { reg_weight: opt(num('Prior loss weight.'), 1) } } });\n");
      writeFileSync(join(dir, 'db.ts'), 'export default 1;\n');
      writeFileSync(join(dir, 'config.yaml'), celeba);
      return pathToUri(join(dir, 'config.yaml'));
    };
    const withPlugin = make('lsp-a', ['./db.mjs']);
    const without = make('lsp-b', undefined);
    const tsOnly = make('lsp-c', ['./db.ts']);
    const service = new LdmcService(new DiskHost());
    let loaded = 0;
    service.onPluginsLoaded = () => loaded++;
    for (const u of [withPlugin, without, tsOnly]) service.open(u, celeba, 1);
    const codes = (u: string) => service.diagnostics(u).map((d) => String(d.code));
    // Before its plugins arrive, a document is checked with the built-ins.
    expect(codes(withPlugin)).to.include('LDMC400');
    codes(without);
    codes(tsOnly);
    await service.pluginsLoaded();
    expect(loaded).to.be.at.least(2);
    expect(codes(withPlugin)).to.not.include('LDMC400');
    expect(codes(without)).to.include('LDMC400');
    const c = service.diagnostics(tsOnly);
    expect(c.find((d) => d.code === 'LDMC712')?.message).to.include('JavaScript plugins only');
  });

  it('a run gets its own registry: the built-in one is never changed, and the hash covers the plugin', async function () {
    const run = await loadPlugins([join(repoRoot, plugin)], undefined, { allowTs: true });
    expect(run.hasErrors, JSON.stringify(run.diagnostics.map((d) => d.message))).to.equal(false);
    expect(run.registry).to.not.equal(builtinRegistry);
    expect(run.registry.lookup('ldm.modules.embedding_manager.EmbeddingManager')?.plugin?.file).to.equal(join(repoRoot, plugin));
    expect(builtinRegistry.lookup('ldm.modules.embedding_manager.EmbeddingManager')).to.equal(undefined);
    expect(Object.keys(builtinRegistry.lookup('ldm.models.diffusion.ddpm.LatentDiffusion')!.params.properties)).to.not.include('reg_weight');
    expect(run.registry.hash()).to.not.equal(builtinRegistry.hash());
    const host = new DiskHost();
    const file = join(repoRoot, example);
    expect(compile({ files: [file], registry: run.registry }, host).hasErrors).to.equal(false);
    expect(compile({ files: [file] }, host).hasErrors).to.equal(true);
  });
});
