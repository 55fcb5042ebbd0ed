// Dialects: `ldmc check` infers which repository reads a config (or takes --dialect), `export --to`
// writes for one and refuses what it lacks at the line, and sd2 exports round-trip.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/main.js';
import { exportConfig } from '../../compiler/export.js';
import { compile, type CompileResult, type CompilerHost } from '../../compiler/program.js';
import { diskHost } from '../support/compile.js';
import { repoRoot } from '../support/reference.js';

const V = join(repoRoot, 'test', 'fixtures', 'dialect', 'ldm-v.yaml');
const CELEBA = join(repoRoot, 'examples', 'celeba256.yaml');
const KL = join(repoRoot, 'examples', 'fashion-kl-f4.yaml');

function graphOf(r: CompileResult) {
  return r.graph!.nodes.map((n) => ({ path: n.path, target: n.target, params: n.params })).sort((a, b) => (a.path < b.path ? -1 : 1));
}

function lineOf(file: string, text: string): number {
  return readFileSync(file, 'utf8').split('\n').findIndex((l) => l.trim() === text) + 1;
}

const withText = (name: string, text: string): CompilerHost => ({ readFile: (p) => (p === name ? text : diskHost.readFile(p)), fileExists: (p) => diskHost.fileExists(p) });

describe('dialects', function () {
  this.timeout(60_000);

  it('a latent-diffusion example is ldm, and VQ first stages leave out Stability-AI', function () {
    const r = compile({ files: [CELEBA] }, diskHost);
    expect(r.hasErrors).to.equal(false);
    expect(r.dialect!.dialect).to.equal('ldm');
    expect(r.dialect!.given).to.equal(false);
    const vq = r.graph!.nodes.some((n) => n.target.startsWith('ldm.models.autoencoder.VQ'));
    expect(r.dialect!.accepted).to.deep.equal(vq ? ['ldm', 'sd1'] : ['ldm', 'sd1', 'sd2']);
  });

  it('an AutoencoderKL trained with LPIPSWithDiscriminator is ldm or sd1 (Stability-AI ships no losses)', function () {
    const r = compile({ files: [KL] }, diskHost);
    expect(r.dialect!.dialect).to.equal('ldm');
    expect(r.dialect!.accepted).to.deep.equal(['ldm', 'sd1']);
    expect(r.dialect!.uses.map((u) => u.what)).to.deep.equal(["target 'ldm.modules.losses.contperceptual.LPIPSWithDiscriminator'"]);
  });

  it('parameterization: v makes the config sd2', function () {
    const r = compile({ files: [V] }, diskHost);
    expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.code)).to.deep.equal([]);
    expect(r.dialect!.dialect).to.equal('sd2');
    expect(r.dialect!.accepted).to.deep.equal(['sd2']);
    expect(r.dialect!.uses.map((u) => u.what)).to.deep.equal(["value 'v' of 'parameterization'"]);
  });

  it('--dialect ldm refuses v at the parameterization line, naming the repository (LDMC312)', function () {
    const r = compile({ files: [V], dialect: 'ldm' }, diskHost);
    const d = r.diagnostics.find((x) => x.code === 'LDMC312');
    expect(d, r.diagnostics.map((x) => x.code).join()).to.not.equal(undefined);
    expect(d!.severity).to.equal('error');
    expect(d!.span!.line).to.equal(lineOf(V, 'parameterization: v'));
    expect(d!.message).to.contain('CompVis/latent-diffusion');
    expect(d!.message).to.contain('Stability-AI/stablediffusion');
    expect(compile({ files: [V], dialect: 'sd2' }, diskHost).hasErrors).to.equal(false);
  });

  it('a config no repository reads whole is LDMC313 at the use that conflicts', function () {
    const text = readFileSync(V, 'utf8').replace('ldm.models.autoencoder.AutoencoderKL', 'ldm.models.autoencoder.VQModelInterface').replace('double_z: true', 'double_z: false');
    const r = compile({ files: ['mixed.yaml'] }, withText('mixed.yaml', text));
    const d = r.diagnostics.find((x) => x.code === 'LDMC313');
    expect(d, r.diagnostics.map((x) => `${x.code} ${x.message}`).join('\n')).to.not.equal(undefined);
    expect(d!.message).to.contain('VQModelInterface');
    expect(d!.related.length).to.equal(1);
    expect(r.dialect!.accepted).to.deep.equal([]);
  });

  it('export --to sd2 round-trips: checked again, the same graph, sd2, no new diagnostics', function () {
    const r = compile({ files: [V], dialect: 'sd2' }, diskHost);
    const { text } = exportConfig(r, 'sd2');
    expect(text).to.contain('Stability-AI/stablediffusion');
    const again = compile({ files: ['exported.yaml'] }, withText('exported.yaml', text));
    expect(again.diagnostics.map((d) => d.code)).to.deep.equal(r.diagnostics.map((d) => d.code));
    expect(graphOf(again)).to.deep.equal(graphOf(r));
    expect(again.dialect!.dialect).to.equal('sd2');
  });

  describe('CLI', function () {
    let dir: string;
    before(() => (dir = mkdtempSync(join(tmpdir(), 'ldmc-dialect-'))));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const io = () => {
      const out: string[] = [], err: string[] = [];
      return { out, err, io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s), color: false } };
    };

    it('export --to ldm of a v config is refused (exit 1) at the parameterization line; --to sd2 writes it', async function () {
      const o = io();
      expect(await main(['export', V, '--to', 'ldm', '--out', join(dir, 'x.yaml')], o.io)).to.equal(1);
      const printed = [...o.out, ...o.err].join('\n');
      expect(printed).to.contain(`ldm-v.yaml:${lineOf(V, 'parameterization: v')}:`);
      expect(printed).to.match(/error\[LDMC312\]: value 'v' of 'parameterization' is not in CompVis\/latent-diffusion/);
      const ok = io();
      expect(await main(['export', V, '--to', 'sd2', '--out', join(dir, 'v.yaml')], ok.io), ok.err.join('\n')).to.equal(0);
      expect(readFileSync(join(dir, 'v.yaml'), 'utf8')).to.contain('parameterization: v');
    });

    it('check --format json carries the dialect; inspect shows it; --dialect takes only ldm, sd1, sd2', async function () {
      const o = io();
      expect(await main(['check', V, '--format', 'json'], o.io)).to.equal(0);
      const j = JSON.parse(o.out.join('')) as { dialect: { dialect: string; repository: string; accepted: string[]; given: boolean } };
      expect(j.dialect).to.deep.equal({ dialect: 'sd2', repository: 'Stability-AI/stablediffusion', accepted: ['sd2'], given: false });
      const i = io();
      expect(await main(['inspect', V], i.io)).to.equal(0);
      expect(i.out.join('\n')).to.match(/dialect\s+sd2 \(Stability-AI\/stablediffusion\)/);
      const ij = io();
      expect(await main(['inspect', CELEBA, '--json', '--dialect', 'sd1'], ij.io)).to.equal(0);
      expect((JSON.parse(ij.out.join('')) as { dialect: { dialect: string; given: boolean } }).dialect).to.deep.equal({ dialect: 'sd1', repository: 'CompVis/stable-diffusion', accepted: ['ldm', 'sd1'], given: true });
      expect(await main(['check', V, '--dialect', 'sd3'], io().io)).to.equal(2);
    });
  });
});
