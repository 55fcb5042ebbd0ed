// Static facts of the conditioning stages in ldm/modules/encoders/modules.py (ClassEmbedder,
// BERTEmbedder, SpatialRescaler) and of torch.nn.Identity. BERTEmbedder's transformer is
// ldm/modules/x_transformer.py: TransformerWrapper(attn_layers=Encoder(dim, depth)).
import { Tally } from './tally.js';
import { IssueList } from './types.js';
import type { FactIssue, Shape2, Shape3 } from './types.js';
import type { CondOutput, CondStageFacts } from './results.js';
export type { CondOutput, CondStageFacts } from './results.js';



export interface ClassEmbedderParams {
  embed_dim: number;
  n_classes: number;
  key?: string;
}

/**
 * ClassEmbedder: nn.Embedding(n_classes, embed_dim). forward indexes `batch[key][:, None]`, so
 * the context is one token: `[1, embed_dim]`.
 */
export function classEmbedderFacts(p: ClassEmbedderParams): CondStageFacts {
  const t = new Tally();
  t.embedding(p.n_classes, p.embed_dim, 1);
  return {
    target: 'ClassEmbedder',
    paramCount: t.params,
    parts: { embedding: t.params },
    output: { kind: 'tokens', shape: [1, p.embed_dim] },
    flops: 0,
    errors: [],
    warnings: [],
  };
}

export interface BERTEmbedderParams {
  n_embed: number;
  n_layer: number;
  vocab_size: number;
  max_seq_len: number;
  use_tokenizer: boolean;
  embedding_dropout: number;
}

/** x_transformer.py: DEFAULT_DIM_HEAD = 64 and AttentionLayers' `heads=8` default. */
const XT_DIM_HEAD = 64;
const XT_HEADS = 8;

/**
 * BERTEmbedder = (optional BERTTokenizer: no parameters) + TransformerWrapper(num_tokens =
 * vocab_size, max_seq_len, attn_layers = Encoder(dim = n_embed, depth = n_layer)):
 * token_emb, pos_emb (AbsolutePositionalEmbedding), project_emb = Identity (emb_dim = dim),
 * n_layer × [('a': LayerNorm + Attention), ('f': LayerNorm + FeedForward)], final LayerNorm, and
 * to_logits = Linear(dim, vocab) which exists (and counts) although forward returns the
 * embeddings. Attention width is heads·dim_head = 8·64 = 512 whatever n_embed is.
 */
export function bertEmbedderFacts(p: BERTEmbedderParams): CondStageFacts {
  const d = p.n_embed;
  const n = p.max_seq_len;
  const inner = XT_HEADS * XT_DIM_HEAD;
  const tokenEmb = new Tally();
  tokenEmb.embedding(p.vocab_size, d, n);
  const posEmb = new Tally();
  posEmb.embedding(p.max_seq_len, d, n);
  posEmb.pointwise(n * d); // x += pos_emb(x)
  const layers = new Tally();
  for (let l = 0; l < p.n_layer; l++) {
    layers.layerNorm(d, n);
    layers.linear(d, inner, n, false); // to_q
    layers.linear(d, inner, n, false); // to_k
    layers.linear(d, inner, n, false); // to_v
    layers.matmul(XT_HEADS, n, XT_DIM_HEAD, n);
    layers.pointwise(XT_HEADS * n * n);
    layers.matmul(XT_HEADS, n, n, XT_DIM_HEAD);
    layers.linear(inner, d, n); // to_out
    layers.pointwise(n * d);
    layers.layerNorm(d, n);
    layers.linear(d, 4 * d, n); // FeedForward(mult=4, glu=False): Linear, GELU, Dropout, Linear
    layers.pointwise(4 * d * n);
    layers.linear(4 * d, d, n);
    layers.pointwise(n * d);
  }
  const norm = new Tally();
  norm.layerNorm(d, n);
  const toLogits = new Tally();
  toLogits.parameter(d * p.vocab_size + p.vocab_size); // unused by forward(return_embeddings=True)
  const parts = { token_emb: tokenEmb, pos_emb: posEmb, attn_layers: layers, norm, to_logits: toLogits };
  const total = new Tally();
  for (const t of Object.values(parts)) total.absorb(t);
  return {
    target: 'BERTEmbedder',
    paramCount: total.params,
    parts: Object.fromEntries(Object.entries(parts).map(([k, t]) => [k, t.params])),
    output: { kind: 'tokens', shape: [p.max_seq_len, d] },
    flops: total.flops,
    errors: [],
    warnings: [],
  };
}

export interface SpatialRescalerParams {
  n_stages: number;
  method: string;
  multiplier: number;
  in_channels: number;
  out_channels: number | null;
  bias: boolean;
}

const RESCALER_METHODS = ['nearest', 'linear', 'bilinear', 'trilinear', 'bicubic', 'area'];

/**
 * SpatialRescaler: n_stages × F.interpolate(scale_factor=multiplier) (each stage floors:
 * out = floor(size · multiplier)), then an optional 1×1 Conv2d(in_channels, out_channels,
 * bias=bias) when out_channels is set. `input` is the conditioning tensor `[C, H, W]`; callers
 * pass in_channels as its C (the data's real channels are not known statically).
 */
export function spatialRescalerFacts(p: SpatialRescalerParams, input: Shape3): CondStageFacts {
  const issues = new IssueList();
  if (p.n_stages < 0) issues.error('rescaler/n-stages', 'n_stages must be >= 0', { param: 'n_stages', args: [p.n_stages] });
  if (!RESCALER_METHODS.includes(p.method))
    issues.error('rescaler/method', `method '${p.method}' is not one of ${RESCALER_METHODS.join(', ')}`, { param: 'method', args: [p.method] });
  let [c, h, w] = input;
  for (let s = 0; s < p.n_stages; s++) [h, w] = [Math.floor(h * p.multiplier), Math.floor(w * p.multiplier)];
  const t = new Tally();
  if (p.out_channels !== null) {
    t.conv(p.in_channels, p.out_channels, 1, h, w, p.bias);
    c = p.out_channels;
  }
  return {
    target: 'SpatialRescaler',
    paramCount: t.params,
    parts: p.out_channels !== null ? { channel_mapper: t.params } : {},
    output: { kind: 'spatial', shape: [c, h, w] },
    flops: t.flops,
    errors: issues.errors,
    warnings: issues.warnings,
  };
}

/** torch.nn.Identity: no parameters, returns its input. */
export function identityFacts(input: number[] | null = null): CondStageFacts {
  return {
    target: 'Identity',
    paramCount: 0,
    parts: {},
    output: { kind: 'passthrough', shape: input },
    flops: 0,
    errors: [],
    warnings: [],
  };
}
