// Diffusion wrappers: ldm/models/diffusion/ddpm.py (DDPM and LatentDiffusion).
import { Type } from './type-builder.js';
import { bool, child, defineTarget, dialects, int, nullable, num, oneOf, opt, params, Sentinel, str, valueDialects, type Filled } from './types.js';
import { LatentDiffusionSlots } from './family.js';

export const ddpmParams = {
  unet_config: child(['unet'], 'The denoising network.'),
  timesteps: opt(int('Number of diffusion steps T.', { minimum: 1 }), 1000),
  beta_schedule: opt(valueDialects(oneOf(['linear', 'cosine', 'sqrt_linear', 'sqrt', 'squaredcos_cap_v2'] as const, 'Noise schedule (make_beta_schedule; squaredcos_cap_v2, the Karlo prior schedule, is sd2 only).'), { squaredcos_cap_v2: ['sd2'] }), 'linear'),
  loss_type: opt(oneOf(['l1', 'l2'] as const, 'Per-element loss.'), 'l2'),
  ckpt_path: opt(nullable(str('Checkpoint to initialise from.')), null),
  ignore_keys: opt(Type.Array(Type.String(), { description: 'state_dict key prefixes to drop when loading ckpt_path.' }), []),
  load_only_unet: opt(bool('Load only the UNet from ckpt_path.'), false),
  monitor: opt(nullable(str('Metric for checkpoint selection, e.g. val/loss_simple_ema.')), 'val/loss'),
  use_ema: opt(bool('Keep an EMA of the UNet (LitEma); adds the *_ema validation metrics.'), true),
  first_stage_key: opt(str('Batch key of the image.'), 'image'),
  image_size: opt(int('Spatial size of what is diffused (the latent for LatentDiffusion).', { minimum: 1 }), 256),
  channels: opt(int('Channels of what is diffused (the latent channels for LatentDiffusion).', { minimum: 1 }), 3),
  log_every_t: opt(int('Log intermediates every this many steps when sampling.', { minimum: 1 }), 100),
  clip_denoised: opt(bool('Clip x0 predictions to [-1, 1] (LatentDiffusion turns this off).'), true),
  linear_start: opt(num('First beta of the linear schedules.', { exclusiveMinimum: 0 }), 1e-4),
  linear_end: opt(num('Last beta of the linear schedules.', { exclusiveMinimum: 0 }), 2e-2),
  cosine_s: opt(num('Offset s of the cosine schedule.'), 8e-3),
  given_betas: opt(nullable(Type.Array(Type.Number(), { description: 'Explicit betas (overrides the schedule).' })), null),
  original_elbo_weight: opt(num('Weight of the VLB term.'), 0),
  v_posterior: opt(num('Interpolation between the two posterior variances.'), 0),
  l_simple_weight: opt(num('Weight of the simple loss.'), 1),
  conditioning_key: opt(nullable(valueDialects(oneOf(['concat', 'crossattn', 'hybrid', 'adm', 'hybrid-adm', 'crossattn-adm'] as const,
    'How conditioning reaches the UNet; when null, LatentDiffusion derives it from concat_mode. Stability-AI adds hybrid-adm (concat + cross-attention + y = c_adm: the x4 upscaler\'s noise level) and crossattn-adm (cross-attention + y = c_adm: unCLIP\'s image embedding).'),
    { 'hybrid-adm': ['sd2'], 'crossattn-adm': ['sd2'] })), null),
  parameterization: opt(valueDialects(oneOf(['eps', 'x0', 'v'] as const, 'What the network predicts: the noise (eps), the clean sample (x0), or v = √ᾱ·ε − √(1−ᾱ)·x₀ (Stability-AI only).'), { v: ['sd2'] }), 'eps'),
  scheduler_config: opt(nullable(child(['lr_scheduler'], 'Learning-rate schedule (LambdaLR multiplier).')), null),
  use_positional_encodings: opt(bool('Add positional encodings to the input.'), false),
  learn_logvar: opt(bool('Learn a per-timestep log-variance weighting the loss.'), false),
  logvar_init: opt(num('Initial value of the learned logvar.'), 0),
  // Stability-AI/stablediffusion's DDPM only.
  use_fp16: opt(dialects(['sd2'], bool('Stored on the model (LatentDiffusion takes its own use_fp16 too); no effect on parameters or results in the reference.')), true),
  make_it_fit: opt(dialects(['sd2'], bool('When loading ckpt_path, tile old weights into parameters of a new shape instead of failing.')), false),
  ucg_training: opt(dialects(['sd2'], nullable(Type.Record(Type.String(), Type.Unknown(), { description: 'Unconditional-guidance training: per batch key, {p, val} to replace the conditioning with val with probability p.' }))), null),
  reset_ema: opt(dialects(['sd2'], bool('After loading ckpt_path, restart the EMA from the loaded weights (needs ckpt_path and use_ema).')), false),
  reset_num_ema_updates: opt(dialects(['sd2'], bool('Reset the EMA update counter (needs use_ema).')), false),
};

export const LatentDiffusionParams = params({
  first_stage_config: child(['first_stage'], 'The autoencoder whose latent space is diffused (frozen).'),
  cond_stage_config: child(['cond_stage'], 'The conditioning encoder, or __is_unconditional__ / __is_first_stage__.', [Sentinel.Unconditional, Sentinel.FirstStage]),
  num_timesteps_cond: opt(nullable(int('Timesteps of conditioning shortcut (only 1 is supported by ldmc).', { minimum: 1 })), null),
  cond_stage_key: opt(str('Batch key of the conditioning input.'), 'image'),
  cond_stage_trainable: opt(bool('Train the cond stage together with the UNet.'), false),
  concat_mode: opt(bool('When conditioning_key is null: true gives concat, false gives crossattn.'), true),
  cond_stage_forward: opt(nullable(str('Name of the cond stage method to call instead of encode().')), null),
  scale_factor: opt(num('Latents are multiplied by this before diffusion.'), 1.0),
  scale_by_std: opt(bool('Set scale_factor to 1/std of the first batch of latents.'), false),
  force_null_conditioning: opt(dialects(['sd2'], bool('Keep the conditioning_key (and its wrapper inputs) even with an __is_unconditional__ cond stage.')), false),
  ...ddpmParams,
});
export type LatentDiffusionParams = Filled<typeof LatentDiffusionParams>;

// The enums of these params, as types: runtime/ and compiler/ use these (never their own copies),
// so adding a value here fails to compile at every switch that does not handle it.
export type Parameterization = LatentDiffusionParams['parameterization'];
export type ConditioningKey = NonNullable<LatentDiffusionParams['conditioning_key']>;
export type DiffusionLossType = LatentDiffusionParams['loss_type'];
export type BetaScheduleKind = LatentDiffusionParams['beta_schedule'];

/**
 * What each conditioning_key feeds the UNet (DiffusionWrapper.forward): concatenated channels
 * (c_concat), a cross-attention context (c_crossattn), a `y` for the UNet's label_emb
 * (classLabels: adm takes the cond stage's output as y; the sd2 *-adm keys take `c_adm`, which
 * the wrapper subclass makes: `admFromWrapper`). A total table over the enum: a new key fails to
 * compile here until its inputs are stated.
 */
export const ConditioningInputs: { readonly [K in ConditioningKey]: { readonly concat: boolean; readonly context: boolean; readonly classLabels: boolean; readonly admFromWrapper: boolean } } = {
  concat: { concat: true, context: false, classLabels: false, admFromWrapper: false },
  crossattn: { concat: false, context: true, classLabels: false, admFromWrapper: false },
  hybrid: { concat: true, context: true, classLabels: false, admFromWrapper: false },
  adm: { concat: false, context: false, classLabels: true, admFromWrapper: false },
  'hybrid-adm': { concat: true, context: true, classLabels: true, admFromWrapper: true },
  'crossattn-adm': { concat: false, context: true, classLabels: true, admFromWrapper: true },
};

export const LatentDiffusion = defineTarget({
  id: 'ldm.models.diffusion.ddpm.LatentDiffusion',
  aliases: [],
  families: ['model'],
  summary: 'Diffusion in the latent space of a frozen first stage, with optional conditioning.',
  source: 'ldm/models/diffusion/ddpm.py:424',
  params: LatentDiffusionParams,
  statics: { family: 'diffusion', slots: LatentDiffusionSlots },
  runtime: { module: 'runtime/diffusion/index.js', export: 'LatentDiffusion' },
});

/**
 * LatentFinetuneDiffusion's params (sd2 ddpm.py): the base of inpainting and depth2img. With
 * finetune_keys set (the default names the UNet's first conv) it asserts a ckpt_path.
 */
const finetuneParams = {
  finetune_keys: opt(nullable(Type.Array(Type.String(), { description: 'state_dict keys whose first keep_finetune_dims input channels are loaded from ckpt_path and the rest zero-initialised; null to load as is. Set, it requires ckpt_path.' })),
    ['model.diffusion_model.input_blocks.0.0.weight', 'model_ema.diffusion_modelinput_blocks00weight']),
  keep_finetune_dims: opt(int('Input channels of the finetune_keys kept from the checkpoint.', { minimum: 0 }), 4),
  c_concat_log_start: opt(nullable(int('First c_concat channel to decode when logging images.')), null),
  c_concat_log_end: opt(nullable(int('End of the c_concat channels to decode when logging images.')), null),
};

export const LatentInpaintDiffusionParams = params({
  ...LatentDiffusionParams.properties,
  ...finetuneParams,
  concat_keys: opt(Type.Array(Type.String(), { description: 'Batch keys concatenated to the latent: the mask (resized to the latent, 1 channel) and the masked image (encoded by the first stage).' }), ['mask', 'masked_image']),
  masked_image_key: opt(str('Which of concat_keys is encoded by the first stage (must be one of them).'), 'masked_image'),
});

export const LatentInpaintDiffusion = defineTarget({
  id: 'ldm.models.diffusion.ddpm.LatentInpaintDiffusion',
  aliases: [],
  families: ['model'],
  dialects: ['sd2'],
  summary: 'Inpainting: the latent is concatenated with the mask and the masked image\'s latent (4 + 1 + 4 UNet input channels for a 4-channel latent).',
  source: 'ldm/models/diffusion/ddpm.py (LatentInpaintDiffusion)',
  params: LatentInpaintDiffusionParams,
  statics: {
    family: 'diffusion', slots: LatentDiffusionSlots,
    // Each concat key adds a channel (mask) or a latent (the masked image, through the first stage).
    extraConcatChannels: (p, latentChannels) => inpaintConcatChannels(p, latentChannels),
  },
});

/** The inpainting concat channels; the latent width comes from the first stage (the view), 4 for the KL-f8. */
function inpaintConcatChannels(p: Readonly<Record<string, unknown>>, latentChannels = 4): number {
  const keys = p.concat_keys as readonly string[];
  return keys.reduce((n, k) => n + (k === p.masked_image_key ? latentChannels : 1), 0);
}

export const LatentDepth2ImageDiffusionParams = params({
  ...LatentDiffusionParams.properties,
  ...finetuneParams,
  depth_stage_config: child(['cond_stage'], 'The monocular depth model (ldm.modules.midas.api.MiDaSInference); its depth map, resized to the latent and normalised to [-1, 1], is one concat channel.'),
  concat_keys: opt(Type.Array(Type.String(), { minItems: 1, maxItems: 1, description: 'The one batch key the depth model reads.' }), ['midas_in']),
});

export const LatentDepth2ImageDiffusion = defineTarget({
  id: 'ldm.models.diffusion.ddpm.LatentDepth2ImageDiffusion',
  aliases: [],
  families: ['model'],
  dialects: ['sd2'],
  summary: 'depth2img: the latent is concatenated with a MiDaS depth map of the input (4 + 1 UNet input channels).',
  source: 'ldm/models/diffusion/ddpm.py (LatentDepth2ImageDiffusion)',
  params: LatentDepth2ImageDiffusionParams,
  statics: { family: 'diffusion', slots: LatentDiffusionSlots, extraConcatChannels: () => 1 },
});

export const LatentUpscaleDiffusionParams = params({
  ...LatentDiffusionParams.properties,
  low_scale_config: child(['cond_stage'], 'The low-resolution path (ImageConcatWithNoiseAugmentation): noises the low-res image, whose 3 channels are concatenated to the latent, and gives the noise level as c_adm.'),
  low_scale_key: opt(str('Batch key of the low-resolution image.'), 'LR'),
  noise_level_key: opt(nullable(str('Batch key of a per-sample noise level (NotImplementedError in the reference when set).')), null),
});

export const LatentUpscaleDiffusion = defineTarget({
  id: 'ldm.models.diffusion.ddpm.LatentUpscaleDiffusion',
  aliases: [],
  families: ['model'],
  dialects: ['sd2'],
  summary: 'The x4 upscaler: the latent is concatenated with the noised low-resolution image (4 + 3 UNet input channels); the noise level reaches the UNet as y (hybrid-adm).',
  source: 'ldm/models/diffusion/ddpm.py (LatentUpscaleDiffusion)',
  params: LatentUpscaleDiffusionParams,
  statics: { family: 'diffusion', slots: LatentDiffusionSlots, extraConcatChannels: () => 3 },
});

export const ImageEmbeddingConditionedLatentDiffusionParams = params({
  ...LatentDiffusionParams.properties,
  embedder_config: child(['cond_stage'], 'The image embedder (ClipImageEmbedder / FrozenOpenCLIPImageEmbedder) whose embedding of the batch image is c_adm.'),
  embedding_key: opt(str('Batch key of the image to embed.'), 'jpg'),
  embedding_dropout: opt(num('Probability of zeroing c_adm per sample in training (classifier-free guidance).', { minimum: 0, maximum: 1 }), 0.5),
  freeze_embedder: opt(bool('Freeze the embedder.'), true),
  noise_aug_config: opt(nullable(child(['cond_stage'], 'Noise augmentation of the embedding (CLIPEmbeddingNoiseAugmentation): c_adm becomes [noised embedding, noise-level embedding].')), null),
});

export const ImageEmbeddingConditionedLatentDiffusion = defineTarget({
  id: 'ldm.models.diffusion.ddpm.ImageEmbeddingConditionedLatentDiffusion',
  aliases: [],
  families: ['model'],
  dialects: ['sd2'],
  summary: 'Stable unCLIP: text cross-attention plus a CLIP image embedding (and its noise level) as y (crossattn-adm).',
  source: 'ldm/models/diffusion/ddpm.py (ImageEmbeddingConditionedLatentDiffusion)',
  params: ImageEmbeddingConditionedLatentDiffusionParams,
  statics: { family: 'diffusion', slots: LatentDiffusionSlots },
});

export const diffusionTargets = [LatentDiffusion, LatentInpaintDiffusion, LatentDepth2ImageDiffusion, LatentUpscaleDiffusion, ImageEmbeddingConditionedLatentDiffusion];
