// Static facts of the CLIP-family conditioning stages of CompVis/stable-diffusion (sd1) and
// Stability-AI/stablediffusion (sd2), ldm/modules/encoders/modules.py:
//
// - FrozenCLIPEmbedder: HF `CLIPTextModel.from_pretrained(version)` (text model only);
// - FrozenOpenCLIPEmbedder: open_clip `create_model_and_transforms(arch)` then `del model.visual`;
// - FrozenOpenCLIPImageEmbedder: the same, `del model.transformer` (the text embeddings stay);
// - ClipImageEmbedder: OpenAI `clip.load(model)`: the whole CLIP model, text tower included;
// - CLIPEmbeddingNoiseAugmentation / ImageConcatWithNoiseAugmentation: buffers only, no parameters;
// - MiDaSInference (ldm/modules/midas/api.py): a DPT / MiDaS network built by timm, whose size we
//   cannot derive from the config: its count is unknown, never guessed.
//
// The pretrained networks are loaded by name, so their architecture is a table lookup; a name
// that is not in the table gives an unknown count with a note.
import { assertNever } from '../assert-never.js';
import { Tally } from './tally.js';
import { IssueList } from './types.js';
import type { CondOutput, CondStageFacts } from './results.js';
import type { FactIssue, Shape3 } from './types.js';
import {
  HF_CLIP_TEXT_MODELS,
  OPENCLIP_MODELS,
  OPENAI_CLIP_MODELS,
  resolveHfClipText,
  resolveOpenClip,
  type ArchLookup,
  type ClipArch,
  type ClipTextArch,
  type ConfigFileReader,
  type TextTowerArch,
} from './clip-arch.js';

export * from './clip-arch.js';

// ------------------------------------------------------------------ towers

/**
 * One pre-norm residual attention block at `n` tokens: LayerNorm, attention (q, k, v and out
 * projections with biases: HF's four Linears, or nn.MultiheadAttention's in_proj [3w, w] + out_proj,
 * the same count), LayerNorm, MLP w → mlp → w.
 */
export function residualBlock(t: Tally, width: number, heads: number, mlpWidth: number, n: number): void {
  const dHead = width / heads;
  t.layerNorm(width, n);
  t.linear(width, 3 * width, n); // q, k, v
  t.matmul(heads, n, dHead, n);
  t.pointwise(heads * n * n); // mask + softmax
  t.matmul(heads, n, n, dHead);
  t.linear(width, width, n); // out_proj
  t.pointwise(n * width); // residual
  t.layerNorm(width, n);
  t.linear(width, mlpWidth, n);
  t.pointwise(n * mlpWidth); // activation
  t.linear(mlpWidth, width, n);
  t.pointwise(n * width); // residual
}

/** Part counts of a tower, as Tallies (params, FLOPs, activations at batch 1). */
export type TowerParts = Record<string, Tally>;

/**
 * HF CLIPTextModel (`text_model.`): embeddings (token_embedding [vocab, w], position_embedding
 * [77, w]), encoder.layers × CLIPEncoderLayer, final_layer_norm. `position_ids` is a buffer.
 * `blocksRun` is how many layers the forward runs (HF runs all of them whatever it returns).
 */
export function hfClipTextParts(a: TextTowerArch, tokens = a.contextLength): TowerParts {
  const embeddings = new Tally();
  embeddings.embedding(a.vocabSize, a.width, tokens);
  embeddings.embedding(a.contextLength, a.width, tokens);
  embeddings.pointwise(tokens * a.width);
  const encoder = new Tally();
  for (let l = 0; l < a.layers; l++) residualBlock(encoder, a.width, a.heads, a.mlpWidth, tokens);
  const finalLayerNorm = new Tally();
  finalLayerNorm.layerNorm(a.width, tokens);
  return { embeddings, encoder, final_layer_norm: finalLayerNorm };
}

/**
 * open_clip / OpenAI CLIP text side as the CLIP module holds it: token_embedding,
 * positional_embedding [77, w], transformer.resblocks, ln_final, text_projection [w, embed_dim],
 * and the model-level logit_scale (a 0-d parameter). `blocksRun` of the `layers` blocks run in
 * the forward (FrozenOpenCLIPEmbedder 'penultimate' skips the last); all of them count.
 */
export function openClipTextParts(a: ClipTextArch, blocksRun = a.text.layers): TowerParts {
  const t = a.text, n = t.contextLength;
  const tokenEmbedding = new Tally();
  tokenEmbedding.embedding(t.vocabSize, t.width, n);
  const positionalEmbedding = new Tally();
  positionalEmbedding.parameter(t.contextLength * t.width);
  positionalEmbedding.pointwise(n * t.width);
  const transformer = new Tally();
  for (let l = 0; l < t.layers; l++) {
    const blk = new Tally();
    residualBlock(blk, t.width, t.heads, t.mlpWidth, n);
    if (l < blocksRun) transformer.absorb(blk);
    else transformer.parameter(blk.params);
  }
  const lnFinal = new Tally();
  lnFinal.layerNorm(t.width, n);
  const textProjection = new Tally();
  textProjection.parameter(t.width * a.embedDim);
  const logitScale = new Tally();
  logitScale.parameter(1);
  return {
    token_embedding: tokenEmbedding,
    positional_embedding: positionalEmbedding,
    transformer,
    ln_final: lnFinal,
    text_projection: textProjection,
    logit_scale: logitScale,
  };
}

/**
 * A CLIP ViT image tower (`visual`): conv1 (patchify, no bias), class_embedding [w],
 * positional_embedding [(S/p)² + 1, w], ln_pre, transformer.resblocks, ln_post, proj [w, embed_dim].
 * open_clip v2.7.0 with the defaults of these configs (no LayerScale, no attentional pooler,
 * patch_dropout 0) has exactly OpenAI's layout.
 */
export function visionTowerParts(a: ClipArch): TowerParts {
  const v = a.vision, grid = Math.floor(v.imageSize / v.patchSize), n = grid * grid + 1;
  const stem = new Tally();
  stem.conv(3, v.width, v.patchSize, grid, grid, false); // conv1, stride = kernel
  stem.parameter(v.width); // class_embedding
  stem.parameter(n * v.width); // positional_embedding
  stem.layerNorm(v.width, n); // ln_pre
  const transformer = new Tally();
  for (let l = 0; l < v.layers; l++) residualBlock(transformer, v.width, v.heads, v.mlpWidth, n);
  const head = new Tally();
  head.layerNorm(v.width, 1); // ln_post on the class token
  head.linear(v.width, a.embedDim, 1, false); // x @ proj
  return { stem, transformer, head };
}

function sum(parts: TowerParts): Tally {
  const t = new Tally();
  for (const p of Object.values(parts)) t.absorb(p);
  return t;
}

// ------------------------------------------------------------------ facts

function known(target: string, parts: TowerParts, output: CondOutput, issues: IssueList): CondStageFacts {
  const total = sum(parts);
  return {
    target,
    paramCount: total.params,
    parts: Object.fromEntries(Object.entries(parts).map(([k, t]) => [k, t.params])),
    output,
    flops: total.flops,
    errors: issues.errors,
    warnings: issues.warnings,
  };
}

function unknown(target: string, note: string, output: CondOutput, issues: IssueList): CondStageFacts {
  return { target, paramCount: null, parts: {}, output, flops: null, note, errors: issues.errors, warnings: issues.warnings };
}

export interface FrozenCLIPEmbedderParams {
  version: string;
  max_length: number;
  /** sd2 only: which hidden state is returned. sd1 always returns 'last'. */
  layer?: 'last' | 'pooled' | 'hidden';
  layer_idx?: number | null;
}

/**
 * (`archOverride`: the architecture to use instead of the table's, for a module built from an
 * explicit architecture, as the drift tests do.)
 *
 * FrozenCLIPEmbedder = CLIPTokenizer (no parameters) + CLIPTextModel. The tokenizer pads to
 * `max_length`, so the context is `[max_length, width]` ('last', and 'hidden' = the layer_idx-th
 * of HF's hidden_states, before final_layer_norm), or `[1, width]` ('pooled': pooler_output[:, None]).
 * sd2 asserts `0 <= abs(layer_idx) <= 12` for 'hidden'.
 */
export function frozenCLIPEmbedderFacts(p: FrozenCLIPEmbedderParams, archOverride?: TextTowerArch, read?: ConfigFileReader): CondStageFacts {
  const issues = new IssueList();
  const layer = p.layer ?? 'last';
  const lookup: ArchLookup<TextTowerArch> = archOverride ? { kind: 'found', arch: archOverride } : resolveHfClipText(p.version, read);
  const arch = lookup.kind === 'found' ? lookup.arch : undefined;
  if (layer === 'hidden') {
    const idx = p.layer_idx ?? null;
    if (idx === null || Math.abs(idx) > 12)
      issues.error('clip/layer-idx', `layer 'hidden' needs a layer_idx with abs(layer_idx) <= 12, got ${idx}`, { param: 'layer_idx', args: [String(idx)] });
  }
  if (arch && p.max_length > arch.contextLength)
    issues.warning('clip/max-length', `max_length ${p.max_length} exceeds the ${arch.contextLength} position embeddings`, { param: 'max_length', args: [p.max_length, arch.contextLength] });
  if (lookup.kind !== 'found') {
    const known = Object.keys(HF_CLIP_TEXT_MODELS).join(', ');
    return unknown('FrozenCLIPEmbedder', lookupNote(lookup, 'version', `a CLIP text model ldmc knows (${known}): its size comes from that checkpoint's config.json`, known, 'a folder holding its config.json', issues), { kind: 'unknown' }, issues);
  }
  const tokens = layer === 'pooled' ? 1 : p.max_length;
  return known('FrozenCLIPEmbedder', hfClipTextParts(lookup.arch, Math.min(p.max_length, lookup.arch.contextLength)), { kind: 'tokens', shape: [tokens, lookup.arch.width] }, issues);
}

/**
 * Why a `version` / `arch` gave no architecture, as the facts' note; the matching issue goes to
 * `issues` (an unknown name is a warning: the reference may know it; a file that cannot be read
 * or is no model config is an error: the reference would raise).
 */
function lookupNote(lookup: Exclude<ArchLookup<unknown>, { kind: 'found' }>, param: string, notKnown: string, known: string, fileForm: string, issues: IssueList): string {
  switch (lookup.kind) {
    case 'unknown':
      issues.warning('clip/unknown-model', `${param} '${lookup.name}' is not ${notKnown}`, { param, args: [lookup.name, known, fileForm] });
      return `${param} '${lookup.name}' is not ${notKnown}`;
    case 'unreadable':
      issues.error('clip/config-unreadable', `cannot read the model config ${lookup.file}: ${lookup.reason}`, { param, args: [lookup.file, lookup.reason] });
      return `its model config ${lookup.file} cannot be read (${lookup.reason})`;
    case 'invalid':
      issues.error('clip/config-invalid', `the model config ${lookup.file} is not usable: ${lookup.reason}`, { param, args: [lookup.file, lookup.reason] });
      return `its model config ${lookup.file} is not usable (${lookup.reason})`;
    default:
      return assertNever(lookup, 'arch lookup');
  }
}

export interface FrozenOpenCLIPEmbedderParams {
  arch: string;
  layer: 'last' | 'penultimate';
}

/**
 * FrozenOpenCLIPEmbedder: open_clip's CLIP without `visual`. forward tokenizes with
 * `open_clip.tokenize` (always 77 tokens, whatever max_length says), then token + positional
 * embedding, the resblocks ('penultimate' stops one block early), ln_final: `[77, width]`.
 * text_projection and logit_scale are held (and counted) but unused.
 */
export function frozenOpenCLIPEmbedderFacts(p: FrozenOpenCLIPEmbedderParams, archOverride?: ClipTextArch, read?: ConfigFileReader): CondStageFacts {
  const issues = new IssueList();
  const lookup: ArchLookup<ClipTextArch> = archOverride ? { kind: 'found', arch: archOverride } : resolveOpenClip(p.arch, read);
  if (lookup.kind !== 'found') {
    const known = Object.keys(OPENCLIP_MODELS).join(', ');
    return unknown('FrozenOpenCLIPEmbedder', lookupNote(lookup, 'arch', `an open_clip model ldmc knows (${known}): its size comes from open_clip's model config of that name`, known, 'its open_clip model-config JSON', issues), { kind: 'unknown' }, issues);
  }
  const a = lookup.arch;
  const blocksRun = p.layer === 'penultimate' ? a.text.layers - 1 : a.text.layers;
  return known('FrozenOpenCLIPEmbedder', openClipTextParts(a, blocksRun), { kind: 'tokens', shape: [a.text.contextLength, a.text.width] }, issues);
}

function unknownArchNote(arch: string): string {
  return `open_clip arch '${arch}' is not one ldmc knows (${Object.keys(OPENCLIP_MODELS).join(', ')}): its size comes from open_clip's model config of that name`;
}

export interface FrozenOpenCLIPImageEmbedderParams {
  arch: string;
  layer: string;
}

/**
 * FrozenOpenCLIPImageEmbedder: open_clip's CLIP without `transformer` (the text blocks). The
 * text-side token_embedding, positional_embedding, ln_final, text_projection and logit_scale
 * stay in the module and count. forward = `visual(preprocess(img))`: `[embed_dim]`.
 * `layer: 'penultimate'` raises NotImplementedError in the constructor.
 */
export function frozenOpenCLIPImageEmbedderFacts(p: FrozenOpenCLIPImageEmbedderParams): CondStageFacts {
  const issues = new IssueList();
  if (p.layer === 'penultimate')
    issues.error('clip/image-layer', "layer 'penultimate' raises NotImplementedError in FrozenOpenCLIPImageEmbedder", { param: 'layer', args: [p.layer] });
  const a = OPENCLIP_MODELS[p.arch];
  if (!a) return unknown('FrozenOpenCLIPImageEmbedder', unknownArchNote(p.arch), { kind: 'unknown' }, issues);
  const { transformer: _dropped, ...textLeft } = openClipTextParts(a, 0);
  const visual = sum(visionTowerParts(a));
  const textRest = sum(textLeft);
  // Only the visual tower runs; the text leftovers are parameters without FLOPs.
  const rest = new Tally();
  rest.parameter(textRest.params);
  return known('FrozenOpenCLIPImageEmbedder', { visual, text_leftovers: rest }, { kind: 'vector', width: a.embedDim }, issues);
}

export interface ClipImageEmbedderParams {
  model: string;
}

/**
 * ClipImageEmbedder: OpenAI `clip.load(model)`, kept whole (visual and text towers), forward =
 * `encode_image(preprocess(x))`: `[embed_dim]` per image.
 */
export function clipImageEmbedderFacts(p: ClipImageEmbedderParams): CondStageFacts {
  const issues = new IssueList();
  const a = OPENAI_CLIP_MODELS[p.model];
  if (!a) {
    return unknown(
      'ClipImageEmbedder',
      `clip.load model '${p.model}' is not one ldmc knows (${Object.keys(OPENAI_CLIP_MODELS).join(', ')}): its size comes from that checkpoint`,
      { kind: 'unknown' },
      issues,
    );
  }
  const visual = sum(visionTowerParts(a));
  const textSide = sum(openClipTextParts(a, 0));
  const textParams = new Tally();
  textParams.parameter(textSide.params); // held, never run by encode_image
  return known('ClipImageEmbedder', { visual, text: textParams }, { kind: 'vector', width: a.embedDim }, issues);
}

export interface ImageConcatWithNoiseAugmentationParams {
  max_noise_level: number;
}

/**
 * ImageConcatWithNoiseAugmentation (ldm/modules/diffusionmodules/upscaling.py): a registered
 * noise schedule (buffers) and `q_sample`; no parameters. forward(x) returns x noised (same shape)
 * and the noise level, an integer in [0, max_noise_level) that becomes `c_adm`: the UNet looks it
 * up in `label_emb = Embedding(num_classes, ·)`.
 */
export function imageConcatWithNoiseAugmentationFacts(p: ImageConcatWithNoiseAugmentationParams, input: Shape3 | null = null): CondStageFacts {
  return {
    target: 'ImageConcatWithNoiseAugmentation',
    paramCount: 0,
    parts: {},
    output: input ? { kind: 'spatial', shape: input } : { kind: 'unknown' },
    noiseLevel: { kind: 'class-index', classes: p.max_noise_level },
    flops: 0,
    errors: [],
    warnings: [],
  };
}

export interface CLIPEmbeddingNoiseAugmentationParams {
  timestep_dim: number;
  clip_stats_path: string | null;
  max_noise_level: number;
}

/**
 * CLIPEmbeddingNoiseAugmentation: ImageConcatWithNoiseAugmentation over an image embedding, with
 * data_mean/data_std buffers (zeros/ones of timestep_dim, or read from clip_stats_path) and
 * `time_embed = Timestep(timestep_dim)` (sinusoidal, no parameters). forward returns the noised
 * embedding (its input's width) and the noise level's embedding `[timestep_dim]`;
 * ImageEmbeddingConditionedLatentDiffusion concatenates the two into `c_adm`.
 * `embeddingWidth` is the embedder's output width, when known.
 */
export function clipEmbeddingNoiseAugmentationFacts(p: CLIPEmbeddingNoiseAugmentationParams, embeddingWidth: number | null = null): CondStageFacts {
  const issues = new IssueList();
  // Without a stats file the mean/std are `timestep_dim` wide and broadcast against the embedding.
  if (p.clip_stats_path === null && embeddingWidth !== null && embeddingWidth !== p.timestep_dim)
    issues.warning('clip/noise-aug-width', `timestep_dim ${p.timestep_dim} differs from the image embedding width ${embeddingWidth}`, { param: 'timestep_dim', args: [p.timestep_dim, embeddingWidth] });
  return {
    target: 'CLIPEmbeddingNoiseAugmentation',
    paramCount: 0,
    parts: {},
    output: embeddingWidth === null ? { kind: 'unknown' } : { kind: 'vector', width: embeddingWidth },
    noiseLevel: { kind: 'vector', width: p.timestep_dim },
    flops: 0,
    errors: issues.errors,
    warnings: issues.warnings,
  };
}

/** MiDaSInference model types (api.py `MODEL_TYPES_ISL`) and the network each builds. */
export const MIDAS_MODEL_TYPES = {
  dpt_large: 'DPTDepthModel(backbone="vitl16_384")',
  dpt_hybrid: 'DPTDepthModel(backbone="vitb_rn50_384")',
  midas_v21: 'MidasNet (ResNeXt-101 WSL encoder)',
  midas_v21_small: 'MidasNet_small(backbone="efficientnet_lite3")',
} as const;
export type MidasModelType = keyof typeof MIDAS_MODEL_TYPES;

/**
 * MiDaSInference: the depth network, frozen; forward returns a depth map `[1, H, W]` at the
 * input's size. Its backbones are timm models (and torch.hub ones), whose layer lists ldmc does
 * not reproduce, so the parameter count is unknown.
 */
export function midasInferenceFacts(p: { model_type: MidasModelType }, input: Shape3 | null = null): CondStageFacts {
  const net = MIDAS_MODEL_TYPES[p.model_type];
  return {
    target: 'MiDaSInference',
    paramCount: null,
    parts: {},
    output: input ? { kind: 'spatial', shape: [1, input[1], input[2]] } : { kind: 'unknown' },
    flops: null,
    note: `the depth network ${net} is built by timm/MiDaS code from its own definitions, which ldmc does not reproduce: parameter count unknown`,
    errors: [],
    warnings: [],
  };
}

/**
 * The `c_adm` width ImageEmbeddingConditionedLatentDiffusion feeds the UNet: the embedder's
 * vector, concatenated with the noise augmentor's level embedding when there is one. Null when
 * the embedder's width is unknown.
 */
export function admInputWidth(embedder: CondStageFacts | undefined, noiseAug: CondStageFacts | undefined): number | null {
  const out = embedder?.output;
  if (!out || out.kind !== 'vector') return null;
  if (!noiseAug) return out.width;
  const lvl = noiseAug.noiseLevel;
  if (!lvl || lvl.kind !== 'vector') return null;
  return out.width + lvl.width;
}

// ------------------------------------------------------------------ cross-module rules

/**
 * `c_adm` reaches the UNet's `label_emb`: with `num_classes: 'sequential'` that is
 * `Linear(adm_in_channels, time_embed_dim)`, so its width must be exactly adm_in_channels (else
 * the first forward raises a shape error). `why` says where the width comes from.
 */
export function admInChannelsIssues(admInChannels: number | null, admWidth: number | null, why: string): FactIssue[] {
  const issues = new IssueList();
  if (admInChannels !== null && admWidth !== null && admInChannels !== admWidth)
    issues.error('sd/adm-in-channels', `adm_in_channels ${admInChannels} != c_adm width ${admWidth} (${why})`, { param: 'adm_in_channels', args: [admInChannels, admWidth, why] });
  return issues.items;
}

/**
 * The x4 upscaler's noise level is a class index into `label_emb = Embedding(num_classes, ·)`:
 * levels reach max_noise_level - 1, so num_classes must be at least max_noise_level (else the
 * embedding lookup raises an index error on a high draw).
 */
export function noiseLevelIssues(numClasses: number | null, maxNoiseLevel: number): FactIssue[] {
  const issues = new IssueList();
  if (numClasses !== null && numClasses < maxNoiseLevel)
    issues.error('sd/noise-levels', `max_noise_level ${maxNoiseLevel} > num_classes ${numClasses}`, { param: 'num_classes', args: [maxNoiseLevel - 1, numClasses] });
  return issues.items;
}
