// Compile-time checks of the generated types: `tsc -p .` fails if any `@ts-expect-error` below
// stops being an error, and generated-classes.test.ts checks each is an error once the directive
// is removed (and that no other line is). Nothing here runs.
import type { Tensor1D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import type { FashionLdmCondImages, FashionLdmCondLatentDiffusion, FashionLdmCondLatents, FashionLdmCondTrainBatch } from '../../generated/fashion-ldm-cond/index.js';
import type { FashionVqF4TrainBatch } from '../../generated/fashion-vq-f4/index.js';
import type { Celeba256Latents, Celeba256TrainBatch } from '../../generated/celeba256/index.js';
import type { Shaped } from '../../runtime/shaped.js';

declare const right: { image: Shaped<Tensor4D, [number, 32, 32, 1]>; class_label: Tensor1D; human_label: string[] };
declare const rgb64: { image: Shaped<Tensor4D, [number, 64, 64, 3]>; class_label: Tensor1D; human_label: string[] };
declare const unlabelled: { image: Shaped<Tensor4D, [number, 32, 32, 1]>; human_label: string[] };
declare const celebaBatch: Celeba256TrainBatch;
declare const plain: Tensor4D;
declare const ld: FashionLdmCondLatentDiffusion;
declare const celebaLatents: Celeba256Latents;
declare const labels: Tensor1D;

export const ok: FashionLdmCondTrainBatch = right;
export const sameData: FashionVqF4TrainBatch = right;
// @ts-expect-error: a 64×64×3 batch is not fashion-ldm-cond's 32×32×1 batch
export const wrongShape: FashionLdmCondTrainBatch = rgb64;
// @ts-expect-error: fashion-ldm-cond's batches carry class_label
export const missingLabel: FashionLdmCondTrainBatch = unlabelled;
// @ts-expect-error: celeba256's faces have no class_label, and 256×256×3 images
export const otherModel: FashionLdmCondTrainBatch = celebaBatch;
// @ts-expect-error: an unshaped tensor is not fashion-ldm-cond's latents (refine it with shaped())
export const unshaped: FashionLdmCondLatents = plain;
// @ts-expect-error: celeba256's [B, 64, 64, 3] latents do not decode with fashion-ldm-cond's first stage
export const decoded: FashionLdmCondImages = ld.decodeFirstStage(celebaLatents);
// @ts-expect-error: the class-conditional model's sample() needs cond (class ids)
export const noCond: FashionLdmCondImages = ld.sample({ batchSize: 2 });

// The literal shapes flow through the wrapper's methods.
export function roundTrip(x: FashionLdmCondImages): FashionLdmCondImages {
  return ld.decodeFirstStage(ld.encodeFirstStage(x));
}
export function context(): Shaped<Tensor3D, [number, 1, 64]> {
  return ld.getLearnedConditioning(labels);
}
