// Loading a whole LatentDiffusion checkpoint for the sampling commands (sample, txt2img): the EMA
// choice (LitEma's `model_ema.*` shadows read straight into the UNet), the keys published
// checkpoints carry that are no parameters, and the refusal of a checkpoint that does not fit
// the config, naming the first keys that disagree.
import { torchShape, type LoadReport } from '../runtime/weights/state-dict.js';
import { emaBufferName } from '../runtime/diffusion/ema.js';
import type { LatentDiffusion } from '../runtime/diffusion/latent-diffusion.js';
import type { LazyTensor, RawTensor } from '../runtime/weights/safetensors.js';
import { CliError } from './errors.js';

const EMA_COUNTERS = new Set(['model_ema.decay', 'model_ema.num_updates']);

/**
 * Keys of published Stable Diffusion checkpoints that hold no parameter of ours: HF CLIP's
 * `position_ids` buffer (int64, an arange; SD 1.x), open_clip's `attn_mask` (non-persistent,
 * present in some SD 2.x exports), and an autoencoder's training loss.
 */
export const PUBLISHED_NON_PARAMETERS: readonly RegExp[] = [
  /^cond_stage_model\.transformer\.text_model\.embeddings\.position_ids$/,
  /^cond_stage_model\.model\.attn_mask$/,
  /^first_stage_model\.loss\./,
];

/** Whether the EMA weights are used (asked for, kept by the config, present: the reference's ema_scope), and the line that says which. */
export function emaChoice(configEma: boolean, weights: ReadonlyMap<string, RawTensor>, ckpt: string, noEma: boolean): { use: boolean; message: string } {
  const shadows = [...weights.keys()].filter((k) => k.startsWith('model_ema.') && !EMA_COUNTERS.has(k)).length;
  if (!shadows) return { use: false, message: `from ${ckpt} (no EMA weights in it)` };
  if (noEma) return { use: false, message: `from ${ckpt}: the raw weights (--no-ema)` };
  if (!configEma) return { use: false, message: `from ${ckpt}: the raw weights (the config sets use_ema: false)` };
  const n = weights.get('model_ema.num_updates');
  const updates = n ? Number(n.data[0]) : 0;
  return { use: true, message: `from ${ckpt}: EMA (model_ema.*, ${updates} updates; --no-ema for the raw ones)` };
}

/**
 * The checkpoint with each UNet parameter `model.X` taken from its EMA shadow `model_ema.X'`
 * (LitEma's buffer name: the path without dots) where the checkpoint has one, which is what
 * ema_scope swaps in; the raw tensors are still checked by name and shape, but never read.
 */
export function withEmaWeights(ld: LatentDiffusion, weights: ReadonlyMap<string, LazyTensor>): Map<string, LazyTensor> {
  const out = new Map(weights);
  for (const p of ld.model.paramEntries()) {
    if (!p.variable.trainable) continue;
    const raw = weights.get(`model.${p.name}`), shadow = weights.get(`model_ema.${emaBufferName(p.name)}`);
    // A shadow of another shape is left for the raw tensor's shape check to report.
    if (raw && shadow && raw.shape.length === shadow.shape.length && raw.shape.every((n, i) => n === shadow.shape[i])) out.set(`model.${p.name}`, shadow);
  }
  return out;
}

type SdLayout = 'sd1' | 'sd2';

/** The text encoder layout a checkpoint's keys show: HF CLIP (SD 1.x) or open_clip (SD 2.x). */
function checkpointLayout(keys: Iterable<string>): SdLayout | undefined {
  for (const k of keys) {
    if (k.startsWith('cond_stage_model.transformer.text_model.')) return 'sd1';
    if (k.startsWith('cond_stage_model.model.')) return 'sd2';
  }
  return undefined;
}

/** The layout the config's model has: the same reading of its own state_dict names (no class names). */
function configLayout(ld: LatentDiffusion): SdLayout | undefined {
  return checkpointLayout(ld.paramEntries().map((p) => p.name));
}

const LAYOUT: Record<SdLayout, { name: string; encoder: string; configs: string }> = {
  sd1: { name: 'SD 1.x', encoder: 'CLIP ViT-L/14 text encoder, cond_stage_model.transformer.*', configs: 'v1-inference.yaml' },
  sd2: { name: 'SD 2.x', encoder: 'OpenCLIP text encoder, cond_stage_model.model.*', configs: 'v2-inference.yaml (512-base) or v2-inference-v.yaml (768-v)' },
};

const SHOWN = 4;
const shape = (s: readonly number[]) => `[${s.join(', ')}]`;
const clipLine = (s: string) => (s.length > 190 ? `${s.slice(0, 189)}…` : s);

/**
 * Throws the CliError for a checkpoint whose report (LatentDiffusion.checkFull) is not clean: the
 * counts, the first few missing, unexpected and mis-shaped keys with their shapes, and a hint
 * that names the SD version the checkpoint's keys show when the config's text encoder differs.
 */
export function refuseMismatch(ld: LatentDiffusion, weights: ReadonlyMap<string, { readonly shape: readonly number[] }>, report: LoadReport, ckpt: string): void {
  const { missing, unexpected, shapeMismatch } = report;
  if (!missing.length && !unexpected.length && !shapeMismatch.length) return;
  const expected = new Map(ld.paramEntries().map((p) => [p.name, torchShape(p.variable.shape, p.layout)]));
  const counts = [missing.length && `${missing.length} missing`, unexpected.length && `${unexpected.length} unexpected`, shapeMismatch.length && `${shapeMismatch.length} of another shape`].filter(Boolean).join(', ');
  const total = missing.length + unexpected.length + shapeMismatch.length;
  const lines = [`'${ckpt}' does not fit the config: ${total} key${total === 1 ? '' : 's'} disagree (${counts}):`];
  const more = (n: number) => (n > SHOWN ? `, … (${n - SHOWN} more)` : '');
  if (missing.length) lines.push(clipLine(`  missing from the checkpoint: ${missing.slice(0, SHOWN).map((k) => `${k} ${shape(expected.get(k) ?? [])}`).join(', ')}${more(missing.length)}`));
  if (unexpected.length) lines.push(clipLine(`  not in the config: ${unexpected.slice(0, SHOWN).map((k) => `${k} ${shape(weights.get(k)?.shape ?? [])}`).join(', ')}${more(unexpected.length)}`));
  for (const m of shapeMismatch.slice(0, SHOWN)) lines.push(clipLine(`  ${m.key}: config ${shape(m.expected)}, checkpoint ${shape(m.got)}`));
  if (shapeMismatch.length > SHOWN) lines.push(`  … (${shapeMismatch.length - SHOWN} more of another shape)`);
  const ck = checkpointLayout(weights.keys()), cf = configLayout(ld);
  const hint = ck && cf && ck !== cf
    ? `the checkpoint is an ${LAYOUT[ck].name} one (${LAYOUT[ck].encoder}) but the config's text encoder is ${ld.cond_stage_model!.className} (${LAYOUT[cf].name}): use ${LAYOUT[ck].configs}`
    : `wrong config for this checkpoint? SD 1.x checkpoints go with ${LAYOUT.sd1.configs}, SD 2.x with ${LAYOUT.sd2.configs}; a fine-tuned or other model needs the config it was trained with`;
  throw new CliError(lines.join('\n'), hint);
}

/**
 * A warning when the checkpoint's alphas_cumprod buffer (published checkpoints carry the
 * schedule) is not the one the config's schedule gives: sampling uses the config's.
 */
export function scheduleWarning(ld: LatentDiffusion, weights: ReadonlyMap<string, LazyTensor>): string | undefined {
  const t = weights.get('alphas_cumprod');
  const ours = ld.ddpm.schedule.f32.alphas_cumprod;
  if (!t || !t.floating) return undefined;
  if (t.numel !== ours.length) return `the checkpoint's schedule has ${t.numel} timesteps, the config's ${ours.length}: sampling uses the config's (timesteps, linear_start, linear_end)`;
  const theirs = new Float32Array(t.numel);
  t.readInto(theirs);
  let worst = 0;
  for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(theirs[i]! - ours[i]!));
  // float16 checkpoints round the buffer to ~1e-3 relative: only a real difference is reported
  return worst > 2e-3 ? `the checkpoint's alphas_cumprod differs from the config's schedule by up to ${worst.toPrecision(3)}: sampling uses the config's (timesteps, linear_start, linear_end)` : undefined;
}
