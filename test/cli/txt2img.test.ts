// `ldmc txt2img` as a user runs it: real processes on miniature SD 1.x and SD 2.x (v) models
// (test/fixtures/txt2img), whose checkpoints are written here as published ones are: a Lightning
// .ckpt or a flat .safetensors, float32 / float16 / bfloat16, HF CLIP's int64 position_ids, the
// schedule buffers, with and without LitEma's model_ema.* keys. wasm backend, one thread.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { compile } from '../../compiler/program.js';
import { resolvedNode } from '../../compiler/resolved.js';
import { initBackend } from '../../runtime/backend.js';
import { LatentDiffusion, type LatentDiffusionArgs } from '../../runtime/diffusion/latent-diffusion.js';
import { readPng, readPngText } from '../../runtime/images/index.js';
import { serializeSafetensors } from '../../runtime/weights/safetensors.js';
import { diskHost } from '../support/compile.js';
import { repoRoot } from '../support/reference.js';
import { writeSdCkpt, writeSdSafetensors, type SdTensor } from '../support/sd-checkpoint.js';

const bin = join(repoRoot, 'bin', 'ldmc.js');
const fixture = (f: string) => join(repoRoot, 'test', 'fixtures', 'txt2img', f);

function ldmc(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

type Sd = Map<string, SdTensor>;

/** A small deterministic perturbation, so zero-initialised layers (the UNet's out.2, proj_out) do something. */
const nudge = (t: SdTensor, phase: number): SdTensor => ({ shape: t.shape, data: Float32Array.from(t.data as Float32Array, (v, i) => v + 0.05 * Math.sin(12.9898 * i + phase)) });
const shadowKey = (k: string) => `model_ema.${k.slice('model.'.length).replaceAll('.', '')}`;

/** The full state_dict of a freshly built model of `config`, with the UNet nudged by `phase`. */
function stateDictOf(config: string, phase = 0): Sd {
  const r = compile({ files: [config], overrides: [] }, diskHost);
  expect(r.hasErrors, JSON.stringify(r.diagnostics)).to.equal(false);
  const ld = new LatentDiffusion(resolvedNode(r.graph!.model!).params as unknown as LatentDiffusionArgs, { configDir: dirname(config) });
  const sd: Sd = new Map();
  for (const [k, t] of ld.fullStateDict()) sd.set(k, k.startsWith('model.') ? nudge(t, phase) : t);
  ld.dispose();
  return sd;
}

describe('ldmc txt2img', function () {
  this.timeout(300000);
  let dir: string;
  let sd1: Sd;
  const p = (name: string) => join(dir, name);
  const sd1Config = fixture('tiny-sd1.yaml'), sd2Config = fixture('tiny-sd2-v.yaml');
  const run = (config: string, ckpt: string, out: string, ...more: string[]) =>
    ldmc(['txt2img', config, '--ckpt', ckpt, '--prompt', 'a red cube on a table', '--H', '16', '--W', '16', '--steps', '4', '--backend', 'wasm', '--threads', '1', '--out', out, ...more]);
  const bytes = (f: string) => readFileSync(f);
  const noStack = (err: string) => expect(err).not.to.match(/\n\s+at .+:\d+:\d+/);

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'ldmc-txt2img-'));
    await initBackend({ backend: 'cpu', quiet: true });
    sd1 = stateDictOf(sd1Config);
    // HF CLIP's position_ids buffer (int64), as SD 1.x checkpoints carry it
    sd1.set('cond_stage_model.transformer.text_model.embeddings.position_ids', { shape: [1, 77], data: BigInt64Array.from({ length: 77 }, (_, i) => BigInt(i)) });
    writeSdCkpt(p('sd1.ckpt'), sd1, 'F32');
    writeSdSafetensors(p('sd1-f16.safetensors'), sd1, 'F16');
    writeSdCkpt(p('sd1-bf16.ckpt'), sd1, 'BF16');
    writeSdCkpt(p('sd1-f16.ckpt'), sd1, 'F16');
    writeSdSafetensors(p('sd1-bf16.safetensors'), sd1, 'BF16');
    const sd2 = stateDictOf(sd2Config, 2);
    // some SD 2.x exports carry open_clip's non-persistent attn_mask
    sd2.set('cond_stage_model.model.attn_mask', { shape: [77, 77], data: new Float32Array(77 * 77) });
    writeSdSafetensors(p('sd2.safetensors'), sd2, 'F32');
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the PNG (n samples in a row), prints the settings and per-step progress, and stores prompt and settings in text chunks', async function () {
    const r = run(sd1Config, p('sd1.ckpt'), p('a.png'), '-n', '2', '--negative', 'blurry');
    expect(r.code, r.err).to.equal(0);
    expect(r.err).to.include('prompt "a red cube on a table", negative "blurry"');
    expect(r.err).to.include('sampler ddim, 4 steps, eta 0, guidance scale 7.5, eps-prediction, 2 samples of 16×16 (latent [4, 8, 8]), seed 42');
    expect(r.err).to.match(/step 4\/4/);
    expect(r.err).to.include('(no EMA weights in it)');
    expect(r.out).to.include(`wrote ${p('a.png')}: 38×20 grid of 2 samples (16×16), one row`);
    const img = await readPng(p('a.png'));
    // make_grid of 2 images of 16×16, nrow 2, padding 2: 20 × 38, RGB
    expect(img.shape).to.deep.equal([16 + 4, 2 * 18 + 2, 3]);
    const text = readPngText(bytes(p('a.png')));
    expect(text.get('prompt')).to.equal('a red cube on a table');
    expect(text.get('negative_prompt')).to.equal('blurry');
    expect(Object.fromEntries([...text].filter(([k]) => ['sampler', 'steps', 'scale', 'eta', 'size', 'n', 'seed'].includes(k)))).to.deep.equal({ sampler: 'ddim', steps: '4', scale: '7.5', eta: '0', size: '16x16', n: '2', seed: '42' });
    noStack(r.err);
  });

  it('is deterministic for a seed (same bytes), differs with another seed, and a given x_T equal to the seeded noise gives the same image', async function () {
    const a = run(sd1Config, p('sd1.ckpt'), p('s1.png'), '--seed', '7');
    const b = run(sd1Config, p('sd1.ckpt'), p('s2.png'), '--seed', '7');
    const c = run(sd1Config, p('sd1.ckpt'), p('s3.png'), '--seed', '8');
    for (const r of [a, b, c]) expect(r.code, r.err).to.equal(0);
    expect(bytes(p('s1.png')).equals(bytes(p('s2.png')))).to.equal(true);
    expect(bytes(p('s1.png')).equals(bytes(p('s3.png')))).to.equal(false);
    // the seeded start code (seededNoise: draw 0 uses the seed itself), saved NCHW as x_T
    const xT = tf.tidy(() => tf.transpose(tf.randomNormal([1, 8, 8, 4], 0, 1, 'float32', 7), [0, 3, 1, 2]));
    writeFileSync(p('xT.safetensors'), serializeSafetensors({ x_T: { shape: [1, 4, 8, 8], data: xT.dataSync() as Float32Array } }));
    xT.dispose();
    const x = run(sd1Config, p('sd1.ckpt'), p('x.png'), '--x-T', p('xT.safetensors'));
    expect(x.code, x.err).to.equal(0);
    expect(x.err).to.include(`start code x_T from ${p('xT.safetensors')}`);
    const px = await readPng(p('x.png')), p1 = await readPng(p('s1.png'));
    expect(Buffer.from(px.data).equals(Buffer.from(p1.data))).to.equal(true);
    expect(readPngText(bytes(p('x.png'))).get('x_T')).to.equal('xT.safetensors');
    const wrong = run(sd1Config, p('sd1.ckpt'), p('x2.png'), '--x-T', p('xT.safetensors'), '-n', '2');
    expect(wrong.code).to.equal(1);
    expect(wrong.err).to.include('x_T has shape [1, 4, 8, 8], but -n 2 at this --H/--W needs [2, 4, 8, 8]');
  });

  it('reads float16 and bfloat16 checkpoints (.safetensors and .ckpt) to images close to the float32 one', async function () {
    const ref = run(sd1Config, p('sd1.ckpt'), p('f32.png'));
    expect(ref.code, ref.err).to.equal(0);
    const base = await readPng(p('f32.png'));
    for (const [file, tol] of [['sd1-f16.safetensors', 3], ['sd1-f16.ckpt', 3], ['sd1-bf16.ckpt', 12], ['sd1-bf16.safetensors', 12]] as const) {
      const out = p(`${file}.png`);
      const r = run(sd1Config, p(file), out);
      expect(r.code, `${file}: ${r.err}`).to.equal(0);
      const img = await readPng(out);
      let sum = 0;
      for (let i = 0; i < img.data.length; i++) sum += Math.abs(img.data[i]! - base.data[i]!);
      const mean = sum / img.data.length;
      expect(mean, `${file}: mean |Δ| ${mean}`).to.be.below(tol);
      // and not the same bytes: the weights really were rounded
      if (file.includes('bf16')) expect(mean, file).to.be.above(0);
    }
  });

  it('uses model_ema.* (LitEma names) with use_ema true and ignores them with use_ema false', async function () {
    // raw UNet = nudge phase 0 (sd1), EMA shadows = phase 1; "swapped" has the shadows as raw weights
    const shadows = stateDictOf(sd1Config, 1);
    const withEma: Sd = new Map(sd1), swapped: Sd = new Map(sd1);
    for (const [k, t] of shadows) {
      if (!k.startsWith('model.')) continue;
      withEma.set(shadowKey(k), t);
      swapped.set(k, t);
    }
    withEma.set('model_ema.decay', { shape: [], data: new Float32Array([0.9999]) });
    withEma.set('model_ema.num_updates', { shape: [], data: new BigInt64Array([1234n]) });
    writeSdSafetensors(p('ema.safetensors'), withEma, 'F32');
    writeSdSafetensors(p('swapped.safetensors'), swapped, 'F32');
    const useEma = ['--set', 'model.params.use_ema=true'];
    const ema = run(sd1Config, p('ema.safetensors'), p('ema.png'), ...useEma);
    const noEma = run(sd1Config, p('ema.safetensors'), p('no-ema.png'));
    const swap = run(sd1Config, p('swapped.safetensors'), p('swapped.png'));
    const raw = run(sd1Config, p('sd1.ckpt'), p('raw.png'));
    for (const r of [ema, noEma, swap, raw]) expect(r.code, r.err).to.equal(0);
    expect(ema.err).to.include('EMA (model_ema.*, 1234 updates');
    expect(noEma.err).to.include('the raw weights (the config sets use_ema: false)');
    const pix = async (f: string) => Buffer.from((await readPng(p(f))).data);
    expect((await pix('ema.png')).equals(await pix('swapped.png'))).to.equal(true);
    expect((await pix('no-ema.png')).equals(await pix('raw.png'))).to.equal(true);
    expect((await pix('ema.png')).equals(await pix('raw.png'))).to.equal(false);
  });

  it('runs an SD 2.x-layout v-model with every sampler (dpm, plms, ddim), and scale 1 without the unconditional pass', async function () {
    for (const sampler of ['dpm', 'plms', 'ddim'] as const) {
      const r = run(sd2Config, p('sd2.safetensors'), p(`v-${sampler}.png`), '--sampler', sampler, '--scale', '9');
      expect(r.code, `${sampler}: ${r.err}`).to.equal(0);
      expect(r.err).to.include(`sampler ${sampler}`);
      expect(r.err).to.include('v-prediction');
      expect(r.err).to.match(/step 4\/4/);
      expect((await readPng(p(`v-${sampler}.png`))).shape).to.deep.equal([16, 16, 3]);
    }
    const one = run(sd2Config, p('sd2.safetensors'), p('v-1.png'), '--scale', '1', '--negative', 'x');
    expect(one.code, one.err).to.equal(0);
    expect(one.err).to.include('no guidance (scale 1)');
    expect(one.err).to.include('--negative is not used with --scale 1');
    expect(bytes(p('v-dpm.png')).equals(bytes(p('v-ddim.png')))).to.equal(false);
  });

  it('refuses a checkpoint that does not fit the config, naming the keys (with shapes) and the SD version it looks like', function () {
    const r = run(sd1Config, p('sd2.safetensors'), p('bad.png'));
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/ldmc: error: '.*sd2\.safetensors' does not fit the config: \d+ keys disagree \(\d+ missing, \d+ unexpected/);
    expect(r.err).to.match(/missing from the checkpoint: cond_stage_model\.transformer\.text_model\.\S+ \[[\d, ]+\]/);
    expect(r.err).to.match(/not in the config: cond_stage_model\.model\.\S+ \[[\d, ]+\]/);
    expect(r.err).to.include("help: the checkpoint is an SD 2.x one (OpenCLIP text encoder, cond_stage_model.model.*) but the config's text encoder is FrozenCLIPEmbedder (SD 1.x): use v2-inference.yaml");
    noStack(r.err);
    // a UNet of another width: shape mismatches, with both shapes, and the generic hint
    const wide = run(sd1Config, p('sd1.ckpt'), p('bad.png'), '--set', 'model.params.unet_config.params.model_channels=64');
    expect(wide.code).to.equal(1);
    expect(wide.err).to.match(/model\.diffusion_model\.time_embed\.0\.weight: config \[256, 64\], checkpoint \[128, 32\]/);
    expect(wide.err).to.match(/\(285 of another shape\)[^]*… \(281 more of another shape\)/);
    expect(wide.err).to.include('help: wrong config for this checkpoint?');
  });

  it('explains bad options without a stack trace', function () {
    const cases: Array<[string[], RegExp]> = [
      [['--H', '18'], /--H 18 must be a multiple of 4/],
      [['--sampler', 'euler'], /--sampler must be ddim, plms or dpm, not 'euler'/],
      [['--sampler', 'dpm', '--steps', '1'], /needs --steps 2 or more/],
      [['--sampler', 'plms', '--eta', '0.5'], /--eta must be 0 with --sampler plms/],
      [['--steps', '1001'], /--steps 1001 is more than the model's 1000 timesteps/],
    ];
    for (const [more, re] of cases) {
      const r = run(sd1Config, p('sd1.ckpt'), p('bad.png'), ...more);
      expect(r.code, more.join(' ')).to.equal(2);
      expect(r.err).to.match(re);
      noStack(r.err);
    }
    const noPrompt = ldmc(['txt2img', sd1Config, '--ckpt', p('sd1.ckpt'), '--out', p('x.png')]);
    expect(noPrompt.code).to.equal(2);
    expect(noPrompt.err).to.include('--prompt is required');
    const typo = ldmc(['txt2im', sd1Config]);
    expect(typo.code).to.equal(2);
    expect(typo.err).to.include("unknown command 'txt2im' (did you mean 'txt2img'?)");
    const help = ldmc(['--help']);
    expect(help.out).to.include('ldmc txt2img CONFIG... --ckpt CKPT --prompt TEXT --out FILE.png [--negative TEXT] [--scale 7.5]');
    expect(help.out).to.include('[--sampler ddim|plms|dpm]');
  });
});
