#!/usr/bin/env node
// Trains ldmc.eval.FashionClassifier on the Fashion-MNIST train split and writes
// examples/weights/fashion-classifier.safetensors (PyTorch names and layouts) with the run's
// test accuracy, epochs, seed, command and wall time in its metadata. Uses the built runtime:
//
//   npx tsc -p . && node scripts/train-classifier.mjs [--epochs 3] [--seed 0] [--backend wasm|cpu]
//     [--width 32] [--batch 64] [--lr 3e-3] [--flip] [--limit N] [--out FILE]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../dist/runtime/backend.js';
import { createDataset, makeRng, permutation } from '../dist/runtime/data/index.js';
import { FashionClassifier } from '../dist/runtime/eval/index.js';
import { stateDict } from '../dist/runtime/weights/state-dict.js';
import { serializeSafetensors } from '../dist/runtime/weights/safetensors.js';
import { defaultFashionClassifierWeights } from '../dist/schema/eval.js';

const { values: opt } = parseArgs({
  options: {
    epochs: { type: 'string', default: '3' },
    seed: { type: 'string', default: '0' },
    backend: { type: 'string', default: 'wasm' },
    width: { type: 'string', default: '32' },
    batch: { type: 'string', default: '64' },
    lr: { type: 'string', default: '3e-3' },
    limit: { type: 'string' },
    flip: { type: 'boolean', default: false },
    out: { type: 'string', default: defaultFashionClassifierWeights },
  },
});
const epochs = Number(opt.epochs), seed = Number(opt.seed), width = Number(opt.width), batch = Number(opt.batch), lr = Number(opt.lr);
const command = ['node', 'scripts/train-classifier.mjs', ...process.argv.slice(2)].join(' ');
const t0 = Date.now();
const backend = await initBackend({ backend: opt.backend });

// tfjs's random initialisers draw their seeds from Math.random: make the whole run repeatable.
Math.random = makeRng(seed ^ 0x5eed);

const train = createDataset('ldmc.data.FashionMNIST', { split: 'train', size: 32 });
const test = createDataset('ldmc.data.FashionMNIST', { split: 'test', size: 32 });
const nTrain = opt.limit ? Math.min(Number(opt.limit), train.length) : train.length;

/** Images [n, 32, 32, 1] in [-1, 1] and labels of the given items; optional random horizontal flips. */
function batchOf(ds, idx, rng) {
  const x = new Float32Array(idx.length * 1024), y = new Int32Array(idx.length);
  idx.forEach((i, b) => {
    const ex = ds.getSync(i);
    if (rng && rng() < 0.5) {
      for (let r = 0; r < 32; r++) for (let c = 0; c < 32; c++) x[b * 1024 + r * 32 + c] = ex.image[r * 32 + 31 - c];
    } else x.set(ex.image, b * 1024);
    y[b] = ex.class_label;
  });
  return { x: tf.tensor4d(x, [idx.length, 32, 32, 1]), y };
}

function evaluate(model, ds, n = ds.length) {
  let right = 0;
  for (let i = 0; i < n; i += 500) {
    const idx = Array.from({ length: Math.min(500, n - i) }, (_, k) => i + k);
    const { x, y } = batchOf(ds, idx);
    const pred = model.predict(x);
    x.dispose();
    for (let k = 0; k < pred.length; k++) if (pred[k] === y[k]) right++;
  }
  return right / n;
}

const model = new FashionClassifier({ in_channels: 1, image_size: 32, n_classes: 10, width });
model.train();
const vars = model.parameters();
const steps = epochs * Math.floor(nTrain / batch);
const optimizer = tf.train.adam(lr);
console.log(`backend ${backend}; ${model.paramCount()} parameters; ${nTrain} training images, ${epochs} epochs of ${Math.floor(nTrain / batch)} steps (batch ${batch}), seed ${seed}`);

let step = 0;
for (let epoch = 0; epoch < epochs; epoch++) {
  const order = permutation(nTrain, seed * 1000 + epoch);
  const flipRng = opt.flip ? makeRng(seed * 1000 + epoch + 1) : undefined;
  let lossSum = 0, lossN = 0, tEpoch = Date.now();
  for (let s = 0; s + batch <= nTrain; s += batch, step++) {
    // Cosine decay to 5% of lr over the whole run.
    optimizer.learningRate = lr * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * step) / steps)));
    const { x, y } = batchOf(train, Array.from(order.subarray(s, s + batch)), flipRng);
    const labels = tf.oneHot(tf.tensor1d(y, 'int32'), 10);
    const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, model.forward(x)), true, vars);
    lossSum += loss.dataSync()[0];
    lossN++;
    tf.dispose([x, labels, loss]);
    if (lossN % 100 === 0) console.log(`epoch ${epoch + 1} step ${lossN} loss ${(lossSum / lossN).toFixed(4)} (${((Date.now() - tEpoch) / lossN).toFixed(0)} ms/step)`);
  }
  model.eval();
  const acc = evaluate(model, test, 2000);
  model.train();
  console.log(`epoch ${epoch + 1}: train loss ${(lossSum / lossN).toFixed(4)}, test accuracy (first 2000) ${(100 * acc).toFixed(2)}%, ${((Date.now() - tEpoch) / 1000).toFixed(0)} s`);
}

model.eval();
const testAcc = evaluate(model, test);
const wall = (Date.now() - t0) / 1000;
console.log(`test accuracy ${(100 * testAcc).toFixed(2)}% on ${test.length} images; wall time ${wall.toFixed(0)} s`);

const metadata = {
  format: 'pt',
  target: 'ldmc.eval.FashionClassifier',
  params: JSON.stringify({ in_channels: 1, image_size: 32, n_classes: 10, width }),
  test_accuracy: testAcc.toFixed(4),
  test_images: String(test.length),
  train_images: String(nTrain),
  epochs: String(epochs),
  seed: String(seed),
  batch_size: String(batch),
  optimizer: `Adam(lr=${lr}, cosine to 5%)${opt.flip ? ', random horizontal flips' : ''}`,
  backend,
  command,
  wall_time_s: wall.toFixed(0),
};
mkdirSync(dirname(opt.out), { recursive: true });
const bytes = serializeSafetensors(stateDict(model), metadata);
writeFileSync(opt.out, bytes);
console.log(`wrote ${opt.out} (${bytes.byteLength} bytes)`);
