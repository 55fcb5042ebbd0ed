// Phase 4, check: rules across modules — the mistakes PyTorch only finds hours into a run, or
// never. Params were already validated per target by resolve; this reads the IR and the facts.
import { admInChannelsIssues, admInputWidth, maxPatchGanLayers, noiseLevelIssues, patchGanOutputSide, type CondStageFacts, type FactCode, type FactIssue } from '../schema/facts/index.js';
import { assertNever, diffusionSlots, type DiffusionSlots } from '../schema/family.js';
import { ConditioningInputs, DDConfig, Sentinel } from '../schema/index.js';
import { diag, type Reporter, type Span } from './diagnostics.js';
import type { Inference } from './infer.js';
import { child, className, paramSpan, type IRNode, type ModelGraph } from './ir.js';
import type { MessageKey } from './messages.js';

export interface CheckHost {
  fileExists(path: string): boolean;
}

export function checkGraph(g: ModelGraph, inf: Inference, host: CheckHost, ctx: Reporter): void {
  const m = g.model;
  if (!m) return;
  for (const n of g.nodes) checkCkptPath(n, host, ctx);
  factIssues(inf, ctx);
  checkGroupNorms(inf, ctx);
  checkAttentionResolutions(inf, ctx);
  checkDoubleZ(inf, ctx);
  checkDiscriminatorDepth(m, inf, ctx);
  // Every latent-diffusion wrapper (LatentDiffusion and sd2's subclasses) gets the latent rules.
  if (m.spec.statics?.family === 'diffusion' && m.valid) {
    checkLatentChannels(m, inf, ctx);
    checkConditioning(m, inf, ctx);
    if (m.params.num_timesteps_cond !== null && m.params.num_timesteps_cond !== 1) {
      ctx.report(diag(paramSpan(m, 'num_timesteps_cond'), 'Num_timesteps_cond_0_unsupported', [m.params.num_timesteps_cond], { hint: 'set num_timesteps_cond: 1 (what every reference config uses)' }));
    }
  }
  if (m.spec.statics?.family === 'diffusion' && m.valid) checkAdm(m, inf, ctx);
  checkMonitor(m, ctx);
}

// ------------------------------------------------------------------ c_adm (sd2: unCLIP, x4 upscaler)

/**
 * What reaches the UNet's label_emb as `y`. unCLIP: the image embedder's vector, concatenated
 * with the noise augmentor's level embedding (ImageEmbeddingConditionedLatentDiffusion.get_input);
 * 'adm' conditioning: the cond stage's vector. x4 upscaler: the low-scale model's noise level, a
 * class index. Each is checked against the UNet's num_classes / adm_in_channels.
 */
function checkAdm(m: IRNode, inf: Inference, ctx: Reporter): void {
  const u = inf.unet?.node;
  if (!u) return;
  const numClasses = u.params.num_classes;
  const admIn = typeof u.params.adm_in_channels === 'number' ? u.params.adm_in_channels : null;
  const issues: FactIssue[] = [];
  const extras = inf.extras ?? [];
  if (numClasses === 'sequential') {
    const emb = extras.find((e) => e.facts?.output.kind === 'vector');
    const aug = extras.find((e) => e.facts?.noiseLevel?.kind === 'vector');
    const cs = inf.condStage;
    if (emb?.facts) {
      const why = `${className(emb.node)} ${describeVector(emb.facts)}${aug?.facts ? ` + ${className(aug.node)} noise-level embedding ${describeLevel(aug.facts)}` : ''}`;
      issues.push(...admInChannelsIssues(admIn, admInputWidth(emb.facts, aug?.facts), why));
    } else if (inf.conditioningKey === 'adm' && cs?.node && cs.facts?.output.kind === 'vector') {
      issues.push(...admInChannelsIssues(admIn, cs.facts.output.width, `${className(cs.node)}, the cond stage`));
    }
  }
  if (typeof numClasses === 'number') {
    for (const e of extras) if (e.facts?.noiseLevel?.kind === 'class-index') issues.push(...noiseLevelIssues(numClasses, e.facts.noiseLevel.classes));
  }
  const seen = new Set<string>();
  for (const i of issues) {
    const rule = factRules[i.code];
    if (!rule || seen.has(i.code)) continue;
    seen.add(i.code);
    ctx.report(diag(paramSpan(u, i.param ?? 'num_classes'), rule.key, rule.args ? rule.args(i.args, '') : i.args, rule.hint ? { hint: rule.hint(i.args) } : {}));
  }
}

function describeVector(f: CondStageFacts): string {
  return f.output.kind === 'vector' ? `[${f.output.width}]` : '';
}

function describeLevel(f: CondStageFacts): string {
  return f.noiseLevel?.kind === 'vector' ? `[${f.noiseLevel.width}]` : '';
}

// ------------------------------------------------------------------ facts -> diagnostics

/**
 * The LDMC code of each facts rule (schema/facts/types.ts `FactRules`), of the same severity,
 * and the template's arguments from the issue's `args` (listed per rule) and path. Rules the
 * schema already enforces for the compiler (an empty list, an enum) map to the schema's own
 * codes; the double_z rules have their own check below (LDMC521), so they map to null.
 */
interface FactRule {
  readonly key: MessageKey;
  readonly args?: (a: readonly (string | number)[], path: string) => unknown[];
  readonly hint?: (a: readonly (string | number)[]) => string;
}

const factRules: { readonly [C in FactCode]: FactRule | null } = {
  'unet/context-dim-missing': { key: 'Spatial_transformer_needs_context_dim', hint: () => "set context_dim to the cond stage's token width, or use_spatial_transformer: false" },
  // args: [context_dim]
  'unet/context-dim-without-transformer': { key: 'Context_dim_0_without_spatial_transformer', hint: () => 'set use_spatial_transformer: true for cross-attention, or remove context_dim' },
  'unet/heads-unset': { key: 'UNet_heads_unset', hint: () => 'set num_head_channels (e.g. 32) or num_heads' },
  // args: [dims]
  'unet/dims': { key: 'Param_0_not_supported_1', args: ([dims]) => ['dims', dims, 'ldmc supports 2-d UNets only'] },
  'unet/channel-mult-empty': { key: 'Param_0_out_of_range_1', args: () => ['channel_mult', 'a list of at least 1 item', '0'] },
  // args: [num_head_channels, width]
  'unet/attention-head-channels': { key: 'Head_channels_0_do_not_divide_1', args: ([hc, ch], path) => [hc, ch, path], hint: () => 'use a num_head_channels that divides every attention width (32 or 64 in the reference configs)' },
  // args: [heads, width]
  'unet/attention-heads': { key: 'Attention_heads_0_do_not_divide_1', args: ([heads, ch], path) => [heads, ch, path], hint: () => 'choose num_heads (and num_heads_upsample) dividing every attention width, or set num_head_channels' },
  // args: [n_heads, d_head, width]
  'unet/transformer-heads': { key: 'Transformer_heads_0_dim_head_1_at_2', args: ([n, d, ch], path) => [n, d, path, ch], hint: ([, , ch]) => `num_head_channels (or num_heads) must be at most the attention width, ${ch} here` },
  // args: [skip h, skip w, path h, path w, the size every input must divide by]
  'unet/skip-size-mismatch': { key: 'Skip_size_0_mismatch_1', args: ([sh, sw, h, w], path) => [path, sh, sw, h, w], hint: (a) => `use an image_size divisible by ${a[4]}` },
  // args: [channel_mult[0], width of the last level, model_channels]
  'unet/out-channels-mismatch': { key: 'Output_head_width_0_vs_1', hint: () => 'set channel_mult[0] to 1, as every reference config does' },
  'unet/adm-in-channels-missing': { key: 'Adm_in_channels_missing', hint: () => 'set adm_in_channels to the width of the c_adm vector (1536 for unCLIP-L: the CLIP image embedding and its noise-level embedding)' },
  // args: [param name, entries, levels]
  'unet/per-level-length': { key: 'Per_level_0_has_1_entries_for_2_levels', hint: (a) => `give ${a[0]} ${a[2]} entries, one per entry of channel_mult` },
  // args: [level, num_attention_blocks[level], num_res_blocks]
  'unet/attention-blocks-exceed': { key: 'Attention_blocks_0_is_1_exceeds_2', hint: (a) => `use at most ${a[2]} attention blocks per level` },
  // args: [inner width, channels]
  'unet/linear-proj-out': { key: 'Linear_proj_out_0_at_1', args: ([inner, ch], path) => [inner, path, ch], hint: () => 'make n_heads × d_head equal the level width (num_head_channels dividing it with legacy: false), or set use_linear_in_transformer: false' },
  // args: [attn_type]
  'autoencoder/attn-type': { key: 'Param_0_must_be_one_of_1', args: ([t]) => ['ddconfig.attn_type', '"vanilla", "linear", "none"', t] },
  'autoencoder/ch-mult-empty': { key: 'Param_0_out_of_range_1', args: () => ['ddconfig.ch_mult', 'a list of at least 1 item', '0'] },
  'autoencoder/vq-double-z': null,
  'autoencoder/kl-double-z': null,
  // args: [n_stages]
  'rescaler/n-stages': { key: 'Param_0_out_of_range_1', args: ([n]) => ['n_stages', '>= 0', n] },
  // args: [method]
  'rescaler/method': { key: 'Param_0_must_be_one_of_1', args: ([m]) => ['method', '"nearest", "linear", "bilinear", "trilinear", "bicubic", "area"', m] },
  // args: [layer_idx as text]
  'clip/layer-idx': { key: 'Clip_layer_idx_0_invalid', hint: () => 'set layer_idx, e.g. -2 for the penultimate layer' },
  // args: [max_length, position embeddings]
  'clip/max-length': { key: 'Clip_max_length_0_exceeds_1', hint: ([, n]) => `set max_length: ${n}` },
  // args: [layer]
  'clip/image-layer': { key: 'Clip_image_layer_0_unsupported', hint: () => "use layer: pooled (the default)" },
  // args: [timestep_dim, embedding width]
  'clip/noise-aug-width': { key: 'Noise_aug_width_0_vs_1', hint: ([, w]) => `set timestep_dim: ${w}, or give clip_stats_path` },
  // args: [name, the names ldmc knows, the file form it also takes]
  'clip/unknown-model': { key: 'Clip_model_0_unknown', args: ([name]) => [name], hint: ([, known, file]) => `give the path of ${file} (relative to this config file), or one of: ${known}` },
  // args: [file, why]
  'clip/config-unreadable': { key: 'Clip_config_0_unreadable_1', hint: () => 'a relative path is resolved against the directory of the config file that names it' },
  // args: [file, what is wrong]
  'clip/config-invalid': { key: 'Clip_config_0_invalid_1', hint: () => 'an HF CLIP config.json (CLIPConfig or CLIPTextConfig) or an open_clip model config (embed_dim, text_cfg) is expected' },
  // args: [adm_in_channels, c_adm width, where the width comes from]
  'sd/adm-in-channels': { key: 'Adm_in_channels_0_expected_1', hint: ([, w]) => `set adm_in_channels: ${w}` },
  // args: [highest noise level, num_classes]
  'sd/noise-levels': { key: 'Noise_levels_0_exceed_classes_1', hint: ([lvl]) => `set num_classes to at least ${Number(lvl) + 1}, or lower max_noise_level` },
};

/** For the test that holds `factRules` and `FactRules` together: each rule's LDMC key, or null. */
export function factRuleKey(code: FactCode): MessageKey | null {
  return factRules[code]?.key ?? null;
}

function factIssues(inf: Inference, ctx: Reporter): void {
  const emit = (n: IRNode, list: readonly FactIssue[]) => {
    const seen = new Set<string>();
    // A num_head_channels that does not divide a width also leaves a wrong head count there: the
    // LDMC505 error names the problem, so the head-count warning would only restate it.
    const headChannelsWrong = list.some((i) => i.code === 'unet/attention-head-channels');
    for (const i of list) {
      const rule = factRules[i.code];
      if (!rule || (i.code === 'unet/attention-heads' && headChannelsWrong)) continue;
      const key = `${i.code}:${i.param ?? ''}`;
      if (seen.has(key)) continue; // one per param: the first site names the problem
      seen.add(key);
      const span = i.param ? (n.paramsNode?.entries.has(i.param) || !isDDConfigKey(i.param) ? paramSpan(n, i.param) : ddSpan(n, i.param)) : n.targetSpan;
      const args = rule.args ? rule.args(i.args, i.path ?? '') : i.args;
      ctx.report(diag(span, rule.key, args, rule.hint ? { hint: rule.hint(i.args) } : {}));
    }
  };
  if (inf.unet) emit(inf.unet.node, [...inf.unet.facts.errors, ...inf.unet.facts.warnings]);
  if (inf.firstStage) emit(inf.firstStage.node, [...inf.firstStage.facts.errors, ...inf.firstStage.facts.warnings]);
  const cs = inf.condStage;
  if (cs?.node && cs.facts) emit(cs.node, [...cs.facts.errors, ...cs.facts.warnings]);
  for (const e of inf.extras ?? []) if (e.facts) emit(e.node, [...e.facts.errors, ...e.facts.warnings]);
}

// ------------------------------------------------------------------ widths

function checkGroupNorms(inf: Inference, ctx: Reporter): void {
  if (inf.unet) {
    const bad = inf.unet.facts.groupNorms.find((s) => s.channels % 32 !== 0);
    if (bad) {
      ctx.report(
        diag(paramSpan(inf.unet.node, 'model_channels'), 'Width_0_not_divisible_by_32', [`UNet ${bad.path}`, bad.channels], {
          hint: `every level width (model_channels × channel_mult) and every skip concatenation must divide by 32; try model_channels: ${Math.max(32, Math.round((inf.unet.node.params.model_channels as number) / 32) * 32)}`,
        }),
      );
    }
  }
  if (inf.firstStage) {
    const bad = inf.firstStage.facts.groupNorms.find((s) => s.channels % 32 !== 0);
    if (bad) {
      ctx.report(
        diag(ddSpan(inf.firstStage.node, 'ch'), 'Width_0_not_divisible_by_32', [`autoencoder ${bad.path}`, bad.channels], {
          hint: 'ddconfig.ch × ch_mult must divide by 32 at every level',
        }),
      );
    }
  }
}

const DDCONFIG_KEYS = new Set(Object.keys(DDConfig.properties));
function isDDConfigKey(k: string): boolean {
  return DDCONFIG_KEYS.has(k);
}

function ddSpan(n: IRNode, key: string): Span {
  const dd = n.paramsNode?.entries.get('ddconfig')?.value;
  if (dd?.kind === 'map') {
    const e = dd.entries.get(key);
    if (e) return e.value.span;
    return dd.span;
  }
  return n.targetSpan;
}

function checkAttentionResolutions(inf: Inference, ctx: Reporter): void {
  if (inf.unet) {
    const f = inf.unet.facts;
    const levels = f.levels.map((l) => l.ds);
    for (const r of f.unmatchedAttentionResolutions) {
      ctx.report(
        diag(listItemSpan(inf.unet.node, 'attention_resolutions', r), 'Attention_resolution_0_never_matches', [r, levels.join(', ')], {
          hint: `attention_resolutions are downsampling factors: with image_size ${inf.unet.node.params.image_size}, factor ${levels[levels.length - 1]} is the ${f.levels[f.levels.length - 1]?.resolution[0]}×${f.levels[f.levels.length - 1]?.resolution[0]} level`,
        }),
      );
    }
  }
  if (inf.firstStage) {
    const f = inf.firstStage.facts;
    for (const r of f.unmatchedAttnResolutions) {
      const res = levelsOfAutoencoder(f.resolution, f.downsamplingFactor);
      ctx.report(
        diag(ddSpan(inf.firstStage.node, 'attn_resolutions'), 'Attention_resolution_0_never_matches', [r, res.join(', ')], {
          hint: 'ddconfig.attn_resolutions are real resolutions of the levels',
        }),
      );
    }
  }
}

function levelsOfAutoencoder(res: number, factor: number): number[] {
  const out: number[] = [];
  for (let r = res; r >= res / factor; r /= 2) out.push(r);
  return out;
}

function listItemSpan(n: IRNode, key: string, value: number): Span {
  const v = n.paramsNode?.entries.get(key)?.value;
  if (v?.kind === 'seq') {
    const it = v.items.find((i) => i.kind === 'scalar' && i.value === value);
    if (it) return it.span;
    return v.span;
  }
  return paramSpan(n, key);
}

function checkDoubleZ(inf: Inference, ctx: Reporter): void {
  const fs = inf.firstStage;
  if (!fs) return;
  const dz = (fs.node.params.ddconfig as Record<string, unknown> | undefined)?.double_z;
  if (fs.facts.kind === 'kl' && dz === false) {
    ctx.report(diag(ddSpan(fs.node, 'double_z'), 'Double_z_0_for_1', [false, 'AutoencoderKL needs the encoder to output mean and logvar (the reference asserts ddconfig["double_z"])'], { hint: 'set double_z: true' }));
  } else if (fs.facts.kind === 'vq' && dz !== false) {
    ctx.report(
      diag(ddSpan(fs.node, 'double_z'), 'Double_z_0_for_1', [true, `${className(fs.node)}'s quant_conv takes z_channels inputs, and the encoder would give 2 × z_channels`], {
        hint: 'set double_z: false (its default is true)',
      }),
    );
  }
}

/**
 * An autoencoder config's PatchGAN discriminator must leave a patch map on its images: each of
 * disc_num_layers stride-2 convolutions halves them, and torch raises once a 4×4 kernel no longer
 * fits (tfjs would silently give an empty map). Only where the autoencoder is trained (the model
 * itself): a first stage inside LatentDiffusion never runs its loss.
 */
function checkDiscriminatorDepth(m: IRNode, inf: Inference, ctx: Reporter): void {
  const fs = inf.firstStage;
  if (!fs || fs.node !== m) return;
  const loss = child(m, 'lossconfig');
  const ls = loss?.spec.statics;
  if (!loss?.valid || ls?.family !== 'loss' || !ls.patchGan) return;
  const layers = loss.params.disc_num_layers;
  if (typeof layers !== 'number') return;
  // The discriminator sees the data's images; batch_resize_range (VQModel) makes them as small as its lower bound.
  const resize = m.params.batch_resize_range;
  const dataSide = inf.dataImageSize ?? fs.facts.inputShape[1];
  const side = Array.isArray(resize) && typeof resize[0] === 'number' ? Math.min(dataSide, resize[0]) : dataSide;
  if (patchGanOutputSide(side, layers) >= 1) return;
  const most = maxPatchGanLayers(side);
  ctx.report(
    diag(paramSpan(loss, 'disc_num_layers'), 'Discriminator_too_deep_0_for_1', [layers, side], {
      hint: most > 0
        ? `the largest disc_num_layers that fits ${side}px images is ${most} (${side}px → ${patchGanOutputSide(side, most)}×${patchGanOutputSide(side, most)} patches); set disc_num_layers: ${most}`
        : `${side}px images are too small for any PatchGAN discriminator (it needs at least 6px)`,
    }),
  );
}

// ------------------------------------------------------------------ latent agreement

/** A diffusion wrapper's child slots, as its statics name them (the latent rules run only for wrappers). */
function slotsOf(m: IRNode): DiffusionSlots {
  const st = m.spec.statics;
  if (st?.family !== 'diffusion') throw new Error(`internal: ${m.target} is not a diffusion wrapper`);
  return st.slots;
}

function checkLatentChannels(m: IRNode, inf: Inference, ctx: Reporter): void {
  const fs = inf.firstStage;
  const u = child(m, slotsOf(m).unet);
  if (!fs) return;
  const latentC = fs.facts.latentShape[0];
  const embedSpan = paramSpan(fs.node, 'embed_dim');
  const related = [{ message: `the latent channels are the first stage's embed_dim = ${latentC}`, span: embedSpan }];
  // Only the two channel counts need to be valid: a typo elsewhere in the UNet's params must not
  // hide this rule (an editor shows both while the config is being written).
  if (u && typeof u.params.in_channels === 'number' && typeof u.params.out_channels === 'number') {
    const inC = u.params.in_channels as number;
    const outC = u.params.out_channels as number;
    const key = inf.conditioningKey;
    if (key !== null && ConditioningInputs[key].concat) {
      const extra = inC - latentC;
      const cs = inf.condStage;
      const known = concatChannels(inf, m, latentC);
      if (known !== undefined && inC !== latentC + known.channels) {
        ctx.report(
          diag(paramSpan(u, 'in_channels'), 'UNet_in_channels_0_expected_1', [inC, latentC, ` + ${known.channels} concat channels from ${known.from} = ${latentC + known.channels}`], {
            related,
            hint: `set in_channels: ${latentC + known.channels}`,
          }),
        );
      } else if (known === undefined && extra <= 0) {
        ctx.report(
          diag(paramSpan(u, 'in_channels'), 'UNet_in_channels_0_expected_1', [inC, latentC, `, and concat conditioning adds channels on top`], {
            related,
            hint: `in_channels must be ${latentC} + the conditioning channels`,
          }),
        );
      } else if (known === undefined) {
        ctx.report(diag(paramSpan(u, 'in_channels'), 'Concat_channels_unknown_0', [inC, latentC, extra, cs?.sentinel ? `cond stage ${cs.sentinel}` : `'${m.params.cond_stage_key}' through ${cs?.node ? className(cs.node) : 'the cond stage'}`]));
      }
    } else if (inC !== latentC) {
      ctx.report(
        diag(paramSpan(u, 'in_channels'), 'UNet_in_channels_0_expected_1', [inC, latentC, key === null ? ' (unconditional model)' : ` (${key} conditioning adds no input channels)`], {
          related,
          hint: `set in_channels: ${latentC}`,
        }),
      );
    }
    const predicted = u.params.n_embed ? null : outC;
    if (predicted !== null && predicted !== latentC) {
      ctx.report(diag(paramSpan(u, 'out_channels'), 'UNet_out_channels_0_expected_1', [outC, latentC], { related, hint: `set out_channels: ${latentC}` }));
    }
    // The UNet's own image_size is recorded only (UNetModel never reads it, and ldmc's facts and
    // generated shapes use the diffusion image_size it really runs at), so a different value
    // changes nothing and gets no warning: LDMC514 is retired.
  }
  if (m.params.channels !== latentC) {
    ctx.report(diag(paramSpan(m, 'channels'), 'Diffusion_channels_0_expected_1', [m.params.channels, latentC], { related, hint: `set channels: ${latentC}` }));
  }
  const f = fs.facts.downsamplingFactor;
  // The facts run at image_size × f; what the config records for the first stage is its
  // ddconfig.resolution, and the latents it maps those images to (floor of the halvings).
  const recordedLatentSide = Math.floor(fs.facts.resolution / f);
  const imageSide = inf.dataImageSize ?? fs.facts.resolution;
  const expectSide = Math.floor(imageSide / f);
  if (expectSide < 1) {
    ctx.report(diag(ddSpan(fs.node, 'ch_mult'), 'Latent_downsampled_to_nothing_0_by_1', [imageSide, f], { hint: 'use fewer ch_mult levels: len(ch_mult) - 1 halvings' }));
    return;
  }
  // The image size only matters where something depends on it: the data module's images (the
  // model trains on their latents but samples image_size latents), or the first stage's
  // attention levels, which its constructor places by comparing ddconfig.resolution's halvings
  // with attn_resolutions. A first stage without them (SD's KL-f8) encodes any size the same way.
  const sizeMatters = inf.dataImageSize !== undefined || fs.facts.attention.some((a) => !a.path.includes('.mid.'));
  if (sizeMatters && m.params.image_size !== expectSide && m.params.image_size !== recordedLatentSide) {
    ctx.report(
      diag(paramSpan(m, 'image_size'), 'Diffusion_image_size_0_expected_1', [m.params.image_size, imageSide, expectSide], {
        hint: `the model will sample ${m.params.image_size}×${m.params.image_size} latents, i.e. ${(m.params.image_size as number) * f}px images; set image_size: ${expectSide} to match`,
      }),
    );
  }
}

export function concatChannels(inf: Inference, m?: IRNode, latentChannels?: number): { channels: number; from: string } | undefined {
  // sd2's wrapper subclasses concatenate their own inputs (inpainting: mask + masked-image latent;
  // depth: the depth map; x4 upscaler: the low-res image), stated by the wrapper's statics.
  const st = m?.spec.statics;
  if (st?.family === 'diffusion' && st.extraConcatChannels) {
    return { channels: st.extraConcatChannels(m!.params, latentChannels), from: className(m!) };
  }
  const cs = inf.condStage;
  if (!cs) return undefined;
  if (cs.sentinel === Sentinel.FirstStage) return undefined; // the data may add a mask (inpainting)
  const out = cs.facts?.output;
  if (out?.kind === 'spatial') return { channels: out.shape[0], from: cs.node ? className(cs.node) : 'the cond stage' };
  return undefined;
}

// ------------------------------------------------------------------ conditioning

function checkConditioning(m: IRNode, inf: Inference, ctx: Reporter): void {
  const u = child(m, slotsOf(m).unet);
  const cs = inf.condStage;
  const key = inf.conditioningKey;
  const keySpan = m.paramsNode?.entries.has('conditioning_key') ? paramSpan(m, 'conditioning_key') : m.paramsNode?.entries.has('concat_mode') ? paramSpan(m, 'concat_mode') : m.targetSpan;
  const csSpan = m.paramsNode?.entries.get(slotsOf(m).condStage)?.value.span ?? m.targetSpan;
  if (cs?.sentinel === Sentinel.Unconditional && m.params.conditioning_key) {
    ctx.report(diag(paramSpan(m, 'conditioning_key'), 'Conditioning_key_0_overridden_1', [m.params.conditioning_key, 'the cond stage is __is_unconditional__, so LatentDiffusion sets it to None'], { hint: 'remove conditioning_key' }));
  }
  if (m.params.cond_stage_trainable && cs?.sentinel) {
    ctx.report(diag(paramSpan(m, 'cond_stage_trainable'), 'Cond_stage_trainable_with_sentinel_0', [cs.sentinel], { hint: 'set cond_stage_trainable: false' }));
  }
  if (!u?.valid) return;
  const ctxDim = u.params.context_dim as number | null;
  const xattn = u.params.use_spatial_transformer === true;
  const related = [{ message: 'the cond stage', span: csSpan }];
  if (key !== null && ConditioningInputs[key].context && !xattn) {
    ctx.report(
      diag(keySpan, 'Conditioning_key_0_conflicts_1', [key, 'feeds a context to the UNet, but the UNet has no cross-attention (use_spatial_transformer is false), so the conditioning would be ignored'], {
        related: [{ message: 'the UNet', span: u.targetSpan }],
        hint: 'set use_spatial_transformer: true and context_dim on the UNet, or use concat conditioning',
      }),
    );
  }
  if (key === null && xattn) {
    ctx.report(diag(paramSpan(u, 'use_spatial_transformer'), 'Conditioning_key_0_conflicts_1', ['None', 'means no context, but the UNet uses cross-attention to a context (use_spatial_transformer)'], { related }));
  }
  if (key !== null && ConditioningInputs[key].classLabels && u.params.num_classes == null) {
    ctx.report(diag(keySpan, 'Conditioning_key_0_conflicts_1', ['adm', 'passes class labels as y, but the UNet has no num_classes (no label_emb)'], { hint: 'set num_classes on the UNet' }));
  }
  if (u.params.num_classes != null && !(key !== null && ConditioningInputs[key].classLabels)) {
    ctx.report(diag(paramSpan(u, 'num_classes'), 'Conditioning_key_0_conflicts_1', [key ?? 'None', `passes no class labels, but the UNet has num_classes = ${u.params.num_classes} and requires y`], { hint: "use conditioning_key: adm" }));
  }
  const out = cs?.facts?.output;
  if (cs?.sentinel === Sentinel.FirstStage && key !== null && !ConditioningInputs[key].concat) {
    ctx.report(diag(csSpan, 'Conditioning_key_0_conflicts_1', [key, 'needs tokens or labels, but __is_first_stage__ gives a latent feature map (use concat)']));
  }
  if (out?.kind === 'tokens' && key !== null && ConditioningInputs[key].concat && !ConditioningInputs[key].context) {
    ctx.report(diag(csSpan, 'Conditioning_key_0_conflicts_1', ['concat', `needs a feature map, but ${className(cs!.node!)} outputs tokens`], { hint: 'use conditioning_key: crossattn (or concat_mode: false)' }));
  }
  if (out?.kind === 'spatial' && key !== null && ConditioningInputs[key].context && !ConditioningInputs[key].concat) {
    ctx.report(diag(csSpan, 'Conditioning_key_0_conflicts_1', ['crossattn', `needs tokens, but ${className(cs!.node!)} outputs a feature map`], { hint: 'use conditioning_key: concat (and add its channels to in_channels)' }));
  }
  if (out?.kind === 'tokens' && xattn && ctxDim !== null && out.shape[1] !== ctxDim && key !== null && ConditioningInputs[key].context) {
    ctx.report(
      diag(paramSpan(u, 'context_dim'), 'Context_dim_0_expected_1', [ctxDim, out.shape[1]], {
        related: [{ message: `${className(cs!.node!)} output width`, span: widthSpan(cs!.node!) }],
        hint: `set context_dim: ${out.shape[1]}`,
      }),
    );
  }
}

// ------------------------------------------------------------------ files and metrics

function checkCkptPath(n: IRNode, host: CheckHost, ctx: Reporter): void {
  const p = n.params.ckpt_path;
  if (typeof p === 'string' && p !== '' && !host.fileExists(p)) {
    ctx.report(diag(paramSpan(n, 'ckpt_path'), 'Ckpt_path_0_not_found', [p], { hint: 'paths are relative to the working directory; training and sampling will refuse to start without it' }));
  }
}

/**
 * Metrics each model family logs (ddpm.py validation_step / autoencoder.py training_step and
 * validation_step), which are also what ldmc's training tasks log (runtime/train/*-task.ts).
 */
export function loggedMetrics(n: IRNode): string[] {
  const st = n.spec.statics;
  const out: string[] = [];
  // Every latent-diffusion wrapper (LatentDiffusion and sd2's subclasses) logs through
  // DDPM.p_losses and validation_step.
  if (st?.family === 'diffusion') {
    const base = ['loss_simple', 'loss_vlb', 'loss', ...(n.params.learn_logvar ? ['loss_gamma'] : [])];
    for (const split of ['train', 'val']) {
      for (const b of base) out.push(`${split}/${b}`);
      // validation_step logs the *_ema dict whether or not use_ema is on (ema_scope is then a no-op).
      if (split === 'val') for (const b of base) out.push(`${split}/${b}_ema`);
    }
    return out;
  }
  const loss = child(n, 'lossconfig')?.spec.statics;
  // Both loss dicts (optimizer_idx 0, then 1), as the loss names them (its statics).
  const lossKeys = loss?.family === 'loss' ? loss.logged : [];
  // The autoencoder's training and validation steps decide the layout; a model of another kind
  // with a monitor param (a plugin's) is read like VQModel, as before.
  const regularizer = st?.family === 'first_stage' ? st.regularizer : 'vq';
  switch (regularizer) {
    case 'kl':
      // AutoencoderKL training_step: self.log("aeloss") / self.log("discloss") without a split, and
      // both dicts; validation_step: val/rec_loss and both dicts.
      out.push('aeloss', 'discloss');
      for (const split of ['train', 'val']) for (const k of new Set(['rec_loss', ...lossKeys])) out.push(`${split}/${k}`);
      return out;
    case 'vq':
      // VQModel: training_step logs both dicts; validation_step runs _validation_step twice, as 'val'
      // and (inside ema_scope, whether or not use_ema is on) as 'val_ema', each logging
      // val{suffix}/rec_loss, val{suffix}/aeloss and both dicts.
      for (const k of lossKeys) out.push(`train/${k}`);
      for (const split of ['val', 'val_ema']) for (const k of new Set(['rec_loss', 'aeloss', ...lossKeys])) out.push(`${split}/${k}`);
      return out;
    default:
      return assertNever(regularizer, 'regularizer');
  }
}

function checkMonitor(m: IRNode, ctx: Reporter): void {
  // The model, and a diffusion wrapper's first stage (the slot its statics name).
  for (const n of [m, child(m, diffusionSlots(m.spec).firstStage)]) {
    if (!n) continue;
    const mon = n.params.monitor;
    if (typeof mon !== 'string') continue;
    const known = loggedMetrics(n);
    if (!known.includes(mon)) {
      const base = mon.endsWith('_ema') ? mon.slice(0, -4) : undefined;
      const vqEma = base !== undefined && base.startsWith('val/') && known.includes(`val_ema/${base.slice(4)}`);
      const hint = vqEma
        ? `${className(n)} names its EMA metrics val_ema/…: monitor: val_ema/${base!.slice(4)}`
        : base !== undefined && known.includes(base)
          ? `${className(n)} logs no *_ema metrics`
          : `logged: ${known.filter((k) => k.startsWith('val')).join(', ')}`;
      ctx.report(diag(paramSpan(n, 'monitor'), 'Monitor_0_not_logged_1', [mon, className(n)], { hint }));
    }
  }
}

/** Where a cond stage sets its output width (its spec's widthParam), else its target. */
function widthSpan(n: IRNode): Span {
  const st = n.spec.statics;
  return st?.family === 'cond_stage' && st.widthParam ? paramSpan(n, st.widthParam) : n.targetSpan;
}
