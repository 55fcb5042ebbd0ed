#!/usr/bin/env node
// Builds the optional native kernels (runtime/native/ldmc_native.cc → build/native/ldmc_native.node)
// with g++ against Node-API and oneDNN (Debian: apt-get install libdnnl-dev; or
// scripts/install-native-deps.sh). Run by the package's `install` script (in the repository and
// in node_modules/ldmc of a project that installed the package) and by `npm test`; skipped when the
// addon is newer than its source. Needs only node's own modules: it runs where devDependencies are
// absent. A failed build never fails the install: it leaves its reason in build/native/NOT_BUILT,
// and the runtime then uses tfjs's own kernels and prints that reason at start-up. LDMC_NATIVE=0
// skips the build, LDMC_NATIVE=1 makes a failure an error.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'runtime/native/ldmc_native.cc');
const out = join(root, 'build/native/ldmc_native.node');
// Read by runtime/native/index.ts: why the addon is absent, in one line.
const notBuilt = join(root, 'build/native/NOT_BUILT');
const mode = process.env.LDMC_NATIVE;
const say = (m) => process.stderr.write(`build-native: ${m}\n`);

function give_up(why, hint) {
  try {
    mkdirSync(dirname(notBuilt), { recursive: true });
    writeFileSync(notBuilt, `${why.split('\n')[0]}${hint ? `; ${hint}` : ''}\n`);
  } catch {
    // a read-only install folder: the runtime then says only that the addon is not built
  }
  say(`${why}\n  The runtime will use tfjs's own wasm kernels (slower training).${hint ? `\n  ${hint}` : ''}`);
  process.exit(mode === '1' || mode === 'on' ? 1 : 0);
}

if (mode === '0' || mode === 'off') give_up('skipped (LDMC_NATIVE=0 at build time)');
if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs && statSync(out).mtimeMs >= statSync(fileURLToPath(import.meta.url)).mtimeMs) process.exit(0);

const include = [process.env.LDMC_NODE_INCLUDE, resolve(process.execPath, '../../include/node')].find((d) => d && existsSync(join(d, 'node_api.h')));
if (!include) give_up(`node_api.h not found beside ${process.execPath}`, 'Set LDMC_NODE_INCLUDE to the folder holding node_api.h.');
const cxx = process.env.CXX || 'g++';
if (spawnSync(cxx, ['--version'], { encoding: 'utf8' }).status !== 0) give_up(`no C++ compiler (${cxx})`, 'Install g++ (apt-get install g++).');
if (!['/usr/include/dnnl.hpp', '/usr/local/include/dnnl.hpp'].some(existsSync) && !process.env.CPATH) {
  give_up('oneDNN headers (dnnl.hpp) not found', 'Install them: apt-get install libdnnl-dev (or run scripts/install-native-deps.sh).');
}

mkdirSync(dirname(out), { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
// -march=native: the addon is built on the machine that runs it (npm install), so it may use
// every vector extension there; oneDNN picks its own kernels at run time either way.
const args = ['-O3', '-march=native', '-std=c++17', '-fPIC', '-shared', '-fopenmp', '-fvisibility=hidden', `-I${include}`, src, '-o', tmp, '-ldnnl'];
const t0 = Date.now();
const r = spawnSync(cxx, args, { encoding: 'utf8' });
if (r.status !== 0) {
  rmSync(tmp, { force: true });
  give_up(`${cxx} failed:\n${(r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(0, 12).join('\n')}`);
}
renameSync(tmp, out);
rmSync(notBuilt, { force: true });
say(`built ${join('build/native', 'ldmc_native.node')} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
