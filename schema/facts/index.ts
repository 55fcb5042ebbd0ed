// Static facts (parameter counts, shapes, attention sites, FLOPs, activation memory) of the
// latent-diffusion modules, computed from constructor params alone: no tensors, no I/O.
export type { FactCode, FactIssue, GroupNormSite, Shape2, Shape3 } from './types.js';
export { FactRules, floorDiv } from './types.js';
export { Tally } from './tally.js';
export {
  channelsAtLevels,
  checkUNetParams,
  downsampleFactors,
  unetDefaults,
  unetFacts,
} from './unet.js';
export type {
  UNetAttentionSite,
  UNetBlockKind,
  UNetFacts,
  UNetFactsOptions,
  UNetFactsParams,
  UNetLevel,
} from './unet.js';
export {
  autoencoderFacts,
  ddconfigDefaults,
  decoderParamCount,
  encoderParamCount,
  resolveAttnType,
} from './autoencoder.js';
export type {
  AttnType,
  AutoencoderAttentionSite,
  AutoencoderFacts,
  AutoencoderFactsOptions,
  AutoencoderFlops,
  AutoencoderKLFactsParams,
  AutoencoderParts,
  DDConfig,
  FirstStageFactsParams,
  VQModelFactsParams,
} from './autoencoder.js';
export {
  bertEmbedderFacts,
  classEmbedderFacts,
  identityFacts,
  spatialRescalerFacts,
} from './encoders.js';
export type {
  BERTEmbedderParams,
  ClassEmbedderParams,
  CondOutput,
  CondStageFacts,
  SpatialRescalerParams,
} from './encoders.js';
export { maxPatchGanLayers, patchGanOutputSide } from './discriminator.js';
export { spatialTransformer } from './transformer.js';
export type { SpatialTransformerShape } from './transformer.js';
export {
  HF_CLIP_TEXT_MODELS,
  MIDAS_MODEL_TYPES,
  OPENAI_CLIP_MODELS,
  OPENCLIP_MODELS,
  admInChannelsIssues,
  admInputWidth,
  noiseLevelIssues,
  clipEmbeddingNoiseAugmentationFacts,
  clipImageEmbedderFacts,
  frozenCLIPEmbedderFacts,
  frozenOpenCLIPEmbedderFacts,
  frozenOpenCLIPImageEmbedderFacts,
  hfClipTextParts,
  imageConcatWithNoiseAugmentationFacts,
  midasInferenceFacts,
  openClipTextParts,
  residualBlock,
  visionTowerParts,
} from './clip.js';
export type {
  CLIPEmbeddingNoiseAugmentationParams,
  ClipArch,
  ClipImageEmbedderParams,
  FrozenCLIPEmbedderParams,
  FrozenOpenCLIPEmbedderParams,
  FrozenOpenCLIPImageEmbedderParams,
  ImageConcatWithNoiseAugmentationParams,
  MidasModelType,
  TextTowerArch,
  TowerParts,
  VisionTowerArch,
} from './clip.js';
