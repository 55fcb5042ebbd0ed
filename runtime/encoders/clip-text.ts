// The two CLIP text encoders of Stable Diffusion: `forward(ids)` from token ids, `encodeText(prompts)`
// through the CLIP tokenizer of each (clip-tokenizer.ts):
//
// - FrozenCLIPEmbedder (sd1/sd2): HF transformers' CLIPTextModel, state_dict names
//   `transformer.text_model.{embeddings, encoder.layers.N, final_layer_norm}`;
// - FrozenOpenCLIPEmbedder (sd2): open_clip's CLIP without `visual`, names
//   `model.{positional_embedding, text_projection, logit_scale, transformer.resblocks.N,
//   token_embedding, ln_final}`.
//
// Both are pre-norm transformers with a causal mask: each position attends to itself and the ones
// before it. The architecture comes from the same `TextTowerArch` the static facts count
// (schema/facts/clip.ts), so a name's figures and its module cannot disagree.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import {
  HF_CLIP_TEXT_MODELS,
  OPENCLIP_MODELS,
  resolveHfClipText,
  resolveOpenClip,
  type ArchLookup,
  type ClipTextArch,
  type ConfigFileReader,
  type TextTowerArch,
} from '../../schema/facts/clip.js';
import { ClipTokenizer, OPEN_CLIP_CONTEXT } from './clip-tokenizer.js';
import { Module, ModuleList } from '../module.js';
import { Embedding, LayerNorm, Linear, gelu, normal, uniformFanIn, zeros } from '../nn/index.js';

/** The additive causal mask `[T, T]`: 0 on and below the diagonal, a huge negative above it. */
function causalMask(T: number): Tensor2D {
  return tf.tidy(() => {
    const lower = tf.linalg.bandPart(tf.ones([T, T]), -1, 0);
    return tf.mul(tf.sub(1, lower), -3.4028234663852886e38) as Tensor2D;
  });
}

/** Scaled dot-product attention of `[B, T, D]` q, k, v split into `heads`, with the causal mask. */
function causalAttention(q: Tensor3D, k: Tensor3D, v: Tensor3D, heads: number): Tensor3D {
  return tf.tidy(() => {
    const [B, T, D] = q.shape;
    const d = D / heads;
    const split = (t: Tensor3D) => tf.transpose(tf.reshape(t, [B, T, heads, d]), [0, 2, 1, 3]) as tf.Tensor4D;
    // q is scaled before q·kᵀ, as both HF and nn.MultiheadAttention do.
    const scores = tf.add(tf.matMul(tf.mul(split(q), d ** -0.5), split(k), false, true), causalMask(T));
    const out = tf.matMul(tf.softmax(scores, -1), split(v));
    return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [B, T, D]) as Tensor3D;
  });
}

function activation(act: TextTowerArch['act'], x: Tensor3D): Tensor3D {
  switch (act) {
    case 'quick_gelu':
      return tf.tidy(() => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))));
    case 'gelu':
      return gelu(x);
    default: {
      const never: never = act;
      throw new Error(`unknown activation ${String(never)}`);
    }
  }
}

// ------------------------------------------------------------------ HF CLIPTextModel

/** `CLIPAttention`: k_proj, v_proj, q_proj, out_proj (declared in that order by HF). */
export class CLIPAttention extends Module {
  static override readonly className = 'CLIPAttention';
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly q_proj: Linear;
  readonly out_proj: Linear;
  constructor(width: number, readonly heads: number) {
    super();
    this.k_proj = this.add('k_proj', new Linear(width, width));
    this.v_proj = this.add('v_proj', new Linear(width, width));
    this.q_proj = this.add('q_proj', new Linear(width, width));
    this.out_proj = this.add('out_proj', new Linear(width, width));
  }
  forward(x: Tensor3D): Tensor3D {
    return tf.tidy(() =>
      this.out_proj.forward(causalAttention(this.q_proj.forward(x), this.k_proj.forward(x), this.v_proj.forward(x), this.heads)),
    );
  }
}

/** `CLIPMLP`: fc1, activation, fc2. */
export class CLIPMLP extends Module {
  static override readonly className = 'CLIPMLP';
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(width: number, hidden: number, readonly act: TextTowerArch['act']) {
    super();
    this.fc1 = this.add('fc1', new Linear(width, hidden));
    this.fc2 = this.add('fc2', new Linear(hidden, width));
  }
  forward(x: Tensor3D): Tensor3D {
    return tf.tidy(() => this.fc2.forward(activation(this.act, this.fc1.forward(x))));
  }
}

/** `CLIPEncoderLayer`: x + attn(ln1(x)), then + mlp(ln2(·)). */
export class CLIPEncoderLayer extends Module {
  static override readonly className = 'CLIPEncoderLayer';
  readonly self_attn: CLIPAttention;
  readonly layer_norm1: LayerNorm;
  readonly mlp: CLIPMLP;
  readonly layer_norm2: LayerNorm;
  constructor(a: TextTowerArch) {
    super();
    this.self_attn = this.add('self_attn', new CLIPAttention(a.width, a.heads));
    this.layer_norm1 = this.add('layer_norm1', new LayerNorm(a.width, a.layerNormEps));
    this.mlp = this.add('mlp', new CLIPMLP(a.width, a.mlpWidth, a.act));
    this.layer_norm2 = this.add('layer_norm2', new LayerNorm(a.width, a.layerNormEps));
  }
  forward(x: Tensor3D): Tensor3D {
    return tf.tidy(() => {
      const h = tf.add(x, this.self_attn.forward(this.layer_norm1.forward(x))) as Tensor3D;
      return tf.add(h, this.mlp.forward(this.layer_norm2.forward(h))) as Tensor3D;
    });
  }
}

/** `CLIPTextEmbeddings`: token_embedding + position_embedding (position_ids is a buffer). */
export class CLIPTextEmbeddings extends Module {
  static override readonly className = 'CLIPTextEmbeddings';
  readonly token_embedding: Embedding;
  readonly position_embedding: Embedding;
  constructor(readonly arch: TextTowerArch) {
    super();
    this.token_embedding = this.add('token_embedding', new Embedding(arch.vocabSize, arch.width));
    this.position_embedding = this.add('position_embedding', new Embedding(arch.contextLength, arch.width));
  }
  forward(ids: Tensor2D): Tensor3D {
    const T = ids.shape[1];
    if (T > this.arch.contextLength) throw new Error(`CLIPTextEmbeddings: ${T} tokens, but only ${this.arch.contextLength} positions`);
    return tf.tidy(() => {
      const pos = tf.slice(this.position_embedding.weight, [0, 0], [T, -1]);
      return tf.add(this.token_embedding.forward(ids), pos) as Tensor3D;
    });
  }
}

/** What HF's text model returns: the states FrozenCLIPEmbedder picks from. */
export interface CLIPTextOutput {
  /** After final_layer_norm `[B, T, D]`. */
  readonly lastHiddenState: Tensor3D;
  /** lastHiddenState at argmax(input_ids) (the EOS token, whose id is the largest) `[B, D]`. */
  readonly pooled: Tensor2D;
  /** Embeddings, then each layer's output, before final_layer_norm (layers + 1 entries). */
  readonly hiddenStates: readonly Tensor3D[];
}

/** `CLIPTextTransformer` (HF's `text_model`). */
export class CLIPTextTransformer extends Module {
  static override readonly className = 'CLIPTextTransformer';
  readonly embeddings: CLIPTextEmbeddings;
  readonly encoder: Module;
  readonly layers: ModuleList<CLIPEncoderLayer>;
  readonly final_layer_norm: LayerNorm;
  constructor(readonly arch: TextTowerArch) {
    super();
    this.embeddings = this.add('embeddings', new CLIPTextEmbeddings(arch));
    this.layers = new ModuleList<CLIPEncoderLayer>();
    for (let l = 0; l < arch.layers; l++) this.layers.push(new CLIPEncoderLayer(arch));
    this.encoder = this.add('encoder', new CLIPEncoder(this.layers));
    this.final_layer_norm = this.add('final_layer_norm', new LayerNorm(arch.width, arch.layerNormEps));
  }

  /** ids `[B, T]` (int32) → all the states; the caller disposes them. */
  forward(ids: Tensor2D): CLIPTextOutput {
    const hiddenStates: Tensor3D[] = [];
    let h = this.embeddings.forward(ids);
    hiddenStates.push(h);
    for (const layer of this.layers) {
      h = layer.forward(h);
      hiddenStates.push(h);
    }
    const lastHiddenState = this.final_layer_norm.forward(h);
    const pooled = tf.tidy(() => {
      // HF's legacy pooling (eos_token_id 2 in openai/clip-vit-large-patch14's config): argmax of the ids.
      const at = tf.argMax(ids, -1);
      const oh = tf.oneHot(at, ids.shape[1]);
      return tf.squeeze(tf.matMul(tf.expandDims(oh, 1), lastHiddenState), [1]) as Tensor2D;
    });
    return { lastHiddenState, pooled, hiddenStates };
  }
}

/** `CLIPEncoder`: holds `layers` (the transformer drives them). */
class CLIPEncoder extends Module {
  static override readonly className = 'CLIPEncoder';
  constructor(layers: ModuleList<CLIPEncoderLayer>) {
    super();
    this.add('layers', layers);
  }
}

/** `CLIPTextModel`: `text_model`. */
export class CLIPTextModel extends Module {
  static override readonly className = 'CLIPTextModel';
  readonly text_model: CLIPTextTransformer;
  constructor(readonly arch: TextTowerArch) {
    super();
    this.text_model = this.add('text_model', new CLIPTextTransformer(arch));
  }
}

/** What argsFromParams needs besides the params: where relative paths in them start. */
export interface ParamsContext {
  /** The directory of the config file that names the params; default: the working directory. */
  readonly configDir?: string;
}

/** Reads a model-config file a param names, relative to `ctx.configDir`, for the arch lookups. */
function diskReader(ctx: ParamsContext): ConfigFileReader {
  return (path) => {
    const full = isAbsolute(path) || !ctx.configDir ? path : join(ctx.configDir, path);
    try {
      if (statSync(full).isDirectory()) return new Error('is a directory');
      return readFileSync(full, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return new Error(code === 'ENOENT' || code === 'ENOTDIR' ? 'no such file' : (e as Error).message);
    }
  };
}

/** The architecture a lookup found, or an error that says what the config named and how to fix it. */
function foundArch<A>(lookup: ArchLookup<A>, who: string, param: string, known: readonly string[]): A {
  switch (lookup.kind) {
    case 'found':
      return lookup.arch;
    case 'unknown':
      throw new Error(`${who}: ldmc knows no architecture for ${param} '${lookup.name}' (known: ${known.join(', ')}; or give the path of its model config)`);
    case 'unreadable':
      throw new Error(`${who}: cannot read the model config ${lookup.file} that ${param} names: ${lookup.reason}`);
    case 'invalid':
      throw new Error(`${who}: the model config ${lookup.file} that ${param} names cannot be used: ${lookup.reason}`);
    default: {
      const never: never = lookup;
      throw new Error(`unknown lookup ${String(never)}`);
    }
  }
}

/** Prompts → ids `[B, length]` (int32) with a flavour's tokenizer, after checking the model's vocabulary holds them. */
function tokenIds(tok: ClipTokenizer, prompts: readonly string[], length: number, vocabSize: number, who: string): Tensor2D {
  // The tiny test models have 1000 tokens: CLIP's ids (up to 49407) would index past their table.
  if (vocabSize < 49408) throw new Error(`${who}: encodeText needs CLIP's 49,408-token vocabulary, but this model has ${vocabSize} tokens; call forward(ids) with its own ids`);
  const { ids, shape } = tok.tokenize(prompts, length);
  return tf.tensor2d(ids, [shape[0], shape[1]], 'int32');
}

export interface FrozenCLIPEmbedderArgs {
  /** The architecture `version` resolves to (HF_CLIP_TEXT_MODELS or a config.json), or any other for tests. */
  arch: TextTowerArch;
  /** Tokens the tokenizer pads and truncates to (encodeText); default 77. */
  max_length?: number;
  /** sd2's choice of output; sd1 always returns 'last'. */
  layer?: 'last' | 'pooled' | 'hidden';
  layer_idx?: number | null;
}

/** `FrozenCLIPEmbedder`: `transformer` = CLIPTextModel; token ids `[B, T]` → context. */
export class FrozenCLIPEmbedder extends Module {
  static override readonly className = 'FrozenCLIPEmbedder';
  readonly transformer: CLIPTextModel;
  readonly layer: 'last' | 'pooled' | 'hidden';
  readonly layerIdx: number | null;
  readonly maxLength: number;
  private tokenizer: ClipTokenizer | undefined;
  constructor(args: FrozenCLIPEmbedderArgs) {
    super();
    this.layer = args.layer ?? 'last';
    this.maxLength = args.max_length ?? 77;
    this.layerIdx = args.layer_idx ?? null;
    if (this.layer === 'hidden' && (this.layerIdx === null || Math.abs(this.layerIdx) > 12)) {
      throw new Error(`FrozenCLIPEmbedder: layer 'hidden' needs abs(layer_idx) <= 12, got ${this.layerIdx}`);
    }
    this.transformer = this.add('transformer', new CLIPTextModel(args.arch));
  }

  /**
   * The constructor's args from the config's params: `version` is a folder holding an HF
   * config.json (relative to `ctx.configDir`) or a name ldmc knows (HF_CLIP_TEXT_MODELS), resolved
   * as the static facts resolve it (schema/facts/clip-arch.ts).
   */
  static argsFromParams(p: Readonly<Record<string, unknown>>, ctx: ParamsContext = {}): FrozenCLIPEmbedderArgs {
    const version = typeof p.version === 'string' ? p.version : 'openai/clip-vit-large-patch14';
    const arch = foundArch(resolveHfClipText(version, diskReader(ctx)), 'FrozenCLIPEmbedder', 'version', Object.keys(HF_CLIP_TEXT_MODELS));
    const layer = (p.layer ?? 'last') as FrozenCLIPEmbedderArgs['layer'];
    const max_length = typeof p.max_length === 'number' ? p.max_length : 77;
    return { arch, max_length, layer, layer_idx: (p.layer_idx ?? null) as number | null };
  }

  static fromParams(p: Readonly<Record<string, unknown>>, ctx: ParamsContext = {}): FrozenCLIPEmbedder {
    return new FrozenCLIPEmbedder(FrozenCLIPEmbedder.argsFromParams(p, ctx));
  }

  /**
   * FrozenCLIPEmbedder.forward(text): HF's CLIPTokenizer (truncation and padding to max_length,
   * pad = eos), then the text model: `[B, max_length, D]` ('pooled': `[B, 1, D]`).
   */
  encodeText(prompts: string[]): Tensor3D {
    this.tokenizer ??= new ClipTokenizer('hf');
    const ids = tokenIds(this.tokenizer, prompts, this.maxLength, this.transformer.arch.vocabSize, 'FrozenCLIPEmbedder');
    try {
      return this.forward(ids);
    } finally {
      ids.dispose();
    }
  }

  /** ids `[B, T]` → `[B, T, D]` ('last', 'hidden') or `[B, 1, D]` ('pooled'). */
  forward(ids: Tensor2D): Tensor3D {
    const out = this.transformer.text_model.forward(ids);
    const keep = this.pick(out);
    tf.dispose([out.lastHiddenState, out.pooled, ...out.hiddenStates].filter((t) => t !== keep));
    if (this.layer === 'pooled') {
      const z = tf.expandDims(keep, 1) as Tensor3D;
      keep.dispose();
      return z;
    }
    return keep as Tensor3D;
  }

  private pick(out: CLIPTextOutput): Tensor {
    switch (this.layer) {
      case 'last':
        return out.lastHiddenState;
      case 'pooled':
        return out.pooled;
      case 'hidden': {
        const n = out.hiddenStates.length, i = this.layerIdx!;
        const h = out.hiddenStates[i < 0 ? n + i : i];
        if (!h) throw new Error(`FrozenCLIPEmbedder: layer_idx ${i} is out of range for ${n} hidden states`);
        return h;
      }
      default: {
        const never: never = this.layer;
        throw new Error(`unknown layer ${String(never)}`);
      }
    }
  }
}

// ------------------------------------------------------------------ open_clip text tower

/**
 * `nn.MultiheadAttention` as open_clip uses it: `in_proj_weight [3w, w]` (rows q; k; v),
 * `in_proj_bias [3w]`, `out_proj` Linear. in_proj_weight is held in Linear's tfjs layout.
 */
export class MultiheadAttention extends Module {
  static override readonly className = 'MultiheadAttention';
  readonly in_proj_weight: tf.Variable;
  readonly in_proj_bias: tf.Variable;
  readonly out_proj: Linear;
  constructor(readonly width: number, readonly heads: number) {
    super();
    this.in_proj_weight = this.addParam('in_proj_weight', uniformFanIn([width, 3 * width], width), 'linear');
    this.in_proj_bias = this.addParam('in_proj_bias', zeros([3 * width]));
    this.out_proj = this.add('out_proj', new Linear(width, width));
  }
  forward(x: Tensor3D): Tensor3D {
    return tf.tidy(() => {
      const [B, T, W] = x.shape;
      const qkv = tf.add(tf.matMul(tf.reshape(x, [B * T, W]), this.in_proj_weight as Tensor2D), this.in_proj_bias);
      const [q, k, v] = tf.split(tf.reshape(qkv, [B, T, 3 * W]), 3, -1) as [Tensor3D, Tensor3D, Tensor3D];
      return this.out_proj.forward(causalAttention(q, k, v, this.heads));
    });
  }
}

/** open_clip `ResidualAttentionBlock`: ln_1, attn, ln_2, mlp (c_fc, act, c_proj). */
export class ResidualAttentionBlock extends Module {
  static override readonly className = 'ResidualAttentionBlock';
  readonly ln_1: LayerNorm;
  readonly attn: MultiheadAttention;
  readonly ln_2: LayerNorm;
  readonly c_fc: Linear;
  readonly c_proj: Linear;
  constructor(readonly arch: TextTowerArch) {
    super();
    this.ln_1 = this.add('ln_1', new LayerNorm(arch.width));
    this.attn = this.add('attn', new MultiheadAttention(arch.width, arch.heads));
    this.ln_2 = this.add('ln_2', new LayerNorm(arch.width));
    const mlp = this.add('mlp', new OpenClipMLP());
    this.c_fc = mlp.addLayer('c_fc', new Linear(arch.width, arch.mlpWidth));
    this.c_proj = mlp.addLayer('c_proj', new Linear(arch.mlpWidth, arch.width));
  }
  forward(x: Tensor3D): Tensor3D {
    return tf.tidy(() => {
      const h = tf.add(x, this.attn.forward(this.ln_1.forward(x))) as Tensor3D;
      const m = this.c_proj.forward(activation(this.arch.act, this.c_fc.forward(this.ln_2.forward(h))));
      return tf.add(h, m) as Tensor3D;
    });
  }
}

/** The `mlp` Sequential (an OrderedDict: c_fc, gelu, c_proj); only the two Linears hold weights. */
class OpenClipMLP extends Module {
  static override readonly className = 'Sequential';
  addLayer(name: string, l: Linear): Linear {
    return this.add(name, l);
  }
}

/** open_clip's `Transformer`: `resblocks`. */
export class OpenClipTransformer extends Module {
  static override readonly className = 'Transformer';
  readonly resblocks: ModuleList<ResidualAttentionBlock>;
  constructor(arch: TextTowerArch) {
    super();
    this.resblocks = this.add('resblocks', new ModuleList<ResidualAttentionBlock>());
    for (let l = 0; l < arch.layers; l++) this.resblocks.push(new ResidualAttentionBlock(arch));
  }
}

/**
 * What FrozenOpenCLIPEmbedder keeps of open_clip's CLIP: own parameters positional_embedding,
 * text_projection [w, embed_dim] and logit_scale (0-d), then transformer, token_embedding,
 * ln_final — state_dict order. (`attn_mask` is a non-persistent buffer.)
 */
export class OpenClipTextModel extends Module {
  static override readonly className = 'CLIP';
  readonly positional_embedding: tf.Variable;
  readonly text_projection: tf.Variable;
  readonly logit_scale: tf.Variable;
  readonly transformer: OpenClipTransformer;
  readonly token_embedding: Embedding;
  readonly ln_final: LayerNorm;
  constructor(readonly arch: ClipTextArch) {
    super();
    const t = arch.text;
    this.positional_embedding = this.addParam('positional_embedding', tf.mul(normal([t.contextLength, t.width]), 0.01));
    this.text_projection = this.addParam('text_projection', tf.mul(normal([t.width, arch.embedDim]), t.width ** -0.5));
    this.logit_scale = this.addParam('logit_scale', tf.scalar(Math.log(1 / 0.07)));
    this.transformer = this.add('transformer', new OpenClipTransformer(t));
    this.token_embedding = this.add('token_embedding', new Embedding(t.vocabSize, t.width));
    this.ln_final = this.add('ln_final', new LayerNorm(t.width));
  }
}

export interface FrozenOpenCLIPEmbedderArgs {
  /** The architecture `arch` names (OPENCLIP_MODELS or a model-config JSON), or any other for tests. */
  arch: ClipTextArch;
  layer?: 'last' | 'penultimate';
}

/** `FrozenOpenCLIPEmbedder`: `model` = the text side of open_clip's CLIP; tokens `[B, 77]` → `[B, 77, w]`. */
export class FrozenOpenCLIPEmbedder extends Module {
  static override readonly className = 'FrozenOpenCLIPEmbedder';
  readonly model: OpenClipTextModel;
  readonly layer: 'last' | 'penultimate';
  private tokenizer: ClipTokenizer | undefined;
  constructor(args: FrozenOpenCLIPEmbedderArgs) {
    super();
    this.layer = args.layer ?? 'last';
    this.model = this.add('model', new OpenClipTextModel(args.arch));
  }

  /**
   * The constructor's args from the config's params: `arch` is an open_clip model name ldmc knows
   * (OPENCLIP_MODELS) or the path of an open_clip model-config JSON (relative to `ctx.configDir`).
   */
  static argsFromParams(p: Readonly<Record<string, unknown>>, ctx: ParamsContext = {}): FrozenOpenCLIPEmbedderArgs {
    const name = typeof p.arch === 'string' ? p.arch : 'ViT-H-14';
    const arch = foundArch(resolveOpenClip(name, diskReader(ctx)), 'FrozenOpenCLIPEmbedder', 'arch', Object.keys(OPENCLIP_MODELS));
    return { arch, layer: (p.layer ?? 'last') as 'last' | 'penultimate' };
  }

  static fromParams(p: Readonly<Record<string, unknown>>, ctx: ParamsContext = {}): FrozenOpenCLIPEmbedder {
    return new FrozenOpenCLIPEmbedder(FrozenOpenCLIPEmbedder.argsFromParams(p, ctx));
  }

  /**
   * FrozenOpenCLIPEmbedder.forward(text): `open_clip.tokenize` (always 77 tokens, 0-padded; the
   * max_length param is not used by the reference either), then encode_with_transformer: `[B, 77, w]`.
   */
  encodeText(prompts: string[]): Tensor3D {
    this.tokenizer ??= new ClipTokenizer('open_clip');
    const ids = tokenIds(this.tokenizer, prompts, OPEN_CLIP_CONTEXT, this.model.arch.text.vocabSize, 'FrozenOpenCLIPEmbedder');
    try {
      return this.forward(ids);
    } finally {
      ids.dispose();
    }
  }

  /** How many resblocks the forward runs: all ('last') or all but the last ('penultimate'). */
  get blocksRun(): number {
    const n = this.model.transformer.resblocks.length;
    switch (this.layer) {
      case 'last':
        return n;
      case 'penultimate':
        return n - 1;
      default: {
        const never: never = this.layer;
        throw new Error(`unknown layer ${String(never)}`);
      }
    }
  }

  /** `encode_with_transformer`: token + positional embedding, the resblocks run, ln_final. */
  forward(tokens: Tensor2D): Tensor3D {
    return tf.tidy(() => {
      const T = tokens.shape[1];
      const m = this.model;
      let x = tf.add(m.token_embedding.forward(tokens), tf.slice(m.positional_embedding, [0, 0], [T, -1])) as Tensor3D;
      for (let i = 0; i < this.blocksRun; i++) x = m.transformer.resblocks.at(i).forward(x);
      return m.ln_final.forward(x);
    });
  }
}
