// Parity of the first-stage models with CompVis/latent-diffusion (shared/reference/parity:
// vq_tiny, kl_tiny), on the cpu and wasm backends. Tolerances come from summary.json's
// float32-vs-float64 differences: an output may differ from torch's float32 result by a few
// times the rounding noise torch itself shows, and by no less than 2e-5.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { AutoencoderKL, VQModelInterface, type Tap } from '../../runtime/autoencoder/index.js';
import type { AutoencoderKLArgs, VQModelArgs } from '../../runtime/autoencoder/args.js';
import { parseSafetensors, type RawTensor } from '../../runtime/weights/safetensors.js';
import { loadStateDict, stateDict } from '../../runtime/weights/state-dict.js';
import { BACKEND_PATHS, onBackendPath } from '../support/backend-paths.js';
import { referencePath, requireReference } from '../support/reference.js';

const VQ_ARGS: VQModelArgs = {
  embed_dim: 3, n_embed: 64, lossconfig: { target: 'torch.nn.Identity' },
  ddconfig: { double_z: false, z_channels: 3, resolution: 16, in_channels: 3, out_ch: 3, ch: 32, ch_mult: [1, 2], num_res_blocks: 1, attn_resolutions: [8], dropout: 0 },
};
const KL_ARGS: AutoencoderKLArgs = {
  embed_dim: 4, lossconfig: { target: 'torch.nn.Identity' },
  ddconfig: { double_z: true, z_channels: 4, resolution: 16, in_channels: 3, out_ch: 3, ch: 32, ch_mult: [1, 2], num_res_blocks: 1, attn_resolutions: [8], dropout: 0 },
};

function load(name: string): Map<string, RawTensor> {
  return parseSafetensors(readFileSync(referencePath('parity', name))).tensors;
}

/** NCHW reference tensor → NHWC tfjs tensor. */
function nhwc(t: RawTensor): Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor(Float32Array.from(t.data), [...t.shape]), [0, 2, 3, 1]) as unknown as Tensor4D);
}

/** NHWC (or any non-image) result → values in the reference's layout. */
function torchLayout(t: Tensor): Float32Array {
  return tf.tidy(() => (t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t).dataSync() as Float32Array);
}

interface Summary { [model: string]: { max_abs_diff_f32_vs_f64: Record<string, number> } }

const errors: Record<string, Record<string, number>> = {};

function compare(model: string, backend: string, key: string, got: Tensor, expected: RawTensor, summary: Summary): void {
  const a = torchLayout(got);
  const shape = got.rank === 4 ? [got.shape[0], got.shape[3], got.shape[1], got.shape[2]] : got.shape;
  if (key !== 'emb_loss') expect(shape, `${key} shape`).to.deep.equal([...expected.shape]);
  expect(a.length, `${key} size`).to.equal(expected.data.length);
  let err = 0;
  for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i]! - Number(expected.data[i])));
  (errors[`${model}/${backend}`] ??= {})[key] = err;
  const noise = summary[model]!.max_abs_diff_f32_vs_f64[key] ?? 1e-5;
  const tol = Math.max(2e-5, 8 * noise);
  expect(err, `${model} ${key} on ${backend}: max abs error ${err.toExponential(2)} > ${tol.toExponential(2)}`).to.be.at.most(tol);
}

/** Records tapped intermediates under the reference's 'inter.<module path>' names. */
function recorder(prefix: string, into: Map<string, Tensor>): Tap {
  return (name, t) => { into.get(`inter.${prefix}.${name}`)?.dispose(); into.set(`inter.${prefix}.${name}`, tf.keep(tf.clone(t))); };
}

function checkStateDictRoundTrip(model: VQModelInterface | AutoencoderKL, weights: Map<string, RawTensor>): void {
  const sd = stateDict(model);
  expect([...sd.keys()].sort()).to.deep.equal([...weights.keys()].sort());
  for (const [k, t] of sd) {
    const w = weights.get(k)!;
    expect(t.shape, k).to.deep.equal([...w.shape]);
    expect(Buffer.from(t.data.buffer).equals(Buffer.from((w.data as Float32Array).buffer)), `${k} round-trips bit for bit`).to.equal(true);
  }
}

for (const path of BACKEND_PATHS) {
  const backend = path.label;
  describe(`runtime/autoencoder parity with latent-diffusion (${backend})`, function () {
    this.timeout(120000);
    let summary: Summary;

    before(function () {
      requireReference(this, 'parity', 'vq_tiny.weights.safetensors');
      summary = JSON.parse(readFileSync(referencePath('parity', 'summary.json'), 'utf8')) as Summary;
    });
    onBackendPath(path);

    it('vq_tiny: encoder_out, h, quant, indices, emb_loss, decoded, decoded_no_quantize (+ intermediates)', function () {
      requireReference(this, 'parity', 'vq_tiny.expected.safetensors');
      const weights = load('vq_tiny.weights.safetensors'), inputs = load('vq_tiny.inputs.safetensors'), exp = load('vq_tiny.expected.safetensors');
      const model = new VQModelInterface(VQ_ARGS);
      loadStateDict(model, weights);
      checkStateDictRoundTrip(model, weights);
      const inter = new Map<string, Tensor>();
      tf.tidy(() => {
        const x = nhwc(inputs.get('x')!);
        const encOut = model.encoder.forward(x, recorder('encoder', inter));
        compare('vq_tiny', backend, 'encoder_out', encOut, exp.get('encoder_out')!, summary);
        const h = model.encode(x);
        compare('vq_tiny', backend, 'h', h, exp.get('h')!, summary);
        const q = model.quantize.forward(h);
        compare('vq_tiny', backend, 'quant', q.zq, exp.get('quant')!, summary);
        const idx = Array.from(q.indices.dataSync());
        expect(idx, 'indices exactly equal').to.deep.equal(Array.from(exp.get('indices')!.data));
        (errors[`vq_tiny/${backend}`] ??= {}).indices = 0;
        compare('vq_tiny', backend, 'emb_loss', q.loss, exp.get('emb_loss')!, summary);
        compare('vq_tiny', backend, 'decoded', model.decode(h), exp.get('decoded')!, summary);
        // The reference recorded inter.decoder.* during this last decode.
        const hz = model.post_quant_conv.forward(h);
        compare('vq_tiny', backend, 'decoded_no_quantize', model.decoder.forward(hz, recorder('decoder', inter)), exp.get('decoded_no_quantize')!, summary);
        const viaForward = model.forward(x);
        compare('vq_tiny', backend, 'decoded', viaForward.dec, exp.get('decoded')!, summary);
      });
      for (const [k, t] of inter) {
        expect(exp.has(k), `reference has ${k}`).to.equal(true);
        compare('vq_tiny', backend, k, t, exp.get(k)!, summary);
      }
      expect([...exp.keys()].filter((k) => k.startsWith('inter.') && !inter.has(k))).to.deep.equal([]);
      tf.dispose([...inter.values()]);
      model.dispose();
    });

    it('kl_tiny: encoder_out, moments, mean, logvar, std, z_sample, decoded_mode, decoded_sample, kl (+ intermediates)', function () {
      requireReference(this, 'parity', 'kl_tiny.expected.safetensors');
      const weights = load('kl_tiny.weights.safetensors'), inputs = load('kl_tiny.inputs.safetensors'), exp = load('kl_tiny.expected.safetensors');
      const model = new AutoencoderKL(KL_ARGS);
      loadStateDict(model, weights);
      checkStateDictRoundTrip(model, weights);
      const inter = new Map<string, Tensor>();
      tf.tidy(() => {
        const x = nhwc(inputs.get('x')!), eps = nhwc(inputs.get('eps')!);
        compare('kl_tiny', backend, 'encoder_out', model.encoder.forward(x, recorder('encoder', inter)), exp.get('encoder_out')!, summary);
        const post = model.encode(x);
        compare('kl_tiny', backend, 'moments', post.parameters, exp.get('moments')!, summary);
        compare('kl_tiny', backend, 'mean', post.mean, exp.get('mean')!, summary);
        compare('kl_tiny', backend, 'logvar', post.logvar, exp.get('logvar')!, summary);
        compare('kl_tiny', backend, 'std', post.std, exp.get('std')!, summary);
        const z = post.sample(eps);
        compare('kl_tiny', backend, 'z_sample', z, exp.get('z_sample')!, summary);
        compare('kl_tiny', backend, 'kl', post.kl(), exp.get('kl')!, summary);
        compare('kl_tiny', backend, 'decoded_mode', model.decode(post.mode()), exp.get('decoded_mode')!, summary);
        const zz = model.post_quant_conv.forward(z);
        compare('kl_tiny', backend, 'decoded_sample', model.decoder.forward(zz, recorder('decoder', inter)), exp.get('decoded_sample')!, summary);
        const fwd = model.forward(x, true, eps);
        compare('kl_tiny', backend, 'decoded_sample', fwd.dec, exp.get('decoded_sample')!, summary);
        fwd.posterior.dispose();
        post.dispose();
      });
      for (const [k, t] of inter) {
        expect(exp.has(k), `reference has ${k}`).to.equal(true);
        compare('kl_tiny', backend, k, t, exp.get(k)!, summary);
      }
      expect([...exp.keys()].filter((k) => k.startsWith('inter.') && !inter.has(k))).to.deep.equal([]);
      tf.dispose([...inter.values()]);
      model.dispose();
    });

    after(function () {
      if (process.env.LDMC_PARITY_REPORT) {
        for (const [k, v] of Object.entries(errors)) {
          if (!k.endsWith(`/${backend}`)) continue;
          const main = Object.entries(v).filter(([n]) => !n.startsWith('inter.')).map(([n, e]) => `${n} ${e.toExponential(1)}`);
          const worstInter = Math.max(0, ...Object.entries(v).filter(([n]) => n.startsWith('inter.')).map(([, e]) => e));
          process.stdout.write(`      ${k}: ${main.join(', ')}; worst inter ${worstInter.toExponential(1)}\n`);
        }
      }
    });
  });
}
