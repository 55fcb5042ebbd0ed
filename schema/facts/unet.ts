// Static facts of ldm.modules.diffusionmodules.openaimodel.UNetModel, computed from its
// constructor params alone by walking the constructor (and the forward pass) of the reference:
// CompVis/latent-diffusion ldm/modules/diffusionmodules/openaimodel.py (UNetModel.__init__,
// ResBlock, AttentionBlock, Downsample, Upsample), ldm/modules/attention.py and
// ldm/modules/diffusionmodules/util.py (normalization = GroupNorm32(32, c)).
import { Tally } from './tally.js';
import { spatialTransformer } from './transformer.js';
import { IssueList, floorDiv } from './types.js';
import { defaultsOf, type ReadonlyParams } from '../types.js';
import { UNetModelParams as UNetModelParamsSchema, type UNetModelParams } from '../params/unet.js';
import type { FactIssue, GroupNormSite, Shape3 } from './types.js';
import type { Dialect } from '../types.js';
import type { UNetAttentionSite, UNetBlockKind, UNetFacts, UNetFactsOptions, UNetLevel } from './results.js';
export type { UNetAttentionSite, UNetBlockKind, UNetFacts, UNetFactsOptions, UNetLevel } from './results.js';

/** UNetModel.__init__ params, snake_case as in the reference, every default filled in (schema/unet.ts). */
export type UNetFactsParams = ReadonlyParams<UNetModelParams>;

type UNetRequired = 'image_size' | 'in_channels' | 'model_channels' | 'out_channels' | 'num_res_blocks' | 'attention_resolutions';

/** The defaults of the reference signature (openaimodel.py, UNetModel.__init__), as the registry declares them. */
/** The defaults of the reference signature (openaimodel.py, UNetModel.__init__), as the registry declares them. */
export const unetDefaults = defaultsOf(UNetModelParamsSchema) as Omit<UNetFactsParams, UNetRequired>;






/** Width of each level: `model_channels × channel_mult[level]`. */
export function channelsAtLevels(p: Pick<UNetFactsParams, 'model_channels' | 'channel_mult'>): number[] {
  return p.channel_mult.map((m) => m * p.model_channels);
}

/** The `ds` values UNetModel visits: 1, 2, 4, … one per entry of channel_mult. */
export function downsampleFactors(p: Pick<UNetFactsParams, 'channel_mult'>): number[] {
  return p.channel_mult.map((_, level) => 2 ** level);
}

/**
 * The asserts of UNetModel.__init__ (openaimodel.py) that fire before any layer is built,
 * plus ldmc's own limit (dims = 2). Empty when the reference would get past them.
 */
export function checkUNetParams(p: UNetFactsParams): FactIssue[] {
  const issues = new IssueList();
  if (p.use_spatial_transformer && p.context_dim === null)
    issues.error('unet/context-dim-missing', 'use_spatial_transformer needs context_dim (the width of the cross-attention context)', { param: 'context_dim' });
  if (p.context_dim !== null && !p.use_spatial_transformer)
    issues.error('unet/context-dim-without-transformer', 'context_dim is set but use_spatial_transformer is false', { param: 'context_dim', args: [p.context_dim] });
  if (p.num_heads === -1 && p.num_head_channels === -1)
    issues.error('unet/heads-unset', 'either num_heads or num_head_channels has to be set', { param: 'num_heads' });
  if (p.dims !== 2)
    issues.error('unet/dims', `dims=${p.dims}: ldmc supports 2-d UNets only`, { param: 'dims', args: [p.dims] });
  if (p.channel_mult.length === 0)
    issues.error('unet/channel-mult-empty', 'channel_mult is empty', { param: 'channel_mult' });
  // sd2's label_emb: `assert adm_in_channels is not None` for "sequential".
  if (p.num_classes === 'sequential' && p.adm_in_channels === null)
    issues.error('unet/adm-in-channels-missing', 'num_classes "sequential" needs adm_in_channels (the width of y)', { param: 'adm_in_channels' });
  // sd2 asserts that both per-level lists have one entry per level, and that no level asks
  // for more attention blocks than it has ResBlocks.
  const levels = p.channel_mult.length;
  for (const key of ['disable_self_attentions', 'num_attention_blocks'] as const) {
    const list = p[key];
    if (list !== null && list.length !== levels)
      issues.error('unet/per-level-length', `${key} has ${list.length} entries but channel_mult has ${levels} levels`, { param: key, args: [key, list.length, levels] });
  }
  p.num_attention_blocks?.forEach((n, level) => {
    if (n > p.num_res_blocks)
      issues.error('unet/attention-blocks-exceed', `num_attention_blocks[${level}] = ${n} exceeds num_res_blocks = ${p.num_res_blocks}`, { param: 'num_attention_blocks', args: [level, n, p.num_res_blocks] });
  });
  return issues.items;
}

/**
 * Mirrors the head bookkeeping of UNetModel.__init__, which reuses (and mutates) the local
 * `num_heads` across blocks: with num_head_channels set, `num_heads = ch // num_head_channels`
 * sticks for the following blocks. `legacy` (the default) then makes
 * `dim_head = ch // num_heads` for SpatialTransformer and `dim_head = num_head_channels`
 * (possibly -1) for AttentionBlock.
 * Note: one stored copy of the reference also sets `num_heads = 1` under `legacy`; the
 * snapshot the reference data was made from has it commented out (parity/unet_tiny_xattn is
 * `SpatialTransformer(64, n_heads 4, d_head 16)` with legacy on), so we follow that.
 */
class HeadBookkeeping {
  private numHeads: number;
  readonly numHeadsUpsample: number;

  constructor(private readonly p: UNetFactsParams) {
    this.numHeads = p.num_heads;
    this.numHeadsUpsample = p.num_heads_upsample === -1 ? p.num_heads : p.num_heads_upsample;
  }

  /** `(num_heads, dim_head)` as UNetModel computes them for a block of width `ch`. */
  next(ch: number): { numHeads: number; dimHead: number } {
    const p = this.p;
    let dimHead: number;
    if (p.num_head_channels === -1) {
      dimHead = safeDiv(ch, this.numHeads);
    } else {
      this.numHeads = safeDiv(ch, p.num_head_channels);
      dimHead = p.num_head_channels;
    }
    if (p.legacy) dimHead = p.use_spatial_transformer ? safeDiv(ch, this.numHeads) : p.num_head_channels;
    return { numHeads: this.numHeads, dimHead };
  }
}

/** `a // b`, with 0 in place of Python's ZeroDivisionError (checkUNetParams reports it). */
function safeDiv(a: number, b: number): number {
  return b === 0 ? 0 : floorDiv(a, b);
}

interface WalkState {
  p: UNetFactsParams;
  issues: IssueList;
  timeEmbedDim: number;
  contextTokens: number;
  attention: UNetAttentionSite[];
  dialect: Dialect;
}

interface ResBlockArgs {
  cin: number;
  cout: number;
  h: number;
  w: number;
  updown: 'up' | 'down' | null;
}

/**
 * ResBlock (openaimodel.py): in_layers = [GN, SiLU, conv3], emb_layers = [SiLU, Linear(emb,
 * out or 2·out with use_scale_shift_norm)], out_layers = [GN, SiLU, Dropout, conv3],
 * skip_connection = Identity or 1×1 conv (UNetModel never passes use_conv). With up/down the
 * resampling (nearest ×2 / avg-pool ÷2, no params) sits between in_layers' SiLU and conv.
 * Returns the output spatial size.
 */
function resBlock(t: Tally, path: string, s: WalkState, a: ResBlockArgs): [number, number] {
  const { cin, cout } = a;
  const [h2, w2] = a.updown === 'up' ? [a.h * 2, a.w * 2] : a.updown === 'down' ? [floorDiv(a.h, 2), floorDiv(a.w, 2)] : [a.h, a.w];
  const hw = a.h * a.w;
  const hw2 = h2 * w2;
  const ted = s.timeEmbedDim;
  const scaleShift = s.p.use_scale_shift_norm;
  t.block(s.p.use_checkpoint, cout * hw2, (r) => {
    r.groupNorm(`${path}.in_layers.0`, cin, hw);
    r.pointwise(cin * hw); // SiLU
    if (a.updown !== null) r.pointwise(2 * cin * hw2); // h_upd(h), x_upd(x)
    r.conv(cin, cout, 3, h2, w2); // in_layers.2
    r.pointwise(ted); // emb_layers.0 SiLU
    r.linear(ted, scaleShift ? 2 * cout : cout, 1); // emb_layers.1
    if (scaleShift) {
      r.groupNorm(`${path}.out_layers.0`, cout, hw2);
      r.pointwise(2 * cout * hw2); // * (1 + scale) + shift
    } else {
      r.pointwise(cout * hw2); // h + emb_out
      r.groupNorm(`${path}.out_layers.0`, cout, hw2);
    }
    r.pointwise(cout * hw2); // SiLU
    r.conv(cout, cout, 3, h2, w2); // out_layers.3 (zero-initialised)
    if (cout !== cin) r.conv(cin, cout, 1, h2, w2); // skip_connection
    r.pointwise(cout * hw2); // skip + h
  });
  return [h2, w2];
}

/**
 * AttentionBlock (openaimodel.py): GN, qkv = Conv1d(c, 3c, 1), QKVAttention(Legacy),
 * proj_out = Conv1d(c, c, 1), residual. Always checkpointed: its forward passes `True` to
 * checkpoint() regardless of use_checkpoint.
 */
function attentionBlock(t: Tally, path: string, s: WalkState, ch: number, h: number, w: number, numHeads: number, numHeadChannels: number): number {
  let heads: number;
  if (numHeadChannels === -1) {
    heads = numHeads;
  } else {
    if (numHeadChannels <= 0 || ch % numHeadChannels !== 0)
      s.issues.error('unet/attention-head-channels', `AttentionBlock: ${ch} channels are not divisible by num_head_channels ${numHeadChannels}`, { path, param: 'num_head_channels', args: [numHeadChannels, ch] });
    heads = safeDiv(ch, numHeadChannels);
  }
  // QKVAttention(Legacy).forward asserts width % (3 * n_heads) == 0, i.e. ch % heads == 0.
  if (heads <= 0 || ch % heads !== 0)
    s.issues.warning('unet/attention-heads', `AttentionBlock at ${path}: ${ch} channels cannot be split into ${heads} heads (fails in forward)`, { path, param: 'num_heads', args: [heads, ch] });
  const T = h * w;
  const dh = heads > 0 ? ch / heads : ch;
  t.block(true, ch * T, (a) => {
    a.groupNorm(`${path}.norm`, ch, T);
    a.conv(ch, 3 * ch, 1, T, 1); // qkv
    const hh = Math.max(heads, 1);
    a.matmul(hh, T, dh, T); // weights
    a.pointwise(hh * T * T); // softmax
    a.matmul(hh, T, T, dh); // a = weights · v
    a.conv(ch, ch, 1, T, 1); // proj_out (zero-initialised)
    a.pointwise(ch * T);
  });
  return heads;
}

/**
 * Attention layer of one UNet block: AttentionBlock or SpatialTransformer. The head bookkeeping
 * runs even where sd2's num_attention_blocks leaves the layer out (`build` false), as there.
 */
function attentionLayer(t: Tally, s: WalkState, site: Omit<UNetAttentionSite, 'kind' | 'heads' | 'headChannels'>, heads: HeadBookkeeping, selfAttentionDisabled: boolean, build = true): void {
  const p = s.p;
  const { numHeads, dimHead } = heads.next(site.channels);
  if (!build) return;
  const [h, w] = site.resolution;
  if (p.use_spatial_transformer) {
    if (numHeads <= 0 || dimHead <= 0)
      s.issues.error('unet/transformer-heads', `SpatialTransformer at ${site.path}: n_heads ${numHeads} × d_head ${dimHead} is not a valid width`, { path: site.path, param: p.num_head_channels === -1 ? 'num_heads' : 'num_head_channels', args: [numHeads, dimHead, site.channels] });
    const inner = numHeads * dimHead;
    if (p.use_linear_in_transformer && inner !== site.channels)
      s.issues.warning('unet/linear-proj-out', `SpatialTransformer at ${site.path}: the linear proj_out is built as Linear(${site.channels}, ${inner}) and cannot map ${inner} back to ${site.channels} channels (fails in forward)`, { path: site.path, param: 'use_linear_in_transformer', args: [inner, site.channels] });
    spatialTransformer(t, site.path, {
      channels: site.channels, heads: numHeads, dimHead, depth: p.transformer_depth,
      contextDim: p.context_dim, height: h, width: w, contextTokens: s.contextTokens,
      disableSelfAttn: selfAttentionDisabled, useLinear: p.use_linear_in_transformer,
      checkpoint: s.dialect === 'sd2' ? p.use_checkpoint : true,
    });
    s.attention.push({
      ...site, kind: 'SpatialTransformer', heads: numHeads, headChannels: dimHead,
      innerDim: inner, depth: p.transformer_depth, contextDim: p.context_dim,
      ...(selfAttentionDisabled ? { selfAttentionDisabled } : {}),
    });
  } else {
    // Input and middle blocks pass num_heads; output blocks pass num_heads_upsample.
    const headsArg = site.block === 'output' ? heads.numHeadsUpsample : numHeads;
    const n = attentionBlock(t, site.path, s, site.channels, h, w, headsArg, dimHead);
    s.attention.push({ ...site, kind: 'AttentionBlock', heads: n, headChannels: n > 0 ? site.channels / n : site.channels });
  }
}

/**
 * label_emb, added to the time embedding: nn.Embedding(num_classes, 4mc) for an int; in sd2
 * also nn.Linear(1, 4mc) for "continuous" and, for "sequential",
 * Sequential(Sequential(Linear(adm_in_channels, 4mc), SiLU, Linear(4mc, 4mc))).
 */
function labelEmbedding(le: Tally, p: UNetFactsParams, ted: number): void {
  const n = p.num_classes;
  if (n === null) return;
  if (typeof n === 'number') {
    le.embedding(n, ted, 1);
  } else if (n === 'continuous') {
    le.linear(1, ted, 1);
  } else if (n === 'sequential') {
    le.linear(p.adm_in_channels ?? 0, ted, 1); // label_emb.0.0 (checkUNetParams reports a missing width)
    le.pointwise(ted);
    le.linear(ted, ted, 1); // label_emb.0.2
  } else {
    const never: never = n;
    throw new Error(`unknown num_classes ${String(never)}`);
  }
  le.pointwise(ted);
}

/** Facts of UNetModel(**p) (openaimodel.py), without building it. */
export function unetFacts(p: UNetFactsParams, opts: UNetFactsOptions = {}): UNetFacts {
  const issues = new IssueList();
  for (const i of checkUNetParams(p)) issues.items.push(i);
  const batch = opts.batch ?? 1;
  const norms: GroupNormSite[] = [];
  const mc = p.model_channels;
  const s: WalkState = { p, issues, timeEmbedDim: 4 * mc, contextTokens: opts.contextTokens ?? 1, attention: [], dialect: opts.dialect ?? 'ldm' };
  const ted = s.timeEmbedDim;
  const attnAt = new Set(p.attention_resolutions);
  const heads = new HeadBookkeeping(p);
  const parts = new Map<string, Tally>();
  const part = (name: string): Tally => {
    const t = new Tally(norms);
    parts.set(name, t);
    return t;
  };
  const levels: UNetLevel[] = [];

  // time_embed = [Linear(mc, 4mc), SiLU, Linear(4mc, 4mc)] on the sinusoidal embedding.
  const te = part('time_embed');
  te.linear(mc, ted, 1);
  te.pointwise(ted);
  te.linear(ted, ted, 1);
  if (p.num_classes !== null) labelEmbedding(part('label_emb'), p, ted);
  const selfAttnOff = (level: number): boolean => p.disable_self_attentions?.[level] ?? false;
  const attentionBlocksAt = (level: number): number => p.num_attention_blocks?.[level] ?? Infinity;

  const [h0, w0] = opts.inputSize ?? [p.image_size, p.image_size];
  let [h, w] = [h0, w0];
  let ch = mc;
  let ds = 1;
  const skips: Shape3[] = [];

  const ib = part('input_blocks');
  ib.conv(p.in_channels, mc, 3, h, w); // input_blocks.0.0
  skips.push([mc, h, w]);
  let idx = 1;
  p.channel_mult.forEach((mult, level) => {
    levels.push({ level, ds, resolution: [h, w], channels: mult * mc });
    for (let i = 0; i < p.num_res_blocks; i++, idx++) {
      const path = `input_blocks.${idx}`;
      resBlock(ib, `${path}.0`, s, { cin: ch, cout: mult * mc, h, w, updown: null });
      ch = mult * mc;
      if (attnAt.has(ds)) attentionLayer(ib, s, { block: 'input', index: idx, path: `${path}.1`, ds, resolution: [h, w], channels: ch }, heads, selfAttnOff(level), i < attentionBlocksAt(level));
      skips.push([ch, h, w]);
    }
    if (level !== p.channel_mult.length - 1) {
      const path = `input_blocks.${idx}.0`;
      if (p.resblock_updown) {
        [h, w] = resBlock(ib, path, s, { cin: ch, cout: ch, h, w, updown: 'down' });
      } else if (p.conv_resample) {
        // Downsample.op = conv3, stride 2, padding 1: out = (h - 1) // 2 + 1.
        [h, w] = [floorDiv(h - 1, 2) + 1, floorDiv(w - 1, 2) + 1];
        ib.conv(ch, ch, 3, h, w);
      } else {
        [h, w] = [floorDiv(h, 2), floorDiv(w, 2)]; // AvgPool2d(2, 2)
        ib.pointwise(ch * h * w);
      }
      skips.push([ch, h, w]);
      ds *= 2;
      idx++;
    }
  });

  const mb = part('middle_block');
  resBlock(mb, 'middle_block.0', s, { cin: ch, cout: ch, h, w, updown: null });
  attentionLayer(mb, s, { block: 'middle', index: 0, path: 'middle_block.1', ds, resolution: [h, w], channels: ch }, heads, p.disable_middle_self_attn);
  resBlock(mb, 'middle_block.2', s, { cin: ch, cout: ch, h, w, updown: null });

  const ob = part('output_blocks');
  idx = 0;
  for (let level = p.channel_mult.length - 1; level >= 0; level--) {
    const mult = p.channel_mult[level]!;
    for (let i = 0; i <= p.num_res_blocks; i++, idx++) {
      const path = `output_blocks.${idx}`;
      const [ich, sh, sw] = skips.pop()!;
      if (sh !== h || sw !== w)
        issues.warning('unet/skip-size-mismatch', `${path}: the skip connection is ${sh}×${sw} but the upsampled path is ${h}×${w} (torch.cat fails; use an input size divisible by ${2 ** (p.channel_mult.length - 1)})`, { path, param: 'image_size', args: [sh, sw, h, w, 2 ** (p.channel_mult.length - 1)] });
      ob.pointwise((ch + ich) * h * w); // torch.cat([h, hs.pop()])
      resBlock(ob, `${path}.0`, s, { cin: ch + ich, cout: mc * mult, h, w, updown: null });
      ch = mc * mult;
      let layer = 1;
      if (attnAt.has(ds)) {
        const build = i < attentionBlocksAt(level);
        attentionLayer(ob, s, { block: 'output', index: idx, path: `${path}.${layer}`, ds, resolution: [h, w], channels: ch }, heads, selfAttnOff(level), build);
        if (build) layer++;
      }
      if (level > 0 && i === p.num_res_blocks) {
        const upPath = `${path}.${layer}`;
        if (p.resblock_updown) {
          [h, w] = resBlock(ob, upPath, s, { cin: ch, cout: ch, h, w, updown: 'up' });
        } else {
          [h, w] = [2 * h, 2 * w]; // F.interpolate(scale_factor=2, mode="nearest")
          ob.pointwise(ch * h * w);
          if (p.conv_resample) ob.conv(ch, ch, 3, h, w); // Upsample.conv
        }
        ds = floorDiv(ds, 2);
      }
    }
  }

  // out = [GN(ch), SiLU, conv3(model_channels → out_channels)]; id_predictor = [GN(ch),
  // conv1(model_channels → n_embed)]. Both are built with `ch` (= mc · channel_mult[0]) for the
  // norm but `model_channels` for the conv, so channel_mult[0] ≠ 1 builds but cannot run.
  if (ch !== mc)
    issues.warning('unet/out-channels-mismatch', `channel_mult[0] = ${p.channel_mult[0]}: the output head normalises ${ch} channels but its conv expects model_channels = ${mc} (fails in forward)`, { path: 'out', param: 'channel_mult', args: [p.channel_mult[0]!, ch, mc] });
  const predictIds = p.n_embed !== null;
  const out = part('out');
  const head = new Tally(norms);
  head.groupNorm('out.0', ch, h * w);
  head.pointwise(ch * h * w); // SiLU
  head.conv(mc, p.out_channels, 3, h, w); // out.2 (zero-initialised)
  // forward returns id_predictor(h) instead of out(h) when n_embed is set: `out` then only
  // contributes its parameters.
  if (predictIds) out.parameter(head.params);
  else out.absorb(head);
  if (predictIds) {
    const ip = part('id_predictor');
    ip.groupNorm('id_predictor.0', ch, h * w);
    ip.conv(mc, p.n_embed!, 1, h, w);
  }

  const total = new Tally(norms);
  for (const t of parts.values()) total.absorb(t);

  const levelDs = new Set(downsampleFactors(p));
  const unmatched = [...new Set(p.attention_resolutions)].filter((r) => !levelDs.has(r));

  return {
    paramCount: total.params,
    parts: Object.fromEntries([...parts].map(([k, t]) => [k, t.params])),
    inputShape: [p.in_channels, h0, w0],
    outputShape: [predictIds ? p.n_embed! : p.out_channels, h, w],
    timeEmbedDim: ted,
    levels,
    attention: s.attention,
    unmatchedAttentionResolutions: unmatched,
    groupNorms: norms,
    flops: total.flops * batch,
    activationElements: total.activations * batch,
    recomputePeakElements: total.recomputePeak * batch,
    errors: issues.errors,
    warnings: issues.warnings,
  };
}
