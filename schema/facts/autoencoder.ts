// Static facts of the first stage: Encoder/Decoder of ldm/modules/diffusionmodules/model.py
// built from `ddconfig`, wrapped by ldm/models/autoencoder.py (VQModel, VQModelInterface,
// AutoencoderKL). The VQ quantizer is taming.modules.vqvae.quantize.VectorQuantizer2: one
// nn.Embedding(n_embed, embed_dim); its `remap` adds a buffer, not a parameter. The loss
// (`lossconfig`) is not counted, as in the reference data (losses replaced by nn.Identity).
import { assertNever } from '../assert-never.js';
import { Tally } from './tally.js';
import { IssueList, floorDiv } from './types.js';
import type { FactIssue, GroupNormSite, Shape3 } from './types.js';
import type { AttnType, AutoencoderAttentionSite, AutoencoderFacts, AutoencoderFlops, AutoencoderParts } from './results.js';
export type { AttnType, AutoencoderAttentionSite, AutoencoderFacts, AutoencoderFlops, AutoencoderParts } from './results.js';
import { defaultsOf, type ReadonlyParams } from '../types.js';
import { DDConfig as DDConfigSchema, type DDConfig as DDConfigParams } from '../params/autoencoder.js';

/** `ddconfig`: the keyword arguments Encoder(**ddconfig) and Decoder(**ddconfig) receive. */
/** Encoder/Decoder params (schema/autoencoder.ts `DDConfig`), every default filled in. */
export type DDConfig = ReadonlyParams<DDConfigParams>;

/** ddconfig's defaults (Encoder/Decoder signatures in model.py), as the registry declares them. */
export const ddconfigDefaults = defaultsOf(DDConfigSchema) as Omit<DDConfig, 'ch' | 'out_ch' | 'num_res_blocks' | 'attn_resolutions' | 'in_channels' | 'resolution' | 'z_channels'>;


export interface VQModelFactsParams {
  ddconfig: DDConfig;
  embed_dim: number;
  n_embed: number;
}

export interface AutoencoderKLFactsParams {
  ddconfig: DDConfig;
  embed_dim: number;
}

export type FirstStageFactsParams =
  | ({ kind: 'vq' } & VQModelFactsParams)
  | ({ kind: 'kl' } & AutoencoderKLFactsParams);

export interface AutoencoderFactsOptions {
  /** Scales `flops` and `activationElements` (default 1). */
  batch?: number;
  /**
   * Side of the images it runs on (default ddconfig.resolution). Encoder and Decoder are fully
   * convolutional: resolution only decides where attention blocks go, so a LatentDiffusion's first
   * stage runs at image_size × its factor whatever resolution records.
   */
  inputSide?: number;
}





interface Ctx {
  dd: DDConfig;
  /** Side of the images the walk runs on (ddconfig.resolution unless given). */
  side: number;
  attnType: AttnType;
  attnAt: Set<number>;
  issues: IssueList;
  attention: AutoencoderAttentionSite[];
}

/** make_attn(): use_linear_attn overrides attn_type; anything else raises in the reference. */
export function resolveAttnType(dd: Pick<DDConfig, 'use_linear_attn' | 'attn_type'>): AttnType | null {
  if (dd.use_linear_attn) return 'linear';
  // sd2's vanilla-xformers (MemoryEfficientAttnBlock) has AttnBlock's parameters and maths.
  if (dd.attn_type === 'vanilla-xformers') return 'vanilla';
  return dd.attn_type === 'vanilla' || dd.attn_type === 'linear' || dd.attn_type === 'none' ? dd.attn_type : null;
}

/**
 * ResnetBlock(temb_channels=0) of model.py: norm1, conv1 (3×3), norm2, dropout, conv2 (3×3),
 * nin_shortcut (1×1) when the width changes. No temb_proj in Encoder/Decoder (temb_ch = 0).
 */
function resnetBlock(t: Tally, path: string, cin: number, cout: number, h: number, w: number): void {
  const hw = h * w;
  t.groupNorm(`${path}.norm1`, cin, hw);
  t.pointwise(cin * hw); // swish
  t.conv(cin, cout, 3, h, w);
  t.groupNorm(`${path}.norm2`, cout, hw);
  t.pointwise(cout * hw); // swish
  t.conv(cout, cout, 3, h, w);
  if (cin !== cout) t.conv(cin, cout, 1, h, w); // nin_shortcut
  t.pointwise(cout * hw); // x + h
}

/**
 * make_attn(c, attn_type): AttnBlock (GN, q/k/v/proj_out 1×1 convs, one head), LinAttnBlock
 * (LinearAttention(dim=c, heads=1, dim_head=c): bias-free to_qkv, to_out; no norm) or
 * nn.Identity.
 */
function attnBlock(t: Tally, c: Ctx, site: AutoencoderAttentionSite, h: number, w: number): void {
  if (c.attnType === 'none') return; // nn.Identity: nothing runs, nothing to list
  c.attention.push(site);
  const ch = site.channels;
  const T = h * w;
  const a = c.attnType;
  switch (a) {
    case 'vanilla':
      t.groupNorm(`${site.path}.norm`, ch, T);
      for (let i = 0; i < 3; i++) t.conv(ch, ch, 1, h, w); // q, k, v
      t.matmul(1, T, ch, T); // w_ = q k
      t.pointwise(2 * T * T); // scale, softmax
      t.matmul(1, ch, T, T); // h_ = v w_
      t.conv(ch, ch, 1, h, w); // proj_out
      t.pointwise(ch * T);
      break;
    case 'linear':
      t.conv(ch, 3 * ch, 1, h, w, false); // to_qkv
      t.pointwise(ch * T); // k.softmax
      t.matmul(1, ch, T, ch); // context = k vᵀ
      t.matmul(1, ch, ch, T); // out = contextᵀ q
      t.conv(ch, ch, 1, h, w); // to_out
      break;
    default:
      assertNever(a, 'attn_type');
  }
}

function encoderWalk(t: Tally, c: Ctx): Shape3 {
  const dd = c.dd;
  let h = c.side;
  let w = c.side;
  t.conv(dd.in_channels, dd.ch, 3, h, w); // conv_in
  const inMult = [1, ...dd.ch_mult];
  let curr = dd.resolution;
  let blockIn = dd.ch;
  dd.ch_mult.forEach((mult, level) => {
    blockIn = dd.ch * inMult[level]!;
    const blockOut = dd.ch * mult;
    let attn = 0;
    for (let b = 0; b < dd.num_res_blocks; b++) {
      resnetBlock(t, `encoder.down.${level}.block.${b}`, blockIn, blockOut, h, w);
      blockIn = blockOut;
      if (c.attnAt.has(curr))
        attnBlock(t, c, { module: 'encoder', path: `encoder.down.${level}.attn.${attn++}`, type: c.attnType, resolution: curr, side: h, channels: blockIn }, h, w);
    }
    if (level !== dd.ch_mult.length - 1) {
      // Downsample pads (0,1,0,1) then conv3 stride 2 padding 0, or avg-pools: both give h // 2.
      [h, w] = [floorDiv(h, 2), floorDiv(w, 2)];
      if (dd.resamp_with_conv) t.conv(blockIn, blockIn, 3, h, w);
      else t.pointwise(blockIn * h * w);
      curr = floorDiv(curr, 2);
    }
  });
  middle(t, c, 'encoder', blockIn, curr, h, w);
  t.groupNorm('encoder.norm_out', blockIn, h * w);
  t.pointwise(blockIn * h * w);
  const zOut = dd.double_z ? 2 * dd.z_channels : dd.z_channels;
  t.conv(blockIn, zOut, 3, h, w); // conv_out
  return [zOut, h, w];
}

function middle(t: Tally, c: Ctx, module: 'encoder' | 'decoder', ch: number, curr: number, h: number, w: number): void {
  resnetBlock(t, `${module}.mid.block_1`, ch, ch, h, w);
  attnBlock(t, c, { module, path: `${module}.mid.attn_1`, type: c.attnType, resolution: curr, side: h, channels: ch }, h, w);
  resnetBlock(t, `${module}.mid.block_2`, ch, ch, h, w);
}

function decoderWalk(t: Tally, c: Ctx, zh: number, zw: number): Shape3 {
  const dd = c.dd;
  const n = dd.ch_mult.length;
  let blockIn = dd.ch * dd.ch_mult[n - 1]!;
  let curr = floorDiv(dd.resolution, 2 ** (n - 1)); // Decoder.z_shape
  let [h, w] = [zh, zw];
  t.conv(dd.z_channels, blockIn, 3, h, w); // conv_in
  middle(t, c, 'decoder', blockIn, curr, h, w);
  for (let level = n - 1; level >= 0; level--) {
    const blockOut = dd.ch * dd.ch_mult[level]!;
    let attn = 0;
    for (let b = 0; b <= dd.num_res_blocks; b++) {
      resnetBlock(t, `decoder.up.${level}.block.${b}`, blockIn, blockOut, h, w);
      blockIn = blockOut;
      if (c.attnAt.has(curr))
        attnBlock(t, c, { module: 'decoder', path: `decoder.up.${level}.attn.${attn++}`, type: c.attnType, resolution: curr, side: h, channels: blockIn }, h, w);
    }
    if (level !== 0) {
      [h, w] = [2 * h, 2 * w]; // nearest ×2, then conv3 with resamp_with_conv
      t.pointwise(blockIn * h * w);
      if (dd.resamp_with_conv) t.conv(blockIn, blockIn, 3, h, w);
      curr *= 2;
    }
  }
  // norm_out and conv_out are built (and counted) even with give_pre_end, which skips them.
  const tail = new Tally(t.norms);
  tail.groupNorm('decoder.norm_out', blockIn, h * w);
  tail.pointwise(blockIn * h * w);
  tail.conv(blockIn, dd.out_ch, 3, h, w);
  if (dd.tanh_out) tail.pointwise(dd.out_ch * h * w);
  if (dd.give_pre_end) {
    t.parameter(tail.params);
    return [blockIn, h, w];
  }
  t.absorb(tail);
  return [dd.out_ch, h, w];
}

/** Parameters of Encoder(**ddconfig) alone (model.py). */
export function encoderParamCount(dd: DDConfig): number {
  const t = new Tally();
  encoderWalk(t, context(dd, dd.resolution, new IssueList()));
  return t.params;
}

/** Parameters of Decoder(**ddconfig) alone (model.py). */
export function decoderParamCount(dd: DDConfig): number {
  const t = new Tally();
  const zr = floorDiv(dd.resolution, 2 ** (dd.ch_mult.length - 1));
  decoderWalk(t, context(dd, dd.resolution, new IssueList()), zr, zr);
  return t.params;
}

function context(dd: DDConfig, side: number, issues: IssueList): Ctx {
  const resolved = resolveAttnType(dd);
  if (resolved === null)
    issues.error('autoencoder/attn-type', `attn_type '${dd.attn_type}' unknown (make_attn accepts vanilla, linear, none)`, { param: 'attn_type', args: [String(dd.attn_type)] });
  return { dd, side, attnType: resolved ?? 'vanilla', attnAt: new Set(dd.attn_resolutions), issues, attention: [] };
}

/** Facts of VQModel / VQModelInterface (kind 'vq') or AutoencoderKL (kind 'kl'). */
export function autoencoderFacts(p: FirstStageFactsParams, opts: AutoencoderFactsOptions = {}): AutoencoderFacts {
  const batch = opts.batch ?? 1;
  const dd = p.ddconfig;
  const issues = new IssueList();
  if (dd.ch_mult.length === 0) issues.error('autoencoder/ch-mult-empty', 'ch_mult is empty', { param: 'ch_mult' });
  const side = opts.inputSide ?? dd.resolution;
  const c = context(dd, side, issues);
  const norms: GroupNormSite[] = [];
  const z = dd.z_channels;
  const e = p.embed_dim;

  const enc = new Tally(norms);
  const encOut = encoderWalk(enc, c);
  const [, lh, lw] = encOut;

  // quant_conv / post_quant_conv (autoencoder.py): VQ maps z → e and e → z; KL maps the
  // moments 2z → 2e (mean and log-variance) and a sample e → z.
  const qc = new Tally(norms);
  const pqc = new Tally(norms);
  const quant = new Tally(norms);
  if (p.kind === 'vq') {
    if (dd.double_z)
      issues.warning('autoencoder/vq-double-z', `double_z is true: the encoder emits ${2 * z} channels but VQModel.quant_conv expects z_channels = ${z} (fails in forward; set double_z: false)`, { param: 'double_z' });
    qc.conv(z, e, 1, lh, lw);
    quant.embedding(p.n_embed, e, lh * lw); // VectorQuantizer2.embedding
    quant.matmul(1, lh * lw, e, p.n_embed); // distances to every code
  } else {
    if (!dd.double_z)
      issues.error('autoencoder/kl-double-z', 'AutoencoderKL asserts ddconfig.double_z (the encoder must emit mean and log-variance)', { param: 'double_z' });
    qc.conv(2 * z, 2 * e, 1, lh, lw);
    quant.pointwise(3 * e * lh * lw); // std = exp(0.5·logvar), mean + std·eps
  }
  pqc.conv(e, z, 1, lh, lw);

  const dec = new Tally(norms);
  const outShape = decoderWalk(dec, c, lh, lw);

  const encRes = new Set<number>();
  for (let i = 0, r = dd.resolution; i < dd.ch_mult.length; i++, r = floorDiv(r, 2)) encRes.add(r);
  const unmatched = [...new Set(dd.attn_resolutions)].filter((r) => !encRes.has(r));

  const total = new Tally(norms);
  for (const t of [enc, qc, quant, pqc, dec]) total.absorb(t);
  const parts: AutoencoderParts = {
    encoder: enc.params,
    decoder: dec.params,
    ...(p.kind === 'vq' ? { quantize: quant.params } : {}),
    quant_conv: qc.params,
    post_quant_conv: pqc.params,
  };
  const flops: AutoencoderFlops = {
    encode: (enc.flops + qc.flops) * batch,
    decode: (pqc.flops + dec.flops) * batch,
    quantize: quant.flops * batch,
    total: total.flops * batch,
  };
  return {
    kind: p.kind,
    paramCount: total.params,
    parts,
    resolution: dd.resolution,
    inputShape: [dd.in_channels, side, side],
    outputShape: outShape,
    latentShape: [e, lh, lw],
    encoderOutputShape: encOut,
    downsamplingFactor: 2 ** (dd.ch_mult.length - 1),
    attnType: c.attnType,
    attention: c.attention,
    unmatchedAttnResolutions: unmatched,
    groupNorms: norms,
    flops,
    activationElements: total.activations * batch,
    errors: issues.errors,
    warnings: issues.warnings,
  };
}
