// The autoencoders' params schemas (a leaf: the facts walker and the family module both import it).
// First stages: ldm/models/autoencoder.py and the Encoder/Decoder of ldm/modules/diffusionmodules/model.py.
import { Type } from '../type-builder.js';
import { bool, child, int, nullable, num, oneOf, opt, params, str, valueDialects, type Filled } from '../types.js';

export const DDConfig = Type.Object(
  {
    ch: int('Base width of the Encoder/Decoder; level i has ch × ch_mult[i] channels. Must divide by 32 (GroupNorm).', { minimum: 1, maximum: 65536 }),
    out_ch: int('Channels of the decoded image.', { minimum: 1 }),
    ch_mult: opt(Type.Array(Type.Integer({ minimum: 1, maximum: 1024 }), { minItems: 1, maxItems: 12, description: 'Width multiplier per level; len(ch_mult) - 1 downsamplings, so the downsampling factor is 2^(len - 1).' }), [1, 2, 4, 8]),
    num_res_blocks: int('ResnetBlocks per level.', { minimum: 1, maximum: 64 }),
    attn_resolutions: Type.Array(Type.Integer({ minimum: 1 }), { description: 'Spatial resolutions (real ones, unlike the UNet) at which AttnBlocks are added.' }),
    dropout: opt(num('Dropout in ResnetBlocks.', { minimum: 0, maximum: 1 }), 0),
    resamp_with_conv: opt(bool('Use convs in Downsample/Upsample (otherwise average pooling / plain nearest).'), true),
    in_channels: int('Channels of the input image.', { minimum: 1 }),
    resolution: int('Image resolution the autoencoder is built for (sets where attn_resolutions apply).', { minimum: 1 }),
    z_channels: int('Channels of the encoder output before quant_conv.', { minimum: 1 }),
    double_z: opt(bool('Encoder outputs 2 × z_channels (mean and logvar): true for KL, false for VQ.'), true),
    give_pre_end: opt(bool('Decoder returns the features before its final norm/conv.'), false),
    tanh_out: opt(bool('Decoder applies tanh to its output.'), false),
    use_linear_attn: opt(bool('Use linear attention (sets attn_type to linear).'), false),
    attn_type: opt(valueDialects(oneOf(['vanilla', 'vanilla-xformers', 'linear', 'none'] as const,
      'Attention block type. Stability-AI adds vanilla-xformers (MemoryEfficientAttnBlock: the same norm/q/k/v/proj_out and single-head attention, run by xformers).'),
      { 'vanilla-xformers': ['sd2'] }), 'vanilla'),
  },
  { additionalProperties: false, description: 'Encoder/Decoder architecture (passed as **ddconfig to both).' },
);
export type DDConfig = Filled<typeof DDConfig>;

const common = {
  ddconfig: DDConfig,
  lossconfig: child(['loss'], 'Training loss (torch.nn.Identity for inference-only first stages).'),
  embed_dim: int('Latent channels after quant_conv: the channels the diffusion model sees.', { minimum: 1 }),
  ckpt_path: opt(nullable(str('Checkpoint to initialise from.')), null),
  ignore_keys: opt(Type.Array(Type.String(), { description: 'state_dict key prefixes to drop when loading ckpt_path.' }), []),
  image_key: opt(str('Batch key of the input image.'), 'image'),
  colorize_nlabels: opt(nullable(int('For segmentation inputs: number of labels to colorize in logged images.', { minimum: 1 })), null),
  monitor: opt(nullable(str('Metric for checkpoint selection, e.g. val/rec_loss.')), null),
};

const vqOnly = {
  n_embed: int('Codebook size.', { minimum: 1 }),
  batch_resize_range: opt(nullable(Type.Array(Type.Integer(), { minItems: 2, maxItems: 2, description: 'Random training resize range [min, max].' })), null),
  scheduler_config: opt(nullable(child(['lr_scheduler'], 'Learning-rate schedule.')), null),
  lr_g_factor: opt(num('Generator learning-rate factor.'), 1.0),
  remap: opt(nullable(str('File with a codebook index remapping.')), null),
  sane_index_shape: opt(bool('Return indices as [B, H, W] instead of flat.'), false),
  use_ema: opt(bool('Keep an EMA of the weights.'), false),
};

export const VQModelParams = params({ ...common, ...vqOnly });
export type VQModelParams = Filled<typeof VQModelParams>;
export const AutoencoderKLParams = params(common);
export type AutoencoderKLParams = Filled<typeof AutoencoderKLParams>;

