// Attention blocks of ldm (openaimodel.py's AttentionBlock; attention.py's SpatialTransformer),
// channels-last: sequences are [B, T, C], images NHWC.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { Module, ModuleList, Sequential } from '../module.js';
import { Conv1d, Conv2d, Dropout, GELU, GroupNorm, GroupNorm32, LayerNorm, Linear, gelu } from './layers.js';
import { fusedAttention, fusedAttentionActive, scaledDotProductAttention } from './chunked-attention.js';

/** [B, T, H·d] → [B·H, T, d] (einops `b n (h d) -> (b h) n d`). */
function splitHeads(x: Tensor3D, heads: number): Tensor3D {
  const [B, T, C] = x.shape;
  return tf.reshape(tf.transpose(tf.reshape(x, [B, T, heads, C / heads]), [0, 2, 1, 3]), [B * heads, T, C / heads]);
}

/** [B·H, T, d] → [B, T, H·d]. */
function mergeHeads(x: Tensor3D, heads: number): Tensor3D {
  const [BH, T, d] = x.shape;
  const B = BH / heads;
  return tf.reshape(tf.transpose(tf.reshape(x, [B, heads, T, d]), [0, 2, 1, 3]), [B, T, heads * d]);
}

/**
 * `QKVAttentionLegacy`: the qkv channels are split into heads first, then each head's
 * 3·d channels into [q; k; v]. q and k are each scaled by d^-1/4.
 */
export class QKVAttentionLegacy extends Module {
  static override readonly className: string = 'QKVAttentionLegacy';
  constructor(readonly nHeads: number) {
    super();
  }
  /** qkv: [B, T, 3·H·d] → [B, T, H·d] */
  forward(qkv: Tensor3D): Tensor3D {
    return tf.tidy(() => {
      const [B, T, W] = qkv.shape, H = this.nHeads;
      if (W % (3 * H) !== 0) throw new Error(`${this.className}: width ${W} is not divisible by 3·${H}`);
      const d = W / (3 * H);
      const perHead = tf.reshape(tf.transpose(tf.reshape(qkv, [B, T, H, 3 * d]), [0, 2, 1, 3]), [B * H, T, 3 * d]);
      const [q, k, v] = tf.split(perHead, 3, 2) as [Tensor3D, Tensor3D, Tensor3D];
      const s = 1 / Math.sqrt(Math.sqrt(d));
      return mergeHeads(scaledDotProductAttention(tf.mul(q, s), tf.mul(k, s), v), H);
    });
  }
}

/** `QKVAttention` (use_new_attention_order): split into q, k, v first, then each into heads. */
export class QKVAttention extends Module {
  static override readonly className: string = 'QKVAttention';
  constructor(readonly nHeads: number) {
    super();
  }
  forward(qkv: Tensor3D): Tensor3D {
    return tf.tidy(() => {
      const W = qkv.shape[2], H = this.nHeads;
      if (W % (3 * H) !== 0) throw new Error(`${this.className}: width ${W} is not divisible by 3·${H}`);
      const d = W / (3 * H);
      const [q, k, v] = (tf.split(qkv, 3, 2) as Tensor3D[]).map((t) => splitHeads(t, H)) as [Tensor3D, Tensor3D, Tensor3D];
      const s = 1 / Math.sqrt(Math.sqrt(d));
      return mergeHeads(scaledDotProductAttention(tf.mul(q, s), tf.mul(k, s), v), H);
    });
  }
}

export interface AttentionBlockArgs {
  channels: number;
  /** Used when numHeadChannels is -1. */
  numHeads?: number;
  /** -1: use numHeads; otherwise heads = channels / numHeadChannels. */
  numHeadChannels?: number;
  useNewAttentionOrder?: boolean;
}

/** openaimodel `AttentionBlock`: norm, qkv (Conv1d), attention, proj_out (zero-init Conv1d), residual. */
export class AttentionBlock extends Module {
  static override readonly className = 'AttentionBlock';
  readonly numHeads: number;
  readonly norm: GroupNorm32;
  readonly qkv: Conv1d;
  readonly attention: QKVAttention | QKVAttentionLegacy;
  readonly proj_out: Conv1d;

  constructor(args: AttentionBlockArgs) {
    super();
    const c = args.channels, nhc = args.numHeadChannels ?? -1;
    if (nhc === -1) {
      this.numHeads = args.numHeads ?? 1;
    } else {
      if (c % nhc !== 0) throw new Error(`AttentionBlock: channels ${c} are not divisible by num_head_channels ${nhc}`);
      this.numHeads = c / nhc;
    }
    this.norm = this.add('norm', new GroupNorm32(c));
    this.qkv = this.add('qkv', new Conv1d(c, 3 * c));
    this.attention = this.add('attention', args.useNewAttentionOrder ? new QKVAttention(this.numHeads) : new QKVAttentionLegacy(this.numHeads));
    this.proj_out = this.add('proj_out', new Conv1d(c, c, { init: 'zeros' }));
  }

  forward(x: Tensor4D): Tensor4D {
    return tf.tidy(() => {
      const [B, H, W, C] = x.shape;
      const seq = tf.reshape(x, [B, H * W, C]) as Tensor3D;
      const h = this.proj_out.forward(this.attention.forward(this.qkv.forward(this.norm.forward(seq))));
      return tf.reshape(tf.add(seq, h), [B, H, W, C]);
    });
  }
}

/** attention.py `CrossAttention`: bias-free to_q/to_k/to_v, heads `b n (h d)`, scale d^-1/2. */
export class CrossAttention extends Module {
  static override readonly className = 'CrossAttention';
  readonly to_q: Linear;
  readonly to_k: Linear;
  readonly to_v: Linear;
  readonly to_out: Sequential;
  readonly scale: number;

  constructor(queryDim: number, contextDim: number | null, readonly heads = 8, readonly dimHead = 64, dropout = 0) {
    super();
    const inner = heads * dimHead, cd = contextDim ?? queryDim;
    this.scale = 1 / Math.sqrt(dimHead);
    this.to_q = this.add('to_q', new Linear(queryDim, inner, { bias: false }));
    this.to_k = this.add('to_k', new Linear(cd, inner, { bias: false }));
    this.to_v = this.add('to_v', new Linear(cd, inner, { bias: false }));
    this.to_out = this.add('to_out', new Sequential([new Linear(inner, queryDim), new Dropout(dropout)]));
  }

  /** x: [B, N, query_dim]; context: [B, M, context_dim] (defaults to x: self-attention). */
  forward(x: Tensor3D, context?: Tensor3D): Tensor3D {
    return tf.tidy(() => {
      const ctx = context ?? x, h = this.heads;
      if (fusedAttentionActive() && x.dtype === 'float32') {
        return this.to_out.forward(fusedAttention(this.to_q.forward(x), this.to_k.forward(ctx), this.to_v.forward(ctx), h, this.scale));
      }
      const q = splitHeads(this.to_q.forward(x), h);
      const k = splitHeads(this.to_k.forward(ctx), h);
      const v = splitHeads(this.to_v.forward(ctx), h);
      // in query chunks, so that 4,096-token latents never hold the whole matrix (chunked-attention.ts)
      return this.to_out.forward(mergeHeads(scaledDotProductAttention(q, k, v, this.scale), h));
    });
  }
}

/** GEGLU: proj to 2·dim_out, (a, gate) = chunk(2), a·GELU(gate). */
export class GEGLU extends Module {
  static override readonly className = 'GEGLU';
  readonly proj: Linear;
  constructor(dimIn: number, readonly dimOut: number) {
    super();
    this.proj = this.add('proj', new Linear(dimIn, 2 * dimOut));
  }
  forward<T extends Tensor>(x: T): T {
    return tf.tidy(() => {
      const [a, gate] = tf.split(this.proj.forward(x), 2, -1) as [Tensor, Tensor];
      return tf.mul(a, gelu(gate));
    }) as T;
  }
}

/** attention.py `FeedForward`: net = [GEGLU | (Linear, GELU), Dropout, Linear]. */
export class FeedForward extends Module {
  static override readonly className = 'FeedForward';
  readonly net: Sequential;
  constructor(dim: number, opts: { dimOut?: number; mult?: number; glu?: boolean; dropout?: number } = {}) {
    super();
    const inner = Math.trunc(dim * (opts.mult ?? 4)), out = opts.dimOut ?? dim;
    const projectIn = opts.glu ? new GEGLU(dim, inner) : new Sequential([new Linear(dim, inner), new GELU()]);
    this.net = this.add('net', new Sequential([projectIn, new Dropout(opts.dropout ?? 0), new Linear(inner, out)]));
  }
  forward<T extends Tensor>(x: T): T {
    return this.net.forward(x);
  }
}

/**
 * attention.py `BasicTransformerBlock`: self-attn, cross-attn, GEGLU feed-forward, pre-LayerNorm.
 * sd2's `disableSelfAttn` builds attn1 with the context's width and runs it on the context too.
 */
export class BasicTransformerBlock extends Module {
  static override readonly className = 'BasicTransformerBlock';
  readonly attn1: CrossAttention;
  readonly ff: FeedForward;
  readonly attn2: CrossAttention;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly norm3: LayerNorm;
  readonly disableSelfAttn: boolean;

  constructor(dim: number, nHeads: number, dHead: number, opts: { dropout?: number; contextDim?: number | null; gatedFf?: boolean; disableSelfAttn?: boolean } = {}) {
    super();
    const dropout = opts.dropout ?? 0;
    this.disableSelfAttn = opts.disableSelfAttn ?? false;
    // Registration order = torch's attribute order, so namedParameters() lists keys as torch does.
    this.attn1 = this.add('attn1', new CrossAttention(dim, this.disableSelfAttn ? opts.contextDim ?? null : null, nHeads, dHead, dropout));
    this.ff = this.add('ff', new FeedForward(dim, { dropout, glu: opts.gatedFf ?? true }));
    this.attn2 = this.add('attn2', new CrossAttention(dim, opts.contextDim ?? null, nHeads, dHead, dropout));
    this.norm1 = this.add('norm1', new LayerNorm(dim));
    this.norm2 = this.add('norm2', new LayerNorm(dim));
    this.norm3 = this.add('norm3', new LayerNorm(dim));
  }

  forward(x: Tensor3D, context?: Tensor3D): Tensor3D {
    return tf.tidy(() => {
      let h = tf.add(this.attn1.forward(this.norm1.forward(x), this.disableSelfAttn ? context : undefined), x) as Tensor3D;
      h = tf.add(this.attn2.forward(this.norm2.forward(h), context), h);
      return tf.add(this.ff.forward(this.norm3.forward(h)), h);
    });
  }
}

export interface SpatialTransformerArgs {
  inChannels: number;
  nHeads: number;
  dHead: number;
  depth?: number;
  dropout?: number;
  contextDim?: number | null;
  /** sd2: attn1 of every block attends to the context. */
  disableSelfAttn?: boolean;
  /** sd2 `use_linear`: Linear proj_in/proj_out on the tokens instead of 1×1 convs. */
  useLinear?: boolean;
}

/**
 * attention.py `SpatialTransformer`: norm (eps 1e-6), 1×1 proj_in, transformer blocks, zero-init
 * 1×1 proj_out, residual. With sd2's `useLinear` the projections are nn.Linear on the [B, HW, C]
 * tokens; proj_out is then built as the reference builds it, Linear(in_channels, inner), which
 * only runs when the two widths are equal (the facts warn otherwise).
 */
export class SpatialTransformer extends Module {
  static override readonly className = 'SpatialTransformer';
  readonly norm: GroupNorm;
  readonly proj_in: Conv2d | Linear;
  readonly transformer_blocks: ModuleList<BasicTransformerBlock>;
  readonly proj_out: Conv2d | Linear;
  readonly useLinear: boolean;

  constructor(args: SpatialTransformerArgs) {
    super();
    const inner = args.nHeads * args.dHead, c = args.inChannels;
    this.useLinear = args.useLinear ?? false;
    this.norm = this.add('norm', new GroupNorm(32, c, 1e-6));
    this.proj_in = this.add('proj_in', this.useLinear ? new Linear(c, inner) : new Conv2d(c, inner, 1));
    const blocks: BasicTransformerBlock[] = [];
    for (let i = 0; i < (args.depth ?? 1); i++) {
      blocks.push(new BasicTransformerBlock(inner, args.nHeads, args.dHead, { dropout: args.dropout ?? 0, contextDim: args.contextDim ?? null, disableSelfAttn: args.disableSelfAttn ?? false }));
    }
    this.transformer_blocks = this.add('transformer_blocks', new ModuleList(blocks));
    this.proj_out = this.add('proj_out', this.useLinear ? new Linear(c, inner, { init: 'zeros' }) : new Conv2d(inner, c, 1, { init: 'zeros' }));
  }

  /** x: NHWC; context: [B, M, context_dim] or undefined (cross-attention then attends to x). */
  forward(x: Tensor4D, context?: Tensor3D): Tensor4D {
    return tf.tidy(() => {
      const [B, H, W, C] = x.shape;
      const normed = this.norm.forward(x);
      const pin = this.proj_in, pout = this.proj_out;
      let s: Tensor3D;
      if (pin instanceof Linear) s = pin.forward(tf.reshape(normed, [B, H * W, C]) as Tensor3D);
      else {
        const h = pin.forward(normed);
        s = tf.reshape(h, [B, H * W, h.shape[3]!]) as Tensor3D;
      }
      for (const block of this.transformer_blocks) s = block.forward(s, context);
      const inner = s.shape[2];
      const out = pout instanceof Linear
        ? tf.reshape(pout.forward(s), [B, H, W, inner])
        : pout.forward(tf.reshape(s, [B, H, W, inner]) as Tensor4D);
      return tf.add(out, x);
    });
  }
}

/** The first stage's `Normalize(c)`: GroupNorm(32, c, eps 1e-6). */
export function normalize(channels: number): GroupNorm {
  return new GroupNorm(32, channels, 1e-6);
}
