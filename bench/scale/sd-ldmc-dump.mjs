// The ldmc half of the latent comparison in bench/scale/sd-txt2img.sh: what `ldmc txt2img --x-T` does (the
// runtime's LatentDiffusion, encodeText, sampleLatents with DDIM and guidance, decodeFirstStage), with the
// final latent and the decoded image (before clamping) written out, NCHW, as torch_sd.py txt2img --dump does.
//   node bench/scale/sd-ldmc-dump.mjs CONFIG WEIGHTS X_T.safetensors OUT.safetensors --prompt P [--steps 5] [--scale 7.5]
// LDMC_KERNEL_PROFILE=1: per-kernel totals of the sampling and decoding, on stderr.
// The prompts' ids come from LDMC_BENCH_TOKENS (sd-tokens-shim.mjs) where the build has no tokenizer.
// Runs on the dist/ of the checkout it sits in (LDMC_ROOT in sd-txt2img.sh: the file is copied there).
import './sd-tokens-shim.mjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dist = (p) => import(pathToFileURL(join(root, 'dist', p)).href);
const argv = process.argv.slice(2);
const opt = (k, d) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : d; };
const [config, weightsPath, xTPath, outPath] = argv.filter((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1].startsWith('--')));

const tf = await import('@tensorflow/tfjs-core');
const { initBackend } = await dist('runtime/backend.js');
await initBackend({ backend: 'cpu', threads: 2, quiet: true });
const { compileConfig } = await import(pathToFileURL(join(root, 'bench/runtime.js')).href);
const { resolvedNode } = await dist('compiler/resolved.js');
const { wrapperClass } = await dist('runtime/diffusion/build.js');
const { sampleLatents } = await dist('runtime/diffusion/sample.js');
const { readWeightsFile } = await dist('cli/weights-file.js');
const { parseSafetensors, serializeSafetensors } = await dist('runtime/weights/safetensors.js');

const r = await compileConfig(resolve(config));
const model = r.graph.model;
const Wrapper = wrapperClass(model.target);
const ld = new Wrapper({ ...resolvedNode(model).params, use_ema: false }, { zeroInit: true });
const report = ld.loadFull(readWeightsFile(weightsPath), { strict: false });
if (report.missing.length || report.shapeMismatch.length) throw new Error(`load: ${report.missing.length} missing, ${report.shapeMismatch.length} mismatched`);
ld.eval();
const x = parseSafetensors(readFileSync(xTPath)).tensors.get('x_T');
const xT = tf.tidy(() => tf.transpose(tf.tensor(Float32Array.from(x.data), x.shape), [0, 2, 3, 1]));
const prompt = opt('--prompt', ''), scale = Number(opt('--scale', '7.5')), steps = Number(opt('--steps', '5'));
const prof = await dist('runtime/perf/kernel-profile.js');
const c = ld.cond_stage_model.encodeText([prompt]);
const uc = ld.cond_stage_model.encodeText([opt('--negative', '')]);
prof.resetKernelProfile();
const t0 = performance.now();
const z = sampleLatents(ld, { batchSize: 1, sampler: 'ddim', steps, eta: 0, latentSize: [x.shape[2], x.shape[3]], cond: c, scale, uncond: uc, xT });
z.dataSync();
const t1 = performance.now();
const img = ld.decodeFirstStage(z);
img.dataSync();
const t2 = performance.now();
if (prof.kernelProfileOn) console.error(prof.formatKernelProfile(25));
const nchw = (t) => tf.transpose(t, [0, 3, 1, 2]);
const out = new Map();
for (const [k, t] of [['samples', nchw(z)], ['image', nchw(img)], ['c', c], ['uc', uc]]) out.set(k, { shape: t.shape, data: t.dataSync() });
writeFileSync(outPath, serializeSafetensors(out));
console.log(JSON.stringify({ wrote: outPath, ddim_s: +((t1 - t0) / 1000).toFixed(2), decode_s: +((t2 - t1) / 1000).toFixed(2), peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024) }));
process.exit(0);
