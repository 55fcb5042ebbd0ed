// Evaluation: the Fashion-MNIST classifier that judges class-conditional samples, and the
// accuracy/confusion report `ldmc sample` prints for them.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { defaultFashionClassifierWeights, type FashionClassifierParams } from '../../schema/eval.js';
import { parseSafetensors } from '../weights/safetensors.js';
import { loadStateDict, type TorchTensor } from '../weights/state-dict.js';
import { FashionClassifier } from './classifier.js';

export * from './classifier.js';

/** The repository (package) root: shipped weights are found from there when the working directory is elsewhere. */
const packageRoot = fileURLToPath(new URL('../../../', import.meta.url));

export class ClassifierWeightsError extends Error {
  constructor(message: string, readonly file: string) {
    super(message);
    this.name = 'ClassifierWeightsError';
  }
}

/** A classifier with trained weights, and where they came from. */
export interface LoadedClassifier {
  readonly classifier: FashionClassifier;
  /** The file the weights were read from (absolute). */
  readonly file: string;
  /** The safetensors `__metadata__` (test accuracy, epochs, seed, command of the training run). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** The weights file a `weights` param names: absolute, else relative to the working directory, else to the package root. */
export function resolveWeightsPath(weights: string): string {
  if (isAbsolute(weights)) return weights;
  const here = resolve(weights);
  if (existsSync(here)) return here;
  const shipped = resolve(packageRoot, weights);
  return existsSync(shipped) ? shipped : here;
}

/**
 * Builds `ldmc.eval.FashionClassifier` from its params (defaults filled) and loads its weights
 * strictly (every parameter present with its PyTorch shape, nothing extra). Needs a tfjs backend
 * (initBackend). A missing or unreadable file is a ClassifierWeightsError that names the path.
 */
export function loadClassifierWithInfo(params: Partial<FashionClassifierParams> = {}): LoadedClassifier {
  const weights = params.weights ?? defaultFashionClassifierWeights;
  const file = resolveWeightsPath(weights);
  if (!existsSync(file)) {
    const tried = [...new Set(isAbsolute(weights) ? [file] : [file, resolve(packageRoot, weights)])].join(', ');
    throw new ClassifierWeightsError(
      `ldmc.eval.FashionClassifier: weights file '${weights}' not found (tried ${tried}); ` +
        `train it with 'node scripts/train-classifier.mjs' or set params.weights to a safetensors file`,
      file,
    );
  }
  let tensors: ReadonlyMap<string, TorchTensor>, metadata: Record<string, string>;
  try {
    const st = parseSafetensors(new Uint8Array(readFileSync(file)));
    tensors = st.tensors;
    metadata = { ...st.metadata };
  } catch (e) {
    throw new ClassifierWeightsError(`ldmc.eval.FashionClassifier: cannot read weights ${file}: ${e instanceof Error ? e.message : String(e)}`, file);
  }
  const { weights: _w, ...args } = params;
  const classifier = new FashionClassifier(args);
  try {
    loadStateDict(classifier, tensors);
  } catch (e) {
    classifier.dispose();
    throw new ClassifierWeightsError(`${file} does not fit ldmc.eval.FashionClassifier ${JSON.stringify(classifier.args)}: ${e instanceof Error ? e.message : String(e)}`, file);
  }
  classifier.eval();
  return { classifier, file, metadata };
}

/** `loadClassifierWithInfo(params).classifier`. */
export function loadClassifier(params: Partial<FashionClassifierParams> = {}): FashionClassifier {
  return loadClassifierWithInfo(params).classifier;
}

export interface ClassConditionalReport {
  /** Fraction of samples classified as the class they were requested for. */
  readonly accuracy: number;
  /** Per requested class: the fraction judged as that class (NaN for a class never requested). */
  readonly perClass: number[];
  /** `confusion[requested][predicted]`: sample counts, n_classes × n_classes. */
  readonly confusion: number[][];
}

/**
 * How often a class-conditional model's samples are judged to be the class they were asked for.
 * `samples` are NHWC in [-1, 1]; `requested[i]` is the class sample i was generated for.
 */
export function classConditionalAccuracy(classifier: FashionClassifier, samples: Tensor4D, requested: Int32Array): ClassConditionalReport {
  const n = classifier.args.n_classes;
  if (requested.length !== samples.shape[0]) throw new Error(`classConditionalAccuracy: ${requested.length} requested classes for ${samples.shape[0]} samples`);
  for (const c of requested) if (!Number.isInteger(c) || c < 0 || c >= n) throw new Error(`classConditionalAccuracy: requested class ${c} is outside 0..${n - 1}`);
  const predicted = classifier.predict(samples);
  return confusionReport(requested, predicted, n);
}

/** The report for given requested and predicted classes (both in 0..nClasses-1). */
export function confusionReport(requested: ArrayLike<number>, predicted: ArrayLike<number>, nClasses: number): ClassConditionalReport {
  const confusion = Array.from({ length: nClasses }, () => new Array<number>(nClasses).fill(0));
  let right = 0;
  for (let i = 0; i < requested.length; i++) {
    const r = requested[i]!, p = predicted[i]!;
    confusion[r]![p]!++;
    if (r === p) right++;
  }
  const perClass = confusion.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total ? row[c]! / total : NaN;
  });
  return { accuracy: requested.length ? right / requested.length : NaN, perClass, confusion };
}
