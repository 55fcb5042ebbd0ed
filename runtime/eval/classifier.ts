// ldmc.eval.FashionClassifier: a small CNN that judges the class of 32×32 Fashion-MNIST images
// (real ones, or a class-conditional model's decoded samples). PyTorch equivalent, whose
// state_dict keys are exactly this module's parameter names:
//
//   features = nn.Sequential(
//     nn.Conv2d(C, w, 3, padding=1),   nn.AvgPool2d(2), nn.GroupNorm(8, w),  nn.SiLU(),   # 0-3   32 → 16
//     nn.Conv2d(w, 2w, 3, padding=1),  nn.AvgPool2d(2), nn.GroupNorm(8, 2w), nn.SiLU(),   # 4-7   16 → 8
//     nn.Conv2d(2w, 2w, 3, padding=1), nn.GroupNorm(8, 2w), nn.SiLU(),                    # 8-10
//     nn.Conv2d(2w, 2w, 3, padding=1), nn.GroupNorm(8, 2w), nn.SiLU())                    # 11-13
//   head = nn.Linear(2w, n_classes)
//   forward(x) = head(features(x).mean((2, 3)))
//
// Each level pools right after its conv (conv + average = a stride-2 4×4 conv), so the norms and
// activations run at a quarter of the conv's resolution: on the wasm backend the elementwise
// work of GroupNorm/SiLU, not the convolutions, dominated a training step.
//
// Inputs are NHWC in [-1, 1], as the data module yields them and the decoder produces them.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { Module, Sequential, type UnaryModule } from '../module.js';
import { Conv2d, GroupNorm, Linear, SiLU, avgPool2x } from '../nn/index.js';
import type { FashionClassifierParams } from '../../schema/eval.js';

/** The classifier's structural params (everything but where its weights live). */
export type FashionClassifierArgs = Omit<FashionClassifierParams, 'weights'>;

export const defaultFashionClassifierArgs: FashionClassifierArgs = { in_channels: 1, image_size: 32, n_classes: 10, width: 32 };

/** Groups of every GroupNorm in the classifier. */
export const classifierGroups = 8;

/** Images per forward pass in `logits`/`predict`, to bound memory on large sample sets. */
const chunk = 500;

/** `nn.AvgPool2d(2)`: 2×2 average pooling, stride 2. */
export class AvgPool2d extends Module implements UnaryModule {
  static override readonly className = 'AvgPool2d';
  forward<T extends Tensor>(x: T): T {
    return avgPool2x(x as unknown as Tensor4D) as unknown as T;
  }
}

export class FashionClassifier extends Module {
  static override readonly className = 'FashionClassifier';
  readonly args: FashionClassifierArgs;
  readonly features: Sequential;
  readonly head: Linear;

  constructor(args: Partial<FashionClassifierArgs> = {}) {
    super();
    const a: FashionClassifierArgs = { ...defaultFashionClassifierArgs, ...args };
    const { in_channels: c, width: w, n_classes: n, image_size: s } = a;
    if (w % classifierGroups !== 0) throw new Error(`FashionClassifier: width ${w} is not a multiple of ${classifierGroups} (GroupNorm groups)`);
    if (s % 4 !== 0) throw new Error(`FashionClassifier: image_size ${s} is not a multiple of 4 (two 2× poolings)`);
    this.args = a;
    this.features = this.add('features', new Sequential([
      new Conv2d(c, w, 3, { padding: 1 }), new AvgPool2d(), new GroupNorm(classifierGroups, w), new SiLU(),
      new Conv2d(w, 2 * w, 3, { padding: 1 }), new AvgPool2d(), new GroupNorm(classifierGroups, 2 * w), new SiLU(),
      new Conv2d(2 * w, 2 * w, 3, { padding: 1 }), new GroupNorm(classifierGroups, 2 * w), new SiLU(),
      new Conv2d(2 * w, 2 * w, 3, { padding: 1 }), new GroupNorm(classifierGroups, 2 * w), new SiLU(),
    ]));
    this.head = this.add('head', new Linear(2 * w, n));
  }

  /** Class logits `[B, n_classes]` of NHWC images in [-1, 1] (one pass; see `logits` for large sets). */
  forward(x: Tensor4D): Tensor2D {
    this.checkInput(x);
    return tf.tidy(() => this.head.forward(tf.mean(this.features.forward(x), [1, 2]) as Tensor2D));
  }

  /** Logits of any number of images, computed in chunks. */
  logits(images: Tensor4D): Tensor2D {
    this.checkInput(images);
    const B = images.shape[0];
    if (B <= chunk) return this.forward(images);
    return tf.tidy(() => {
      const parts: Tensor2D[] = [];
      for (let i = 0; i < B; i += chunk) {
        const n = Math.min(chunk, B - i);
        parts.push(this.forward(tf.slice(images, [i, 0, 0, 0], [n, -1, -1, -1])));
      }
      return tf.concat(parts, 0);
    });
  }

  /** The predicted class of each image. */
  predict(images: Tensor4D): Int32Array {
    const ids = tf.tidy(() => tf.argMax(this.logits(images), 1));
    const out = Int32Array.from(ids.dataSync());
    ids.dispose();
    return out;
  }

  /** The fraction of images whose predicted class is their label. */
  accuracy(images: Tensor4D, labels: ArrayLike<number>): number {
    if (labels.length !== images.shape[0]) throw new Error(`FashionClassifier.accuracy: ${labels.length} labels for ${images.shape[0]} images`);
    if (labels.length === 0) return NaN;
    const pred = this.predict(images);
    let right = 0;
    for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) right++;
    return right / pred.length;
  }

  private checkInput(x: Tensor4D): void {
    const { in_channels: c, image_size: s } = this.args;
    if (x.rank !== 4 || x.shape[3] !== c || x.shape[1] !== s || x.shape[2] !== s) {
      throw new Error(`FashionClassifier: expected NHWC images [B, ${s}, ${s}, ${c}], got [${x.shape.join(', ')}]`);
    }
  }
}
