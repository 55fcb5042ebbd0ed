// The first-stage models of ldm/models/autoencoder.py, NHWC: VQModel, VQModelInterface (what
// LatentDiffusion uses: encode stops before the quantizer) and AutoencoderKL.
// Only the model is here: the training losses (`lossconfig`) and Lightning steps live elsewhere.
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { Module } from '../module.js';
import { Conv2d } from '../nn/index.js';
import type { AutoencoderKLArgs, DDConfig, VQModelArgs } from './args.js';
import { DiagonalGaussianDistribution } from './distributions.js';
import { Decoder, Encoder } from './model.js';
import { VectorQuantizer } from './quantize.js';

function unsupported(who: string, what: string): never {
  throw new Error(`${who}: ${what} is not supported yet`);
}

/** The `colorize` buffer [3, n, 1, 1] (segmentation logging only), kept so state dicts round-trip. */
function addColorize(m: Module, add: (name: string, init: Tensor) => void, n: number | null | undefined): void {
  if (n == null) return;
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${m.className}: colorize_nlabels must be a positive integer`);
  add('colorize', tf.randomNormal([3, n, 1, 1]));
}

/** Shared by VQModel and VQModelInterface (whose encode/decode differ in signature). */
abstract class VQBase extends Module {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quantize: VectorQuantizer;
  readonly quant_conv: Conv2d;
  readonly post_quant_conv: Conv2d;
  readonly embedDim: number;
  readonly nEmbed: number;

  constructor(readonly args: VQModelArgs) {
    super();
    const who = this.className;
    if (args.use_ema) unsupported(who, 'use_ema (LitEma buffers)');
    if (args.batch_resize_range != null) unsupported(who, 'batch_resize_range');
    const dd: DDConfig = args.ddconfig;
    this.embedDim = args.embed_dim;
    this.nEmbed = args.n_embed;
    // Attribute order of the reference (encoder, decoder, loss, quantize, quant_conv, post_quant_conv).
    this.encoder = this.add('encoder', new Encoder(dd));
    this.decoder = this.add('decoder', new Decoder(dd));
    this.quantize = this.add('quantize', new VectorQuantizer({
      n_e: args.n_embed, e_dim: args.embed_dim, beta: 0.25, remap: args.remap ?? null, sane_index_shape: args.sane_index_shape ?? false,
    }));
    this.quant_conv = this.add('quant_conv', new Conv2d(dd.z_channels, args.embed_dim, 1));
    this.post_quant_conv = this.add('post_quant_conv', new Conv2d(args.embed_dim, dd.z_channels, 1));
    addColorize(this, (n, t) => this.addParam(n, t, 'plain', false), args.colorize_nlabels);
  }

  /** `encode_to_prequant`: quant_conv(encoder(x)). */
  encodeToPrequant(x: Tensor4D): Tensor4D {
    return tf.tidy(() => this.quant_conv.forward(this.encoder.forward(x)));
  }

  /** post_quant_conv then decoder, on already quantized (or not) latents. */
  decodeQuant(quant: Tensor4D): Tensor4D {
    return tf.tidy(() => this.decoder.forward(this.post_quant_conv.forward(quant)));
  }

  /** `decode_code`: image for code indices ([B·h·w] or [B, h, w]) at latent size [B, h, w]. */
  decodeCode(indices: Tensor, shape: readonly [number, number, number]): Tensor4D {
    return tf.tidy(() => this.decodeQuant(this.quantize.lookup(indices, shape)));
  }
}

export interface VQEncodeResult {
  readonly quant: Tensor4D;
  readonly embLoss: Scalar;
  readonly indices: Tensor;
}

export class VQModel extends VQBase {
  static override readonly className: string = 'VQModel';

  /** quantize(quant_conv(encoder(x))). */
  encode(x: Tensor4D): VQEncodeResult {
    return tf.tidy(() => {
      const { zq, loss, indices } = this.quantize.forward(this.encodeToPrequant(x));
      return { quant: zq, embLoss: loss, indices };
    });
  }

  decode(quant: Tensor4D): Tensor4D {
    return this.decodeQuant(quant);
  }

  /** `forward(input)`: (dec, diff, indices). */
  forward(x: Tensor4D): { dec: Tensor4D; diff: Scalar; indices: Tensor } {
    return tf.tidy(() => {
      const { quant, embLoss, indices } = this.encode(x);
      return { dec: this.decode(quant), diff: embLoss, indices };
    });
  }
}

export class VQModelInterface extends VQBase {
  static override readonly className: string = 'VQModelInterface';

  /** h = quant_conv(encoder(x)): the pre-quantization latent that LatentDiffusion diffuses. */
  encode(x: Tensor4D): Tensor4D {
    return this.encodeToPrequant(x);
  }

  /** Quantizes h (unless forceNotQuantize), then post_quant_conv and the decoder. */
  decode(h: Tensor4D, forceNotQuantize = false): Tensor4D {
    return tf.tidy(() => this.decodeQuant(forceNotQuantize ? h : this.quantize.forward(h).zq));
  }

  /** VQModel.forward: (dec, diff, indices). */
  forward(x: Tensor4D): { dec: Tensor4D; diff: Scalar; indices: Tensor } {
    return tf.tidy(() => {
      const { zq, loss, indices } = this.quantize.forward(this.encode(x));
      return { dec: this.decodeQuant(zq), diff: loss, indices };
    });
  }
}

export class AutoencoderKL extends Module {
  static override readonly className = 'AutoencoderKL';
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quant_conv: Conv2d;
  readonly post_quant_conv: Conv2d;
  readonly embedDim: number;

  constructor(readonly args: AutoencoderKLArgs) {
    super();
    const dd = args.ddconfig;
    if (dd.double_z === false) throw new Error('AutoencoderKL: ddconfig.double_z must be true (the encoder outputs mean and logvar)');
    this.embedDim = args.embed_dim;
    this.encoder = this.add('encoder', new Encoder(dd));
    this.decoder = this.add('decoder', new Decoder(dd));
    this.quant_conv = this.add('quant_conv', new Conv2d(2 * dd.z_channels, 2 * args.embed_dim, 1));
    this.post_quant_conv = this.add('post_quant_conv', new Conv2d(args.embed_dim, dd.z_channels, 1));
    addColorize(this, (n, t) => this.addParam(n, t, 'plain', false), args.colorize_nlabels);
  }

  /** The posterior over latents. The caller disposes it. */
  encode(x: Tensor4D): DiagonalGaussianDistribution {
    const moments = tf.tidy(() => this.quant_conv.forward(this.encoder.forward(x)));
    const posterior = new DiagonalGaussianDistribution(moments);
    return posterior;
  }

  decode(z: Tensor4D): Tensor4D {
    return tf.tidy(() => this.decoder.forward(this.post_quant_conv.forward(z)));
  }

  /**
   * `forward(input, sample_posterior)`: decodes a posterior sample (with `eps` if given) or its
   * mode. Returns the posterior too; the caller disposes it (and its `parameters`).
   */
  forward(x: Tensor4D, samplePosterior = true, eps?: Tensor4D): { dec: Tensor4D; posterior: DiagonalGaussianDistribution } {
    const posterior = this.encode(x);
    const dec = tf.tidy(() => this.decode(samplePosterior ? posterior.sample(eps) : posterior.mean));
    return { dec, posterior };
  }
}
