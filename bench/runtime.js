// Runtime benchmarks: forward+backward of the blocks that dominate training, and whole training
// steps of the small Fashion-MNIST configs, on the wasm and cpu backends, with and without the native kernels.
//
//   node bench/runtime.js CASE BACKEND [--iters N] [--warmup N] [--profile]   one case, JSON on stdout
//   node bench/run.js --only runtime                                          every case, a table
//
// Cases (shapes as the issue names them; NHWC here, NCHW in bench/torch_baseline.py):
//   resblock  GroupNorm→SiLU→conv3×3 twice + residual, B=4, 64×64, 128 ch; grads of all params and x
//   attn      openaimodel AttentionBlock, [4,16,16,256], 4 heads; grads of all params and x
//   unet      one training step (fwd+bwd+AdamW, the trainer's optimizer) of examples/fashion-ldm-cond.yaml's UNet + ClassEmbedder, batch 64
//   vq        one reconstruction step (fwd+bwd+Adam β=(0.5,0.9), L1 + codebook loss, no discriminator) of
//             examples/fashion-vq-f4.yaml's VQModel, batch 32
// FLOPs: resblock and attn counted by hand (2·MACs of the convs/matmuls); unet and vq from the
// compiler's static facts (`flops` of one forward pass). fwd+bwd = 3 × forward for all four.
// Each iteration is synced (dataSync of every gradient / the loss). The runtime comes from dist/.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(join(repoRoot, 'dist', p)).href;

export const CASES = ['resblock', 'attn', 'unet', 'vq'];
/**
 * 'wasm-tfjs' and 'cpu-tfjs' are those backends with the native kernels switched off
 * (LDMC_NATIVE=0): the before of the addon. 'cpu' runs the native kernels on the cpu backend's own
 * arrays (runtime/perf/native-cpu-kernels.ts), the path for runs over the wasm heap.
 */
export const BACKENDS = ['wasm', 'wasm-tfjs', 'cpu', 'cpu-tfjs'];
/** Timed iterations per case (the training steps are slow on cpu). */
const DEFAULT_ITERS = { resblock: 5, attn: 7, unet: 3, vq: 5 };

/** The median of a list of numbers (the bench scripts' one definition). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Compiles a config of this repository (dist/ build), throwing on its errors. */
export async function compileConfig(file) {
  const { compile } = await import(dist('compiler/program.js'));
  const host = {
    readFile: (p) => { try { return readFileSync(resolve(repoRoot, p), 'utf8'); } catch (e) { return e; } },
    fileExists: (p) => existsSync(resolve(repoRoot, p)),
  };
  const r = compile({ files: [file] }, host);
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) throw new Error(`${file}: ${errors.map((d) => d.message).join('; ')}`);
  return r;
}

/** Sets every parameter to small random values (zero-init convs would make some gradients trivially zero). */
function randomise(tf, model) {
  for (const p of model.parameters()) p.assign(tf.mul(tf.randomNormal(p.shape, 0, 1, 'float32', 7), 0.05));
}

/** One optimizer step as the trainer takes it: gradients of every parameter, then Adam; synced on the loss. */
function step(tf, opt, params, lossFn) {
  const { value, grads } = tf.variableGrads(lossFn, [...params.values()]);
  const byName = new Map([...params].map(([k, p]) => [k, grads[p.name]]));
  opt.apply(byName);
  value.dataSync();
  value.dispose();
  for (const g of Object.values(grads)) g.dispose();
}

/** Builds one case: returns { run(): void (one synced iteration), flops, label }. */
export async function buildCase(tf, name) {
  const nn = await import(dist('runtime/nn/index.js'));
  if (name === 'resblock') {
    const B = 4, S = 64, C = 128;
    const n1 = new nn.GroupNorm32(C), c1 = new nn.Conv2d(C, C, 3, { padding: 1 });
    const n2 = new nn.GroupNorm32(C), c2 = new nn.Conv2d(C, C, 3, { padding: 1 });
    const params = [n1, c1, n2, c2].flatMap((m) => m.parameters());
    const x = tf.randomNormal([B, S, S, C], 0, 1, 'float32', 1), R = tf.randomNormal([B, S, S, C], 0, 1, 'float32', 2);
    const f = (xx) => tf.add(xx, c2.forward(nn.silu(n2.forward(c1.forward(nn.silu(n1.forward(xx)))))));
    const run = () => tf.tidy(() => {
      const g = tf.grads((xx, ..._ps) => tf.sum(tf.mul(f(xx), R)))([x, ...params]);
      for (const t of g) t.dataSync();
    });
    return { run, flops: 3 * 2 * (2 * B * S * S * C * C * 9), flopsFrom: '3 × forward (two 3×3 convs, counted by hand)' };
  }
  if (name === 'attn') {
    const B = 4, S = 16, C = 256, heads = 4, N = S * S;
    const block = new nn.AttentionBlock({ channels: C, numHeads: heads });
    randomise(tf, block);
    const params = block.parameters();
    const x = tf.randomNormal([B, S, S, C], 0, 1, 'float32', 1), R = tf.randomNormal([B, S, S, C], 0, 1, 'float32', 2);
    const run = () => tf.tidy(() => {
      const g = tf.grads((xx, ..._ps) => tf.sum(tf.mul(block.forward(xx), R)))([x, ...params]);
      for (const t of g) t.dataSync();
    });
    const fwd = 2 * B * N * C * 3 * C + 2 * B * N * C * C + 2 * 2 * B * N * N * C;
    return { run, flops: 3 * fwd, flopsFrom: '3 × forward (qkv, proj_out, q·kᵀ, w·v, counted by hand)' };
  }
  const { buildComponent } = await import(dist('runtime/build.js'));
  const { Adam } = await import(dist('runtime/train/optim.js'));
  if (name === 'unet') {
    const B = 64;
    const r = await compileConfig('examples/fashion-ldm-cond.yaml');
    const unetNode = r.inference.unet.node, condNode = r.inference.condStage.node;
    const unet = buildComponent(unetNode.target, unetNode.params), cond = buildComponent(condNode.target, condNode.params);
    unet.train(); cond.train();
    const [C, H, W] = r.inference.latentShape;
    const x = tf.randomNormal([B, H, W, C], 0, 1, 'float32', 1), noise = tf.randomNormal([B, H, W, C], 0, 1, 'float32', 2);
    const t = tf.tensor1d(Array.from({ length: B }, (_, i) => (i * 997) % 1000), 'int32');
    const y = tf.tensor1d(Array.from({ length: B }, (_, i) => i % 10), 'int32');
    // The trainer's optimizer (LatentDiffusion's AdamW), stepped as runtime/train does.
    const params = new Map([...unet.parameters(), ...cond.parameters()].map((p, i) => [String(i), p]));
    const opt = new Adam(params, { lr: 1e-4, weightDecay: 0.01 });
    const run = () => step(tf, opt, params, () => {
      const ctx = cond.embedClasses(y);
      return tf.mean(tf.square(tf.sub(unet.forward(x, t, ctx), noise)));
    });
    return { run, flops: 3 * r.inference.unet.facts.flops * B, flopsFrom: "3 × the compiler's forward FLOPs (UNet facts)", images: B };
  }
  if (name === 'vq') {
    const B = 32;
    const r = await compileConfig('examples/fashion-vq-f4.yaml');
    const node = r.inference.firstStage.node, facts = r.inference.firstStage.facts;
    const model = buildComponent(node.target, node.params);
    model.train();
    const [C, H, W] = facts.inputShape;
    const x = tf.randomUniform([B, H, W, C], -1, 1, 'float32', 1);
    // VQModel's opt_ae: Adam, betas (0.5, 0.9).
    const params = new Map(model.parameters().filter((v) => v.trainable).map((p, i) => [String(i), p]));
    const opt = new Adam(params, { lr: 1e-4, betas: [0.5, 0.9] });
    const run = () => step(tf, opt, params, () => {
      const { dec, diff } = model.forward(x);
      // VQLPIPSWithDiscriminator before disc_start, perceptual_weight 0: mean|x − x̂| + codebook_weight·qloss
      return tf.add(tf.mean(tf.abs(tf.sub(x, dec))), diff);
    });
    // facts.flops is per image (batch 1)
    return { run, flops: 3 * facts.flops.total * B, flopsFrom: "3 × the compiler's forward FLOPs (autoencoder facts)", images: B };
  }
  throw new Error(`unknown case '${name}' (known: ${CASES.join(', ')})`);
}

/** Runs one case in this process and returns its figures. */
export async function runCase(name, backend, { iters, warmup = 2, profile = false } = {}) {
  const { initBackend } = await import(dist('runtime/backend.js'));
  const trace = (m) => { if (process.env.LDMC_BENCH_TRACE) console.error(`runtime bench: ${m}`); };
  trace('initBackend');
  await initBackend({ backend, quiet: true, ...(process.env.LDMC_BENCH_WASM_THREADS ? { threads: Number(process.env.LDMC_BENCH_WASM_THREADS) } : {}) });
  trace('backend up');
  const tf = await import('@tensorflow/tfjs-core');
  const c = await buildCase(tf, name);
  const n = iters ?? DEFAULT_ITERS[name];
  for (let i = 0; i < warmup; i++) c.run();
  const before = tf.memory().numTensors;
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    c.run();
    times.push(performance.now() - t0);
  }
  const leaked = tf.memory().numTensors - before;
  const med = median(times);
  const out = {
    case: name, backend: tf.getBackend(), median_ms: +med.toFixed(1), min_ms: +Math.min(...times).toFixed(1), max_ms: +Math.max(...times).toFixed(1),
    times_ms: times.map((t) => +t.toFixed(1)), gflops: +(c.flops / med / 1e6).toFixed(2), flops: c.flops, flopsFrom: c.flopsFrom, leakedTensors: leaked,
  };
  if (c.images) out.images_per_s = +(c.images / (med / 1000)).toFixed(1);
  // Memory peaks: the process's max RSS, and the wasm heap (it grows and never shrinks, so its
  // size now is its peak); tfjs's own count of live tensor bytes is the floor of both.
  out.peak_rss_mib = Math.round(process.resourceUsage().maxRSS / 1024);
  const heap = tf.backend()?.wasm?.HEAPU8?.buffer?.byteLength;
  if (heap) out.wasm_heap_mib = Math.round(heap / 2 ** 20);
  const nk = await import(dist('runtime/perf/native-kernels.js'));
  out.native_kernels = nk.nativeKernelsActive();
  // The cpu backend's output pool (runtime/perf/cpu-buffer-pool.ts): reused vs fresh buffers.
  const pool = nk.cpuBufferPool?.(tf.backend());
  if (pool) out.cpu_pool = { ...pool.stats };
  if (profile) out.kernels = await profileKernels(c.run);
  return out;
}

/**
 * Per-kernel wall time of one iteration, largest first, with the part spent in tfjs's own kernel
 * (runtime/perf/kernel-profile.ts; --profile sets LDMC_KERNEL_PROFILE=1 before the runtime loads).
 */
async function profileKernels(run) {
  const prof = await import(dist('runtime/perf/kernel-profile.js'));
  if (!prof.kernelProfileOn) throw new Error('profiling needs LDMC_KERNEL_PROFILE=1 before the runtime loads (node bench/runtime.js CASE BACKEND --profile)');
  prof.resetKernelProfile();
  run();
  return prof.kernelProfile().map((r) => ({ kernel: r.name, calls: r.calls, ms: +r.ms.toFixed(1), fallback_ms: +r.fallbackMs.toFixed(1) }));
}

// ------------------------------------------------------------------ section for bench/run.js

/** PyTorch figures from bench/torch_baseline.py when torch is importable (null otherwise). */
function torchBaseline(cases) {
  const py = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0);
  if (!py) return null;
  const r = spawnSync(py, [join(repoRoot, 'bench/torch_baseline.py'), ...cases, '--threads', '2', '--json'], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return { error: (r.stderr || r.stdout).trim().split('\n').pop() };
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((o) => [o.case, o]));
}

/** PyTorch figures documented for this machine (used when torch is not importable here). */
const DOCUMENTED_TORCH = {
  resblock: { median_ms: 240, source: 'shared/probes/tfjs-wasm README' },
  attn: { median_ms: 136, source: 'shared/probes/tfjs-wasm README (separate q/k/v linears)' },
  unet: { median_ms: 1850, source: 'shared/reference/bench README (1.7–2.0 s)' },
  vq: { median_ms: 280, source: 'shared/reference/bench README (0.27–0.29 s)' },
};

/**
 * bench/run.js section: every case on wasm and cpu, each in its own process; --runs sets the timed
 * iterations (capped per case), --warmup the untimed ones. Env LDMC_BENCH_BACKENDS / LDMC_BENCH_CASES
 * narrow the set (comma-separated).
 */
export function runtime(o) {
  for (const f of ['dist/runtime/backend.js', 'dist/compiler/program.js']) {
    if (!existsSync(join(repoRoot, f))) throw new Error(`bench: ${f} is missing; build first: npx tsc -p .`);
  }
  const backends = (process.env.LDMC_BENCH_BACKENDS ?? BACKENDS.join(',')).split(',').filter(Boolean);
  const cases = (process.env.LDMC_BENCH_CASES ?? CASES.join(',')).split(',').filter(Boolean);
  const torch = torchBaseline(cases);
  const rows = [];
  for (const c of cases) {
    const ref = torch && !torch.error && torch[c] && !torch[c].error ? torch[c] : undefined;
    const refMs = ref?.median_ms ?? DOCUMENTED_TORCH[c].median_ms;
    const refNote = ref ? `PyTorch here ${ref.median_ms} ms` : `PyTorch ${refMs} ms (${DOCUMENTED_TORCH[c].source}${torch?.error ? `; torch_baseline.py failed: ${torch.error}` : torch ? '; not in torch_baseline.py' : '; torch not importable'})`;
    if (ref) rows.push({ name: `${c} PyTorch ${ref.backend} (${ref.threads} threads)`, unit: 'ms', min: ref.min_ms, median: ref.median_ms, max: ref.max_ms, note: `${ref.gflops} GFLOP/s${ref.images_per_s ? `, ${ref.images_per_s} images/s` : ''}` });
    for (const b of backends) {
      // cpu on tfjs's kernels is for reference only: fewer iterations, the steps take minutes there.
      const slow = b === 'cpu-tfjs';
      const iters = Math.min(o.runs, slow ? 1 : DEFAULT_ITERS[c]);
      const args = [join(repoRoot, 'bench/runtime.js'), c, b.replace(/-tfjs$/, ''), '--iters', String(iters), '--warmup', String(Math.min(o.warmup, slow ? 0 : 2))];
      const env = b.endsWith('-tfjs') ? { ...process.env, LDMC_NATIVE: '0' } : process.env;
      const r = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8', timeout: 1_800_000, env });
      if (r.status !== 0) {
        rows.push({ name: `${c} ${b}`, unit: '', note: `failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}` });
        continue;
      }
      let j;
      try {
        j = JSON.parse(r.stdout.trim().split('\n').pop());
      } catch {
        rows.push({ name: `${c} ${b}`, unit: '', note: `no result (status ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}` });
        continue;
      }
      const ratio = j.median_ms / refMs;
      const mem = `peak RSS ${j.peak_rss_mib} MiB${j.wasm_heap_mib ? `, wasm heap ${j.wasm_heap_mib} MiB` : ''}`;
      rows.push({
        name: `${c} ${b.replace(/-tfjs$/, '')}${j.native_kernels ? '+native' : ' (tfjs kernels only)'} fwd+bwd${c === 'unet' || c === 'vq' ? '+Adam' : ''}`, unit: 'ms', min: j.min_ms, median: j.median_ms, max: j.max_ms,
        note: `${j.gflops} GFLOP/s (${j.flopsFrom})${j.images_per_s ? `, ${j.images_per_s} images/s` : ''}; ${ratio.toFixed(2)}× ${refNote}; ${mem}`,
      });
    }
  }
  return rows;
}

// ------------------------------------------------------------------ command line

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const argv = process.argv.slice(2);
  const opt = (k) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined; };
  const [name, backend = 'wasm'] = argv.filter((a, i) => !a.startsWith('--') && !(i > 0 && ['--iters', '--warmup'].includes(argv[i - 1])));
  if (!name || name === '--help') {
    console.log(`usage: node bench/runtime.js ${CASES.join('|')} [wasm|cpu] [--iters N] [--warmup N] [--profile]`);
    process.exit(name ? 0 : 2);
  }
  // Read once when the runtime loads (runtime/perf/kernel-profile.ts), so set before any of it does.
  if (argv.includes('--profile')) process.env.LDMC_KERNEL_PROFILE = '1';
  // A pending promise keeps no Node process alive: hold a handle until the case has finished, so a
  // wait inside the backend's start-up can never end the process silently with status 0.
  const keepAlive = setInterval(() => {}, 1 << 30);
  if (process.env.LDMC_BENCH_TRACE) console.error('runtime bench: start');
  runCase(name, backend, {
    iters: opt('--iters') ? Number(opt('--iters')) : undefined,
    warmup: opt('--warmup') ? Number(opt('--warmup')) : 2,
    profile: argv.includes('--profile'),
  }).then((r) => {
    if (r.kernels) {
      for (const k of r.kernels.slice(0, 20)) console.error(`  ${k.kernel.padEnd(28)} x${String(k.calls).padEnd(4)} ${String(k.ms).padStart(8)} ms  (tfjs's own: ${k.fallback_ms} ms)`);
    }
    console.log(JSON.stringify(r));
    clearInterval(keepAlive);
    process.exit(0);
  }, (e) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(1);
  });
}
