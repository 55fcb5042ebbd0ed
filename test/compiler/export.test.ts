// `ldmc export --to ldm`: the resolved config round-trips. Every reference config and every example,
// exported and checked again, gives the same typed graph and no diagnostic the original lacked.
import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse as yamlParse } from 'yaml';
import { exportConfig } from '../../compiler/export.js';
import { compile, type CompileResult, type CompilerHost } from '../../compiler/program.js';
import { main } from '../../cli/main.js';
import { diskHost } from '../support/compile.js';
import { yamlFiles } from '../support/files.js';
import { referencePath, repoRoot, requireReference } from '../support/reference.js';


/** The exported text in memory; everything else (ckpt paths, data) as on disk. */
function withExported(text: string): CompilerHost {
  return { readFile: (p) => (p === 'exported.yaml' ? text : diskHost.readFile(p)), fileExists: (p) => diskHost.fileExists(p) };
}

function graphOf(r: CompileResult) {
  return r.graph!.nodes.map((n) => ({ path: n.path, target: n.target, params: n.params })).sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Exports to ldm, or with `own` to the config's own (inferred) dialect; returns that dialect. */
function roundTrip(files: string[], label: string, own = false): string {
  const r = compile({ files }, diskHost);
  expect(r.hasErrors, `${label}: ${r.diagnostics.map((d) => d.code).join(', ')}`).to.equal(false);
  const to = own ? (r.dialect?.dialect ?? 'ldm') : 'ldm';
  const { text } = exportConfig(r, to);
  const again = compile({ files: ['exported.yaml'] }, withExported(text));
  const key = (d: { code: string; message: string }) => `${d.code} ${d.message}`;
  const before = new Set(r.diagnostics.map(key));
  expect(again.diagnostics.map(key).filter((k) => !before.has(k)), `${label}: new diagnostics`).to.deep.equal([]);
  expect(graphOf(again), label).to.deep.equal(graphOf(r));
  expect(again.graph!.baseLearningRate, label).to.equal(r.graph!.baseLearningRate);
  expect(again.graph!.trainer, label).to.deep.equal(r.graph!.trainer);
  expect(text, label).not.to.match(/\$\{/);
  return to;
}

describe('ldmc export --to ldm', function () {
  it('round-trips all 32 reference configs', function () {
    const root = requireReference(this, 'ldm-configs');
    const files = yamlFiles(root);
    expect(files).to.have.length(32);
    for (const f of files) roundTrip([f], relative(root, f));
  });

  it('round-trips every example and variant (the Stable Diffusion examples to their own repository)', function () {
    const ex = join(repoRoot, 'examples');
    const files = readdirSync(ex).filter((f) => f.endsWith('.yaml')).sort();
    expect(files.length).to.be.greaterThan(0);
    const to: Record<string, string> = {};
    for (const f of files) to[f] = roundTrip([join(ex, f)], f, true);
    // ldm for latent-diffusion's own; SD v2's v-prediction and linear transformer exist only in sd2.
    expect([to['celeba256.yaml'], to['sd-v1-inference.yaml'], to['sd-v2-inference-v.yaml']]).to.deep.equal(['ldm', 'sd1', 'sd2']);
    for (const v of readdirSync(join(ex, 'variants')).filter((f) => f.endsWith('.yaml')).sort()) {
      roundTrip([join(ex, 'celeba256.yaml'), join(ex, 'variants', v)], v);
    }
  });

  it('writes the reference layout: model {base_learning_rate, target, params}, children as {target, params}, sentinels as strings', function () {
    const r = compile({ files: [join(repoRoot, 'examples', 'celeba256.yaml')] }, diskHost);
    const doc = yamlParse(exportConfig(r).text) as Record<string, any>;
    expect(Object.keys(doc.model)).to.deep.equal(['base_learning_rate', 'target', 'params']);
    expect(doc.model.target).to.equal('ldm.models.diffusion.ddpm.LatentDiffusion');
    expect(doc.model.params.unet_config.target).to.equal('ldm.modules.diffusionmodules.openaimodel.UNetModel');
    expect(doc.model.params.unet_config.params.model_channels).to.be.a('number');
    expect(doc.model.params.cond_stage_config).to.equal('__is_unconditional__');
    expect(doc.data.target).to.equal('main.DataModuleFromConfig');
    expect(JSON.stringify(doc)).not.to.contain('ldmc.');
  });

  it('keeps an ldmc-only target and says main.py cannot import it', function () {
    const r = compile({ files: [join(repoRoot, 'examples', 'fashion-ldm-cond.yaml')] }, diskHost);
    const x = exportConfig(r);
    if (x.ldmcOnly.length === 0) this.skip();
    expect(x.ldmcOnly[0]!.target).to.match(/^ldmc\./);
    expect(x.text).to.contain(x.ldmcOnly[0]!.target);
    expect(x.text).to.match(/# warning: .* main\.py cannot import/);
  });

  describe('CLI', function () {
    let dir: string;
    before(() => (dir = mkdtempSync(join(tmpdir(), 'ldmc-export-'))));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const io = () => {
      const out: string[] = [], err: string[] = [];
      return { out, err, io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s), color: false } };
    };

    it('ldmc export examples/celeba256.yaml --to ldm --out <tmp> writes a config that checks clean', async function () {
      const o = io();
      const out = join(dir, 'resolved.yaml');
      const code = await main(['export', join(repoRoot, 'examples', 'celeba256.yaml'), '--to', 'ldm', '--out', out], o.io);
      expect(code, o.err.join('\n')).to.equal(0);
      const r = compile({ files: [out] }, diskHost);
      expect(r.hasErrors).to.equal(false);
      expect(r.graph!.model!.target).to.equal('ldm.models.diffusion.ddpm.LatentDiffusion');
      expect(readFileSync(out, 'utf8')).to.match(/^# Exported by ldmc/);
    });

    it('--to other than ldm, sd1 or sd2 is a usage error (exit 2)', async function () {
      const o = io();
      expect(await main(['export', join(repoRoot, 'examples', 'celeba256.yaml'), '--to', 'diffusers', '--out', join(dir, 'x.yaml')], o.io)).to.equal(2);
    });

    it('a config with errors is refused (exit 1) with its diagnostics', async function () {
      const o = io();
      const bad = join(repoRoot, 'test', 'fixtures', 'broken', '34-unknown-param-did-you-mean.yaml');
      expect(await main(['export', bad, '--to', 'ldm', '--out', join(dir, 'y.yaml')], o.io)).to.equal(1);
      expect(o.out.join('\n')).to.contain('LDMC400');
    });
  });
});
