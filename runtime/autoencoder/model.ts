// `Encoder` and `Decoder` of ldm/modules/diffusionmodules/model.py, NHWC, with its state_dict
// names: down[i].block[j] / down[i].attn[j] / down[i].downsample, mid.block_1 / attn_1 / block_2,
// and up[i] built from the lowest resolution upwards but stored so that up[0] is the top one.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { Module, ModuleList } from '../module.js';
import { Conv2d, GroupNorm, normalize, silu } from '../nn/index.js';
import type { AttnType, DDConfig } from './args.js';
import { Downsample, ResnetBlock, Upsample, makeAttn, type FirstStageAttn } from './blocks.js';

/** Called with `(module path, output)` after each named stage, e.g. 'down.0.block.0', 'mid.attn_1'. */
export type Tap = (name: string, t: Tensor) => void;

/** A plain `nn.Module()` holder, as the reference builds `down[i]`, `up[i]` and `mid`. */
class Holder extends Module {
  static override readonly className = 'Module';
  set<M extends Module>(name: string, m: M): M {
    return this.add(name, m);
  }
}

interface Level {
  readonly block: ModuleList<ResnetBlock>;
  readonly attn: ModuleList<FirstStageAttn>;
  readonly resample: Downsample | Upsample | null;
}

function attnTypeOf(cfg: DDConfig): AttnType {
  return cfg.use_linear_attn ? 'linear' : cfg.attn_type ?? 'vanilla';
}

function checkConfig(cfg: DDConfig, who: string): readonly number[] {
  const chMult = cfg.ch_mult ?? [1, 2, 4, 8];
  for (const [k, v] of [['ch', cfg.ch], ['num_res_blocks', cfg.num_res_blocks], ['resolution', cfg.resolution], ['z_channels', cfg.z_channels]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${who}: ddconfig.${k} must be a positive integer, got ${String(v)}`);
  }
  if (chMult.length === 0) throw new Error(`${who}: ddconfig.ch_mult must not be empty`);
  return chMult;
}

class Mid extends Holder {
  readonly block_1: ResnetBlock;
  readonly attn_1: FirstStageAttn;
  readonly block_2: ResnetBlock;
  constructor(c: number, dropout: number, attnType: AttnType) {
    super();
    this.block_1 = this.set('block_1', new ResnetBlock({ in_channels: c, out_channels: c, temb_channels: 0, dropout }));
    this.attn_1 = this.set('attn_1', makeAttn(c, attnType));
    this.block_2 = this.set('block_2', new ResnetBlock({ in_channels: c, out_channels: c, temb_channels: 0, dropout }));
  }
  forward(h: Tensor4D, tap?: Tap, prefix = 'mid'): Tensor4D {
    h = this.block_1.forward(h); tap?.(`${prefix}.block_1`, h);
    h = this.attn_1.forward(h); tap?.(`${prefix}.attn_1`, h);
    h = this.block_2.forward(h); tap?.(`${prefix}.block_2`, h);
    return h;
  }
}

/** Runs one level's blocks (each followed by its attention when the level has any). */
function runLevel(level: Level, h: Tensor4D, tap: Tap | undefined, prefix: string): Tensor4D {
  for (let j = 0; j < level.block.length; j++) {
    h = level.block.at(j).forward(h); tap?.(`${prefix}.block.${j}`, h);
    if (level.attn.length > 0) { h = level.attn.at(j).forward(h); tap?.(`${prefix}.attn.${j}`, h); }
  }
  return h;
}

export class Encoder extends Module {
  static override readonly className = 'Encoder';
  readonly conv_in: Conv2d;
  readonly down: ModuleList<Holder>;
  readonly mid: Mid;
  readonly norm_out: GroupNorm;
  readonly conv_out: Conv2d;
  private readonly levels: Level[] = [];

  constructor(readonly config: DDConfig) {
    super();
    const chMult = checkConfig(config, 'Encoder');
    const { ch, num_res_blocks: nrb, resolution } = config;
    const dropout = config.dropout ?? 0, withConv = config.resamp_with_conv ?? true, attnType = attnTypeOf(config);
    this.conv_in = this.add('conv_in', new Conv2d(config.in_channels, ch, 3, { padding: 1 }));
    this.down = this.add('down', new ModuleList<Holder>());
    const inChMult = [1, ...chMult];
    let res = resolution, blockIn = ch;
    for (let i = 0; i < chMult.length; i++) {
      const block = new ModuleList<ResnetBlock>(), attn = new ModuleList<FirstStageAttn>();
      blockIn = ch * inChMult[i]!;
      const blockOut = ch * chMult[i]!;
      for (let j = 0; j < nrb; j++) {
        block.push(new ResnetBlock({ in_channels: blockIn, out_channels: blockOut, temb_channels: 0, dropout }));
        blockIn = blockOut;
        if (config.attn_resolutions.includes(res)) attn.push(makeAttn(blockIn, attnType));
      }
      const holder = new Holder();
      holder.set('block', block);
      holder.set('attn', attn);
      let resample: Downsample | null = null;
      if (i !== chMult.length - 1) {
        resample = holder.set('downsample', new Downsample(blockIn, withConv));
        res = Math.floor(res / 2);
      }
      this.down.push(holder);
      this.levels.push({ block, attn, resample });
    }
    this.mid = this.add('mid', new Mid(blockIn, dropout, attnType));
    this.norm_out = this.add('norm_out', normalize(blockIn));
    const zOut = (config.double_z ?? true) ? 2 * config.z_channels : config.z_channels;
    this.conv_out = this.add('conv_out', new Conv2d(blockIn, zOut, 3, { padding: 1 }));
  }

  /** x: [B, H, W, in_channels] → [B, H/2^(L-1), W/2^(L-1), (2·)z_channels]. */
  forward(x: Tensor4D, tap?: Tap): Tensor4D {
    return tf.tidy(() => {
      let h = this.conv_in.forward(x); tap?.('conv_in', h);
      this.levels.forEach((level, i) => {
        h = runLevel(level, h, tap, `down.${i}`);
        if (level.resample) { h = level.resample.forward(h); tap?.(`down.${i}.downsample`, h); }
      });
      h = this.mid.forward(h, tap);
      h = this.conv_out.forward(this.norm_out.forwardSilu(h)); tap?.('conv_out', h);
      return h;
    });
  }
}

export class Decoder extends Module {
  static override readonly className = 'Decoder';
  readonly conv_in: Conv2d;
  readonly mid: Mid;
  readonly up: ModuleList<Holder>;
  readonly norm_out: GroupNorm;
  readonly conv_out: Conv2d;
  /** [1, z_channels, res, res] as the reference reports it (NCHW). */
  readonly zShape: readonly [number, number, number, number];
  private readonly levels: Level[];

  constructor(readonly config: DDConfig) {
    super();
    const chMult = checkConfig(config, 'Decoder');
    const { ch, num_res_blocks: nrb, resolution } = config, L = chMult.length;
    const dropout = config.dropout ?? 0, withConv = config.resamp_with_conv ?? true, attnType = attnTypeOf(config);
    let blockIn = ch * chMult[L - 1]!;
    let res = Math.floor(resolution / 2 ** (L - 1));
    this.zShape = [1, config.z_channels, res, res];
    this.conv_in = this.add('conv_in', new Conv2d(config.z_channels, blockIn, 3, { padding: 1 }));
    this.mid = this.add('mid', new Mid(blockIn, dropout, attnType));
    // Built from the lowest resolution up (channel counts flow that way), stored top first.
    const built: { holder: Holder; level: Level }[] = [];
    for (let i = L - 1; i >= 0; i--) {
      const block = new ModuleList<ResnetBlock>(), attn = new ModuleList<FirstStageAttn>();
      const blockOut = ch * chMult[i]!;
      for (let j = 0; j < nrb + 1; j++) {
        block.push(new ResnetBlock({ in_channels: blockIn, out_channels: blockOut, temb_channels: 0, dropout }));
        blockIn = blockOut;
        if (config.attn_resolutions.includes(res)) attn.push(makeAttn(blockIn, attnType));
      }
      const holder = new Holder();
      holder.set('block', block);
      holder.set('attn', attn);
      let resample: Upsample | null = null;
      if (i !== 0) {
        resample = holder.set('upsample', new Upsample(blockIn, withConv));
        res *= 2;
      }
      built.unshift({ holder, level: { block, attn, resample } });
    }
    this.up = this.add('up', new ModuleList(built.map((b) => b.holder)));
    this.levels = built.map((b) => b.level);
    this.norm_out = this.add('norm_out', normalize(blockIn));
    this.conv_out = this.add('conv_out', new Conv2d(blockIn, config.out_ch, 3, { padding: 1 }));
  }

  /** z: [B, h, w, z_channels] → [B, h·2^(L-1), w·2^(L-1), out_ch]. */
  forward(z: Tensor4D, tap?: Tap): Tensor4D {
    return tf.tidy(() => {
      let h = this.conv_in.forward(z); tap?.('conv_in', h);
      h = this.mid.forward(h, tap);
      for (let i = this.levels.length - 1; i >= 0; i--) {
        const level = this.levels[i]!;
        h = runLevel(level, h, tap, `up.${i}`);
        if (level.resample) { h = level.resample.forward(h); tap?.(`up.${i}.upsample`, h); }
      }
      if (this.config.give_pre_end) return h;
      h = this.conv_out.forward(this.norm_out.forwardSilu(h)); tap?.('conv_out', h);
      return this.config.tanh_out ? tf.tanh(h) : h;
    });
  }
}
