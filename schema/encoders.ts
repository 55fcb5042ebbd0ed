// Conditioning stages: ldm/modules/encoders/modules.py, plus torch.nn.Identity.
import { Type } from './type-builder.js';
import { bertEmbedderFacts, classEmbedderFacts, identityFacts, spatialRescalerFacts, type BERTEmbedderParams as BERTFactsParams, type ClassEmbedderParams as ClassFactsParams, type SpatialRescalerParams as RescalerFactsParams } from './facts/encoders.js';
import { sdEncoderTargets } from './sd-encoders.js';
import { bool, defineTarget, int, nullable, num, oneOf, opt, params, str, type Filled } from './types.js';

export const ClassEmbedderParams = params({
  embed_dim: int('Width of the class embedding (the UNet context_dim for crossattn).', { minimum: 1 }),
  n_classes: opt(int('Number of classes (rows of the embedding table).', { minimum: 1 }), 1000),
  key: opt(str('Batch key of the class label.'), 'class'),
});
export type ClassEmbedderParams = Filled<typeof ClassEmbedderParams>;

export const ClassEmbedder = defineTarget({
  id: 'ldm.modules.encoders.modules.ClassEmbedder',
  aliases: [],
  families: ['cond_stage'],
  summary: 'Embeds a class label as one context token of width embed_dim.',
  source: 'ldm/modules/encoders/modules.py:21',
  params: ClassEmbedderParams,
  statics: {
    family: 'cond_stage',
    facts: (p) => classEmbedderFacts(p as unknown as ClassFactsParams),
    inputShape: () => [1],
    input: { type: 'Tensor1D', doc: 'class ids [B] (int32)' },
    conditioning: { kind: 'class', countParam: 'n_classes' },
    widthParam: 'embed_dim',
  },
  runtime: { module: 'runtime/encoders/index.js', export: 'ClassEmbedder' },
});

export const BERTEmbedderParams = params({
  n_embed: int('Token width (the UNet context_dim).', { minimum: 1 }),
  n_layer: int('Transformer encoder layers.', { minimum: 1, maximum: 1024 }),
  vocab_size: opt(int('Vocabulary size.', { minimum: 1 }), 30522),
  max_seq_len: opt(int('Context length in tokens.', { minimum: 1 }), 77),
  device: opt(str('Device of the tokenizer (ignored by ldmc).'), 'cuda'),
  use_tokenizer: opt(bool('Tokenize text with the BERT tokenizer (bert-base-uncased).'), true),
  embedding_dropout: opt(num('Dropout on the token embeddings.', { minimum: 0, maximum: 1 }), 0.0),
});
export type BERTEmbedderParams = Filled<typeof BERTEmbedderParams>;

export const BERTEmbedder = defineTarget({
  id: 'ldm.modules.encoders.modules.BERTEmbedder',
  // Stability-AI/stablediffusion removed it from encoders/modules.py.
  dialects: ['ldm', 'sd1'],
  aliases: [],
  families: ['cond_stage'],
  summary: 'A transformer encoder over (BERT-tokenized) text; outputs max_seq_len tokens of width n_embed.',
  source: 'ldm/modules/encoders/modules.py:80',
  params: BERTEmbedderParams,
  statics: {
    family: 'cond_stage',
    facts: (p) => bertEmbedderFacts(p as unknown as BERTFactsParams),
    inputShape: (p) => [p.max_seq_len as number],
    input: { type: 'Tensor2D', doc: 'token ids [B, max_seq_len] (int32)' },
    conditioning: { kind: 'text' },
    widthParam: 'n_embed',
  },
  runtime: { module: 'runtime/encoders/index.js', export: 'BERTEmbedder' },
});

export const SpatialRescalerParams = params({
  n_stages: opt(int('Number of rescaling steps.', { minimum: 0, maximum: 32 }), 1),
  method: opt(oneOf(['nearest', 'linear', 'bilinear', 'trilinear', 'bicubic', 'area'] as const, 'Interpolation mode.'), 'bilinear'),
  multiplier: opt(num('Scale factor per stage.', { exclusiveMinimum: 0 }), 0.5),
  in_channels: opt(int('Input channels.', { minimum: 1 }), 3),
  out_channels: opt(nullable(int('Output channels: adds a 1×1 conv channel_mapper when set.', { minimum: 1 })), null),
  bias: opt(bool('Bias of the channel_mapper conv.'), false),
});
export type SpatialRescalerParams = Filled<typeof SpatialRescalerParams>;

export const SpatialRescaler = defineTarget({
  id: 'ldm.modules.encoders.modules.SpatialRescaler',
  // Stability-AI/stablediffusion removed it from encoders/modules.py.
  dialects: ['ldm', 'sd1'],
  aliases: [],
  families: ['cond_stage'],
  summary: 'Resizes a spatial conditioning input (e.g. a segmentation map) and optionally maps its channels.',
  source: 'ldm/modules/encoders/modules.py:106',
  params: SpatialRescalerParams,
  statics: {
    family: 'cond_stage',
    // The data's real channels are not known statically: in_channels stands for them.
    facts: (p, env) => spatialRescalerFacts(p as unknown as RescalerFactsParams, [p.in_channels as number, env.imageSide ?? 256, env.imageSide ?? 256]),
    inputShape: (p) => [p.in_channels as number, 0, 0],
    input: { type: 'Tensor4D', doc: 'maps [B, H, W, C] (NHWC)' },
    conditioning: { kind: 'map' },
    widthParam: 'out_channels',
  },
  runtime: { module: 'runtime/encoders/index.js', export: 'SpatialRescaler' },
});

export const Identity = defineTarget({
  id: 'torch.nn.Identity',
  aliases: [],
  families: ['cond_stage', 'loss'],
  summary: 'Passes its input through; accepts and ignores any params. A no-op loss for inference-only first stages, or a cond stage that feeds the input directly.',
  source: 'torch/nn/modules/linear.py (PyTorch)',
  params: Type.Object({}, { additionalProperties: true }),
  openParams: true,
  statics: {
    family: 'cond_stage',
    facts: () => identityFacts(null),
    inputShape: () => [],
    input: { type: 'Tensor', doc: 'the conditioning itself (torch.nn.Identity)' },
    passthrough: true,
  },
});

/** latent-diffusion's cond stages, then Stable Diffusion's (schema/sd-encoders.ts). */
export const encoderTargets = [ClassEmbedder, BERTEmbedder, SpatialRescaler, Identity, ...sdEncoderTargets];
