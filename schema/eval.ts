// Evaluation models: networks that judge what a model produces rather than being trained by a
// config. `ldmc.eval.FashionClassifier` scores class-conditional Fashion-MNIST samples.
import { defineTarget, int, opt, params, str, type Filled, type TargetSpec } from './types.js';

/** Where the classifier's weights ship in this repository (relative to the repository root). */
export const defaultFashionClassifierWeights = 'examples/weights/fashion-classifier.safetensors';

export const FashionClassifierParams = params({
  in_channels: opt(int('Channels of the images it judges (1 for Fashion-MNIST).', { minimum: 1 }), 1),
  image_size: opt(int('Side of the square images it judges; a multiple of 4 (two 2× poolings).', { minimum: 4 }), 32),
  n_classes: opt(int('Number of classes it predicts (10 for Fashion-MNIST).', { minimum: 2 }), 10),
  width: opt(int('Channels of the first conv (the other three have twice as many); a multiple of 8 (GroupNorm with 8 groups).', { minimum: 8 }), 32),
  weights: opt(str('Safetensors file of its trained weights (PyTorch names and layouts), relative to the working directory.'), defaultFashionClassifierWeights),
});
export type FashionClassifierParams = Filled<typeof FashionClassifierParams>;

export const FashionClassifier = defineTarget({
  id: 'ldmc.eval.FashionClassifier',
  aliases: [],
  families: ['eval'],
  summary: 'A small CNN trained on Fashion-MNIST that judges the class of generated images (class-conditional sample accuracy).',
  source: 'runtime/eval/classifier.ts (ldmc)',
  params: FashionClassifierParams,
});

export const evalTargets: TargetSpec[] = [FashionClassifier];
