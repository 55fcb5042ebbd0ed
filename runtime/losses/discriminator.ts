// taming/modules/discriminator/model.py: the PatchGAN `NLayerDiscriminator` of pix2pix and its
// `weights_init`, NHWC. Layer indices of `main` count the LeakyReLUs, as nn.Sequential does, so
// a taming checkpoint's `loss.discriminator.main.{0,2,3,5,6,8,9,11}.*` keys load unchanged.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { maxPatchGanLayers, patchGanOutputSide } from '../../schema/facts/index.js';
import { Module, Sequential, type UnaryModule } from '../module.js';
import { Conv2d } from '../nn/index.js';
import { normal } from '../nn/init.js';
import { ActNorm, BatchNorm2d, type DiscriminatorNorm } from './batchnorm.js';

/** `nn.LeakyReLU(negative_slope)`. */
export class LeakyReLU extends Module implements UnaryModule {
  static override readonly className = 'LeakyReLU';
  constructor(readonly negativeSlope = 0.01) {
    super();
  }
  forward<T extends Tensor>(x: T): T {
    return tf.leakyRelu(x, this.negativeSlope);
  }
}

export interface NLayerDiscriminatorForwardOptions {
  /**
   * Whether norm layers may update their buffers (BatchNorm running statistics, ActNorm init);
   * default true. False re-runs the same function without counting the batch twice, as the
   * adaptive-weight recomputation needs.
   */
  updateStats?: boolean;
}

export class NLayerDiscriminator extends Module {
  static override readonly className = 'NLayerDiscriminator';
  readonly main: Sequential;

  constructor(readonly input_nc = 3, readonly ndf = 64, readonly n_layers = 3, readonly use_actnorm = false) {
    super();
    const kw = 4, padw = 1;
    // BatchNorm has its own affine shift, so the convolutions before it go without a bias.
    const useBias = use_actnorm;
    const norm = (c: number): DiscriminatorNorm => (use_actnorm ? new ActNorm(c) : new BatchNorm2d(c));
    const layers: UnaryModule[] = [new Conv2d(input_nc, ndf, kw, { stride: 2, padding: padw }), new LeakyReLU(0.2)];
    let mult = 1;
    for (let n = 1; n < n_layers; n++) {
      const prev = mult;
      mult = Math.min(2 ** n, 8);
      layers.push(new Conv2d(ndf * prev, ndf * mult, kw, { stride: 2, padding: padw, bias: useBias }), norm(ndf * mult), new LeakyReLU(0.2));
    }
    const prev = mult;
    mult = Math.min(2 ** n_layers, 8);
    layers.push(new Conv2d(ndf * prev, ndf * mult, kw, { stride: 1, padding: padw, bias: useBias }), norm(ndf * mult), new LeakyReLU(0.2));
    layers.push(new Conv2d(ndf * mult, 1, kw, { stride: 1, padding: padw }));
    this.main = this.add('main', new Sequential(layers));
  }

  /** x: [B, H, W, input_nc] → patch logits [B, H', W', 1] (30×30 for 256×256 with 3 layers). */
  forward(x: Tensor4D, opts: NLayerDiscriminatorForwardOptions = {}): Tensor4D {
    const updateStats = opts.updateStats ?? true;
    // tfjs would return an empty patch map (and the GAN losses garbage) where torch raises.
    const [, H, W] = x.shape;
    if (patchGanOutputSide(H, this.n_layers) < 1 || patchGanOutputSide(W, this.n_layers) < 1) {
      const most = maxPatchGanLayers(Math.min(H, W));
      throw new Error(`NLayerDiscriminator: n_layers = ${this.n_layers} is too deep for ${H}×${W} inputs: the patch map would be empty `
        + `(${this.n_layers} stride-2 convolutions, then two 4×4 ones that take a pixel each); PyTorch raises here too. `
        + (most > 0 ? `Use disc_num_layers ≤ ${most} for these images, or larger images.` : 'The images are too small for any PatchGAN discriminator.'));
    }
    return tf.tidy(() => {
      let h = x;
      for (const layer of this.main.layers) {
        h = layer instanceof BatchNorm2d || layer instanceof ActNorm ? layer.forward(h, updateStats) : (layer.forward(h) as Tensor4D);
      }
      return h;
    });
  }
}

/**
 * taming `weights_init`, applied to every module of `root`: Conv weights ~ N(0, 0.02) (their
 * biases keep PyTorch's default init), BatchNorm weight ~ N(1, 0.02) and bias 0. ActNorm is left
 * alone, as in the reference (its class name matches neither).
 *
 * The draws come from runtime/nn/init's stream, so after `seedInit(seed)` two builds give the
 * same discriminator (and under buildWithZeroInit: conv weights 0, BatchNorm weights 1).
 */
export function weightsInit(root: Module): void {
  const scaled = (shape: number[], mean: number) => tf.tidy(() => tf.add(tf.mul(normal(shape), 0.02), mean));
  for (const [, m] of root.namedModules()) {
    if (m instanceof Conv2d) {
      replace(m.weight, scaled(m.weight.shape, 0));
    } else if (m instanceof BatchNorm2d) {
      replace(m.weight, scaled(m.weight.shape, 1));
      replace(m.bias, tf.zeros(m.bias.shape));
    }
  }
}

function replace(v: tf.Variable, t: Tensor): void {
  v.assign(t);
  t.dispose();
}

/** Number of trainable scalars (PyTorch's `sum(p.numel() for p in m.parameters())`: buffers excluded). */
export function trainableParamCount(m: Module): number {
  let n = 0;
  for (const p of m.paramEntries()) if (p.variable.trainable) n += p.variable.size;
  return n;
}

/** The trainable variables of a module: what its optimizer should be given. */
export function trainableVariables(m: Module): tf.Variable[] {
  return m.parameters().filter((v) => v.trainable);
}
