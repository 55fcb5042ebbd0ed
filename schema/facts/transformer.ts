// Facts of the blocks in ldm/modules/attention.py used by UNetModel with
// use_spatial_transformer: SpatialTransformer → BasicTransformerBlock → CrossAttention,
// FeedForward(glu=True) = GEGLU.
import type { Tally } from './tally.js';

/**
 * CrossAttention(query_dim, context_dim, heads, dim_head): to_q/to_k/to_v are bias-free
 * Linear(·, heads·dim_head), to_out is Linear(heads·dim_head, query_dim) with bias.
 * `queries` tokens attend over `keys` tokens of width `keyDim`.
 */
export function crossAttention(
  t: Tally,
  queryDim: number,
  keyDim: number,
  heads: number,
  dimHead: number,
  queries: number,
  keys: number,
): void {
  const inner = heads * dimHead;
  t.linear(queryDim, inner, queries, false); // to_q
  t.linear(keyDim, inner, keys, false); // to_k
  t.linear(keyDim, inner, keys, false); // to_v
  t.matmul(heads, queries, dimHead, keys); // sim = q kᵀ (scaled: counted as elementwise)
  t.pointwise(heads * queries * keys); // softmax output
  t.matmul(heads, queries, keys, dimHead); // attn · v
  t.linear(inner, queryDim, queries); // to_out.0
}

/**
 * BasicTransformerBlock(dim, n_heads, d_head, context_dim): self-attention, cross-attention
 * (self-attention again when context_dim is None), GEGLU feed-forward with mult 4, each after
 * a LayerNorm and with a residual add. With sd2's `disable_self_attn`, attn1 is built with
 * `context_dim` too and attends to the context (its to_k/to_v take context_dim inputs).
 */
export function basicTransformerBlock(
  t: Tally,
  dim: number,
  heads: number,
  dimHead: number,
  contextDim: number | null,
  tokens: number,
  contextTokens: number,
  disableSelfAttn = false,
): void {
  t.layerNorm(dim, tokens); // norm1
  if (disableSelfAttn && contextDim !== null) crossAttention(t, dim, contextDim, heads, dimHead, tokens, contextTokens);
  else crossAttention(t, dim, dim, heads, dimHead, tokens, tokens); // attn1
  t.pointwise(dim * tokens);
  t.layerNorm(dim, tokens); // norm2
  if (contextDim === null) crossAttention(t, dim, dim, heads, dimHead, tokens, tokens);
  else crossAttention(t, dim, contextDim, heads, dimHead, tokens, contextTokens); // attn2
  t.pointwise(dim * tokens);
  t.layerNorm(dim, tokens); // norm3
  const inner = dim * 4; // FeedForward: inner_dim = int(dim * mult), mult = 4
  t.linear(dim, inner * 2, tokens); // ff.net.0.proj (GEGLU doubles the width)
  t.pointwise(2 * inner * tokens); // gelu(gate), x * gelu(gate)
  t.linear(inner, dim, tokens); // ff.net.2
  t.pointwise(dim * tokens);
}

export interface SpatialTransformerShape {
  channels: number;
  heads: number;
  dimHead: number;
  depth: number;
  contextDim: number | null;
  height: number;
  width: number;
  contextTokens: number;
  /** sd2: attn1 attends to the context (UNetModel's disable_self_attentions / disable_middle_self_attn). */
  disableSelfAttn?: boolean;
  /** sd2 `use_linear`: nn.Linear proj_in/proj_out on the tokens instead of 1×1 convs. */
  useLinear?: boolean;
  /** Whether the blocks run under checkpoint(): always in ldm/sd1, UNetModel's use_checkpoint in sd2. */
  checkpoint?: boolean;
}

/**
 * SpatialTransformer(in_channels, n_heads, d_head, depth, context_dim): GroupNorm(32), 1×1
 * proj_in to inner = n_heads·d_head, `depth` BasicTransformerBlocks over the h·w tokens, 1×1
 * proj_out back to in_channels, residual add. The blocks run under `checkpoint(…, True)`
 * (BasicTransformerBlock's `checkpoint=True` default), whatever UNetModel.use_checkpoint says.
 */
export function spatialTransformer(t: Tally, path: string, s: SpatialTransformerShape): void {
  const inner = s.heads * s.dimHead;
  const tokens = s.height * s.width;
  t.groupNorm(`${path}.norm`, s.channels, tokens);
  if (s.useLinear) t.linear(s.channels, inner, tokens); // proj_in
  else t.conv(s.channels, inner, 1, s.height, s.width);
  for (let d = 0; d < s.depth; d++) {
    t.block(s.checkpoint ?? true, inner * tokens, (b) =>
      basicTransformerBlock(b, inner, s.heads, s.dimHead, s.contextDim, tokens, s.contextTokens, s.disableSelfAttn ?? false),
    );
  }
  // sd2 builds the linear proj_out as nn.Linear(in_channels, inner_dim), the transpose of what
  // it is used as: the weight is [inner, in] and the bias has `inner` entries. It only runs
  // when inner == in_channels (the UNet walker warns otherwise).
  if (s.useLinear) t.linear(s.channels, inner, tokens);
  else t.conv(inner, s.channels, 1, s.height, s.width); // proj_out
  t.pointwise(s.channels * tokens);
}
