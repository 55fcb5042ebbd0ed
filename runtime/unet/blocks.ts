// openaimodel.py's building blocks: TimestepEmbedSequential, ResBlock, Downsample, Upsample (NHWC).
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { Module, Sequential, type UnaryModule } from '../module.js';
import { AttentionBlock, Conv2d, Dropout, GroupNorm32, Identity, Linear, SiLU, SpatialTransformer, avgPool2x, upsampleNearest2x } from '../nn/index.js';

/** openaimodel `TimestepBlock`: a module whose forward also takes the timestep embedding. */
export interface TimestepBlock extends Module {
  forward(x: Tensor4D, emb: Tensor2D): Tensor4D;
}

/** 2×2 average pool, stride 2 (`avg_pool_nd`): a parameter-free child. */
export class AvgPool2d extends Module implements UnaryModule {
  static override readonly className = 'AvgPool2d';
  forward(x: Tensor4D): Tensor4D {
    return avgPool2x(x);
  }
}

/** openaimodel `Downsample`: 3×3 stride-2 conv with padding 1 (`op`), or average pooling. */
export class Downsample extends Module implements UnaryModule {
  static override readonly className = 'Downsample';
  readonly op: Conv2d | AvgPool2d;
  constructor(readonly channels: number, useConv: boolean, outChannels?: number | null) {
    super();
    const o = outChannels ?? channels;
    if (!useConv && o !== channels) throw new Error(`Downsample: avg pooling cannot change channels (${channels} → ${o})`);
    this.op = this.add('op', useConv ? new Conv2d(channels, o, 3, { stride: 2, padding: 1 }) : new AvgPool2d());
  }
  forward(x: Tensor4D): Tensor4D {
    return this.op.forward(x);
  }
}

/** openaimodel `Upsample`: nearest ×2, then an optional 3×3 conv (`conv`). */
export class Upsample extends Module implements UnaryModule {
  static override readonly className = 'Upsample';
  readonly conv: Conv2d | null;
  constructor(readonly channels: number, useConv: boolean, outChannels?: number | null) {
    super();
    this.conv = useConv ? this.add('conv', new Conv2d(channels, outChannels ?? channels, 3, { padding: 1 })) : null;
  }
  forward(x: Tensor4D): Tensor4D {
    return tf.tidy(() => {
      const up = upsampleNearest2x(x);
      return this.conv ? this.conv.forward(up) : up;
    });
  }
}

export interface ResBlockArgs {
  channels: number;
  emb_channels: number;
  dropout: number;
  out_channels?: number | null;
  use_conv?: boolean;
  use_scale_shift_norm?: boolean;
  up?: boolean;
  down?: boolean;
}

/** openaimodel `ResBlock` (keys in_layers.{0,2}, emb_layers.1, out_layers.{0,3}, skip_connection). */
export class ResBlock extends Module implements TimestepBlock {
  static override readonly className = 'ResBlock';
  readonly in_layers: Sequential;
  readonly h_upd: UnaryModule;
  readonly x_upd: UnaryModule;
  readonly emb_layers: Sequential;
  readonly out_layers: Sequential;
  readonly skip_connection: UnaryModule;
  readonly updown: boolean;
  readonly useScaleShiftNorm: boolean;

  constructor(readonly args: ResBlockArgs) {
    super();
    const c = args.channels, o = args.out_channels ?? c;
    this.useScaleShiftNorm = args.use_scale_shift_norm ?? false;
    this.updown = !!(args.up || args.down);
    this.in_layers = this.add('in_layers', new Sequential([new GroupNorm32(c), new SiLU(), new Conv2d(c, o, 3, { padding: 1 })]));
    const resample = (): UnaryModule => (args.up ? new Upsample(c, false) : args.down ? new Downsample(c, false) : new Identity());
    this.h_upd = this.add('h_upd', resample());
    this.x_upd = this.add('x_upd', resample());
    this.emb_layers = this.add('emb_layers', new Sequential([new SiLU(), new Linear(args.emb_channels, this.useScaleShiftNorm ? 2 * o : o)]));
    this.out_layers = this.add('out_layers', new Sequential([
      new GroupNorm32(o), new SiLU(), new Dropout(args.dropout), new Conv2d(o, o, 3, { padding: 1, init: 'zeros' }),
    ]));
    this.skip_connection = this.add('skip_connection',
      o === c ? new Identity() : args.use_conv ? new Conv2d(c, o, 3, { padding: 1 }) : new Conv2d(c, o, 1));
  }

  forward(x: Tensor4D, emb: Tensor2D): Tensor4D {
    return tf.tidy(() => {
      let h: Tensor4D, xs: Tensor4D = x;
      if (this.updown) {
        // Resample between the norm+SiLU and the conv, as the reference does.
        h = this.in_layers.forwardRange(x, 0, this.in_layers.length - 1);
        h = this.h_upd.forward(h) as Tensor4D;
        xs = this.x_upd.forward(x) as Tensor4D;
        h = this.in_layers.at(-1).forward(h) as Tensor4D;
      } else {
        h = this.in_layers.forward(x);
      }
      const e = this.emb_layers.forward(emb);
      const embOut = tf.reshape(e, [e.shape[0], 1, 1, e.shape[1]]);
      if (this.useScaleShiftNorm) {
        const [scale, shift] = tf.split(embOut, 2, 3) as [Tensor, Tensor];
        h = tf.add(tf.mul(this.out_layers.at(0).forward(h), tf.add(scale, 1)), shift);
        h = this.out_layers.forwardRange(h, 1);
      } else {
        h = this.out_layers.forward(tf.add(h, embOut));
      }
      return tf.add(this.skip_connection.forward(xs), h);
    });
  }
}

type EmbedLayer =
  | { kind: 'timestep'; m: TimestepBlock }
  | { kind: 'context'; m: SpatialTransformer }
  | { kind: 'plain'; m: UnaryModule };

/**
 * openaimodel `TimestepEmbedSequential`: children named '0', '1', …; ResBlocks get the timestep
 * embedding, SpatialTransformers the context, the rest only x.
 */
export class TimestepEmbedSequential extends Module {
  static override readonly className = 'TimestepEmbedSequential';
  private readonly layers: EmbedLayer[] = [];

  constructor(layers: Array<ResBlock | SpatialTransformer | AttentionBlock | UnaryModule>) {
    super();
    layers.forEach((m, i) => {
      this.add(String(i), m);
      if (m instanceof ResBlock) this.layers.push({ kind: 'timestep', m });
      else if (m instanceof SpatialTransformer) this.layers.push({ kind: 'context', m });
      else this.layers.push({ kind: 'plain', m: m as UnaryModule });
    });
  }

  get length(): number {
    return this.layers.length;
  }

  forward(x: Tensor4D, emb: Tensor2D, context?: Tensor3D): Tensor4D {
    return tf.tidy(() => {
      let h = x;
      for (const l of this.layers) {
        if (l.kind === 'timestep') h = l.m.forward(h, emb);
        else if (l.kind === 'context') h = l.m.forward(h, context);
        else h = l.m.forward(h) as Tensor4D;
      }
      return h;
    });
  }
}
