// Diffusion wrappers: ldm/models/diffusion/ddpm.py (DDPM and LatentDiffusion).
import { Type } from '@sinclair/typebox';
import { bool, child, defineTarget, int, nullable, num, oneOf, opt, params, Sentinel, str, valueDialects, type Filled } from './types.js';

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
  conditioning_key: opt(nullable(oneOf(['concat', 'crossattn', 'hybrid', 'adm'] as const, 'How conditioning reaches the UNet; when null, LatentDiffusion derives it from concat_mode.')), null),
  parameterization: opt(valueDialects(oneOf(['eps', 'x0', 'v'] as const, 'What the network predicts: the noise (eps), the clean sample (x0), or v = √ᾱ·ε − √(1−ᾱ)·x₀ (Stability-AI only).'), { v: ['sd2'] }), 'eps'),
  scheduler_config: opt(nullable(child(['lr_scheduler'], 'Learning-rate schedule (LambdaLR multiplier).')), null),
  use_positional_encodings: opt(bool('Add positional encodings to the input.'), false),
  learn_logvar: opt(bool('Learn a per-timestep log-variance weighting the loss.'), false),
  logvar_init: opt(num('Initial value of the learned logvar.'), 0),
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
 * (c_concat), a cross-attention context (c_crossattn), class labels y (adm). A total table over
 * the enum: a new key fails to compile here until its inputs are stated.
 */
export const ConditioningInputs: { readonly [K in ConditioningKey]: { readonly concat: boolean; readonly context: boolean; readonly classLabels: boolean } } = {
  concat: { concat: true, context: false, classLabels: false },
  crossattn: { concat: false, context: true, classLabels: false },
  hybrid: { concat: true, context: true, classLabels: false },
  adm: { concat: false, context: false, classLabels: true },
};

export const LatentDiffusion = defineTarget({
  id: 'ldm.models.diffusion.ddpm.LatentDiffusion',
  aliases: [],
  families: ['model'],
  summary: 'Diffusion in the latent space of a frozen first stage, with optional conditioning.',
  source: 'ldm/models/diffusion/ddpm.py:424',
  params: LatentDiffusionParams,
  statics: { family: 'diffusion', slots: { unet: 'unet_config', firstStage: 'first_stage_config', condStage: 'cond_stage_config' } },
  runtime: { module: 'runtime/diffusion/index.js', export: 'LatentDiffusion' },
});

export const diffusionTargets = [LatentDiffusion];
