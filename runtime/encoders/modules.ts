// Conditioning encoders of ldm/modules/encoders/modules.py: ClassEmbedder, SpatialRescaler and
// BERTEmbedder (its transformer only: tokens in, no tokenizer), with the reference's state_dict names.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { Module } from '../module.js';
import { Conv2d, Embedding } from '../nn/index.js';
import { interpolate, type InterpolationMode } from './interpolate.js';
import { TransformerWrapper, XEncoder } from './x-transformer.js';

export interface ClassEmbedderArgs {
  embed_dim: number;
  n_classes?: number;
  key?: string;
}

/** `ClassEmbedder`: class ids → [B, 1, embed_dim] (one token, for cross-attention). */
export class ClassEmbedder extends Module {
  static override readonly className = 'ClassEmbedder';
  readonly key: string;
  readonly embedding: Embedding;

  constructor(readonly args: ClassEmbedderArgs) {
    super();
    this.key = args.key ?? 'class';
    this.embedding = this.add('embedding', new Embedding(args.n_classes ?? 1000, args.embed_dim));
  }

  /** `forward(batch, key)`: embeds `batch[key]` ([B] integer ids). */
  forward(batch: Readonly<Record<string, Tensor>>, key: string = this.key): Tensor3D {
    const ids = batch[key];
    if (!ids) throw new Error(`ClassEmbedder: the batch has no '${key}' (keys: ${Object.keys(batch).join(', ') || 'none'})`);
    return this.embedClasses(ids);
  }

  /** [B] class ids → [B, 1, embed_dim]. */
  embedClasses(ids: Tensor): Tensor3D {
    return tf.tidy(() => this.embedding.forward(tf.reshape(ids, [-1, 1])) as Tensor3D);
  }
}

export interface SpatialRescalerArgs {
  n_stages?: number;
  method?: InterpolationMode;
  multiplier?: number;
  in_channels?: number;
  out_channels?: number | null;
  bias?: boolean;
}

const METHODS: readonly InterpolationMode[] = ['nearest', 'linear', 'bilinear', 'trilinear', 'bicubic', 'area'];

/** `SpatialRescaler`: n_stages × interpolate(scale_factor=multiplier), then an optional 1×1 channel_mapper. */
export class SpatialRescaler extends Module {
  static override readonly className = 'SpatialRescaler';
  readonly nStages: number;
  readonly method: InterpolationMode;
  readonly multiplier: number;
  readonly channel_mapper: Conv2d | null;

  constructor(readonly args: SpatialRescalerArgs = {}) {
    super();
    this.nStages = args.n_stages ?? 1;
    this.method = args.method ?? 'bilinear';
    this.multiplier = args.multiplier ?? 0.5;
    if (!Number.isInteger(this.nStages) || this.nStages < 0) throw new Error(`SpatialRescaler: n_stages must be an integer ≥ 0, got ${this.nStages}`);
    if (!METHODS.includes(this.method)) throw new Error(`SpatialRescaler: method '${this.method}' is not one of ${METHODS.join(', ')}`);
    this.channel_mapper = args.out_channels != null
      ? this.add('channel_mapper', new Conv2d(args.in_channels ?? 3, args.out_channels, 1, { bias: args.bias ?? false }))
      : null;
  }

  /** x: NHWC. */
  forward(x: Tensor4D): Tensor4D {
    return tf.tidy(() => {
      let h = x;
      for (let i = 0; i < this.nStages; i++) h = interpolate(h, this.multiplier, this.method);
      return this.channel_mapper ? this.channel_mapper.forward(h) : h;
    });
  }

  encode(x: Tensor4D): Tensor4D {
    return this.forward(x);
  }
}

export interface BERTEmbedderArgs {
  n_embed: number;
  n_layer: number;
  vocab_size?: number;
  max_seq_len?: number;
  device?: string;
  use_tokenizer?: boolean;
  embedding_dropout?: number;
}

/**
 * `BERTEmbedder`: TransformerWrapper(Encoder(dim n_embed, depth n_layer)) returning embeddings.
 * The BERT tokenizer (huggingface bert-base-uncased) is not bundled: `forward` takes token ids
 * (what the tokenizer would produce, padded to max_seq_len); text input throws.
 */
export class BERTEmbedder extends Module {
  static override readonly className = 'BERTEmbedder';
  readonly useTokenizer: boolean;
  readonly transformer: TransformerWrapper;

  constructor(readonly args: BERTEmbedderArgs) {
    super();
    this.useTokenizer = args.use_tokenizer ?? true;
    this.transformer = this.add('transformer', new TransformerWrapper({
      num_tokens: args.vocab_size ?? 30522,
      max_seq_len: args.max_seq_len ?? 77,
      attn_layers: new XEncoder({ dim: args.n_embed, depth: args.n_layer }),
      emb_dropout: args.embedding_dropout ?? 0,
    }));
  }

  /** token ids [B, N] (int32, or float32 holding integers) → [B, N, n_embed]. */
  forward(tokens: Tensor2D | readonly string[]): Tensor3D {
    if (Array.isArray(tokens) || !(tokens instanceof tf.Tensor)) {
      throw new Error(this.useTokenizer
        ? 'BERTEmbedder: text input needs the BERT tokenizer (bert-base-uncased), which is not supported yet; pass token ids [B, N] instead'
        : 'BERTEmbedder: use_tokenizer is false, so the input must be token ids [B, N], not text');
    }
    return this.transformer.forward(tokens as Tensor2D, true);
  }

  encode(tokens: Tensor2D | readonly string[]): Tensor3D {
    return this.forward(tokens);
  }
}
