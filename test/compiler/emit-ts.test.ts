// Generated code: committed generated/ is never stale, every emitted tree type-checks under strict,
// a generated class builds and runs, and variants differ only where their configs differ.
import { expect } from 'chai';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { parse as yamlParse } from 'yaml';
import { defaultName, emitArtifacts, type FileMap } from '../../compiler/emit.js';
import { emitTypeScript } from '../../compiler/emit-ts.js';
import { compile, type CompilerHost } from '../../compiler/program.js';
import { repoRoot } from '../support/reference.js';
import { showTsDiagnostic, strictProgram } from '../support/typecheck.js';

/** Reads paths relative to the repo root, as `npm run generate` (run there) does. */
const rootHost: CompilerHost = {
  readFile: (p) => {
    try {
      return readFileSync(join(repoRoot, p), 'utf8');
    } catch (e) {
      return e as Error;
    }
  },
  fileExists: (p) => existsSync(join(repoRoot, p)),
};

interface Job {
  readonly name: string;
  readonly files: readonly string[];
}

/** The same jobs as scripts/generate.mjs. */
function jobs(): Job[] {
  const out: Job[] = readdirSync(join(repoRoot, 'examples'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => ({ name: defaultName(`examples/${f}`), files: [`examples/${f}`] }));
  for (const f of readdirSync(join(repoRoot, 'examples', 'variants')).filter((f) => f.endsWith('.yaml')).sort()) {
    out.push({ name: f.replace(/\.yaml$/, ''), files: ['examples/celeba256.yaml', `examples/variants/${f}`] });
  }
  return out;
}

function generate(job: Job, runtimeBase: string, withGraph = true): FileMap {
  const r = compile({ files: job.files }, rootHost);
  expect(r.hasErrors, `${job.name}: ${r.diagnostics.map((d) => d.code).join(', ')}`).to.equal(false);
  const files: FileMap = withGraph ? emitArtifacts(r, job.name) : new Map();
  const texts = job.files.map((f) => rootHost.readFile(f) as string);
  for (const [k, v] of emitTypeScript(r, { name: job.name, files: job.files, texts, overrides: [], runtimeBase })) files.set(k, v);
  return files;
}

describe('generated TypeScript', function () {
  this.timeout(180000);

  it('generated/ is up to date with examples/ (else: npm run generate)', function () {
    const stale: string[] = [];
    for (const job of jobs()) {
      for (const [rel, text] of generate(job, '../..')) {
        const p = join(repoRoot, 'generated', rel);
        if (!existsSync(p)) stale.push(`generated/${rel} is missing`);
        else if (readFileSync(p, 'utf8') !== text) stale.push(`generated/${rel} differs`);
      }
    }
    expect(stale, `generated/ is stale; run \`npm run generate\` and commit the result:\n  ${stale.join('\n  ')}\n`).to.deep.equal([]);
  });

  describe('type-check', function () {
    const tmp = join(repoRoot, 'generated', '.typecheck-tmp');
    after(() => rmSync(tmp, { recursive: true, force: true }));

    it('every emitted tree type-checks with strict options', function () {
      rmSync(tmp, { recursive: true, force: true });
      const roots: string[] = [];
      for (const job of jobs()) {
        for (const [rel, text] of generate(job, '../../..', false)) {
          const p = join(tmp, rel);
          mkdirSync(dirname(p), { recursive: true });
          writeFileSync(p, text);
          if (rel.endsWith('/index.ts')) roots.push(p);
        }
      }
      expect(roots.length).to.equal(jobs().length);
      const program = strictProgram(roots, { noImplicitOverride: true, noUnusedLocals: true });
      const diags = ts.getPreEmitDiagnostics(program).filter((d) => !d.file || d.file.fileName.startsWith(tmp));
      expect(diags.map(showTsDiagnostic)).to.deep.equal([]);
    });
  });

  it('FashionLdmCondUNet builds, counts its parameters and runs forward', async function () {
    const { initBackend } = (await import(join(repoRoot, 'dist', 'runtime', 'backend.js'))) as typeof import('../../runtime/backend.js');
    await initBackend({ backend: 'cpu', quiet: true });
    const tf = await import('@tensorflow/tfjs-core');
    const { FashionLdmCondUNet } = (await import(join(repoRoot, 'dist', 'generated', 'fashion-ldm-cond', 'index.js'))) as typeof import('../../generated/fashion-ldm-cond/index.js');
    const unet = new FashionLdmCondUNet();
    expect(unet.paramCount()).to.equal(FashionLdmCondUNet.paramCount);
    const y = tf.tidy(() => unet.forward(tf.zeros([2, 8, 8, 3]), tf.zeros([2]), tf.zeros([2, 1, 64])));
    expect(y.shape).to.deep.equal([2, 8, 8, 3]);
    y.dispose();
  });

  describe('variants differ only where their configs differ', function () {
    const read = (name: string, f: string) => readFileSync(join(repoRoot, 'generated', name, f), 'utf8');
    /** Lines of b that are not in a (and vice versa) after renaming b's class prefix to a's. */
    function diffLines(a: string, b: string, from: string, to: string): string[] {
      const la = a.split('\n'), lb = b.split(from).join(to).split('\n');
      const out: string[] = [];
      const n = Math.max(la.length, lb.length);
      // Same length expected for a one-value change; fall back to a set difference otherwise.
      if (la.length === lb.length) {
        for (let i = 0; i < n; i++) if (la[i] !== lb[i]) out.push(la[i]!, lb[i]!);
        return out;
      }
      const sa = new Set(la), sb = new Set(lb);
      return [...la.filter((l) => !sb.has(l)), ...lb.filter((l) => !sa.has(l))];
    }
    const header = (l: string) => /^\/\/ (Generated by ldmc from|Config sha256)/.test(l) || /^\/\*\* The resolved config of /.test(l);

    /** Every key the variant file sets, at any depth: the only keys its config.ts may change. */
    function variantKeys(name: string): Set<string> {
      const keys = new Set<string>();
      const walk = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (keys.add(k), walk(x));
      };
      walk(yamlParse(readFileSync(join(repoRoot, 'examples', 'variants', `${name}.yaml`), 'utf8')));
      return keys;
    }
    const structural = /^\s*([}\]],?|\{|\[)$/;

    for (const [name, Name, onlyKeys, sameFiles] of [
      ['celeba256-small', 'Celeba256Small', ['model_channels'], ['unet.ts', 'first-stage.ts']],
      ['celeba256-cond', 'Celeba256Cond', ['cond_stage_config', 'conditioning_key', 'context_dim', 'use_spatial_transformer', 'transformer_depth'], ['first-stage.ts']],
    ] as const) {
      it(`${name}: config.ts differs only in the keys the variant sets; ${sameFiles.join(' and ')} only in header, paramCount and its doc`, function () {
        const keys = variantKeys(name);
        for (const k of onlyKeys) expect([...keys]).to.include(k);
        const norm = (t: string) => t.split(Name).join('Celeba256').split(`UNet of ${name}`).join('UNet of celeba256').split(`autoencoder of ${name}`).join('autoencoder of celeba256');
        const cfg = diffLines(read('celeba256', 'config.ts'), norm(read(name, 'config.ts')), Name, 'Celeba256').filter((l) => !header(l));
        expect(cfg.length).to.be.greaterThan(0);
        for (const l of cfg) {
          const key = /^\s*['"]?([\w.]+)['"]?:/.exec(l)?.[1];
          // Lines inside a newly set child (its target and params) belong to the variant too.
          const inChild = name === 'celeba256-cond' && /^\s*(target|params|embed_dim|n_classes|key):/.test(l);
          expect(structural.test(l) || (key !== undefined && keys.has(key)) || inChild, `config.ts line outside the variant: ${l}`).to.equal(true);
        }
        for (const f of sameFiles) {
          const d = diffLines(read('celeba256', f), norm(read(name, f)), Name, 'Celeba256').filter((l) => !header(l));
          for (const l of d) expect(l, f).to.match(/static readonly paramCount = \d+;|^ \* `[^`]+`, defined at .* — [\d,]+ parameters\.$/);
        }
      });
    }
  });
});
