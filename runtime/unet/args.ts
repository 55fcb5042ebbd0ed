// Constructor arguments of openaimodel.UNetModel, with the reference's snake_case names and its
// defaults filled in. A plain interface on purpose: it is to be unified with the compiler's
// TypeBox schema type for the same target.
export interface UNetModelArgs {
  image_size: number;
  in_channels: number;
  model_channels: number;
  out_channels: number;
  num_res_blocks: number;
  /** Downsample rates (1, 2, 4, …) at which attention is used. */
  attention_resolutions: readonly number[];
  dropout: number;
  channel_mult: readonly number[];
  conv_resample: boolean;
  /** Only 2 is supported by the runtime. */
  dims: number;
  num_classes: number | null;
  /** No effect here (gradient checkpointing is a memory trade-off of PyTorch's autograd). */
  use_checkpoint: boolean;
  /** No effect here: the runtime computes in float32. */
  use_fp16: boolean;
  num_heads: number;
  num_head_channels: number;
  num_heads_upsample: number;
  use_scale_shift_norm: boolean;
  resblock_updown: boolean;
  use_new_attention_order: boolean;
  use_spatial_transformer: boolean;
  transformer_depth: number;
  context_dim: number | null;
  n_embed: number | null;
  legacy: boolean;
}

export type UNetModelRequired = Pick<UNetModelArgs,
  'image_size' | 'in_channels' | 'model_channels' | 'out_channels' | 'num_res_blocks' | 'attention_resolutions'>;

export const UNET_MODEL_DEFAULTS: Omit<UNetModelArgs, keyof UNetModelRequired> = {
  dropout: 0,
  channel_mult: [1, 2, 4, 8],
  conv_resample: true,
  dims: 2,
  num_classes: null,
  use_checkpoint: false,
  use_fp16: false,
  num_heads: -1,
  num_head_channels: -1,
  num_heads_upsample: -1,
  use_scale_shift_norm: false,
  resblock_updown: false,
  use_new_attention_order: false,
  use_spatial_transformer: false,
  transformer_depth: 1,
  context_dim: null,
  n_embed: null,
  legacy: true,
};

/** Fills the reference's defaults into a config's `params` (undefined and null count as absent where the default is not null). */
export function withUNetDefaults(params: UNetModelRequired & Partial<UNetModelArgs>): UNetModelArgs {
  const out = { ...UNET_MODEL_DEFAULTS, ...params } as UNetModelArgs;
  for (const [k, v] of Object.entries(UNET_MODEL_DEFAULTS)) {
    const key = k as keyof typeof UNET_MODEL_DEFAULTS;
    if (out[key] === undefined) (out as unknown as Record<string, unknown>)[key] = v;
  }
  return out;
}
