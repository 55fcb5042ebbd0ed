// The results of the facts walkers (what ldmc knows of a module without building it). A leaf
// module: the family descriptors (schema/family.ts) and the walkers both import it.
import type { FactIssue, GroupNormSite, Shape2, Shape3 } from './types.js';
import type { Dialect } from '../dialect.js';

export interface UNetFactsOptions {
  /** Scales `flops` and `activationElements` (default 1). */
  batch?: number;
  /** Spatial size of the input `[H, W]`; default `[image_size, image_size]`. */
  inputSize?: [number, number];
  /** Tokens in the cross-attention context (for FLOPs/activations only); default 1. */
  contextTokens?: number;
  /**
   * The repository whose UNetModel is meant (default 'ldm'). Only activations depend on it: sd2
   * checkpoints the transformer blocks when use_checkpoint is set, ldm and sd1 always do.
   */
  dialect?: Dialect;
}

export type UNetBlockKind = 'input' | 'middle' | 'output';

/** One place where attention actually runs. */
export interface UNetAttentionSite {
  block: UNetBlockKind;
  /** Index in input_blocks / output_blocks (0 for the middle block). */
  index: number;
  /** state_dict prefix of the attention module, e.g. `input_blocks.4.1`. */
  path: string;
  kind: 'AttentionBlock' | 'SpatialTransformer';
  /** Downsampling factor of the level (what `attention_resolutions` lists). */
  ds: number;
  /** Real spatial size of the feature map there: `[H, W]` (= image_size / ds for powers of 2). */
  resolution: [number, number];
  channels: number;
  heads: number;
  /** Channels per head: AttentionBlock `channels / heads`, SpatialTransformer `d_head`. */
  headChannels: number;
  /** SpatialTransformer only: n_heads·d_head, the width of its transformer blocks. */
  innerDim?: number;
  depth?: number;
  contextDim?: number | null;
  /** sd2: attn1 attends to the context (disable_self_attentions / disable_middle_self_attn). */
  selfAttentionDisabled?: boolean;
}

export interface UNetLevel {
  level: number;
  ds: number;
  resolution: [number, number];
  channels: number;
}

export interface UNetFacts {
  paramCount: number;
  /** Params per top-level module: time_embed, label_emb?, input_blocks, middle_block, output_blocks, out, id_predictor?. */
  parts: Record<string, number>;
  inputShape: Shape3;
  /** `[out_channels, H, W]`, or `[n_embed, H, W]` when the codebook head (`id_predictor`) is used. */
  outputShape: Shape3;
  timeEmbedDim: number;
  levels: UNetLevel[];
  attention: UNetAttentionSite[];
  /** Entries of attention_resolutions that match no level's `ds` (no attention is built for them). */
  unmatchedAttentionResolutions: number[];
  /** Every GroupNorm32 in the model (32 groups: channels must be divisible by 32). */
  groupNorms: GroupNormSite[];
  /** 2 × MACs of one forward pass (see tally.ts for what is counted). */
  flops: number;
  /** Elements kept for backward by one training forward (see tally.ts), honouring checkpointing. */
  activationElements: number;
  /** Extra elements needed while backward re-runs the largest checkpointed block. */
  recomputePeakElements: number;
  errors: FactIssue[];
  warnings: FactIssue[];
}

export type AttnType = 'vanilla' | 'linear' | 'none';

export interface AutoencoderAttentionSite {
  module: 'encoder' | 'decoder';
  /** state_dict prefix, e.g. `encoder.down.3.attn.0` or `decoder.mid.attn_1`. */
  path: string;
  type: AttnType;
  /** The `curr_res` the constructor compared with attn_resolutions (mid blocks: the bottleneck). */
  resolution: number;
  /**
   * Side of the feature map it attends over when the autoencoder runs on the facts' input side:
   * `resolution` places the block, but the network is convolutional, so what it attends over
   * scales with the images (SD's VAE: placed at 32, runs at 64×64 on 512px images).
   */
  side: number;
  channels: number;
}

export interface AutoencoderParts {
  encoder: number;
  decoder: number;
  quantize?: number;
  quant_conv: number;
  post_quant_conv: number;
}

export interface AutoencoderFlops {
  /** encoder + quant_conv: what LatentDiffusion runs to get a latent. */
  encode: number;
  /** post_quant_conv + decoder. */
  decode: number;
  /** VQ only: the distance matrix to every code (VectorQuantizer2.forward). */
  quantize: number;
  /** One reconstruction: encode + quantize + decode. */
  total: number;
}

export interface AutoencoderFacts {
  kind: 'vq' | 'kl';
  paramCount: number;
  parts: AutoencoderParts;
  /** ddconfig.resolution as recorded: it places the attention levels, and sizes nothing else. */
  resolution: number;
  /** The images the facts run on: `[in_channels, side, side]` (side: ddconfig.resolution unless given). */
  inputShape: Shape3;
  /** What the decoder returns: `[out_ch, H, W]`, or its last feature map with give_pre_end. */
  outputShape: Shape3;
  /** `[embed_dim, H, W]`: the tensor LatentDiffusion diffuses. */
  latentShape: Shape3;
  /** Encoder output before quant_conv: `[2·z_channels or z_channels, H, W]`. */
  encoderOutputShape: Shape3;
  /** 2^(len(ch_mult) - 1). */
  downsamplingFactor: number;
  attnType: AttnType;
  attention: AutoencoderAttentionSite[];
  /** attn_resolutions entries that equal no level's resolution (nothing is built for them). */
  unmatchedAttnResolutions: number[];
  groupNorms: GroupNormSite[];
  flops: AutoencoderFlops;
  /** Elements kept for backward by one training reconstruction (see tally.ts). */
  activationElements: number;
  errors: FactIssue[];
  warnings: FactIssue[];
}

/** What a cond stage hands to the UNet, per sample. */
export type CondOutput =
  /** Cross-attention context: `[tokens, dim]`. */
  | { kind: 'tokens'; shape: Shape2 }
  /** A feature map (concat conditioning): `[C, H, W]`. */
  | { kind: 'spatial'; shape: Shape3 }
  /** Identity: whatever came in, unchanged (shape unknown without an input). */
  | { kind: 'passthrough'; shape: number[] | null }
  /** One vector per sample, `[width]`: an image embedding, fed to the UNet as `c_adm`. */
  | { kind: 'vector'; width: number }
  /** Not knowable from the config (a pretrained model ldmc has no architecture table for). */
  | { kind: 'unknown' };

export interface CondStageFacts {
  /** The class name, for messages. */
  target: string;
  /** Null when the config alone cannot tell (see `note`): a total that includes it is partial. */
  paramCount: number | null;
  parts: Record<string, number>;
  output: CondOutput;
  /** 2 × MACs of one forward at batch 1 (see tally.ts); null when unknown. */
  flops: number | null;
  /** Why the count is unknown, when it is. */
  note?: string;
  /**
   * The noise augmentors' second output, the noise level that becomes `c_adm`: a class index
   * in [0, classes) (x4 upscaler), or its sinusoidal embedding `[width]` (unCLIP).
   */
  noiseLevel?: { kind: 'class-index'; classes: number } | { kind: 'vector'; width: number };
  errors: FactIssue[];
  warnings: FactIssue[];
}
