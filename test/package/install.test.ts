// The package as a user gets it: `npm pack` here, `npm install --omit=dev` of the tarball in an
// empty project, then every CLI command from node_modules/.bin, the classes `ldmc compile` emits
// under the user's own strict tsc (moduleResolution nodenext, against the shipped .d.ts), and a
// user script that runs them. Needs the npm registry (the package's dependencies) and a few minutes:
// one pack and one install serve every test.
import { expect } from 'chai';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { repoRoot } from '../support/reference.js';

/** The environment without npm's own `npm_*` settings, which `npm test` passes down and would steer the child npm. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

interface Ran {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

function run(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 600000): Ran {
  const opts: SpawnSyncOptions = { cwd, env: { ...cleanEnv(), ...env }, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 };
  const r = spawnSync(cmd, args, opts);
  return { code: r.status, out: String(r.stdout ?? ''), err: `${String(r.stderr ?? '')}${r.error ? `\n${r.error.message}` : ''}` };
}

/** Every file under `dir`, relative to it, with '/' separators. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? walk(p, base) : [relative(base, p).split('\\').join('/')];
  });
}

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    lib: ['ES2022'],
    types: ['node'],
    // the user's own @types/node; the test borrows the repository's
    typeRoots: [join(repoRoot, 'node_modules', '@types')],
    strict: true,
    noImplicitOverride: true,
    skipLibCheck: true,
    outDir: 'out',
    rootDir: '.',
  },
  include: ['**/*.ts'],
  exclude: ['node_modules', 'out'],
};

/**
 * What a user writes: the generated UNet and class embedder of fashion-ldm-cond run a forward pass,
 * and a randomly initialised LatentDiffusion of the same config is saved for `ldmc sample`.
 */
const USER_SCRIPT = `import * as tf from '@tensorflow/tfjs-core';
import { writeFileSync } from 'node:fs';
import { initBackend } from 'ldmc/runtime/backend.js';
import { LatentDiffusion, type LatentDiffusionArgs } from 'ldmc/runtime/diffusion/latent-diffusion.js';
import { serializeSafetensors } from 'ldmc/runtime/weights/safetensors.js';
import { config, FashionLdmCondCondStage, FashionLdmCondUNet } from './generated/fashion-ldm-cond/index.js';

const backend = await initBackend({ backend: 'cpu', quiet: true });
const unet = new FashionLdmCondUNet();
const embed = new FashionLdmCondCondStage();
const [c, h, w] = FashionLdmCondUNet.inputShape;
const context = embed.forward({ class_label: tf.tensor1d([3, 7], 'int32') });
const y = unet.forward(tf.randomNormal<tf.Rank.R4>([2, h, w, c]), tf.tensor1d([10, 500]), context);
const values = await y.data();
const ld = new LatentDiffusion(config.model.params as unknown as LatentDiffusionArgs);
writeFileSync(process.argv[2]!, serializeSafetensors(ld.fullStateDict()));
console.log(JSON.stringify({ backend, shape: y.shape, finite: values.every(Number.isFinite) }));
`;

const TS_CONFIG_FILE = 'vq.config.ts';

describe('the npm package, packed and installed into an empty project', function () {
  // pack (tsc via prepare), install from the registry, the native build, tsc and a sample: minutes
  this.timeout(20 * 60 * 1000);
  let tmp: string, project: string, tarball: string, packed: string[];
  const ldmc = (...args: string[]) => run('npx', ['--no', 'ldmc', ...args], project);
  const emitted = new Map<string, string>();

  before(function () {
    tmp = mkdtempSync(join(tmpdir(), 'ldmc-package-'));
    const packDir = join(tmp, 'pack');
    mkdirSync(packDir);
    const p = run('npm', ['pack', '--json', '--pack-destination', packDir], repoRoot);
    expect(p.code, p.err).to.equal(0);
    // npm prints the prepare script's output before the JSON
    const info = JSON.parse(p.out.slice(p.out.indexOf('[\n'))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(packDir, info[0]!.filename);
    packed = info[0]!.files.map((f) => f.path);

    project = join(tmp, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }, null, 2));
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    const i = run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', tarball], project);
    expect(i.code, i.err).to.equal(0);
    copyFileSync(join(repoRoot, 'examples', 'celeba256.yaml'), join(project, 'celeba256.yaml'));
    copyFileSync(join(repoRoot, 'examples', 'fashion-ldm-cond.yaml'), join(project, 'fashion-ldm-cond.yaml'));
    copyFileSync(join(repoRoot, 'test', 'fixtures', 'ts-config', 'fashion-vq-f4.config.ts'), join(project, TS_CONFIG_FILE));
  });

  after(function () {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('ships the built CLI, schema, examples and native source, and no tests, fixtures, benchmarks or source maps', function () {
    for (const f of ['dist/cli/main.js', 'dist/index.js', 'dist/index.d.ts', 'dist/runtime/unet/index.d.ts', 'bin/ldmc.js', 'schema/ldmc.schema.json',
      'examples/celeba256.yaml', 'examples/weights/fashion-classifier.safetensors', 'examples/plugins/textual-inversion.ts', 'runtime/native/ldmc_native.cc', 'scripts/build-native.mjs',
      'runtime/encoders/assets/bpe_simple_vocab_16e6.txt.gz', 'runtime/encoders/assets/LICENSE-bpe_simple_vocab_16e6.txt',
      'README.md', 'LICENSE', 'package.json']) {
      expect(packed, f).to.include(f);
    }
    const unwanted = packed.filter((f) => /^(test|bench|dist\/test|dist\/bench|dist\/generated|build|generated|node_modules)\//.test(f) || /fixtures|\.map$|\.tsbuildinfo$/.test(f) || /\.ts$/.test(f) && !f.endsWith('.d.ts') && !f.startsWith('examples/'));
    expect(unwanted).to.deep.equal([]);
    // every shipped module has its declarations, so the user's tsc finds types for each import
    const js = packed.filter((f) => f.startsWith('dist/') && f.endsWith('.js'));
    expect(js.filter((f) => !packed.includes(f.replace(/\.js$/, '.d.ts')))).to.deep.equal([]);
  });

  it('imports nothing at run time but its dependencies (no devDependency reached from dist/, however lazily)', function () {
    const pkg = join(project, 'node_modules', 'ldmc');
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { name: string; dependencies: Record<string, string> };
    const allowed = new Set([manifest.name, ...Object.keys(manifest.dependencies)]);
    const outside: string[] = [];
    for (const f of walk(join(pkg, 'dist')).filter((f) => f.endsWith('.js'))) {
      const text = readFileSync(join(pkg, 'dist', f), 'utf8');
      // import/export ... from, import(), require(), require.resolve() and createRequire(url)('x')
      for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire(?:\.resolve)?\(\s*|\)\(\s*)'((?:@[\w.~-]+\/)?[\w.~-]+)(?:\/[^']*)?'/g)) {
        const spec = m[1]!;
        if (spec.startsWith('.') || spec.startsWith('node:') || isBuiltin(spec)) continue;
        if (!allowed.has(spec)) outside.push(`dist/${f}: ${spec}`);
      }
    }
    expect(outside).to.deep.equal([]);
  });

  it('builds the native kernels at install where oneDNN and g++ are present, else leaves the reason', function () {
    const pkg = join(project, 'node_modules', 'ldmc');
    const haveDnnl = ['/usr/include/dnnl.hpp', '/usr/local/include/dnnl.hpp'].some(existsSync);
    const haveCxx = run(process.env.CXX || 'g++', ['--version'], project).code === 0;
    if (haveDnnl && haveCxx) {
      expect(existsSync(join(pkg, 'build', 'native', 'ldmc_native.node')), 'addon built by the install script').to.equal(true);
    } else {
      expect(readFileSync(join(pkg, 'build', 'native', 'NOT_BUILT'), 'utf8')).to.match(/\S/);
    }
  });

  it('checks, inspects, exports and prints the schema, for a YAML and a .ts config', function () {
    for (const cfg of ['celeba256.yaml', TS_CONFIG_FILE]) {
      const c = ldmc('check', cfg);
      expect(c.code, c.err + c.out).to.equal(0);
      const i = ldmc('inspect', cfg, '--json');
      expect(i.code, i.err).to.equal(0);
      const j = JSON.parse(i.out) as { model?: { target?: string } };
      expect(j.model?.target, i.out.slice(0, 400)).to.be.a('string');
      const e = ldmc('export', cfg, '--to', 'ldm', '--out', `${cfg}.resolved.yaml`);
      expect(e.code, e.err).to.equal(0);
      expect(readFileSync(join(project, `${cfg}.resolved.yaml`), 'utf8')).to.match(/^model:/m);
    }
    const s = ldmc('schema');
    expect(s.code, s.err).to.equal(0);
    expect((JSON.parse(s.out) as { title: string }).title).to.equal('ldmc config');
  });

  it('compiles a YAML and a .ts config into classes that import the runtime as ldmc/runtime/...', function () {
    for (const [cfg, name] of [['celeba256.yaml', 'celeba256'], ['fashion-ldm-cond.yaml', 'fashion-ldm-cond'], [TS_CONFIG_FILE, 'vq']] as const) {
      const r = ldmc('compile', cfg, '--name', name);
      expect(r.code, r.err + r.out).to.equal(0);
      for (const f of walk(join(project, 'generated', name)).filter((f) => f.endsWith('.ts'))) {
        emitted.set(`${name}/${f}`, readFileSync(join(project, 'generated', name, f), 'utf8'));
      }
    }
    expect([...emitted.keys()]).to.include.members(['celeba256/unet.ts', 'fashion-ldm-cond/unet.ts', 'fashion-ldm-cond/index.ts', 'vq/first-stage.ts']);
    const specifiers = [...emitted.values()].flatMap((t) => [...t.matchAll(/from '([^']+)'/g)].map((m) => m[1]!));
    expect(specifiers.filter((s) => s.startsWith('../'))).to.deep.equal([]);
    expect(specifiers.filter((s) => s.startsWith('ldmc/runtime/')).length).to.be.greaterThan(0);
  });

  it("type-checks every emitted file, the .ts config and a user script with the user's strict tsc (nodenext), then runs a forward pass and samples", function () {
    expect(emitted.size, 'the compile test ran first').to.be.greaterThan(0);
    writeFileSync(join(project, 'main.ts'), USER_SCRIPT);
    const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const t = run(process.execPath, [tsc, '-p', 'tsconfig.json', '--listFilesOnly'], project);
    expect(t.code, t.out + t.err).to.equal(0);
    const listed = t.out.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => relative(project, l).split('\\').join('/'));
    for (const f of emitted.keys()) expect(listed, f).to.include(`generated/${f}`);
    expect(listed).to.include.members([TS_CONFIG_FILE, 'main.ts']);
    // the runtime's types come from the shipped declarations, not from sources
    expect(listed).to.include('node_modules/ldmc/dist/runtime/unet/index.d.ts');

    const b = run(process.execPath, [tsc, '-p', 'tsconfig.json'], project);
    expect(b.code, b.out + b.err).to.equal(0);
    const ckpt = join(project, 'random.safetensors');
    const u = run(process.execPath, [join('out', 'main.js'), ckpt], project);
    expect(u.code, u.err).to.equal(0);
    expect(JSON.parse(u.out.trim().split('\n').at(-1)!)).to.deep.equal({ backend: 'cpu', shape: [2, 8, 8, 3], finite: true });

    const s = ldmc('sample', 'fashion-ldm-cond.yaml', '--ckpt', ckpt, '--out', 'grid.png', '--steps', '2', '-n', '1', '--seed', '1', '--backend', 'wasm', '--threads', '1');
    expect(s.code, s.err).to.equal(0);
    const native = existsSync(join(project, 'node_modules', 'ldmc', 'build', 'native', 'ldmc_native.node'));
    expect(s.err).to.match(native ? /tfjs backend wasm \(1 thread, native kernels: / : /tfjs backend wasm \(1 thread, no native kernels: .*not built \(.+\)/);
    expect(readFileSync(join(project, 'grid.png')).subarray(1, 4).toString('latin1')).to.equal('PNG');
  });

  it('without a C++ compiler the install script still succeeds, and the start-up line says why the kernels are absent', function () {
    const pkg = join(project, 'node_modules', 'ldmc');
    rmSync(join(pkg, 'build'), { recursive: true, force: true });
    const r = run('npm', ['rebuild', 'ldmc'], project, { CXX: join(tmp, 'no-such-compiler') });
    expect(r.code, r.err).to.equal(0);
    expect(existsSync(join(pkg, 'build', 'native', 'ldmc_native.node'))).to.equal(false);
    const start = `import { initBackend } from 'ldmc/runtime/backend.js';\nawait initBackend({ backend: 'wasm', threads: 1 });\n`;
    const b = run(process.execPath, ['--input-type=module', '-e', start], project);
    expect(b.code, b.err).to.equal(0);
    expect(b.err).to.include('no native kernels: build/native/ldmc_native.node is not built (no C++ compiler');
    expect(b.err).to.include('to retry: npm rebuild ldmc');
  });
});
