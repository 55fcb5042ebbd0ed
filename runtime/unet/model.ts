// openaimodel `UNetModel`, NHWC. Child and parameter names follow the reference exactly.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { Module, ModuleList, Sequential } from '../module.js';
import { AttentionBlock, Conv2d, Embedding, GroupNorm32, Linear, SiLU, SpatialTransformer, timestepEmbedding } from '../nn/index.js';
import { withUNetDefaults, type UNetModelArgs, type UNetModelRequired } from './args.js';
import { Downsample, ResBlock, TimestepEmbedSequential, Upsample } from './blocks.js';

/** Called with each TimestepEmbedSequential's output during forward (names as in `inter.*`). */
export type UNetTrace = (name: string, value: tf.Tensor) => void;

export class UNetModel extends Module {
  static override readonly className = 'UNetModel';
  readonly args: UNetModelArgs;
  readonly time_embed: Sequential;
  /** Embedding for int num_classes; sd2: Linear for "continuous", Sequential(Sequential(Linear, SiLU, Linear)) for "sequential". */
  readonly label_emb: Embedding | Linear | Sequential | null = null;
  readonly input_blocks: ModuleList<TimestepEmbedSequential>;
  readonly middle_block: TimestepEmbedSequential;
  readonly output_blocks: ModuleList<TimestepEmbedSequential>;
  readonly out: Sequential;
  readonly id_predictor: Sequential | null = null;

  constructor(params: UNetModelRequired & Partial<UNetModelArgs>) {
    super();
    const a = (this.args = withUNetDefaults(params));
    if (a.dims !== 2) throw new Error(`UNetModel: dims ${a.dims} is not supported (only 2)`);
    if (a.use_spatial_transformer && a.context_dim == null) throw new Error('UNetModel: use_spatial_transformer needs context_dim');
    if (a.context_dim != null && !a.use_spatial_transformer) throw new Error('UNetModel: context_dim needs use_spatial_transformer');
    if (a.num_heads === -1 && a.num_head_channels === -1) throw new Error('UNetModel: set num_heads or num_head_channels');
    const levels = a.channel_mult.length;
    if (a.disable_self_attentions != null && a.disable_self_attentions.length !== levels) throw new Error(`UNetModel: disable_self_attentions needs ${levels} entries (one per level)`);
    if (a.num_attention_blocks != null) {
      if (a.num_attention_blocks.length !== levels) throw new Error(`UNetModel: num_attention_blocks needs ${levels} entries (one per level)`);
      if (a.num_attention_blocks.some((n) => n > a.num_res_blocks)) throw new Error('UNetModel: num_attention_blocks may not exceed num_res_blocks');
    }

    const mc = a.model_channels, ted = mc * 4;
    const numHeadsUpsample = a.num_heads_upsample === -1 ? a.num_heads : a.num_heads_upsample;
    // The reference reassigns num_heads inside its loops when num_head_channels is set; the
    // value then carries over to later blocks, so it is mutable here too.
    let numHeads = a.num_heads;
    const res = (ch: number, out: number, extra: { up?: boolean; down?: boolean } = {}) =>
      new ResBlock({ channels: ch, emb_channels: ted, dropout: a.dropout, out_channels: out, use_scale_shift_norm: a.use_scale_shift_norm, ...extra });
    // `build` false: sd2's num_attention_blocks leaves the layer out, but the head bookkeeping
    // above still runs, as in the reference.
    const attention = (ch: number, heads: number | null, disableSelfAttn: boolean, build = true) => {
      let dimHead: number;
      if (a.num_head_channels === -1) dimHead = Math.floor(ch / numHeads);
      else {
        numHeads = Math.floor(ch / a.num_head_channels);
        dimHead = a.num_head_channels;
      }
      if (a.legacy) dimHead = a.use_spatial_transformer ? Math.floor(ch / numHeads) : a.num_head_channels;
      if (!build) return null;
      if (a.use_spatial_transformer) {
        return new SpatialTransformer({
          inChannels: ch, nHeads: numHeads, dHead: dimHead, depth: a.transformer_depth, contextDim: a.context_dim,
          disableSelfAttn, useLinear: a.use_linear_in_transformer,
        });
      }
      return new AttentionBlock({ channels: ch, numHeads: heads ?? numHeads, numHeadChannels: dimHead, useNewAttentionOrder: a.use_new_attention_order });
    };

    this.time_embed = this.add('time_embed', new Sequential([new Linear(mc, ted), new SiLU(), new Linear(ted, ted)]));
    if (a.num_classes != null) this.label_emb = this.add('label_emb', labelEmbedding(a.num_classes, a.adm_in_channels, ted));
    const selfAttnOff = (level: number) => a.disable_self_attentions?.[level] ?? false;
    const attentionBlocksAt = (level: number) => a.num_attention_blocks?.[level] ?? Infinity;

    const input = new ModuleList<TimestepEmbedSequential>([new TimestepEmbedSequential([new Conv2d(a.in_channels, mc, 3, { padding: 1 })])]);
    const chans = [mc];
    let ch = mc, ds = 1;
    a.channel_mult.forEach((mult, level) => {
      for (let i = 0; i < a.num_res_blocks; i++) {
        const layers: Array<ResBlock | AttentionBlock | SpatialTransformer> = [res(ch, mult * mc)];
        ch = mult * mc;
        if (a.attention_resolutions.includes(ds)) {
          const layer = attention(ch, null, selfAttnOff(level), i < attentionBlocksAt(level));
          if (layer) layers.push(layer);
        }
        input.push(new TimestepEmbedSequential(layers));
        chans.push(ch);
      }
      if (level !== a.channel_mult.length - 1) {
        input.push(new TimestepEmbedSequential([a.resblock_updown ? res(ch, ch, { down: true }) : new Downsample(ch, a.conv_resample, ch)]));
        chans.push(ch);
        ds *= 2;
      }
    });
    this.input_blocks = this.add('input_blocks', input);

    this.middle_block = this.add('middle_block', new TimestepEmbedSequential([res(ch, ch), attention(ch, null, a.disable_middle_self_attn)!, res(ch, ch)]));

    const output = new ModuleList<TimestepEmbedSequential>();
    [...a.channel_mult.entries()].reverse().forEach(([level, mult]) => {
      for (let i = 0; i <= a.num_res_blocks; i++) {
        const ich = chans.pop()!;
        const layers: Array<ResBlock | AttentionBlock | SpatialTransformer | Upsample> = [res(ch + ich, mc * mult)];
        ch = mc * mult;
        if (a.attention_resolutions.includes(ds)) {
          const layer = attention(ch, numHeadsUpsample, selfAttnOff(level), i < attentionBlocksAt(level));
          if (layer) layers.push(layer);
        }
        if (level && i === a.num_res_blocks) {
          layers.push(a.resblock_updown ? res(ch, ch, { up: true }) : new Upsample(ch, a.conv_resample, ch));
          ds = Math.floor(ds / 2);
        }
        output.push(new TimestepEmbedSequential(layers));
      }
    });
    this.output_blocks = this.add('output_blocks', output);

    this.out = this.add('out', new Sequential([new GroupNorm32(ch), new SiLU(), new Conv2d(mc, a.out_channels, 3, { padding: 1, init: 'zeros' })]));
    if (a.n_embed != null) this.id_predictor = this.add('id_predictor', new Sequential([new GroupNorm32(ch), new Conv2d(mc, a.n_embed, 1)]));
  }

  /**
   * x: NHWC; timesteps: [B] (integer-valued); context: [B, M, context_dim] for cross-attention;
   * y: [B] class labels iff num_classes is set (sd2: [B, 1] for "continuous", [B, adm_in_channels] for "sequential"). Returns NHWC (or codebook logits with n_embed).
   * `trace` sees 't_emb', 'time_embed', 'input_blocks.i', 'middle_block', 'output_blocks.i'
   * (tensors are disposed after forward returns: copy what you keep).
   */
  forward(x: Tensor4D, timesteps: Tensor1D, context?: Tensor3D, y?: Tensor1D | Tensor2D, trace?: UNetTrace): Tensor4D {
    if ((y != null) !== (this.label_emb != null)) {
      throw new Error('UNetModel: pass y if and only if the model is class-conditional (num_classes)');
    }
    return tf.tidy(() => {
      const tEmb = timestepEmbedding(timesteps, this.args.model_channels);
      trace?.('t_emb', tEmb);
      let emb = this.time_embed.forward(tEmb) as Tensor2D;
      trace?.('time_embed', emb);
      if (this.label_emb && y) emb = tf.add(emb, this.label_emb.forward(y)) as Tensor2D;
      const hs: Tensor4D[] = [];
      let h = x;
      let i = 0;
      for (const block of this.input_blocks) {
        h = block.forward(h, emb, context);
        trace?.(`input_blocks.${i++}`, h);
        hs.push(h);
      }
      h = this.middle_block.forward(h, emb, context);
      trace?.('middle_block', h);
      i = 0;
      for (const block of this.output_blocks) {
        h = block.forward(tf.concat([h, hs.pop()!], 3), emb, context);
        trace?.(`output_blocks.${i++}`, h);
      }
      return this.id_predictor ? this.id_predictor.forward(h) : this.out.forward(h);
    });
  }
}

/** label_emb for each form of num_classes (openaimodel.py; the string forms are sd2's). */
function labelEmbedding(n: number | 'continuous' | 'sequential', admInChannels: number | null, ted: number): Embedding | Linear | Sequential {
  if (typeof n === 'number') return new Embedding(n, ted);
  switch (n) {
    case 'continuous':
      return new Linear(1, ted);
    case 'sequential':
      if (admInChannels == null) throw new Error('UNetModel: num_classes "sequential" needs adm_in_channels');
      return new Sequential([new Sequential([new Linear(admInChannels, ted), new SiLU(), new Linear(ted, ted)])]);
    default: {
      const never: never = n;
      throw new Error(`UNetModel: unknown num_classes ${String(never)}`);
    }
  }
}
