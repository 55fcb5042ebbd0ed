// Constructor arguments of the first-stage models, with the reference's snake_case names
// (ldm/models/autoencoder.py, ldm/modules/diffusionmodules/model.py). The autoencoders' params
// and `ddconfig` are derived from the compiler's TypeBox schemas (schema/autoencoder.ts), so the
// runtime and the checker cannot drift apart; params with a default stay optional here, and lists
// are read-only so that `as const` configs (generated config.ts) fit.
import type { Static } from '@sinclair/typebox';
import type { AutoencoderKLParams, DDConfig as DDConfigSchema, VQModelParams } from '../../schema/autoencoder.js';

/** A list type made read-only (through `| null | undefined`); anything else unchanged. */
type ReadonlyList<X> = X extends readonly (infer U)[] ? readonly U[] : X;
/** A schema's params as the runtime accepts them: defaulted keys optional, lists read-only. */
type Args<T> = { [K in keyof T]: ReadonlyList<T[K]> };

/**
 * `ddconfig`: shared by Encoder and Decoder (each ignores the other's keys, as `**ignore_kwargs`
 * does). `double_z` (Encoder: output 2·z_channels, mean and logvar) defaults to true;
 * `give_pre_end` (Decoder: return before norm_out/conv_out) and `tanh_out` to false.
 */
export type DDConfig = Args<Static<typeof DDConfigSchema>>;

export type AttnType = NonNullable<DDConfig['attn_type']>;

/** `lossconfig` is kept for the shape of the config only: the training losses live elsewhere. */
export interface TargetConfig {
  target: string;
  params?: Record<string, unknown>;
}

/** The nested configs, which the model itself does not hold (runtime/build.ts strips them). */
type Children = 'ddconfig' | 'lossconfig' | 'scheduler_config';

/**
 * VQModel's params. Unsupported ones are refused by the constructors: `remap` (a .npy of used
 * codes), `use_ema` (LitEma buffers), `batch_resize_range`.
 */
export type VQModelArgs = Args<Omit<Static<typeof VQModelParams>, Children>> & {
  ddconfig: DDConfig;
  lossconfig?: TargetConfig;
  scheduler_config?: TargetConfig | null;
};

export type VQModelInterfaceArgs = VQModelArgs;

export type AutoencoderKLArgs = Args<Omit<Static<typeof AutoencoderKLParams>, Children>> & {
  ddconfig: DDConfig;
  lossconfig?: TargetConfig;
};

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
