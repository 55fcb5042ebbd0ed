// ldmc side of the `scale` bench section (bench/scale.js) for the cases the CLI does not time by itself.
// Prints one JSON line on stdout. The runtime comes from dist/.
//
//   node bench/scale-ldmc.js probe BACKEND                    is the backend up, with native kernels?
//   node bench/scale-ldmc.js celeba-train CKPT BACKEND [--iters N] [--warmup N]
//        LatentDiffusion training steps of examples/celeba256.yaml at batch 2 on random images, as runtime/train
//        takes them: encode (first stage frozen), p_losses, AdamW (weight decay 0.01), then the LitEma update.
//   node bench/scale-ldmc.js txt2img-fwd CKPT INPUTS OUT BACKEND [--iters N]
//        txt2img-1p4B's UNet from CKPT (model.diffusion_model.*), forward at batch 1 on INPUTS (x, timesteps,
//        context; NCHW safetensors as `ldmc forward` takes them); the output written to OUT (NCHW, key 'out').
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compileConfig, median } from './runtime.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(join(repoRoot, 'dist', p)).href;
const argv = process.argv.slice(2);
const opt = (k, d) => { const i = argv.indexOf(k); return i >= 0 ? Number(argv[i + 1]) : d; };
const pos = argv.filter((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1].startsWith('--')));

async function start(backend) {
  const { initBackend } = await import(dist('runtime/backend.js'));
  await initBackend({ backend, quiet: true });
  const tf = await import('@tensorflow/tfjs-core');
  const { nativeKernelsActive } = await import(dist('runtime/perf/native-kernels.js'));
  return { tf, native: nativeKernelsActive() };
}

const peakRssMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);

async function probe(backend) {
  const { tf, native } = await start(backend);
  return { backend: tf.getBackend(), native_kernels: native };
}

async function celebaTrain(ckpt, backend) {
  const t0 = performance.now();
  const { tf, native } = await start(backend);
  const { resolvedNode } = await import(dist('compiler/resolved.js'));
  const { LatentDiffusion } = await import(dist('runtime/diffusion/latent-diffusion.js'));
  const { Adam } = await import(dist('runtime/train/optim.js'));
  const { readWeightsFile } = await import(dist('cli/weights-file.js'));
  const r = await compileConfig('examples/celeba256.yaml');
  const ld = new LatentDiffusion(resolvedNode(r.graph.model).params, { zeroInit: true });
  ld.loadFull(readWeightsFile(ckpt), { strict: false, ignoreKeys: [/^first_stage_model\.loss\./] });
  const tLoad = performance.now(), rssLoad = Math.round(process.memoryUsage().rss / 1024 ** 2);
  ld.train();
  ld.first_stage_model.eval();
  // runtime/train/ldm-task.ts: the UNet's parameters (cond stage frozen / absent), AdamW.
  const params = new Map();
  for (const [n, v] of ld.namedParameters()) if (n.startsWith('model.')) params.set(n, v);
  const adam = new Adam(params, { lr: 4e-6, weightDecay: 0.01 });
  const names = [...params.keys()], vars = [...params.values()];
  const B = 2, S = 256;
  const images = tf.randomUniform([B, S, S, 3], -1, 1, 'float32', 3);
  const iters = opt('--iters', 3), warmup = opt('--warmup', 1);
  const times = [], phases = [];
  // LDMC_KERNEL_PROFILE=1: per-kernel totals over the timed steps, on stderr (runtime/perf/kernel-profile.ts)
  const prof = await import(dist('runtime/perf/kernel-profile.js'));
  const rssMiB = () => Math.round(process.memoryUsage().rss / 1024 ** 2);
  for (let i = 0; i < warmup + iters; i++) {
    if (i === warmup) prof.resetKernelProfile();
    const s0 = performance.now();
    const t = tf.randomUniform([B], 0, ld.ddpm.numTimesteps, 'int32', 10 + i);
    const noise = tf.randomNormal([B, 64, 64, 3], 0, 1, 'float32', 20 + i);
    const { value, grads } = tf.variableGrads(() => {
      // variableGrads runs this in a tidy: the loss dict's other scalars go with it
      return ld.trainingLoss({ image: images }, { t, noise, training: true }).loss;
    }, vars);
    value.dataSync();
    const s1 = performance.now(), rssGrads = rssMiB();
    const byName = new Map(names.map((n, k) => [n, grads[vars[k].name]]));
    adam.apply(byName);
    tf.dispose([value, t, noise, ...Object.values(grads)]);
    const s2 = performance.now();
    ld.ema?.update(ld.model);
    // sync on one updated weight so the step is finished when the clock stops
    vars[0].dataSync();
    const s3 = performance.now();
    if (i >= warmup) times.push(s3 - s0);
    phases.push({ grad_ms: Math.round(s1 - s0), adam_ms: Math.round(s2 - s1), ema_ms: Math.round(s3 - s2), rss_after_grads_mib: rssGrads, rss_mib: rssMiB() });
  }
  if (prof.kernelProfileOn) console.error(prof.formatKernelProfile(30));
  return {
    case: 'celeba-train', backend: tf.getBackend(), native_kernels: native, median_ms: +median(times).toFixed(1), times_ms: times.map((t) => +t.toFixed(1)),
    load_s: +((tLoad - t0) / 1000).toFixed(2), peak_rss_mib: peakRssMiB(), rss_after_load_mib: rssLoad, steps: phases,
  };
}

async function txt2imgFwd(ckpt, inputs, out, backend) {
  const t0 = performance.now();
  const { tf, native } = await start(backend);
  const { buildComponent } = await import(dist('runtime/build.js'));
  const { loadStateDict } = await import(dist('runtime/weights/state-dict.js'));
  const { readWeightsFile } = await import(dist('cli/weights-file.js'));
  const { parseSafetensors, serializeSafetensors } = await import(dist('runtime/weights/safetensors.js'));
  const r = await compileConfig('../shared/reference/ldm-configs/configs/latent-diffusion/txt2img-1p4B-eval.yaml');
  const node = r.inference.unet.node;
  const unet = buildComponent(node.target, node.params, { zeroInit: true });
  const report = loadStateDict(unet, readWeightsFile(ckpt), { prefix: 'model.diffusion_model.', strict: false });
  if (report.missing.length || report.shapeMismatch.length) throw new Error(`txt2img UNet from ${ckpt}: ${report.missing.length} missing, ${report.shapeMismatch.length} shape mismatches (${[...report.missing, ...report.shapeMismatch].slice(0, 3).join(', ')})`);
  unet.eval();
  const tLoad = performance.now();
  const ins = parseSafetensors(readFileSync(inputs)).tensors;
  const f32 = (k) => tf.tensor(Float32Array.from(ins.get(k).data), [...ins.get(k).shape], 'float32');
  const x = tf.tidy(() => tf.transpose(f32('x'), [0, 2, 3, 1])), t = f32('timesteps'), ctx = f32('context');
  const iters = opt('--iters', 1), times = [];
  let o;
  for (let i = 0; i < iters; i++) {
    o?.dispose();
    const s0 = performance.now();
    o = tf.tidy(() => tf.transpose(unet.forward(x, t, ctx), [0, 3, 1, 2]));
    o.dataSync();
    times.push(performance.now() - s0);
  }
  writeFileSync(out, serializeSafetensors(new Map([['out', { shape: o.shape, data: o.dataSync() }]])));
  return {
    case: 'txt2img-fwd', backend: tf.getBackend(), native_kernels: native, median_ms: +median(times).toFixed(1), times_ms: times.map((s) => +s.toFixed(1)),
    load_s: +((tLoad - t0) / 1000).toFixed(2), params: unet.paramCount(), peak_rss_mib: peakRssMiB(),
  };
}

const keepAlive = setInterval(() => {}, 1 << 30);
const [cmd] = pos;
const job = cmd === 'probe' ? probe(pos[1] ?? 'wasm')
  : cmd === 'celeba-train' ? celebaTrain(pos[1], pos[2] ?? 'cpu')
  : cmd === 'txt2img-fwd' ? txt2imgFwd(pos[1], pos[2], pos[3], pos[4] ?? 'cpu')
  : Promise.reject(new Error('usage: node bench/scale-ldmc.js probe|celeba-train|txt2img-fwd ...'));
job.then((r) => {
  console.log(JSON.stringify(r));
  clearInterval(keepAlive);
  process.exit(0);
}, (e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
