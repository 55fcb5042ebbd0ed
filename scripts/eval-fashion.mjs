#!/usr/bin/env node
// Evaluates the Fashion-MNIST examples (after `npm run build`):
//   node scripts/eval-fashion.mjs vq  RUN_DIR             reconstruction PSNR on the whole test split
//                                                        (a VQ or a KL first stage)
//   node scripts/eval-fashion.mjs ldm RUN_DIR [-n N] [--steps S] [--out grid.png]
//        class-conditional samples (N per class, DDIM, EMA weights) judged by the registered
//        eval classifier (ldmc.eval.FashionClassifier, examples/weights/fashion-classifier.safetensors)
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../dist/compiler/program.js';
import { resolvedNode } from '../dist/compiler/resolved.js';
import { initBackend } from '../dist/runtime/backend.js';
import { buildComponent } from '../dist/runtime/build.js';
import { createDataset, DataLoader } from '../dist/runtime/data/index.js';
import { DDIMSampler } from '../dist/runtime/diffusion/ddim.js';
import { LatentDiffusion } from '../dist/runtime/diffusion/latent-diffusion.js';
import { seededNoise } from '../dist/runtime/diffusion/noise.js';
import { classConditionalAccuracy, loadClassifierWithInfo } from '../dist/runtime/eval/index.js';
import { makeGrid, toUint8Images } from '../dist/runtime/images/grid.js';
import { writePng } from '../dist/runtime/images/png.js';
import { parseSafetensors } from '../dist/runtime/weights/safetensors.js';
import { loadStateDict } from '../dist/runtime/weights/state-dict.js';

const [mode, run, ...rest] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : dflt;
};
if (!['vq', 'ldm'].includes(mode) || !run) {
  console.error('usage: node scripts/eval-fashion.mjs vq|ldm RUN_DIR [-n N] [--steps S] [--out grid.png]');
  process.exit(2);
}
const host = { readFile: (p) => readFileSync(p, 'utf8'), fileExists: existsSync };
const r = compile({ files: [join(run, 'config.yaml')] }, host);
if (r.hasErrors) {
  console.error(r.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n'));
  process.exit(1);
}
const weights = parseSafetensors(readFileSync(join(run, 'checkpoints', 'last.safetensors'))).tensors;
await initBackend({ backend: 'wasm' });
const t0 = Date.now();

if (mode === 'vq') {
  const m = r.graph.model;
  const vq = buildComponent(m.target, m.params, { zeroInit: true });
  loadStateDict(vq, weights, { strict: true, ignoreKeys: [/^loss\./] });
  // A VQ model decodes its quantized latents; an AutoencoderKL the mode (mean) of its posterior.
  const reconstruct = m.target.endsWith('AutoencoderKL')
    ? (x) => {
        const posterior = vq.encode(x);
        try {
          return vq.decode(posterior.mode());
        } finally {
          posterior.dispose();
        }
      }
    : (x) => vq.decodeQuant(vq.quantize.forward(vq.encodeToPrequant(x)).zq);
  const ds = createDataset('ldmc.data.FashionMNIST', { split: 'test', size: 32 });
  const loader = new DataLoader(ds, { batchSize: 200 });
  let sum = 0, n = 0;
  for await (const b of loader.epoch(0)) {
    const x = tf.tensor4d(b.image, b.shape);
    const psnr = tf.tidy(() => {
      const y = reconstruct(x);
      const mse = tf.mean(tf.square(tf.sub(x, y)), [1, 2, 3]);
      return tf.sum(tf.mul(10, tf.div(tf.log(tf.div(4, tf.maximum(mse, 1e-12))), Math.log(10)))).dataSync()[0];
    });
    sum += psnr;
    n += b.shape[0];
    x.dispose();
  }
  await loader.close();
  console.log(JSON.stringify({ split: 'test', images: n, psnr_db: +(sum / n).toFixed(3), seconds: (Date.now() - t0) / 1000 }));
} else {
  const N = Number(opt('-n', '20'));
  const S = Number(opt('--steps', '50'));
  const ld = new LatentDiffusion(resolvedNode(r.graph.model).params, { zeroInit: true });
  ld.loadFull(weights);
  if (ld.ema) ld.ema.copyTo(ld.model);
  const nClasses = ld.args.cond_stage_config.params.n_classes;
  const shape = [ld.args.image_size, ld.args.image_size, ld.args.channels];
  const { classifier, metadata } = loadClassifierWithInfo({});
  const sampler = new DDIMSampler(ld.ddpm);
  const noise = seededNoise(Number(opt('--seed', '1')));
  const images = [];
  const requested = [];
  for (let k = 0; k < nClasses; k++) {
    const labels = tf.fill([N], k, 'int32');
    const c = ld.getLearnedConditioning(labels);
    const res = sampler.sample({ S, batchSize: N, shape, conditioning: c, eta: 0, noise });
    images.push(ld.decodeFirstStage(res.samples));
    tf.dispose([labels, c, res.samples, ...res.intermediates.x_inter, ...res.intermediates.pred_x0]);
    for (let i = 0; i < N; i++) requested.push(k);
    process.stderr.write(`class ${k}: ${N} samples\n`);
  }
  const all = tf.concat(images, 0);
  const rep = classConditionalAccuracy(classifier, all, Int32Array.from(requested));
  const out = opt('--out');
  if (out) await writePng(out, makeGrid(toUint8Images(all), { nrow: N }));
  console.log(JSON.stringify({ samples: requested.length, per_class: N, ddim_steps: S, accuracy: +rep.accuracy.toFixed(4), per_class_accuracy: rep.perClass.map((a) => +a.toFixed(2)), classifier_test_accuracy: metadata.test_accuracy ?? null, seconds: (Date.now() - t0) / 1000 }));
}
