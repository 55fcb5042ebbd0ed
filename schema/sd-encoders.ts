// Stable Diffusion's conditioning modules: the CLIP-family encoders of
// ldm/modules/encoders/modules.py in CompVis/stable-diffusion (sd1) and Stability-AI/stablediffusion
// (sd2), the x4 upscaler's low-scale model (ldm/modules/diffusionmodules/upscaling.py) and the depth
// stage (ldm/modules/midas/api.py). CompVis/latent-diffusion defines none of them (its modules.py
// has FrozenCLIPTextEmbedder and FrozenClipImageEmbedder, other classes), so none is in 'ldm'.
import { Type } from './type-builder.js';
import {
  MIDAS_MODEL_TYPES,
  clipEmbeddingNoiseAugmentationFacts,
  clipImageEmbedderFacts,
  frozenCLIPEmbedderFacts,
  frozenOpenCLIPEmbedderFacts,
  frozenOpenCLIPImageEmbedderFacts,
  imageConcatWithNoiseAugmentationFacts,
  midasInferenceFacts,
  type CLIPEmbeddingNoiseAugmentationParams as NoiseAugFacts,
  type ClipImageEmbedderParams as ClipImageFacts,
  type ConfigFileReader,
  type FrozenCLIPEmbedderParams as ClipTextFacts,
  type FrozenOpenCLIPEmbedderParams as OpenClipTextFacts,
  type FrozenOpenCLIPImageEmbedderParams as OpenClipImageFacts,
  type MidasModelType,
} from './facts/clip.js';
import type { Shape3 } from './facts/types.js';
import type { CondEnv } from './family.js';
import { bool, defineTarget, dialects, int, nullable, num, oneOf, opt, params, str, type Filled } from './types.js';

const SD2 = ['sd2'] as const;

/** The env's file reader for one param's path, if the caller gave one. */
function paramReader(env: CondEnv, param: string): ConfigFileReader | undefined {
  const read = env.readParamFile;
  return read ? (path) => read(param, path) : undefined;
}

export const FrozenCLIPEmbedderParams = params({
  version: opt(str('HF hub name of the CLIP text model, or a folder holding its config.json (relative to this config file); openai/clip-vit-large-patch14 is CLIP ViT-L/14 (768-wide tokens).'), 'openai/clip-vit-large-patch14'),
  device: opt(str('Device the tokens are moved to (ignored by ldmc).'), 'cuda'),
  max_length: opt(int('Tokens the tokenizer pads and truncates to: the context length.', { minimum: 1 }), 77),
  freeze: opt(dialects(SD2, bool('Put the text model in eval mode and stop its gradients.')), true),
  layer: opt(dialects(SD2, oneOf(['last', 'pooled', 'hidden'] as const, "Output: 'last' hidden state, the 'pooled' EOS token (one token), or hidden_states[layer_idx] ('hidden').")), 'last'),
  layer_idx: opt(dialects(SD2, nullable(int("Index into HF's hidden_states for layer 'hidden' (-2: the penultimate layer, before the final LayerNorm)."))), null),
});
export type FrozenCLIPEmbedderParams = Filled<typeof FrozenCLIPEmbedderParams>;

export const FrozenCLIPEmbedder = defineTarget({
  id: 'ldm.modules.encoders.modules.FrozenCLIPEmbedder',
  aliases: [],
  families: ['cond_stage'],
  dialects: ['sd1', 'sd2'],
  summary: "The frozen CLIP text transformer (HF CLIPTextModel) over CLIP-tokenized text: max_length tokens of the model's width (768 for ViT-L/14).",
  source: 'ldm/modules/encoders/modules.py (FrozenCLIPEmbedder; sd1 and sd2)',
  params: FrozenCLIPEmbedderParams,
  statics: {
    family: 'cond_stage',
    facts: (p, env) => frozenCLIPEmbedderFacts(p as unknown as ClipTextFacts, undefined, paramReader(env, 'version')),
    inputShape: (p) => [p.max_length as number],
    input: { type: 'Tensor2D', doc: 'CLIP token ids [B, max_length] (int32)' },
    conditioning: { kind: 'text' },
  },
  runtime: { module: 'runtime/encoders/index.js', export: 'FrozenCLIPEmbedder', args: 'argsFromParams' },
});

export const FrozenOpenCLIPEmbedderParams = params({
  arch: opt(str('open_clip model name, or the path of an open_clip model-config JSON (relative to this config file); ViT-H-14 is the SD 2 text encoder (1024-wide tokens).'), 'ViT-H-14'),
  version: opt(nullable(str('open_clip pretrained tag (weights); null builds it untrained.')), 'laion2b_s32b_b79k'),
  device: opt(str('Device the tokens are moved to (ignored by ldmc).'), 'cuda'),
  max_length: opt(int('Stored only: open_clip.tokenize always makes 77 tokens.', { minimum: 1 }), 77),
  freeze: opt(bool('Put the model in eval mode and stop its gradients.'), true),
  layer: opt(oneOf(['last', 'penultimate'] as const, "Output of the last transformer block, or of the one before ('penultimate', what the SD 2 configs use); ln_final follows both."), 'last'),
});
export type FrozenOpenCLIPEmbedderParams = Filled<typeof FrozenOpenCLIPEmbedderParams>;

export const FrozenOpenCLIPEmbedder = defineTarget({
  id: 'ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder',
  aliases: [],
  families: ['cond_stage'],
  dialects: SD2,
  summary: "The frozen OpenCLIP text tower (open_clip CLIP without its image tower): 77 tokens of the model's width (1024 for ViT-H-14).",
  source: 'ldm/modules/encoders/modules.py (FrozenOpenCLIPEmbedder; sd2)',
  params: FrozenOpenCLIPEmbedderParams,
  statics: {
    family: 'cond_stage',
    facts: (p, env) => frozenOpenCLIPEmbedderFacts(p as unknown as OpenClipTextFacts, undefined, paramReader(env, 'arch')),
    inputShape: () => [77],
    input: { type: 'Tensor2D', doc: 'open_clip token ids [B, 77] (int32)' },
    conditioning: { kind: 'text' },
  },
  runtime: { module: 'runtime/encoders/index.js', export: 'FrozenOpenCLIPEmbedder', args: 'argsFromParams' },
});

export const FrozenOpenCLIPImageEmbedderParams = params({
  arch: opt(str('open_clip model name.'), 'ViT-H-14'),
  version: opt(nullable(str('open_clip pretrained tag (weights); null builds it untrained.')), 'laion2b_s32b_b79k'),
  device: opt(str('Device (ignored by ldmc).'), 'cuda'),
  max_length: opt(int('Stored only (unused by the image tower).', { minimum: 1 }), 77),
  freeze: opt(bool('Put the model in eval mode and stop its gradients.'), true),
  layer: opt(str("Stored; 'penultimate' raises NotImplementedError, anything else gives the pooled image embedding."), 'pooled'),
  antialias: opt(bool('Antialias when resizing to 224×224.'), true),
  ucg_rate: opt(num('Probability of zeroing an embedding in training (unconditional guidance).', { minimum: 0, maximum: 1 }), 0),
});
export type FrozenOpenCLIPImageEmbedderParams = Filled<typeof FrozenOpenCLIPImageEmbedderParams>;

export const FrozenOpenCLIPImageEmbedder = defineTarget({
  id: 'ldm.modules.encoders.modules.FrozenOpenCLIPImageEmbedder',
  aliases: [],
  families: ['cond_stage'],
  dialects: SD2,
  summary: 'The frozen OpenCLIP image tower: one embed_dim-wide image embedding per image (1024 for ViT-H-14), the unCLIP-H c_adm.',
  source: 'ldm/modules/encoders/modules.py (FrozenOpenCLIPImageEmbedder; sd2)',
  params: FrozenOpenCLIPImageEmbedderParams,
  statics: {
    family: 'cond_stage',
    facts: (p) => frozenOpenCLIPImageEmbedderFacts(p as unknown as OpenClipImageFacts),
    inputShape: () => [3, 224, 224],
    input: { type: 'Tensor4D', doc: 'images [B, H, W, 3] in [-1, 1] (resized to 224×224)' },
    conditioning: { kind: 'image' },
  },
});

export const ClipImageEmbedderParams = params({
  model: str("OpenAI CLIP model for clip.load, e.g. 'ViT-L/14' (768-wide embeddings)."),
  jit: opt(bool('Load the TorchScript version.'), false),
  device: opt(str('Device (ignored by ldmc).'), 'cuda'),
  antialias: opt(bool('Antialias when resizing to 224×224.'), true),
  ucg_rate: opt(num('Probability of zeroing an embedding in training (unconditional guidance).', { minimum: 0, maximum: 1 }), 0),
});
export type ClipImageEmbedderParams = Filled<typeof ClipImageEmbedderParams>;

export const ClipImageEmbedder = defineTarget({
  id: 'ldm.modules.encoders.modules.ClipImageEmbedder',
  aliases: [],
  families: ['cond_stage'],
  dialects: SD2,
  summary: "OpenAI CLIP's image encoder (the whole CLIP model is loaded): one embed_dim-wide embedding per image, the unCLIP-L c_adm.",
  source: 'ldm/modules/encoders/modules.py (ClipImageEmbedder; sd2)',
  params: ClipImageEmbedderParams,
  statics: {
    family: 'cond_stage',
    facts: (p) => clipImageEmbedderFacts(p as unknown as ClipImageFacts),
    inputShape: () => [3, 224, 224],
    input: { type: 'Tensor4D', doc: 'images [B, H, W, 3] in [-1, 1] (resized to 224×224)' },
    conditioning: { kind: 'image' },
  },
});

/** `register_schedule(**noise_schedule_config)` of AbstractLowScaleModel (upscaling.py). */
export const NoiseScheduleConfig = Type.Object(
  {
    beta_schedule: opt(oneOf(['linear', 'cosine', 'squaredcos_cap_v2', 'sqrt_linear', 'sqrt'] as const, 'Noise schedule (make_beta_schedule; squaredcos_cap_v2 is the Karlo prior schedule).'), 'linear'),
    timesteps: opt(int('Number of noise levels in the schedule.', { minimum: 1 }), 1000),
    linear_start: opt(num('First beta of the linear schedules.', { exclusiveMinimum: 0 }), 1e-4),
    linear_end: opt(num('Last beta of the linear schedules.', { exclusiveMinimum: 0 }), 2e-2),
    cosine_s: opt(num('Offset s of the cosine schedule.'), 8e-3),
  },
  { additionalProperties: false, description: 'The noise schedule of the augmentation (register_schedule keyword arguments).' },
);

const lowScaleParams = {
  noise_schedule_config: NoiseScheduleConfig,
  max_noise_level: opt(int('Noise levels are drawn from [0, max_noise_level) in training; the level is the UNet c_adm (a class index for the x4 upscaler).', { minimum: 1 }), 1000),
  to_cuda: opt(bool('Unused by the reference.'), false),
};

export const ImageConcatWithNoiseAugmentationParams = params(lowScaleParams);
export type ImageConcatWithNoiseAugmentationParams = Filled<typeof ImageConcatWithNoiseAugmentationParams>;

export const ImageConcatWithNoiseAugmentation = defineTarget({
  id: 'ldm.modules.diffusionmodules.upscaling.ImageConcatWithNoiseAugmentation',
  aliases: [],
  families: ['cond_stage'],
  dialects: SD2,
  summary: "The x4 upscaler's low-scale model: noises the low-resolution image (concatenated to the latent) and hands the noise level to the UNet as c_adm. No parameters.",
  source: 'ldm/modules/diffusionmodules/upscaling.py (ImageConcatWithNoiseAugmentation; sd2)',
  params: ImageConcatWithNoiseAugmentationParams,
  statics: {
    family: 'cond_stage',
    // The low-resolution image: its size is the data's, not known here.
    facts: (p) => imageConcatWithNoiseAugmentationFacts({ max_noise_level: p.max_noise_level as number }, null),
    inputShape: () => [3, 0, 0],
    input: { type: 'Tensor4D', doc: 'low-resolution images [B, h, w, 3]' },
    conditioning: { kind: 'image' },
  },
});

export const CLIPEmbeddingNoiseAugmentationParams = params({
  clip_stats_path: opt(nullable(str('torch file with the (mean, std) of the image embeddings; null: zeros and ones of timestep_dim.')), null),
  timestep_dim: opt(int('Width of the noise-level embedding (and of the default mean/std).', { minimum: 1 }), 256),
  ...lowScaleParams,
});
export type CLIPEmbeddingNoiseAugmentationParams = Filled<typeof CLIPEmbeddingNoiseAugmentationParams>;

export const CLIPEmbeddingNoiseAugmentation = defineTarget({
  id: 'ldm.modules.encoders.modules.CLIPEmbeddingNoiseAugmentation',
  aliases: [],
  families: ['cond_stage'],
  dialects: SD2,
  summary: 'Noises a CLIP image embedding (unCLIP) and returns it with the embedded noise level; the two are concatenated into c_adm. No parameters.',
  source: 'ldm/modules/encoders/modules.py (CLIPEmbeddingNoiseAugmentation; sd2)',
  params: CLIPEmbeddingNoiseAugmentationParams,
  statics: {
    family: 'cond_stage',
    facts: (p, env) => clipEmbeddingNoiseAugmentationFacts(p as unknown as NoiseAugFacts, env.vectorInput ?? null),
    inputShape: (p) => [p.timestep_dim as number],
    input: { type: 'Tensor2D', doc: 'image embeddings [B, D]' },
    conditioning: { kind: 'embedding' },
    widthParam: 'timestep_dim',
  },
});

export const MiDaSInferenceParams = params({
  model_type: oneOf(Object.keys(MIDAS_MODEL_TYPES) as (keyof typeof MIDAS_MODEL_TYPES)[], 'MiDaS depth network: dpt_large, dpt_hybrid (the SD 2 depth model), midas_v21 or midas_v21_small.'),
});
export type MiDaSInferenceParams = Filled<typeof MiDaSInferenceParams>;

export const MiDaSInference = defineTarget({
  id: 'ldm.modules.midas.api.MiDaSInference',
  aliases: [],
  families: ['cond_stage'],
  dialects: SD2,
  summary: 'The frozen MiDaS depth estimator of the depth-conditioned model: a 1-channel depth map, concatenated to the latent. Its parameter count is unknown to ldmc (a timm backbone).',
  source: 'ldm/modules/midas/api.py (MiDaSInference; sd2)',
  params: MiDaSInferenceParams,
  statics: {
    family: 'cond_stage',
    facts: (p, env) => midasInferenceFacts({ model_type: p.model_type as MidasModelType }, env.imageSide ? ([3, env.imageSide, env.imageSide] as Shape3) : null),
    inputShape: () => [3, 384, 384],
    input: { type: 'Tensor4D', doc: 'MiDaS-transformed images [B, H, W, 3]' },
    conditioning: { kind: 'image' },
  },
});

export const sdEncoderTargets = [
  FrozenCLIPEmbedder,
  FrozenOpenCLIPEmbedder,
  FrozenOpenCLIPImageEmbedder,
  ClipImageEmbedder,
  ImageConcatWithNoiseAugmentation,
  CLIPEmbeddingNoiseAugmentation,
  MiDaSInference,
];
