// Peak memory of one CrossAttention forward at SD v1's first UNet level (512×512 images: 64×64 =
// 4,096 latent tokens, dim 320, 8 heads of 40, batch 2 as under classifier-free guidance),
// self-attention (attn1), in query chunks (the default 2^24-float budget) and in one chunk.
//
//   node bench/attention-memory.js                    every backend × mode, each in a fresh process; a table
//   node bench/attention-memory.js MODE BACKEND       one run, JSON on stdout
//     MODE: chunked | whole;  BACKEND: wasm | cpu | cpu-tfjs (cpu with LDMC_NATIVE=0)
//
// peakBytes is tfjs's own count (tf.profile: the most tensor bytes alive at once during the call);
// maxRssMiB the process's peak resident set (node + the backend + the weights + the inputs). The
// full matrix is 2·8·4096² floats = 1 GiB; wasm's 4 GiB heap may not hold a whole-matrix run.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(join(repoRoot, 'dist', p)).href;
const MODES = ['chunked', 'whole'];
const BACKENDS = ['wasm', 'cpu', 'cpu-tfjs'];
const B = 2, TOKENS = 4096, DIM = 320, HEADS = 8;

async function one(mode, backend) {
  const tf = await import('@tensorflow/tfjs-core');
  const { initBackend } = await import(dist('runtime/backend.js'));
  const { CrossAttention, setAttentionBudget } = await import(dist('runtime/nn/index.js'));
  await initBackend({ backend: backend === 'cpu-tfjs' ? 'cpu' : backend, quiet: true });
  // "whole": a budget that holds the full matrix, so the same code runs as one chunk
  if (mode === 'whole') setAttentionBudget(B * HEADS * TOKENS * TOKENS);
  const attn = new CrossAttention(DIM, null, HEADS, DIM / HEADS);
  const x = tf.randomNormal([B, TOKENS, DIM], 0, 1, 'float32', 1);
  const before = tf.memory().numBytes;
  const t0 = performance.now();
  let sum = 0;
  const prof = await tf.profile(() => {
    const y = attn.forward(x);
    sum = tf.sum(y).dataSync()[0];
    return y;
  });
  const ms = performance.now() - t0;
  return {
    mode, backend, peakBytes: prof.peakBytes, peakMiBAboveInputs: +((prof.peakBytes - before) / 2 ** 20).toFixed(1),
    maxRssMiB: +(process.resourceUsage().maxRSS / 1024).toFixed(0), ms: Math.round(ms), finite: Number.isFinite(sum),
  };
}

const [mode, backend] = process.argv.slice(2);
if (mode) {
  if (!MODES.includes(mode) || !BACKENDS.includes(backend)) throw new Error(`usage: attention-memory.js [${MODES.join('|')} ${BACKENDS.join('|')}]`);
  process.stdout.write(JSON.stringify(await one(mode, backend)) + '\n');
} else {
  const rows = [];
  for (const b of BACKENDS) {
    for (const m of MODES) {
      const env = b === 'cpu-tfjs' ? { ...process.env, LDMC_NATIVE: '0' } : process.env;
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), m, b], { cwd: repoRoot, encoding: 'utf8', env, timeout: 900_000 });
      if (r.status !== 0) rows.push({ backend: b, mode: m, failed: (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ').slice(0, 160) });
      else rows.push(JSON.parse(r.stdout.trim().split('\n').pop()));
    }
  }
  for (const r of rows) {
    process.stdout.write(r.failed
      ? `${r.backend.padEnd(9)} ${r.mode.padEnd(8)} failed: ${r.failed}\n`
      : `${r.backend.padEnd(9)} ${r.mode.padEnd(8)} tfjs peak ${(r.peakBytes / 2 ** 20).toFixed(0).padStart(6)} MiB (+${r.peakMiBAboveInputs} above inputs)  max RSS ${String(r.maxRssMiB).padStart(6)} MiB  ${r.ms} ms\n`);
  }
}
