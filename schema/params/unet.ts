// UNetModel's params schema (a leaf: the facts walker and the family module both import it).
// Denoising networks: ldm/modules/diffusionmodules/openaimodel.py.
import { dialects, int, num, bool, opt, nullable, params, valueDialects, type Filled } from '../types.js';
import { Type } from '../type-builder.js';

export const UNetModelParams = params({
  image_size: int('Spatial size (H = W) of the latent the UNet is trained on. Recorded only: the network is fully convolutional.', { minimum: 1 }),
  in_channels: int('Input channels: the latent channels plus any channels added by concat conditioning.', { minimum: 1 }),
  model_channels: int('Base width; level i has model_channels × channel_mult[i] channels. Must divide by 32 (GroupNorm32).', { minimum: 1, maximum: 65536 }),
  out_channels: int('Output channels (the latent channels: the model predicts eps or x0 in latent space).', { minimum: 1 }),
  num_res_blocks: int('ResBlocks per level on the way down (one more per level on the way up).', { minimum: 1, maximum: 64 }),
  attention_resolutions: Type.Array(Type.Integer({ minimum: 1 }), {
    description: 'Downsampling factors (not resolutions!) at which attention is used: with a 64×64 latent, `[8, 4, 2]` means attention at 8×8, 16×16 and 32×32.',
  }),
  dropout: opt(num('Dropout probability inside every ResBlock.', { minimum: 0, maximum: 1 }), 0),
  channel_mult: opt(Type.Array(Type.Integer({ minimum: 1, maximum: 1024 }), { minItems: 1, maxItems: 12, description: 'Width multiplier per level; its length sets the number of levels.' }), [1, 2, 4, 8]),
  conv_resample: opt(bool('Use a 3×3 conv in Downsample/Upsample (otherwise average pooling / plain nearest upsampling).'), true),
  dims: opt(int('Signal dimensionality: 1, 2 or 3 (ldmc supports 2).', { minimum: 1, maximum: 3 }), 2),
  num_classes: opt(nullable(valueDialects(Type.Union([
    Type.Integer({ minimum: 1 }), Type.Literal('continuous'), Type.Literal('sequential'),
  ], { description: 'Class-conditional UNet (adds `label_emb`, added to the time embedding): an int gives nn.Embedding(num_classes, 4·model_channels); sd2 also takes "continuous" (Linear(1, 4·model_channels) on a scalar y) and "sequential" (a 2-layer MLP on a y of adm_in_channels features: unCLIP image embeddings, the x4 upscaler\'s noise level).' }),
  { continuous: ['sd2'], sequential: ['sd2'] })), null),
  use_checkpoint: opt(bool('Gradient checkpointing (memory only; no effect on results).'), false),
  use_fp16: opt(bool('Run the torso in float16.'), false),
  use_bf16: opt(dialects(['sd2'], bool('Run the torso in bfloat16 (overrides use_fp16). No effect on parameters.')), false),
  num_heads: opt(int('Attention heads per block; -1 to derive them from num_head_channels.'), -1),
  num_head_channels: opt(int('Channels per attention head; -1 to use a fixed num_heads instead.'), -1),
  num_heads_upsample: opt(int('Heads on the way up; -1 means the same as num_heads.'), -1),
  use_scale_shift_norm: opt(bool('FiLM-like conditioning: the timestep embedding gives a scale and a shift (doubles emb_layers).'), false),
  resblock_updown: opt(bool('Resample with ResBlocks (up/down) instead of Downsample/Upsample layers.'), false),
  use_new_attention_order: opt(bool('QKVAttention (split heads before qkv) instead of QKVAttentionLegacy.'), false),
  use_spatial_transformer: opt(bool('Use SpatialTransformer (cross-attention to a context) instead of AttentionBlock.'), false),
  transformer_depth: opt(int('BasicTransformerBlocks per SpatialTransformer.', { minimum: 1, maximum: 256 }), 1),
  context_dim: opt(nullable(int('Width of the cross-attention context tokens (the cond stage output).', { minimum: 1 })), null),
  n_embed: opt(nullable(int('Codebook size for predicting VQ code indices (adds `id_predictor`).', { minimum: 1 })), null),
  legacy: opt(bool('Legacy head split for SpatialTransformer: with num_head_channels set, dim_head = num_head_channels (legacy) or ch // num_heads.'), true),
  disable_self_attentions: opt(dialects(['sd2'], nullable(Type.Array(Type.Boolean(), {
    description: 'One flag per level (as long as channel_mult): a level whose flag is true gets transformer blocks whose attn1 attends to the context instead of the tokens (to_k/to_v then take context_dim inputs).',
  }))), null),
  num_attention_blocks: opt(dialects(['sd2'], nullable(Type.Array(Type.Integer({ minimum: 0 }), {
    description: 'Per level (as long as channel_mult): only the first n ResBlocks of the level get an attention layer; attention_resolutions still decides which levels have any.',
  }))), null),
  disable_middle_self_attn: opt(dialects(['sd2'], bool('The middle block\'s transformer attends to the context in attn1 as well (like disable_self_attentions).')), false),
  use_linear_in_transformer: opt(dialects(['sd2'], bool('SpatialTransformer projects in and out with nn.Linear on the tokens instead of 1×1 convs (same parameter count; state_dict weights are 2-d).')), false),
  adm_in_channels: opt(dialects(['sd2'], nullable(int('Width of the `y` vector for num_classes: "sequential" (label_emb = Linear(adm_in_channels, 4·model_channels), SiLU, Linear).', { minimum: 1 }))), null),
});
export type UNetModelParams = Filled<typeof UNetModelParams>;

