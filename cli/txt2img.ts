// `ldmc txt2img CONFIG --ckpt CKPT --prompt TEXT --out FILE.png`: Stable Diffusion's text to image
// (the reference's scripts/txt2img.py) on a published checkpoint: the prompt (and the negative
// prompt, or "") through the config's text encoder, DDIM / PLMS / DPM-Solver++ with
// classifier-free guidance, decode_first_stage, and one PNG with the prompt and settings in its
// text chunks. Loaded lazily by main.ts: tfjs and sharp start only for the commands that run models.
//
// Defaults, from the two reference scripts (CompVis/stable-diffusion for SD 1.x,
// Stability-AI/stablediffusion for SD 2.x), where they agree: 50 steps (--ddim_steps / --steps),
// ddim_eta 0, H = W = 512, DDIM unless --plms / --dpm. Where they differ:
// - scale: 7.5 (SD 1.x's) for every model — the issue fixes the signature's default, and one
//   default that does not depend on the config is easier to predict; SD 2.x's script uses 9;
// - seed: 42 (SD 2.x's) — SD 1.x's script draws a random seed when none is given; a fixed default
//   makes two runs of the same command give the same bytes;
// - n: 1 sample — both scripts draw 3 per batch (n_samples) and 2 or 3 batches (n_iter); on a
//   CPU one 512² image already takes minutes.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { basename, dirname, extname, resolve } from 'node:path';
import { child, className } from '../compiler/ir.js';
import { compile } from '../compiler/program.js';
import { resolvedNode } from '../compiler/resolved.js';
import { initBackend } from '../runtime/backend.js';
import { buildableWrapperIds, wrapperClass } from '../runtime/diffusion/build.js';
import type { LatentDiffusion, LatentDiffusionArgs } from '../runtime/diffusion/latent-diffusion.js';
import { seededNoise } from '../runtime/diffusion/noise.js';
import { DEFAULT_SAMPLE_STEPS, sampleLatents, sampleStepCount } from '../runtime/diffusion/sample.js';
import { backendsToSkipForWeights, float32Bytes } from '../runtime/fit.js';
import { makeGrid, toUint8Images } from '../runtime/images/grid.js';
import { writePng } from '../runtime/images/png.js';
import { Progress } from '../runtime/util/progress.js';
import { diffusionSlots } from '../schema/family.js';
import { intOption, numberOption, UsageError, type ArgSpec, type ParsedArgs } from './args.js';
import { CliError } from './errors.js';
import { parseBackend } from './forward.js';
import { DiskHost } from './host.js';
import { printDiagnostics, type Io } from './io.js';
import { emaChoice, PUBLISHED_NON_PARAMETERS, refuseMismatch, scheduleWarning, withEmaWeights } from './ld-weights.js';
import { openWeightsFile, readWeightsFile } from './weights-file.js';

/** The options `ldmc txt2img` takes (main.ts parses argv with this). */
export const TXT2IMG_ARGS: ArgSpec = {
  values: ['set', 'ckpt', 'prompt', 'negative', 'scale', 'steps', 'sampler', 'eta', 'H', 'W', 'n', 'seed', 'x-T', 'out', 'backend', 'threads'],
  flags: ['no-ema', 'no-frame'],
  short: { n: 'n', H: 'H', W: 'W' },
};

export type Txt2ImgSampler = 'ddim' | 'plms' | 'dpm';

export const TXT2IMG_DEFAULTS = { scale: 7.5, steps: DEFAULT_SAMPLE_STEPS, sampler: 'ddim', eta: 0, H: 512, W: 512, n: 1, seed: 42 } as const;

/** What the command line asks for, validated (before anything is compiled or loaded). */
export interface Txt2ImgSettings {
  readonly ckpt: string;
  readonly out: string;
  readonly prompt: string;
  /** undefined: the empty prompt, as the reference's uncond (`get_learned_conditioning(batch_size * [""])`). */
  readonly negative: string | undefined;
  readonly scale: number;
  readonly steps: number;
  readonly sampler: Txt2ImgSampler;
  readonly eta: number;
  readonly H: number;
  readonly W: number;
  readonly n: number;
  readonly seed: number;
  /** A safetensors file whose `x_T` [n, C, H/f, W/f] (NCHW) is the start code instead of seeded noise. */
  readonly xT: string | undefined;
  readonly ema: boolean;
  readonly threads: number | undefined;
}

export function parseTxt2ImgSettings(a: ParsedArgs): Txt2ImgSettings {
  const last = (k: string) => a.values[k]?.at(-1);
  const ckpt = last('ckpt'), out = last('out'), prompt = last('prompt');
  if (!ckpt) throw new UsageError('--ckpt is required (the Stable Diffusion checkpoint, .ckpt or .safetensors)');
  if (prompt === undefined) throw new UsageError('--prompt is required (the text to render)');
  if (!out) throw new UsageError('--out is required (the image to write, e.g. --out astronaut.png)');
  if (extname(out).toLowerCase() !== '.png') throw new UsageError(`--out '${out}' must name a .png file`);
  const sampler = last('sampler') ?? TXT2IMG_DEFAULTS.sampler;
  if (sampler !== 'ddim' && sampler !== 'plms' && sampler !== 'dpm') throw new UsageError(`--sampler must be ddim, plms or dpm, not '${sampler}'`);
  const int = (k: string, min: number, dflt: number): number => intOption(a, k, min) ?? dflt;
  const num = (k: string, min: number, dflt: number): number => numberOption(a, k, min) ?? dflt;
  const seed = int('seed', 0, TXT2IMG_DEFAULTS.seed);
  if (seed > 2 ** 31 - 1) throw new UsageError(`--seed must be below 2^31, not ${seed}`);
  const eta = num('eta', 0, TXT2IMG_DEFAULTS.eta);
  if (sampler !== 'ddim' && eta !== 0) throw new UsageError(`--eta must be 0 with --sampler ${sampler} (only DDIM adds noise)`);
  const steps = int('steps', 1, TXT2IMG_DEFAULTS.steps);
  if (sampler === 'dpm' && steps < 2) throw new UsageError('--sampler dpm (multistep, order 2) needs --steps 2 or more');
  const threads = intOption(a, 'threads', 1);
  return {
    ckpt,
    out,
    prompt,
    negative: last('negative'),
    scale: num('scale', 0, TXT2IMG_DEFAULTS.scale),
    steps,
    sampler,
    eta,
    H: int('H', 8, TXT2IMG_DEFAULTS.H),
    W: int('W', 8, TXT2IMG_DEFAULTS.W),
    n: int('n', 1, TXT2IMG_DEFAULTS.n),
    seed,
    xT: last('x-T'),
    ema: !a.flags.has('no-ema'),
    threads,
  };
}

/** What the CLIP text encoders offer (FrozenCLIPEmbedder, FrozenOpenCLIPEmbedder): prompts → context [B, 77, D]. */
interface PromptEncoder {
  encodeText(prompts: string[]): Tensor3D;
}

/** The cond stage as a prompt encoder, or undefined for a text cond stage without a tokenizer in ldmc (BERTEmbedder). */
function promptEncoder(m: unknown): PromptEncoder | undefined {
  return m !== null && typeof m === 'object' && typeof (m as Partial<PromptEncoder>).encodeText === 'function' ? (m as PromptEncoder) : undefined;
}

export async function txt2imgCommand(a: ParsedArgs, io: Io): Promise<number> {
  const s = parseTxt2ImgSettings(a);
  const backend = parseBackend(a);
  if (a.positionals.length === 0) throw new UsageError('no config file given (e.g. v1-inference.yaml for SD 1.x, v2-inference.yaml for SD 2.x)');
  const result = compile({ files: a.positionals, overrides: a.values.set ?? [] }, new DiskHost());
  if (result.hasErrors || !result.graph?.model) {
    printDiagnostics(result, a, io, io.out);
    if (!result.hasErrors) io.err(`ldmc: error: the config has no model: txt2img needs model.target: ${buildableWrapperIds().join(' or ')}`);
    return 1;
  }
  printDiagnostics(result, a, io, io.err);

  const model = result.graph.model;
  const Wrapper = wrapperClass(model.target);
  if (!Wrapper) {
    const can = buildableWrapperIds().map((id) => id.split('.').pop()!).join(' or ');
    throw new CliError(`the config's model is a ${className(model)}; ldmc txt2img draws from a ${can}`, 'use a Stable Diffusion inference config (v1-inference.yaml, v2-inference.yaml, v2-inference-v.yaml)');
  }
  const slots = diffusionSlots(model.spec);
  const cond = child(model, slots.condStage);
  const condStatics = cond?.spec.statics;
  if (!cond || condStatics?.family !== 'cond_stage' || condStatics.conditioning?.kind !== 'text') {
    throw new CliError(`the config's model is not conditioned on text (its cond stage is ${cond ? className(cond) : 'none'}): txt2img needs a text encoder such as FrozenCLIPEmbedder or FrozenOpenCLIPEmbedder`, 'sample unconditional and class-conditional models with ldmc sample');
  }
  // The compiler's facts: the first stage's factor f, and the UNet's levels (it halves the latent
  // once between each two), so a latent side must divide by 2^(levels − 1).
  const f = result.inference?.firstStage?.facts.downsamplingFactor ?? 1;
  const down = 2 ** ((result.inference?.unet?.facts.levels.length ?? 1) - 1);
  for (const [k, v] of [['H', s.H], ['W', s.W]] as const) {
    if (v % (f * down) !== 0) throw new UsageError(`--${k} ${v} must be a multiple of ${f * down} (the first stage's factor ${f} × the UNet's ${down}×${down} downsampling)`);
  }
  const latent: [number, number] = [s.H / f, s.W / f];
  const T = Number(model.params.timesteps);
  if (s.steps > T) throw new UsageError(`--steps ${s.steps} is more than the model's ${T} timesteps`);
  if (s.sampler === 'dpm' && model.params.parameterization === 'x0') throw new CliError("--sampler dpm runs eps and v models; this one predicts x0 (parameterization: x0)", 'use --sampler ddim or plms');

  const file = openWeightsFile(s.ckpt);
  const weights = file.tensors;
  let ld: LatentDiffusion | undefined;
  const held: Tensor[] = [];
  try {
    // The model holds one UNet (EMA or raw, never both): the EMA copies are not counted.
    const kept = [...weights].filter(([k]) => !k.startsWith('model_ema.')).map(([, t]) => t);
    const choice = backend ? { skip: [] } : backendsToSkipForWeights(float32Bytes(kept));
    if (choice.why) io.err(`ldmc: ${choice.why}`);
    await initBackend({ ...(backend ? { backend } : { skip: choice.skip }), ...(s.threads ? { threads: s.threads } : {}) });
    const params = resolvedNode(model).params as unknown as LatentDiffusionArgs;
    // Built without EMA shadows; with use_ema the shadows are read straight into the UNet.
    // Relative paths in params (a CLIP config.json folder, an open_clip model config) start at the config's directory, as in `ldmc check`.
    ld = new Wrapper({ ...params, use_ema: false }, { zeroInit: true, configDir: dirname(model.targetSpan.file) });
    const encoder = promptEncoder(ld.cond_stage_model);
    if (!encoder) throw new CliError(`the text encoder ${ld.cond_stage_model?.className ?? ''} has no tokenizer in ldmc: it cannot read prompts`, 'txt2img runs FrozenCLIPEmbedder (SD 1.x) and FrozenOpenCLIPEmbedder (SD 2.x) configs');
    const ema = emaChoice(params.use_ema !== false, weights, s.ckpt, !s.ema);
    const view = ema.use ? withEmaWeights(ld, weights) : weights;
    const ignoreKeys = [...PUBLISHED_NON_PARAMETERS];
    // Checked before anything is read: a checkpoint that does not fit is refused at once.
    refuseMismatch(ld, weights, ld.checkFull(view, { ignoreKeys }), s.ckpt);
    const warn = scheduleWarning(ld, weights);
    if (warn) io.err(`ldmc: warning: ${warn}`);
    ld.loadFull(view, { strict: true, ignoreKeys });
    file.close();
    io.err(`ldmc: weights ${ema.message}`);
    ld.eval();

    const xT = s.xT ? readStartCode(s.xT, [s.n, ld.args.channels, ...latent]) : undefined;
    if (xT) held.push(xT);
    const steps = sampleStepCount(ld, s.sampler, s.steps);
    io.err(`ldmc: txt2img: prompt ${JSON.stringify(s.prompt)}${s.negative !== undefined ? `, negative ${JSON.stringify(s.negative)}` : ''}`);
    io.err(`ldmc: ${describe(s, steps, ld)}, ${s.n} sample${s.n === 1 ? '' : 's'} of ${s.W}×${s.H} (latent [${ld.args.channels}, ${latent[0]}, ${latent[1]}]), ${xT ? `start code x_T from ${s.xT}` : `seed ${s.seed}`}`);
    if (s.scale === 1 && s.negative !== undefined) io.err('ldmc: warning: --negative is not used with --scale 1 (no classifier-free guidance)');

    // c = get_learned_conditioning(prompts); uc = get_learned_conditioning(n × [""]) when scale ≠ 1.
    const c = encoder.encodeText(Array<string>(s.n).fill(s.prompt));
    held.push(c);
    const uc = s.scale !== 1 ? encoder.encodeText(Array<string>(s.n).fill(s.negative ?? '')) : undefined;
    if (uc) held.push(uc);
    const progress = new Progress(io.progress, steps, { label: 'ldmc: sampling', unit: 'step' });
    const z = sampleLatents(ld, {
      batchSize: s.n,
      sampler: s.sampler,
      steps: s.steps,
      eta: s.eta,
      latentSize: latent,
      cond: c,
      ...(uc ? { scale: s.scale, uncond: uc } : {}),
      ...(xT ? { xT } : {}),
      noise: seededNoise(s.seed),
      onStep: (done) => progress.update(done),
    });
    held.push(z);
    progress.done();
    // The UNet and the text encoder are done with: freeing them before decoding (SD 1.x: 3.9 GB
    // of float32 weights) lets the first stage's full-resolution activations (2.7 GB at 512²)
    // take their place, instead of raising the process's peak by that much.
    ld.model.dispose();
    ld.cond_stage_model?.dispose();
    const x = ld.decodeFirstStage(z);
    held.push(x);
    // txt2img.py: clamp((x + 1)/2, 0, 1), 255·x, astype(uint8) (truncating); the grid is make_grid
    // with nrow = n_samples (one row), padding 2; one sample is the image itself.
    const images = toUint8Images(x, { rounding: 'down' });
    const grid = makeGrid(images, { nrow: s.n, padding: 2 });
    await writePng(resolve(s.out), grid, { text: pngText(s, result.files) });
    io.out(`wrote ${s.out}: ${s.n === 1 ? `${s.W}×${s.H} image` : `${grid.shape[1]}×${grid.shape[0]} grid of ${s.n} samples (${s.W}×${s.H}), one row`}`);
    return 0;
  } finally {
    file.close();
    tf.dispose(held);
    ld?.dispose();
  }
}

function describe(s: Txt2ImgSettings, steps: number, ld: LatentDiffusion): string {
  const sampler = s.sampler === 'dpm' ? 'dpm (DPM-Solver++ 2M)' : s.sampler;
  const guidance = s.scale === 1 ? 'no guidance (scale 1)' : `guidance scale ${s.scale}`;
  return `sampler ${sampler}, ${steps} steps${s.sampler === 'ddim' ? `, eta ${s.eta}` : ''}, ${guidance}, ${ld.ddpm.parameterization}-prediction`;
}

/** The PNG's text chunks: what it takes to run it again. */
function pngText(s: Txt2ImgSettings, configs: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [['prompt', s.prompt]];
  if (s.negative !== undefined) out.push(['negative_prompt', s.negative]);
  out.push(
    ['sampler', s.sampler],
    ['steps', String(s.steps)],
    ['scale', String(s.scale)],
    ['eta', String(s.eta)],
    ['size', `${s.W}x${s.H}`],
    ['n', String(s.n)],
    s.xT ? ['x_T', basename(s.xT)] : ['seed', String(s.seed)],
    ['config', configs.map((c) => basename(c)).join(' ')],
    ['ckpt', basename(s.ckpt)],
    ['software', 'ldmc txt2img'],
  );
  return out;
}

/** The start code: tensor `x_T` of a safetensors file, NCHW as the reference's start_code, → NHWC. */
function readStartCode(path: string, nchw: readonly [number, number, number, number]): Tensor4D {
  const tensors = readWeightsFile(path);
  const t = tensors.get('x_T');
  if (!t) throw new CliError(`'${path}' has no tensor named x_T (it has ${[...tensors.keys()].slice(0, 5).join(', ') || 'none'})`, `save the start code as {"x_T": start_code} with safetensors, shape [n, C, H/f, W/f] = [${nchw.join(', ')}]`);
  if (t.shape.join() !== nchw.join()) throw new CliError(`'${path}': x_T has shape [${t.shape.join(', ')}], but -n ${nchw[0]} at this --H/--W needs [${nchw.join(', ')}] (NCHW)`, 'match -n, --H and --W to the start code');
  return tf.tidy(() => tf.transpose(tf.tensor(Float32Array.from(t.data as ArrayLike<number>), [...nchw]), [0, 2, 3, 1]) as Tensor4D);
}
