// Which CLIP architecture a config names, as the reference resolves it:
//
// - FrozenCLIPEmbedder `version`: `CLIPTextModel.from_pretrained(version)`: a local folder holding a
//   config.json wins (a full CLIPConfig's `text_config`, or a CLIPTextConfig's own fields, with
//   CLIPTextConfig's defaults for what is missing); otherwise a hub name, which ldmc knows from its
//   table. ldmc also takes the path of such a JSON file itself.
// - FrozenOpenCLIPEmbedder `arch`: open_clip's model-config name (its table here), or the path of an
//   open_clip model-config JSON (what `open_clip.add_model_config(path)` registers): `embed_dim`,
//   `text_cfg` (width, layers, heads, context_length, vocab_size), `quick_gelu`.
//
// Pure: the caller hands in a reader for files (the compiler's host, the runtime's disk), which
// resolves a relative path against the config that names it.

/** A CLIP text transformer (HF CLIPTextModel or OpenAI/open_clip's text tower). */
export interface TextTowerArch {
  readonly vocabSize: number;
  /** Positions of the learned position embedding (77 for every CLIP). */
  readonly contextLength: number;
  readonly width: number;
  readonly heads: number;
  readonly layers: number;
  /** Hidden width of each block's MLP (4 × width for every CLIP here). */
  readonly mlpWidth: number;
  /** OpenAI's and HF's CLIP use QuickGELU (x·σ(1.702x)); open_clip's own models use exact GELU. */
  readonly act: 'quick_gelu' | 'gelu';
  /** LayerNorm epsilon (HF's layer_norm_eps); 1e-5 when absent, as in every CLIP here. */
  readonly layerNormEps?: number;
}

/** A CLIP ViT image tower (OpenAI `VisionTransformer`, open_clip `VisionTransformer`). */
export interface VisionTowerArch {
  readonly imageSize: number;
  readonly patchSize: number;
  readonly width: number;
  readonly heads: number;
  readonly layers: number;
  readonly mlpWidth: number;
}

/** The text side of a CLIP model: what FrozenOpenCLIPEmbedder keeps (text_projection is embed_dim wide). */
export interface ClipTextArch {
  readonly embedDim: number;
  readonly text: TextTowerArch;
  /** Where the figures come from. */
  readonly source: string;
}

/** A whole CLIP model: both towers and the joint embedding width. */
export interface ClipArch extends ClipTextArch {
  readonly vision: VisionTowerArch;
}

const text = (width: number, heads: number, layers: number, act: TextTowerArch['act']): TextTowerArch => ({
  vocabSize: 49408,
  contextLength: 77,
  width,
  heads,
  layers,
  mlpWidth: 4 * width,
  act,
});
const vit = (imageSize: number, patchSize: number, width: number, layers: number, headWidth = 64): VisionTowerArch => ({
  imageSize,
  patchSize,
  width,
  heads: width / headWidth,
  layers,
  mlpWidth: 4 * width,
});

/**
 * HF hub text configs (`text_config` of each repository's config.json) that FrozenCLIPEmbedder's
 * `version` may name. openai/clip-vit-large-patch14: hidden 768, intermediate 3072, 12 layers,
 * 12 heads, 77 positions, vocab 49408, quick_gelu: 123,060,480 parameters, the public figure.
 */
export const HF_CLIP_TEXT_MODELS: Readonly<Record<string, TextTowerArch>> = {
  'openai/clip-vit-large-patch14': text(768, 12, 12, 'quick_gelu'),
  'openai/clip-vit-large-patch14-336': text(768, 12, 12, 'quick_gelu'),
  'openai/clip-vit-base-patch32': text(512, 8, 12, 'quick_gelu'),
  'openai/clip-vit-base-patch16': text(512, 8, 12, 'quick_gelu'),
  // The reference oracle's tiny test model (shared/reference/sd-parity/clip_text_tiny.hf_config.json),
  // which its clip_text_tiny.yaml names: 51,616 parameters.
  'sdparity/clip-text-tiny': { vocabSize: 1000, contextLength: 77, width: 32, heads: 4, layers: 2, mlpWidth: 64, act: 'quick_gelu' },
};

/**
 * open_clip model configs (src/open_clip/model_configs/<arch>.json of open_clip v2.7.0, the
 * `open-clip-torch==2.7.0` pin of stablediffusion's requirements.txt). ViT-H-14's text tower
 * (width 1024, 16 heads, 24 layers) is exactly v2-inference.json's cond-stage state dict.
 */
export const OPENCLIP_MODELS: Readonly<Record<string, ClipArch>> = {
  'ViT-H-14': { embedDim: 1024, text: text(1024, 16, 24, 'gelu'), vision: vit(224, 14, 1280, 32, 80), source: 'open_clip v2.7.0 model_configs/ViT-H-14.json' },
  'ViT-L-14': { embedDim: 768, text: text(768, 12, 12, 'gelu'), vision: vit(224, 14, 1024, 24), source: 'open_clip v2.7.0 model_configs/ViT-L-14.json' },
  'ViT-B-32': { embedDim: 512, text: text(512, 8, 12, 'gelu'), vision: vit(224, 32, 768, 12), source: 'open_clip v2.7.0 model_configs/ViT-B-32.json' },
  'ViT-B-16': { embedDim: 512, text: text(512, 8, 12, 'gelu'), vision: vit(224, 16, 768, 12), source: 'open_clip v2.7.0 model_configs/ViT-B-16.json' },
  // The reference oracle's tiny test model (shared/reference/sd-parity/openclip_text_tiny.model_config.json),
  // which its openclip_text_tiny.yaml names: 73,665 parameters without the image tower.
  'SDParity-TinyText': {
    embedDim: 32,
    text: { vocabSize: 1000, contextLength: 77, width: 32, heads: 4, layers: 3, mlpWidth: 128, act: 'gelu' },
    vision: vit(16, 8, 32, 1, 16),
    source: 'shared/reference/sd-parity/openclip_text_tiny.model_config.json',
  },
};

/**
 * OpenAI CLIP checkpoints that `clip.load(name)` accepts (clip/clip.py `_MODELS`); `build_model`
 * reads the architecture off the state dict, given here. ViT-B/32 is 151,277,313 parameters and
 * ViT-L/14 427,616,513 (the figures OpenAI's CLIP notebook prints).
 */
export const OPENAI_CLIP_MODELS: Readonly<Record<string, ClipArch>> = {
  'ViT-B/32': { embedDim: 512, text: text(512, 8, 12, 'quick_gelu'), vision: vit(224, 32, 768, 12), source: 'openai/CLIP ViT-B-32.pt' },
  'ViT-B/16': { embedDim: 512, text: text(512, 8, 12, 'quick_gelu'), vision: vit(224, 16, 768, 12), source: 'openai/CLIP ViT-B-16.pt' },
  'ViT-L/14': { embedDim: 768, text: text(768, 12, 12, 'quick_gelu'), vision: vit(224, 14, 1024, 24), source: 'openai/CLIP ViT-L-14.pt' },
  'ViT-L/14@336px': { embedDim: 768, text: text(768, 12, 12, 'quick_gelu'), vision: vit(336, 14, 1024, 24), source: 'openai/CLIP ViT-L-14-336px.pt' },
};

// ------------------------------------------------------------------ config files

/** A file's text, or an Error saying why it cannot be read (message 'no such file' when it does not exist). */
export type ConfigFileReader = (path: string) => string | Error;

/** How a name or path resolved: an architecture, or why there is none. */
export type ArchLookup<A> =
  | { readonly kind: 'found'; readonly arch: A; /** the config file it was read from */ readonly file?: string }
  | { readonly kind: 'unknown'; readonly name: string }
  | { readonly kind: 'unreadable'; readonly file: string; readonly reason: string }
  | { readonly kind: 'invalid'; readonly file: string; readonly reason: string };

/** Written as a file path rather than a hub or model name. */
export function looksLikePath(s: string): boolean {
  return /\.json$/i.test(s) || /^(\.{1,2}[\\/]|[\\/]|~|[A-Za-z]:[\\/])/.test(s) || s.includes('\\');
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A positive integer field, or the default when absent. */
function posInt(o: Json, key: string, dflt: number): number {
  const v = o[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigShapeError(`${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

class ConfigShapeError extends Error {}

function parseJson(text: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ConfigShapeError(`not JSON (${(e as Error).message})`);
  }
  if (!isObject(v)) throw new ConfigShapeError('not a JSON object');
  return v;
}

function checkHeads(width: number, heads: number): void {
  if (width % heads !== 0) throw new ConfigShapeError(`the width ${width} does not divide into ${heads} heads`);
}

/**
 * An HF config.json → the text model's architecture (what `CLIPTextConfig.from_pretrained` reads):
 * a CLIPConfig (`model_type: clip`) gives its `text_config`; anything else is read as a
 * CLIPTextConfig. Missing fields take CLIPTextConfig's defaults.
 */
export function hfClipTextArchFromJson(text: string): TextTowerArch {
  const root = parseJson(text);
  const full = root.model_type === 'clip' || (root.model_type === undefined && isObject(root.text_config));
  const c = full ? root.text_config ?? {} : root;
  if (!isObject(c)) throw new ConfigShapeError('text_config is not an object');
  const act = c.hidden_act ?? 'quick_gelu';
  if (act !== 'quick_gelu' && act !== 'gelu') throw new ConfigShapeError(`hidden_act ${JSON.stringify(act)} is not one ldmc builds (quick_gelu, gelu)`);
  const eps = c.layer_norm_eps ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0)) throw new ConfigShapeError(`layer_norm_eps must be a positive number, got ${JSON.stringify(eps)}`);
  const width = posInt(c, 'hidden_size', 512), heads = posInt(c, 'num_attention_heads', 8);
  checkHeads(width, heads);
  return {
    vocabSize: posInt(c, 'vocab_size', 49408),
    contextLength: posInt(c, 'max_position_embeddings', 77),
    width,
    heads,
    layers: posInt(c, 'num_hidden_layers', 12),
    mlpWidth: posInt(c, 'intermediate_size', 2048),
    act,
    layerNormEps: eps,
  };
}

/**
 * An open_clip model-config JSON → the text side of the CLIP it builds: `text_cfg` with
 * CLIPTextCfg's defaults, MLP 4 × width, QuickGELU when `quick_gelu` is true (a timm image tower
 * forces GELU). `source` names the file.
 */
export function openClipArchFromJson(text: string, source: string): ClipTextArch {
  const root = parseJson(text);
  const t = root.text_cfg ?? {};
  if (!isObject(t)) throw new ConfigShapeError('text_cfg is not an object');
  if (t.hf_model_name !== undefined && t.hf_model_name !== null) throw new ConfigShapeError(`text_cfg.hf_model_name (${JSON.stringify(t.hf_model_name)}) selects a Hugging Face text tower, which ldmc does not build`);
  const quick = root.quick_gelu ?? false;
  if (typeof quick !== 'boolean') throw new ConfigShapeError(`quick_gelu must be true or false, got ${JSON.stringify(quick)}`);
  const timm = isObject(root.vision_cfg) && typeof root.vision_cfg.timm_model_name === 'string' && root.vision_cfg.timm_model_name !== '';
  const width = posInt(t, 'width', 512), heads = posInt(t, 'heads', 8);
  checkHeads(width, heads);
  if (root.embed_dim === undefined) throw new ConfigShapeError('embed_dim is missing');
  return {
    embedDim: posInt(root, 'embed_dim', 0),
    text: {
      vocabSize: posInt(t, 'vocab_size', 49408),
      contextLength: posInt(t, 'context_length', 77),
      width,
      heads,
      layers: posInt(t, 'layers', 12),
      mlpWidth: 4 * width,
      act: quick && !timm ? 'quick_gelu' : 'gelu',
    },
    source,
  };
}

function fromFile<A>(file: string, read: ConfigFileReader, parse: (text: string) => A): ArchLookup<A> {
  const text = read(file);
  if (text instanceof Error) return { kind: 'unreadable', file, reason: text.message };
  try {
    return { kind: 'found', arch: parse(text), file };
  } catch (e) {
    if (e instanceof ConfigShapeError) return { kind: 'invalid', file, reason: e.message };
    throw e;
  }
}

/**
 * FrozenCLIPEmbedder's `version`: a local folder with a config.json (or a .json file) first, as
 * from_pretrained looks locally first; then ldmc's table of hub names. Without a reader only the
 * table is consulted.
 */
export function resolveHfClipText(version: string, read?: ConfigFileReader): ArchLookup<TextTowerArch> {
  if (read) {
    const file = /\.json$/i.test(version) ? version : `${version.replace(/[\\/]+$/, '')}/config.json`;
    const got = fromFile(file, read, hfClipTextArchFromJson);
    if (got.kind !== 'unreadable') return got;
    // Not there: a hub name (the table's business), unless it was written as a path.
    if (looksLikePath(version) || (!HF_CLIP_TEXT_MODELS[version] && got.reason !== 'no such file')) return got;
  }
  const arch = HF_CLIP_TEXT_MODELS[version];
  return arch ? { kind: 'found', arch } : { kind: 'unknown', name: version };
}

/** FrozenOpenCLIPEmbedder's `arch`: ldmc's table of open_clip names, or the path of a model-config JSON. */
export function resolveOpenClip(arch: string, read?: ConfigFileReader): ArchLookup<ClipTextArch> {
  const known = OPENCLIP_MODELS[arch];
  if (known) return { kind: 'found', arch: known };
  if (read && looksLikePath(arch)) return fromFile(arch, read, (text) => openClipArchFromJson(text, arch));
  return { kind: 'unknown', name: arch };
}
