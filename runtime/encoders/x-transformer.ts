// The subset of ldm/modules/x_transformer.py that BERTEmbedder / TransformerEmbedder build:
// TransformerWrapper around an `Encoder` (AttentionLayers with ('a', 'f') blocks, pre-norm
// LayerNorm, plain residuals). Options those classes never set (rezero, scalenorm, macaron,
// memory key/values, talking heads, ...) are refused rather than silently ignored.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import { Module, ModuleList } from '../module.js';
import { Dropout, Embedding, FeedForward, Identity, LayerNorm, Linear, normal } from '../nn/index.js';

export const DEFAULT_DIM_HEAD = 64;

/** x_transformer `Attention` (no mask, no memory): bias-free to_q/k/v, `to_out` a plain Linear. */
export class XAttention extends Module {
  static override readonly className = 'Attention';
  readonly to_q: Linear;
  readonly to_k: Linear;
  readonly to_v: Linear;
  readonly dropout: Dropout;
  readonly to_out: Linear;
  readonly scale: number;

  constructor(dim: number, readonly heads = 8, readonly dimHead = DEFAULT_DIM_HEAD, readonly causal = false, dropout = 0) {
    super();
    const inner = heads * dimHead;
    this.scale = dimHead ** -0.5;
    this.to_q = this.add('to_q', new Linear(dim, inner, { bias: false }));
    this.to_k = this.add('to_k', new Linear(dim, inner, { bias: false }));
    this.to_v = this.add('to_v', new Linear(dim, inner, { bias: false }));
    this.dropout = this.add('dropout', new Dropout(dropout));
    this.to_out = this.add('to_out', new Linear(inner, dim));
  }

  /** x: [B, N, dim]; context defaults to x. */
  forward(x: Tensor3D, context?: Tensor3D): Tensor3D {
    return tf.tidy(() => {
      const kv = context ?? x, h = this.heads, d = this.dimHead;
      const split = (t: Tensor3D): tf.Tensor4D => tf.transpose(tf.reshape(t, [t.shape[0], t.shape[1], h, d]), [0, 2, 1, 3]);
      const q = split(this.to_q.forward(x)), k = split(this.to_k.forward(kv)), v = split(this.to_v.forward(kv));
      let dots = tf.mul(tf.matMul(q, k, false, true), this.scale) as tf.Tensor4D;
      if (this.causal) {
        const i = dots.shape[2], j = dots.shape[3];
        // Position p may not attend to positions after it (keys are right-aligned when j > i).
        const m = tf.buffer([i, j], 'float32');
        for (let a = 0; a < i; a++) for (let b = 0; b < j; b++) if (b - (j - i) > a) m.set(-3.4028234663852886e38, a, b);
        dots = tf.add(dots, m.toTensor());
      }
      const attn = this.dropout.forward(tf.softmax(dots, -1));
      const out = tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]);
      return this.to_out.forward(tf.reshape(out, [x.shape[0], x.shape[1], h * d]) as Tensor3D);
    });
  }
}

/** x_transformer `Residual`: out + residual (no parameters; kept so layer indices match). */
export class Residual extends Module {
  static override readonly className = 'Residual';
  forward(x: Tensor, residual: Tensor): Tensor {
    return tf.add(x, residual);
  }
}

export interface AttentionLayersArgs {
  dim: number;
  depth: number;
  heads?: number;
  causal?: boolean;
  pre_norm?: boolean;
  /** `attn_dim_head` in the reference's prefixed kwargs. */
  attn_dim_head?: number;
  attn_dropout?: number;
  ff_mult?: number;
  ff_glu?: boolean;
  ff_dropout?: number;
}

type Block = XAttention | FeedForward;

/** `AttentionLayers` with the default block ('a', 'f') × depth. */
export class AttentionLayers extends Module {
  static override readonly className: string = 'AttentionLayers';
  readonly dim: number;
  readonly layerTypes: readonly ('a' | 'f')[];
  readonly layers: ModuleList<ModuleList>;
  readonly preNorm: boolean;
  /** True when positions are infused into attention (never here): the wrapper then skips pos_emb. */
  readonly hasPosEmb = false;
  private readonly parts: { norm: LayerNorm; block: Block; residual: Residual }[] = [];

  constructor(readonly args: AttentionLayersArgs) {
    super();
    const unknown = Object.keys(args).filter((k) => !ATTENTION_LAYER_KEYS.has(k));
    if (unknown.length) throw new Error(`AttentionLayers: option(s) ${unknown.join(', ')} are not supported yet`);
    this.dim = args.dim;
    this.preNorm = args.pre_norm ?? true;
    this.layerTypes = Array.from({ length: 2 * args.depth }, (_, i) => (i % 2 === 0 ? 'a' : 'f'));
    this.layers = this.add('layers', new ModuleList<ModuleList>());
    for (const t of this.layerTypes) {
      const norm = new LayerNorm(args.dim);
      const block: Block = t === 'a'
        ? new XAttention(args.dim, args.heads ?? 8, args.attn_dim_head ?? DEFAULT_DIM_HEAD, args.causal ?? false, args.attn_dropout ?? 0)
        : new FeedForward(args.dim, { mult: args.ff_mult ?? 4, glu: args.ff_glu ?? false, dropout: args.ff_dropout ?? 0 });
      const residual = new Residual();
      this.layers.push(new ModuleList<Module>([norm, block, residual]));
      this.parts.push({ norm, block, residual });
    }
  }

  forward(x: Tensor3D): Tensor3D {
    return tf.tidy(() => {
      let h = x;
      this.parts.forEach(({ norm, block, residual }, i) => {
        const res = h;
        if (this.preNorm) h = norm.forward(h);
        const out = block instanceof XAttention ? block.forward(h) : block.forward(h);
        h = residual.forward(out, res) as Tensor3D;
        if (!this.preNorm && i !== this.parts.length - 1) h = norm.forward(h);
      });
      return h;
    });
  }
}

const ATTENTION_LAYER_KEYS = new Set(['dim', 'depth', 'heads', 'causal', 'pre_norm', 'attn_dim_head', 'attn_dropout', 'ff_mult', 'ff_glu', 'ff_dropout']);

/** x_transformer `Encoder`: non-causal AttentionLayers. */
export class XEncoder extends AttentionLayers {
  static override readonly className: string = 'Encoder';
  constructor(args: Omit<AttentionLayersArgs, 'causal'>) {
    if ('causal' in args) throw new Error('Encoder: cannot set causality on an encoder');
    super({ ...args, causal: false });
  }
}

/** `AbsolutePositionalEmbedding`: a learned table `emb` [max_seq_len, dim]. */
export class AbsolutePositionalEmbedding extends Module {
  static override readonly className = 'AbsolutePositionalEmbedding';
  readonly emb: Embedding;
  constructor(dim: number, readonly maxSeqLen: number) {
    super();
    this.emb = this.add('emb', new Embedding(maxSeqLen, dim));
  }
  /** [1, n, dim] for the first n positions. */
  forward(n: number): Tensor3D {
    if (n > this.maxSeqLen) throw new Error(`AbsolutePositionalEmbedding: sequence length ${n} exceeds max_seq_len ${this.maxSeqLen}`);
    return tf.tidy(() => tf.expandDims(tf.slice(this.emb.weight, [0, 0], [n, -1]), 0) as Tensor3D);
  }
}

export interface TransformerWrapperArgs {
  num_tokens: number;
  max_seq_len: number;
  attn_layers: AttentionLayers;
  emb_dim?: number | null;
  max_mem_len?: number;
  emb_dropout?: number;
  num_memory_tokens?: number | null;
  tie_embedding?: boolean;
  use_pos_emb?: boolean;
}

/** `TransformerWrapper`: token + position embeddings, attention layers, final LayerNorm, logits. */
export class TransformerWrapper extends Module {
  static override readonly className = 'TransformerWrapper';
  readonly memory_tokens: tf.Variable | null;
  readonly token_emb: Embedding;
  readonly pos_emb: AbsolutePositionalEmbedding | null;
  readonly emb_dropout: Dropout;
  readonly project_emb: Linear | Identity;
  readonly attn_layers: AttentionLayers;
  readonly norm: LayerNorm;
  readonly to_logits: Linear | null;
  readonly numMemoryTokens: number;

  constructor(readonly args: TransformerWrapperArgs) {
    super();
    const dim = args.attn_layers.dim, embDim = args.emb_dim ?? dim;
    this.numMemoryTokens = args.num_memory_tokens ?? 0;
    // An own parameter comes before the children in torch's state_dict, as in paramEntries().
    this.memory_tokens = this.numMemoryTokens > 0 ? this.addParam('memory_tokens', normal([this.numMemoryTokens, dim])) : null;
    this.token_emb = this.add('token_emb', new Embedding(args.num_tokens, embDim));
    this.pos_emb = (args.use_pos_emb ?? true) && !args.attn_layers.hasPosEmb
      ? this.add('pos_emb', new AbsolutePositionalEmbedding(embDim, args.max_seq_len)) : null;
    this.emb_dropout = this.add('emb_dropout', new Dropout(args.emb_dropout ?? 0));
    this.project_emb = this.add('project_emb', embDim !== dim ? new Linear(embDim, dim) : new Identity());
    this.attn_layers = this.add('attn_layers', args.attn_layers);
    this.norm = this.add('norm', new LayerNorm(dim));
    this.to_logits = args.tie_embedding ? null : this.add('to_logits', new Linear(dim, args.num_tokens));
  }

  /** tokens [B, N] → embeddings [B, N, dim] (returnEmbeddings) or logits [B, N, num_tokens]. */
  forward(tokens: Tensor2D, returnEmbeddings = false): Tensor3D {
    return tf.tidy(() => {
      const [B, N] = tokens.shape;
      let x = this.token_emb.forward(tokens) as Tensor3D;
      if (this.pos_emb) x = tf.add(x, this.pos_emb.forward(N));
      x = this.project_emb.forward(this.emb_dropout.forward(x));
      const m = this.numMemoryTokens;
      if (this.memory_tokens) x = tf.concat([tf.tile(tf.expandDims(this.memory_tokens, 0), [B, 1, 1]) as Tensor3D, x], 1);
      x = this.norm.forward(this.attn_layers.forward(x));
      if (m > 0) x = tf.slice(x, [0, m, 0], [-1, -1, -1]);
      if (returnEmbeddings) return x;
      if (this.to_logits) return this.to_logits.forward(x);
      const tied = tf.matMul(tf.reshape(x, [-1, x.shape[2]]) as Tensor2D, this.token_emb.weight as unknown as Tensor2D, false, true);
      return tf.reshape(tied, [B, N, -1]) as Tensor3D;
    });
  }
}
