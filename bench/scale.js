// The `scale` bench section: ldmc against the reference's PyTorch on the same work, run alternately
// (ldmc, PyTorch, ldmc, PyTorch, ...), each side in its own process on 2 threads. Every case reports
// both medians, the ratio and each side's peak RSS (from /usr/bin/time when present, else the
// process's own report). Not part of `npm test`: run it under the big-job lock,
//
//   flock /tmp/ldmc-big.lock node bench/run.js --only scale
//
// Cases (LDMC_BENCH_SCALE_CASES narrows them, comma-separated):
//   vq             VQ reconstruction step, batch 32 (examples/fashion-vq-f4.yaml): bench/runtime.js vq wasm
//                  against bench/torch_baseline.py vq (VectorQuantizer2 legacy loss). Target ≤ 1.0×.
//   unet           diffusion step, batch 64 (bench config): bench/runtime.js unet wasm against
//                  torch_baseline.py unet --ckpt (BasicTransformerBlock recomputed in backward, as
//                  checkpoint=True in the reference). Target ≤ 0.6×.
//   celeba-sample  whole process: `ldmc sample examples/celeba256.yaml --ckpt C -n 1 --steps 5 --eta 0`
//                  against bench/torch_scale.py celeba-sample (build, torch.load, ema_scope, 5 DDIM steps,
//                  decode, PNG). Targets ≤ 1.0× and peak RSS ≤ PyTorch's.
//   celeba-train   celeba256 training step at batch 2, AdamW + LitEma (bench/scale-ldmc.js on the cpu
//                  backend against torch_scale.py celeba-train). Target ≤ 1.0×.
//   txt2img-fwd    txt2img-1p4B's UNet forward at batch 1 from a checkpoint (scale-ldmc.js on the cpu
//                  backend against torch_scale.py txt2img-fwd); outputs compared. Target ≤ 1.0×, equal
//                  within 1e-4 of the output's scale.
//   sd-txt2img     (opt-in: LDMC_BENCH_SCALE_CASES=sd-txt2img; one round is ~20 min) Stable Diffusion v1 text to
//                  image, 512×512, 20 DDIM steps, scale 7.5, batch 1 with CFG, whole process from the f32 .ckpt:
//                  `ldmc txt2img examples/sd-v1-inference.yaml` against bench/torch_sd.py txt2img (scripts/txt2img.py
//                  of CompVis/stable-diffusion without safety checker and watermark). Targets ≤ 1.0×, RSS ≤ PyTorch's.
//                  Equality and the f16 / v2 runs: bench/scale/sd-txt2img.sh.
// Big files (made by PyTorch with random weights and the reference's state_dict names):
//   LDMC_BENCH_CELEBA_CKPT   default ../bigdata/celeba256.ckpt (/usr/bin/python3 bench/torch_scale.py make-celeba-ckpt FILE)
//   LDMC_BENCH_TXT2IMG_CKPT  default ../bigdata/txt2img-1p4B-unet.ckpt (… make-txt2img-ckpt FILE)
//   LDMC_BENCH_SD_V1_CKPT    default ../bigdata/sd-v1.ckpt (bench/torch_sd.py make-ckpt v1 FILE, or bench/scale/sd-txt2img.sh make)
// A case whose files or torch are missing is skipped with a message (a row without a target).
// LDMC_BENCH_SCALE_ROUNDS sets the alternations (default: 2 for the steps, 3 for sampling, 1 for
// the big ones); LDMC_BENCH_SCALE_TRAIN_BACKEND the ldmc backend for the big cases (default cpu);
// the ldmc side of a big case on a backend without native kernels is skipped unless
// LDMC_BENCH_SCALE_FORCE=1 (tfjs's JavaScript loops take tens of minutes there).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './runtime.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const TXT2IMG_CONFIG = resolve(repoRoot, '../shared/reference/ldm-configs/configs/latent-diffusion/txt2img-1p4B-eval.yaml');
export const SCALE_CASES = ['vq', 'unet', 'celeba-sample', 'celeba-train', 'txt2img-fwd'];
/** Cases that run only when named in LDMC_BENCH_SCALE_CASES. */
export const SCALE_OPT_IN_CASES = ['sd-txt2img'];


/** The python with torch (Debian's python3-torch lives in /usr/bin/python3), or undefined. */
function torchPython() {
  return ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0);
}

/** PyTorch at its best: OpenBLAS may pick its AVX-512 kernels (the machine pins Haswell for CI). */
function torchEnv() {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/**
 * Runs one process; returns { ms (wall), rssMiB (peak, from /usr/bin/time), json (its last stdout
 * line, parsed, when it is JSON), error }.
 */
function runTimed(cmd, args, { env = process.env, timeoutMs = 1_800_000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ldmc-scale-'));
  const rssFile = join(dir, 'rss');
  const [c, a] = TIME ? [TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
  const t0 = performance.now();
  const r = spawnSync(c, a, { cwd: repoRoot, encoding: 'utf8', env: { ...env, NO_COLOR: '1' }, timeout: timeoutMs, maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  let rssMiB;
  try { rssMiB = Math.round(Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024); } catch { /* no /usr/bin/time */ }
  rmSync(dir, { recursive: true, force: true });
  let json;
  try { json = JSON.parse(r.stdout.trim().split('\n').pop()); } catch { /* not JSON */ }
  const error = r.error ? r.error.message : r.status !== 0 ? `status ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}` : undefined;
  return { ms, rssMiB: rssMiB ?? json?.peak_rss_mib, json, error, stderr: r.stderr };
}

/** Alternates ldmc and PyTorch `rounds` times; `times(run)` turns one run into its timings (ms). */
function alternate(rounds, sides) {
  const acc = sides.map(() => ({ times: [], rss: [], runs: [], error: undefined }));
  for (let i = 0; i < rounds; i++) {
    sides.forEach((s, k) => {
      if (acc[k].error) return;
      const r = s.run(i);
      if (r.error) { acc[k].error = r.error; return; }
      acc[k].times.push(...s.times(r));
      if (r.rssMiB !== undefined) acc[k].rss.push(r.rssMiB);
      acc[k].runs.push(r);
    });
  }
  return acc;
}

const fmtMs = (ms) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);

/** The two rows of a case: PyTorch (reference) and ldmc (with its target as a multiple of PyTorch's median). */
function rowsOf(label, [ld, pt], { ratioTarget, extraLdmc = '', extraTorch = '', rssTarget = false }) {
  const rows = [];
  const st = (a) => ({ min: Math.min(...a.times), median: median(a.times), max: Math.max(...a.times) });
  const rss = (a) => (a.rss.length ? Math.max(...a.rss) : undefined);
  if (pt.error) rows.push({ name: `${label}: PyTorch`, unit: '', note: `failed: ${pt.error}` });
  else rows.push({ name: `${label}: PyTorch`, unit: 'ms', ...st(pt), note: `peak RSS ${rss(pt) ?? '?'} MiB, ${pt.times.length} timings${extraTorch}` });
  if (ld.error) {
    rows.push({ name: `${label}: ldmc`, unit: '', note: ld.skipped ? `skipped: ${ld.error}` : `failed: ${ld.error}` });
    return rows;
  }
  const l = st(ld);
  const row = { name: `${label}: ldmc`, unit: 'ms', ...l };
  const parts = [`peak RSS ${rss(ld) ?? '?'} MiB`, `${ld.times.length} timings`];
  if (!pt.error) {
    const ratio = l.median / median(pt.times);
    parts.unshift(`${ratio.toFixed(2)}× PyTorch (target ≤ ${ratioTarget}×)`);
    row.target = ratioTarget * median(pt.times);
    if (rssTarget && rss(ld) !== undefined && rss(pt) !== undefined) parts.push(`RSS ${rss(ld) <= rss(pt) ? 'within' : 'OVER'} PyTorch's ${rss(pt)} MiB`);
  }
  row.note = parts.join(', ') + extraLdmc;
  rows.push(row);
  if (rssTarget && !pt.error && rss(ld) !== undefined && rss(pt) !== undefined) {
    rows.push({ name: `${label}: ldmc peak RSS`, unit: 'MiB', min: rss(ld), median: rss(ld), max: rss(ld), target: rss(pt) + 1, note: `PyTorch ${rss(pt)} MiB (target ≤ PyTorch's)` });
  }
  return rows;
}

const skip = (label, why) => [{ name: label, unit: '', note: `skipped: ${why}` }];

function stepCase(label, name, py, o, rounds) {
  const iters = Math.min(o.runs, 5);
  return rowsOf(label, alternate(rounds, [
    { run: () => runTimed(process.execPath, ['bench/runtime.js', name, 'wasm', '--iters', String(iters), '--warmup', String(Math.max(1, Math.min(o.warmup, 2)))]), times: (r) => r.json.times_ms },
    { run: () => runTimed(py, ['bench/torch_baseline.py', name, '--threads', '2', '--json', ...(name === 'unet' ? ['--ckpt'] : [])], { env: torchEnv() }), times: (r) => r.json.times_ms },
  ]), { ratioTarget: name === 'unet' ? 0.6 : 1.0 });
}

/** Whether the ldmc side of a big case can run on `backend` in reasonable time; a reason when not. */
function bigBackendProblem(backend) {
  if (process.env.LDMC_BENCH_SCALE_FORCE === '1') return undefined;
  const r = runTimed(process.execPath, ['bench/scale-ldmc.js', 'probe', backend], { timeoutMs: 120_000 });
  if (r.error) return `the ${backend} backend does not start: ${r.error}`;
  if (!r.json.native_kernels) return `the ${backend} backend has no native kernels here (tfjs's JavaScript loops would take tens of minutes; LDMC_BENCH_SCALE_FORCE=1 runs it anyway)`;
  return undefined;
}

const skippedSide = (why) => ({ run: () => ({ error: why }), times: () => [] });

export function scale(o) {
  for (const f of ['dist/runtime/backend.js', 'dist/cli/main.js']) {
    if (!existsSync(join(repoRoot, f))) throw new Error(`bench: ${f} is missing; build first: npx tsc -p .`);
  }
  const cases = (process.env.LDMC_BENCH_SCALE_CASES ?? SCALE_CASES.join(',')).split(',').filter(Boolean);
  const roundsFor = (d) => Number(process.env.LDMC_BENCH_SCALE_ROUNDS ?? d);
  const py = torchPython();
  const celebaCkpt = resolve(repoRoot, process.env.LDMC_BENCH_CELEBA_CKPT ?? '../bigdata/celeba256.ckpt');
  const txt2imgCkpt = resolve(repoRoot, process.env.LDMC_BENCH_TXT2IMG_CKPT ?? '../bigdata/txt2img-1p4B-unet.ckpt');
  const sdV1Ckpt = resolve(repoRoot, process.env.LDMC_BENCH_SD_V1_CKPT ?? '../bigdata/sd-v1.ckpt');
  const bigBackend = process.env.LDMC_BENCH_SCALE_TRAIN_BACKEND ?? 'cpu';
  const rows = [];
  const noTorch = 'PyTorch is not importable (Debian python3-torch)';
  for (const c of cases) {
    if (c === 'vq') rows.push(...(py ? stepCase('VQ step, batch 32, fwd+bwd+Adam', 'vq', py, o, roundsFor(2)) : skip('VQ step', noTorch)));
    else if (c === 'unet') rows.push(...(py ? stepCase('diffusion step, batch 64, fwd+bwd+AdamW', 'unet', py, o, roundsFor(2)) : skip('diffusion step', noTorch)));
    else if (c === 'celeba-sample') {
      const label = 'celeba256 sample from .ckpt, 5 DDIM steps, decode, PNG (whole process)';
      if (!py) { rows.push(...skip(label, noTorch)); continue; }
      if (!existsSync(celebaCkpt)) { rows.push(...skip(label, `no checkpoint at ${celebaCkpt} (make one: ${py} bench/torch_scale.py make-celeba-ckpt ${celebaCkpt}, or set LDMC_BENCH_CELEBA_CKPT)`)); continue; }
      const dir = mkdtempSync(join(tmpdir(), 'ldmc-scale-png-'));
      const acc = alternate(roundsFor(3), [
        { run: (i) => runTimed(process.execPath, ['bin/ldmc.js', 'sample', 'examples/celeba256.yaml', '--ckpt', celebaCkpt, '--out', join(dir, `ldmc-${i}.png`), '-n', '1', '--steps', '5', '--eta', '0', '--seed', '0']), times: (r) => [r.ms] },
        { run: (i) => runTimed(py, ['bench/torch_scale.py', 'celeba-sample', celebaCkpt, join(dir, `torch-${i}.png`), '--steps', '5', '--threads', '2'], { env: torchEnv() }), times: (r) => [r.ms] },
      ]);
      const tj = acc[1].runs.at(-1)?.json;
      const extraTorch = tj ? `; last run: built ${tj.build_s} s, loaded by ${tj.load_s} s, DDIM steps ${tj.step_s.join('/')} s, decode ${tj.decode_s} s` : '';
      rows.push(...rowsOf(label, acc, { ratioTarget: 1.0, rssTarget: true, extraTorch }));
      rmSync(dir, { recursive: true, force: true });
    } else if (c === 'celeba-train') {
      const label = 'celeba256 training step, batch 2, AdamW + EMA';
      if (!py) { rows.push(...skip(label, noTorch)); continue; }
      if (!existsSync(celebaCkpt)) { rows.push(...skip(label, `no checkpoint at ${celebaCkpt} (${py} bench/torch_scale.py make-celeba-ckpt ${celebaCkpt})`)); continue; }
      const problem = bigBackendProblem(bigBackend);
      const it = ['--iters', String(Math.min(o.runs, 3)), '--warmup', '1'];
      const acc = alternate(roundsFor(1), [
        problem ? skippedSide(problem) : { run: () => runTimed(process.execPath, ['bench/scale-ldmc.js', 'celeba-train', celebaCkpt, bigBackend, ...it]), times: (r) => r.json.times_ms },
        { run: () => runTimed(py, ['bench/torch_scale.py', 'celeba-train', celebaCkpt, '--threads', '2', ...it], { env: torchEnv() }), times: (r) => r.json.times_ms },
      ]);
      if (problem) acc[0].skipped = true;
      rows.push(...rowsOf(label, acc, { ratioTarget: 1.0, extraLdmc: acc[0].runs[0] ? `; ${acc[0].runs[0].json.backend}${acc[0].runs[0].json.native_kernels ? '+native' : ''}` : '' }));
    } else if (c === 'txt2img-fwd') {
      const label = 'txt2img-1p4B UNet forward, batch 1, from .ckpt';
      if (!py) { rows.push(...skip(label, noTorch)); continue; }
      if (!existsSync(TXT2IMG_CONFIG)) { rows.push(...skip(label, `no reference config at ${TXT2IMG_CONFIG}`)); continue; }
      if (!existsSync(txt2imgCkpt)) { rows.push(...skip(label, `no checkpoint at ${txt2imgCkpt} (${py} bench/torch_scale.py make-txt2img-ckpt ${txt2imgCkpt}, or set LDMC_BENCH_TXT2IMG_CKPT)`)); continue; }
      const dir = mkdtempSync(join(tmpdir(), 'ldmc-scale-t2i-'));
      const inputs = join(dir, 'inputs.safetensors'), outT = join(dir, 'torch.safetensors'), outL = join(dir, 'ldmc.safetensors');
      const mk = runTimed(py, ['bench/torch_scale.py', 'make-txt2img-inputs', inputs]);
      if (mk.error) { rows.push(...skip(label, `could not write the inputs: ${mk.error}`)); continue; }
      const problem = bigBackendProblem(bigBackend);
      const acc = alternate(roundsFor(1), [
        problem ? skippedSide(problem) : { run: () => runTimed(process.execPath, ['bench/scale-ldmc.js', 'txt2img-fwd', txt2imgCkpt, inputs, outL, bigBackend, '--iters', String(Math.min(o.runs, 2))]), times: (r) => r.json.times_ms },
        { run: () => runTimed(py, ['bench/torch_scale.py', 'txt2img-fwd', txt2imgCkpt, inputs, outT, '--threads', '2', '--iters', String(Math.min(o.runs, 2))], { env: torchEnv() }), times: (r) => r.json.times_ms },
      ]);
      if (problem) acc[0].skipped = true;
      let extraLdmc = '';
      if (existsSync(outT) && existsSync(outL)) {
        const cmp = compareOutputs(outL, outT);
        extraLdmc = `; output vs PyTorch: max |diff| ${cmp.maxAbs.toExponential(2)}, max |out| ${cmp.scale.toExponential(2)}, ${cmp.maxAbs <= 1e-4 * Math.max(1, cmp.scale) ? 'EQUAL within 1e-4' : 'DIFFERENT (over 1e-4)'}`;
      }
      rows.push(...rowsOf(label, acc, { ratioTarget: 1.0, extraLdmc }));
      rmSync(dir, { recursive: true, force: true });
    } else if (c === 'sd-txt2img') {
      const label = 'SD v1 txt2img from .ckpt, 512×512, 20 DDIM steps, CFG 7.5 (whole process)';
      if (!py) { rows.push(...skip(label, noTorch)); continue; }
      if (!existsSync(sdV1Ckpt)) { rows.push(...skip(label, `no checkpoint at ${sdV1Ckpt} (${py} bench/torch_sd.py make-ckpt v1 ${sdV1Ckpt}, or set LDMC_BENCH_SD_V1_CKPT)`)); continue; }
      const dir = mkdtempSync(join(tmpdir(), 'ldmc-scale-sd-'));
      const prompt = 'a photograph of an astronaut riding a horse';
      const tokens = join(dir, 'tokens.json');
      const tk = runTimed(py, ['bench/torch_sd.py', 'tokens', tokens, '--prompt', prompt], { env: torchEnv() });
      if (tk.error) { rows.push(...skip(label, `torch_sd.py tokens failed: ${tk.error}`)); continue; }
      const common = ['--prompt', prompt, '--steps', '20', '--scale', '7.5', '--H', '512', '--W', '512', '--seed', '42'];
      // the shim gives builds without a CLIP tokenizer the same ids as torch_sd.py's (a no-op once ldmc has one)
      const acc = alternate(roundsFor(1), [
        { run: (i) => runTimed(process.execPath, ['--import', './bench/scale/sd-tokens-shim.mjs', 'bin/ldmc.js', 'txt2img', 'examples/sd-v1-inference.yaml', '--ckpt', sdV1Ckpt, ...common, '--sampler', 'ddim', '--threads', '2', '--out', join(dir, `ldmc-${i}.png`)], { env: { ...process.env, LDMC_BENCH_TOKENS: tokens } }), times: (r) => [r.ms] },
        { run: (i) => runTimed(py, ['bench/torch_sd.py', 'txt2img', 'v1', sdV1Ckpt, ...common, '--threads', '2', '--out', join(dir, `torch-${i}.png`)], { env: torchEnv() }), times: (r) => [r.ms] },
      ]);
      const tj = acc[1].runs.at(-1)?.json;
      const extraTorch = tj ? `; last run: built ${tj.build_s} s, loaded in ${tj.load_s} s, DDIM ${tj.ddim_s} s, decode ${tj.decode_s} s` : '';
      rows.push(...rowsOf(label, acc, { ratioTarget: 1.0, rssTarget: true, extraTorch }));
      rmSync(dir, { recursive: true, force: true });
    } else rows.push(...skip(c, `unknown case (known: ${[...SCALE_CASES, ...SCALE_OPT_IN_CASES].join(', ')})`));
  }
  return rows;
}

/** Max |a − b| over the 'out' tensors of two f32 safetensors files, and max |b|. */
function compareOutputs(fileA, fileB) {
  const read = (f) => {
    const buf = readFileSync(f);
    const n = Number(buf.readBigUInt64LE(0));
    const h = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')).out;
    const [s, e] = h.data_offsets;
    const bytes = buf.subarray(8 + n + s, 8 + n + e);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  };
  const a = read(fileA), b = read(fileB);
  if (a.length !== b.length) return { maxAbs: Infinity, scale: 0 };
  let maxAbs = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { maxAbs, scale };
}
