// Constructor arguments of the first-stage models, with the reference's snake_case names
// (ldm/models/autoencoder.py, ldm/modules/diffusionmodules/model.py). Plain interfaces for now:
// the lead unifies them with the compiler's TypeBox schemas (schema/autoencoder.ts).

/** `ddconfig`: shared by Encoder and Decoder (each ignores the other's keys, as `**ignore_kwargs` does). */
export interface DDConfig {
  ch: number;
  out_ch: number;
  ch_mult?: readonly number[];
  num_res_blocks: number;
  attn_resolutions: readonly number[];
  dropout?: number;
  resamp_with_conv?: boolean;
  in_channels: number;
  resolution: number;
  z_channels: number;
  /** Encoder: output 2·z_channels (mean and logvar). Default true. */
  double_z?: boolean;
  /** Decoder: return before norm_out/conv_out. */
  give_pre_end?: boolean;
  /** Decoder: tanh on the output. */
  tanh_out?: boolean;
  use_linear_attn?: boolean;
  attn_type?: AttnType;
}

export type AttnType = 'vanilla' | 'linear' | 'none';

/** `lossconfig` is kept for the shape of the config only: the training losses live elsewhere. */
export interface TargetConfig {
  target: string;
  params?: Record<string, unknown>;
}

export interface VQModelArgs {
  ddconfig: DDConfig;
  lossconfig?: TargetConfig;
  n_embed: number;
  embed_dim: number;
  ckpt_path?: string | null;
  ignore_keys?: readonly string[];
  image_key?: string;
  colorize_nlabels?: number | null;
  monitor?: string | null;
  batch_resize_range?: readonly number[] | null;
  scheduler_config?: TargetConfig | null;
  lr_g_factor?: number;
  /** Remapping indices to a subset of used codes (a .npy file) is not supported yet. */
  remap?: string | null;
  sane_index_shape?: boolean;
  use_ema?: boolean;
}

export type VQModelInterfaceArgs = VQModelArgs;

export interface AutoencoderKLArgs {
  ddconfig: DDConfig;
  lossconfig?: TargetConfig;
  embed_dim: number;
  ckpt_path?: string | null;
  ignore_keys?: readonly string[];
  image_key?: string;
  colorize_nlabels?: number | null;
  monitor?: string | null;
}

/** taming's VectorQuantizer2 (what ldm imports as VectorQuantizer). */
export interface VectorQuantizerArgs {
  n_e: number;
  e_dim: number;
  beta: number;
  remap?: string | null;
  unknown_index?: 'random' | 'extra' | number;
  sane_index_shape?: boolean;
  /** true (the default): loss = mean((sg[zq]-z)²) + beta·mean((zq-sg[z])²). */
  legacy?: boolean;
}
