// runtime/eval: the shipped Fashion-MNIST classifier (examples/weights/fashion-classifier.safetensors)
// loads strictly and classifies real test images; classConditionalAccuracy's report on a
// hand-made case; clear errors for a missing or mis-shaped weights file.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import { createDataset, debianFashionMnistRoot, type MnistDataset } from '../../runtime/data/index.js';
import {
  ClassifierWeightsError,
  FashionClassifier,
  classConditionalAccuracy,
  confusionReport,
  loadClassifier,
  loadClassifierWithInfo,
} from '../../runtime/eval/index.js';
import { buildWithZeroInit } from '../../runtime/nn/index.js';
import { stateDict } from '../../runtime/weights/state-dict.js';
import { lookupTarget } from '../../schema/registry.js';

const haveFmnist = existsSync(join(debianFashionMnistRoot, 't10k-images-idx3-ubyte.gz'));

/** The first n test images ([n, 32, 32, 1] in [-1, 1]) and their labels. */
function testImages(n: number): { x: Tensor4D; y: Int32Array } {
  const ds = createDataset('ldmc.data.FashionMNIST', { split: 'test', size: 32 }) as MnistDataset;
  const x = new Float32Array(n * 32 * 32), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const ex = ds.getSync(i);
    x.set(ex.image as Float32Array, i * 1024);
    y[i] = ex.class_label as number;
  }
  return { x: tf.tensor4d(x, [n, 32, 32, 1]), y };
}

/** A classifier whose predictions are fixed, for checking the report's arithmetic. */
class FixedClassifier extends FashionClassifier {
  constructor(private readonly answers: Int32Array, nClasses: number) {
    super({ n_classes: nClasses, width: 8, image_size: 4 });
  }
  override predict(images: Tensor4D): Int32Array {
    expect(images.shape[0]).to.equal(this.answers.length);
    return this.answers;
  }
}

describe('runtime/eval', function () {
  before(async () => { await initBackend({ quiet: true }); });

  it('registers ldmc.eval.FashionClassifier (family eval) with documented defaults', function () {
    const t = lookupTarget('ldmc.eval.FashionClassifier')!;
    expect(t.families).to.deep.equal(['eval']);
    const props = t.params.properties as Record<string, { default?: unknown; description?: string }>;
    expect(Object.fromEntries(Object.entries(props).map(([k, s]) => [k, s.default]))).to.deep.equal({
      in_channels: 1, image_size: 32, n_classes: 10, width: 32, weights: 'examples/weights/fashion-classifier.safetensors',
    });
  });

  it('has PyTorch state_dict names and layouts', function () {
    const m = buildWithZeroInit(() => new FashionClassifier());
    const sd = stateDict(m);
    expect(Object.fromEntries([...sd].map(([k, t]) => [k, t.shape]))).to.deep.equal({
      'features.0.weight': [32, 1, 3, 3], 'features.0.bias': [32],
      'features.2.weight': [32], 'features.2.bias': [32],
      'features.4.weight': [64, 32, 3, 3], 'features.4.bias': [64],
      'features.6.weight': [64], 'features.6.bias': [64],
      'features.8.weight': [64, 64, 3, 3], 'features.8.bias': [64],
      'features.9.weight': [64], 'features.9.bias': [64],
      'features.11.weight': [64, 64, 3, 3], 'features.11.bias': [64],
      'features.12.weight': [64], 'features.12.bias': [64],
      'head.weight': [10, 64], 'head.bias': [10],
    });
    expect(m.paramCount()).to.equal(93770);
    const logits = tf.tidy(() => m.forward(tf.zeros([2, 32, 32, 1])));
    expect(logits.shape).to.deep.equal([2, 10]);
    logits.dispose();
    expect(() => m.forward(tf.zeros([1, 28, 28, 1]) as Tensor4D)).to.throw(/expected NHWC images \[B, 32, 32, 1\], got \[1, 28, 28, 1\]/);
    m.dispose();
  });

  (haveFmnist ? it : it.skip)('the shipped weights classify ≥ 85% of the first 1000 test images', function () {
    const { classifier, metadata } = loadClassifierWithInfo();
    expect(Number(metadata.test_accuracy)).to.be.greaterThan(0.85);
    const { x, y } = testImages(1000);
    const acc = classifier.accuracy(x, y);
    expect(acc).to.be.at.least(0.85);
    // Samples "requested" as their true class: the report agrees with accuracy().
    const r = classConditionalAccuracy(classifier, x, y);
    expect(r.accuracy).to.be.closeTo(acc, 1e-12);
    expect(r.confusion.flat().reduce((a, b) => a + b, 0)).to.equal(1000);
    expect(r.perClass.every((p) => p >= 0.4)).to.equal(true);
    x.dispose();
    classifier.dispose();
  });
  if (!haveFmnist) console.log(`    (Fashion-MNIST accuracy test skipped: ${debianFashionMnistRoot} is absent; run scripts/install-datasets.sh)`);

  it('classConditionalAccuracy: accuracy, per-class accuracy and confusion on a hand-made case', function () {
    //                         requested: 0  0  0  0  1  1  1  2  2  2
    const requested = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
    const predicted = Int32Array.from([0, 0, 1, 2, 1, 1, 1, 0, 0, 2]);
    const m = new FixedClassifier(predicted, 4);
    const samples = tf.zeros([10, 4, 4, 1]) as Tensor4D;
    const r = classConditionalAccuracy(m, samples, requested);
    expect(r.confusion).to.deep.equal([
      [2, 1, 1, 0],
      [0, 3, 0, 0],
      [2, 0, 1, 0],
      [0, 0, 0, 0],
    ]);
    expect(r.accuracy).to.equal(0.6);
    expect(r.perClass.slice(0, 3)).to.deep.equal([0.5, 1, 1 / 3]);
    expect(r.perClass[3]).to.be.NaN; // never requested
    expect(confusionReport(requested, predicted, 4)).to.deep.equal(r);
    expect(() => classConditionalAccuracy(m, samples, requested.subarray(0, 9))).to.throw(/9 requested classes for 10 samples/);
    expect(() => classConditionalAccuracy(m, samples, Int32Array.from([...requested.subarray(0, 9), 4]))).to.throw(/requested class 4 is outside 0\.\.3/);
    samples.dispose();
    m.dispose();
  });

  it('a missing weights file is a ClassifierWeightsError naming the file and how to make it', function () {
    const e = (() => {
      try {
        loadClassifier({ weights: '/nonexistent/fashion-classifier.safetensors' });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).to.be.instanceOf(ClassifierWeightsError);
    const err = e as ClassifierWeightsError;
    expect(err.file).to.equal('/nonexistent/fashion-classifier.safetensors');
    expect(err.message).to.match(/weights file '\/nonexistent\/fashion-classifier\.safetensors' not found/);
    expect(err.message).to.match(/scripts\/train-classifier\.mjs/);
  });

  it('weights of another width are refused with the mismatched keys', function () {
    expect(() => loadClassifier({ width: 16 })).to.throw(ClassifierWeightsError, /size mismatch for features\.0\.weight: expected \[16, 1, 3, 3\], got \[32, 1, 3, 3\]/);
  });
});
