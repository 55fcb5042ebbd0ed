// ldmc benchmarks: `npm run bench` (= node bench/run.js), or one section: node bench/run.js --only compiler
// Options: --only NAME (repeatable or comma-separated), --runs N (timed runs per command, default 15),
//          --warmup N (default 2), --list.
// Each section is a function that returns rows { name, unit, min, median, max, target?, note? };
// a row with a target gets PASS (median < target) or FAIL. Exit status 1 when any row FAILs.
// Add a section (runtime kernels, training throughput, ...) by adding a function to SECTIONS.
// The compiled CLI and compiler come from dist/: build first (npx tsc -p .).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtime } from './runtime.js';
import { scale } from './scale.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// ------------------------------------------------------------------ options

function parseOptions(argv) {
  const o = { only: [], runs: 15, warmup: 2, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [k, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    if (k === '--only') o.only.push(...value().split(',').filter(Boolean));
    else if (k === '--runs') o.runs = Number(value());
    else if (k === '--warmup') o.warmup = Number(value());
    else if (k === '--list') o.list = true;
    else if (k === '--help' || k === '-h') {
      console.log('usage: node bench/run.js [--only NAME[,NAME]] [--runs N] [--warmup N] [--list]');
      process.exit(0);
    } else {
      console.error(`bench: unknown option '${a}'`);
      process.exit(2);
    }
  }
  if (!(o.runs >= 1) || !(o.warmup >= 0)) {
    console.error('bench: --runs must be >= 1 and --warmup >= 0');
    process.exit(2);
  }
  return o;
}

// ------------------------------------------------------------------ helpers

export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { min: s[0], median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, max: s[s.length - 1], n: s.length };
}

/** Wall time of a whole child process (start-up included), `warmup` untimed runs first. */
export function timeProcess(args, { runs, warmup, okStatus = [0, 1] }) {
  const once = () => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    const ms = performance.now() - t0;
    if (r.error || !okStatus.includes(r.status)) {
      throw new Error(`node ${args.join(' ')} failed (status ${r.status}${r.error ? `, ${r.error.message}` : ''}):\n${r.stdout}\n${r.stderr}`);
    }
    return { ms, stdout: r.stdout };
  };
  for (let i = 0; i < warmup; i++) once();
  const times = [];
  let last;
  for (let i = 0; i < runs; i++) {
    last = once();
    times.push(last.ms);
  }
  return { ...stats(times), stdout: last.stdout };
}

function requireBuild() {
  for (const f of ['dist/cli/main.js', 'dist/compiler/program.js']) {
    if (!existsSync(join(repoRoot, f))) {
      console.error(`bench: ${f} is missing; build first: npx tsc -p .`);
      process.exit(2);
    }
  }
}

// ------------------------------------------------------------------ sections

/** The compiler: `ldmc check` on the seed config, and all reference configs in one process. */
function compiler(o) {
  requireBuild();
  const rows = [];
  const cli = timeProcess(['bin/ldmc.js', 'check', 'examples/celeba256.yaml'], { ...o, okStatus: [0] });
  rows.push({ name: 'ldmc check examples/celeba256.yaml (whole process)', unit: 'ms', ...cli, target: 300 });

  const all = timeProcess(['bench/check-all.js', '--json'], { ...o, okStatus: [0] });
  const summary = JSON.parse(all.stdout.trim().split('\n').pop());
  rows.push({ name: `check all ${summary.configs} reference configs, one process`, unit: 'ms', ...all, target: 1000 });

  // In-process cost per config, from the timed runs' last report: first (cold JIT) and the rest.
  const per = summary.perConfig.map((p) => p.ms);
  const st = stats(per);
  rows.push({ name: 'in-process compile() per reference config', unit: 'ms', ...st, note: `sum ${(summary.compileMs).toFixed(1)} ms, dist/ import ${summary.importMs.toFixed(1)} ms` });
  const slow = [...summary.perConfig].sort((a, b) => b.ms - a.ms).slice(0, 3);
  rows.push({ name: 'slowest in process', unit: '', note: slow.map((p) => `${p.file} ${p.ms.toFixed(1)} ms`).join('; ') });
  return rows;
}

/** Builds celeba256's UNet and VQ for real once (too heavy for a test): time, counts, memory. */
function build() {
  requireBuild();
  const r = spawnSync(process.execPath, ['bench/build-celeba.js'], { cwd: repoRoot, encoding: 'utf8' });
  if (r.status !== 0) return [{ name: 'build celeba256 UNet + VQ', unit: '', note: `failed: ${r.stderr.slice(-300)}` }];
  const j = JSON.parse(r.stdout.trim().split('\n').pop());
  return Object.entries(j).map(([k, v]) => ({ name: `build celeba256 ${k} (cpu, random init)`, unit: 'ms', min: v.ms, median: v.ms, max: v.ms, note: `${v.params.toLocaleString('en-US')} params (static ${v.static.toLocaleString('en-US')}${v.params === v.static ? ', equal' : ', DIFFERENT'}), RSS ${v.rssMiB} MiB` }));
}

/** The language server in process (bench/lsp.js): edit -> diagnostics, hover, completion, memory. */
function lsp(o) {
  requireBuild();
  const r = spawnSync(process.execPath, ['--expose-gc', 'bench/lsp.js', '--runs', String(Math.max(o.runs, 20))], { cwd: repoRoot, encoding: 'utf8' });
  if (r.status !== 0) return [{ name: 'lsp', unit: '', note: `failed: ${r.stderr.slice(-300)}` }];
  const j = JSON.parse(r.stdout.trim().split('\n').pop());
  return [
    { name: 'lsp: didChange -> publishDiagnostics, celeba256 (debounce excluded)', unit: 'ms', ...j.change, target: 20 },
    { name: 'lsp: debounce before diagnostics (default, configurable)', unit: 'ms', min: j.debounceMs, median: j.debounceMs, max: j.debounceMs, note: 'added in the editor on top of the row above' },
    { name: 'lsp: hover on the UNet target', unit: 'ms', ...j.hover, target: 10 },
    { name: 'lsp: completion of target: in first_stage_config', unit: 'ms', ...j.completion, target: 10 },
    { name: 'lsp: inlay hints, whole file', unit: 'ms', ...j.inlay, target: 10 },
    {
      name: `lsp: memory with all ${j.configs} reference configs open`,
      unit: 'MiB',
      min: j.rssMiB,
      median: j.rssMiB,
      max: j.rssMiB,
      note: `RSS; heap ${j.heapMiB} MiB (+${j.heapGrowthMiB} MiB for the configs); tfjs/ts-morph/handlebars loaded: ${j.heavyModulesLoaded.length ? j.heavyModulesLoaded.join(', ') : 'none'}`,
    },
  ];
}

const SECTIONS = {
  compiler,
  lsp,
  build,
  // fwd+bwd of a ResBlock and an attention block, UNet and VQ training steps (bench/runtime.js)
  runtime,
  // ldmc against the reference's PyTorch, alternately, on the big models too (bench/scale.js)
  scale,
  // training: (o) => [...],  // e.g. steps per second (later)
};

// ------------------------------------------------------------------ report

function fmt(x) {
  return x === undefined ? '' : x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

function printTable(section, rows) {
  const head = ['benchmark', 'min', 'median', 'max', 'target', 'result'];
  const body = rows.map((r) => [
    r.name,
    r.min === undefined ? '' : `${fmt(r.min)} ${r.unit}`,
    r.median === undefined ? '' : `${fmt(r.median)} ${r.unit}`,
    r.max === undefined ? '' : `${fmt(r.max)} ${r.unit}`,
    r.target === undefined ? '' : `< ${r.target} ${r.unit}`,
    r.target === undefined ? '' : r.median < r.target ? 'PASS' : 'FAIL',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  console.log(`\n## ${section}`);
  console.log(line(head));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const b of body) console.log(line(b));
  for (const r of rows) if (r.note) console.log(`  ${r.name}: ${r.note}`);
}

const o = parseOptions(process.argv.slice(2));
if (o.list) {
  console.log(Object.keys(SECTIONS).join('\n'));
  process.exit(0);
}
const chosen = o.only.length ? o.only : Object.keys(SECTIONS);
for (const n of chosen) {
  if (!SECTIONS[n]) {
    console.error(`bench: unknown section '${n}' (known: ${Object.keys(SECTIONS).join(', ')})`);
    process.exit(2);
  }
}
console.log(`ldmc bench: node ${process.version}, ${o.runs} timed runs after ${o.warmup} warm-ups per command`);
let failed = false;
for (const n of chosen) {
  const rows = SECTIONS[n](o);
  printTable(n, rows);
  if (rows.some((r) => r.target !== undefined && !(r.median < r.target))) failed = true;
}
process.exitCode = failed ? 1 : 0;
