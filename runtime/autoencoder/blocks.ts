// The first stage's building blocks (ldm/modules/diffusionmodules/model.py), NHWC.
// They differ from the UNet's: GroupNorm eps 1e-6 (`Normalize`), no timestep input, a single-head
// AttnBlock with 1×1 conv q/k/v, and a Downsample that pads (0,1,0,1) before a stride-2 conv.
import { assertNever } from '../../schema/family.js';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { Module, type UnaryModule } from '../module.js';
import { Conv2d, Dropout, GroupNorm, Identity, Linear, avgPool2x, normalize, silu, upsampleNearest2x } from '../nn/index.js';
import type { AttnType } from './args.js';

export interface ResnetBlockArgs {
  in_channels: number;
  out_channels?: number | null;
  conv_shortcut?: boolean;
  dropout: number;
  /** 0 in the autoencoder (no temb_proj). */
  temb_channels?: number;
}

/** `ResnetBlock`: norm1, conv1, [temb_proj], norm2, dropout, conv2, [conv_shortcut | nin_shortcut]. */
export class ResnetBlock extends Module {
  static override readonly className = 'ResnetBlock';
  readonly inChannels: number;
  readonly outChannels: number;
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly temb_proj: Linear | null;
  readonly norm2: GroupNorm;
  readonly dropout: Dropout;
  readonly conv2: Conv2d;
  readonly shortcut: Conv2d | null;

  constructor(args: ResnetBlockArgs) {
    super();
    const cin = args.in_channels, cout = args.out_channels ?? cin, temb = args.temb_channels ?? 512;
    this.inChannels = cin;
    this.outChannels = cout;
    // Registration order = torch's attribute order, so the state_dict lists keys as torch does.
    this.norm1 = this.add('norm1', normalize(cin));
    this.conv1 = this.add('conv1', new Conv2d(cin, cout, 3, { padding: 1 }));
    this.temb_proj = temb > 0 ? this.add('temb_proj', new Linear(temb, cout)) : null;
    this.norm2 = this.add('norm2', normalize(cout));
    this.dropout = this.add('dropout', new Dropout(args.dropout));
    this.conv2 = this.add('conv2', new Conv2d(cout, cout, 3, { padding: 1 }));
    this.shortcut = cin === cout ? null
      : args.conv_shortcut ? this.add('conv_shortcut', new Conv2d(cin, cout, 3, { padding: 1 }))
        : this.add('nin_shortcut', new Conv2d(cin, cout, 1));
  }

  forward(x: Tensor4D, temb?: tf.Tensor2D | null): Tensor4D {
    return tf.tidy(() => {
      let h = this.conv1.forward(this.norm1.forwardSilu(x));
      if (temb && this.temb_proj) h = tf.add(h, tf.reshape(this.temb_proj.forward(silu(temb)), [temb.shape[0], 1, 1, -1]));
      h = this.conv2.forward(this.dropout.forward(this.norm2.forwardSilu(h)));
      return tf.add(this.shortcut ? this.shortcut.forward(x) : x, h);
    });
  }
}

/** `AttnBlock`: single-head self-attention over H·W positions, scale C^-1/2, residual. */
export class AttnBlock extends Module implements UnaryModule {
  static override readonly className = 'AttnBlock';
  readonly norm: GroupNorm;
  readonly q: Conv2d;
  readonly k: Conv2d;
  readonly v: Conv2d;
  readonly proj_out: Conv2d;

  constructor(readonly inChannels: number) {
    super();
    const c = inChannels;
    this.norm = this.add('norm', normalize(c));
    this.q = this.add('q', new Conv2d(c, c, 1));
    this.k = this.add('k', new Conv2d(c, c, 1));
    this.v = this.add('v', new Conv2d(c, c, 1));
    this.proj_out = this.add('proj_out', new Conv2d(c, c, 1));
  }

  forward(x: Tensor4D): Tensor4D {
    return tf.tidy(() => {
      const [B, H, W, C] = x.shape;
      const h = this.norm.forward(x);
      const seq = (t: Tensor4D): Tensor3D => tf.reshape(t, [B, H * W, C]);
      const q = seq(this.q.forward(h)), k = seq(this.k.forward(h)), v = seq(this.v.forward(h));
      // torch scales the logits after the product; doing the same keeps rounding identical.
      const w = tf.softmax(tf.mul(tf.matMul(q, k, false, true), C ** -0.5), -1) as Tensor3D;
      const out = tf.reshape(tf.matMul(w, v), [B, H, W, C]) as Tensor4D;
      return tf.add(x, this.proj_out.forward(out));
    });
  }
}

/**
 * `LinAttnBlock` = attention.py `LinearAttention(dim, heads=1, dim_head=dim)`: softmax over
 * positions on k, context = kᵀv, out = q·context. No norm and no residual, as in the reference.
 */
export class LinAttnBlock extends Module implements UnaryModule {
  static override readonly className = 'LinAttnBlock';
  readonly to_qkv: Conv2d;
  readonly to_out: Conv2d;

  constructor(readonly inChannels: number) {
    super();
    const c = inChannels;
    this.to_qkv = this.add('to_qkv', new Conv2d(c, 3 * c, 1, { bias: false }));
    this.to_out = this.add('to_out', new Conv2d(c, c, 1));
  }

  forward(x: Tensor4D): Tensor4D {
    return tf.tidy(() => {
      const [B, H, W, C] = x.shape;
      // Channels split as (qkv, heads=1, c): q first, then k, then v.
      const [q, k, v] = tf.split(tf.reshape(this.to_qkv.forward(x), [B, H * W, 3 * C]), 3, 2) as [Tensor3D, Tensor3D, Tensor3D];
      const ks = tf.softmax(tf.transpose(k, [0, 2, 1]), -1) as Tensor3D; // [B, C, N], softmax over positions
      const context = tf.matMul(ks, v); // [B, d, e]
      const out = tf.reshape(tf.matMul(q, context), [B, H, W, C]) as Tensor4D;
      return this.to_out.forward(out);
    });
  }
}

export type FirstStageAttn = AttnBlock | LinAttnBlock | Identity;

/** `make_attn`. */
export function makeAttn(inChannels: number, attnType: AttnType = 'vanilla'): FirstStageAttn {
  switch (attnType) {
    case 'vanilla': return new AttnBlock(inChannels);
    // sd2's MemoryEfficientAttnBlock: the same parameters and single-head attention as AttnBlock.
    case 'vanilla-xformers': return new AttnBlock(inChannels);
    case 'linear': return new LinAttnBlock(inChannels);
    case 'none': return new Identity();
    default: return assertNever(attnType, 'attn_type');
  }
}

/** First-stage `Upsample`: nearest ×2, then (with_conv) a 3×3 conv. */
export class Upsample extends Module implements UnaryModule {
  static override readonly className = 'Upsample';
  readonly conv: Conv2d | null;
  constructor(inChannels: number, readonly withConv: boolean) {
    super();
    this.conv = withConv ? this.add('conv', new Conv2d(inChannels, inChannels, 3, { padding: 1 })) : null;
  }
  forward(x: Tensor4D): Tensor4D {
    return tf.tidy(() => {
      const up = upsampleNearest2x(x);
      return this.conv ? this.conv.forward(up) : up;
    });
  }
}

/** First-stage `Downsample`: pad (0,1,0,1), i.e. bottom/right only, then 3×3 stride-2 conv; else avg-pool 2. */
export class Downsample extends Module implements UnaryModule {
  static override readonly className = 'Downsample';
  readonly conv: Conv2d | null;
  constructor(inChannels: number, readonly withConv: boolean) {
    super();
    this.conv = withConv ? this.add('conv', new Conv2d(inChannels, inChannels, 3, { stride: 2, padding: [0, 1, 0, 1] })) : null;
  }
  forward(x: Tensor4D): Tensor4D {
    return this.conv ? this.conv.forward(x) : avgPool2x(x);
  }
}
