// First-stage models without reference data: structure (state_dict names, parameter counts as
// latent-diffusion reports them), options, gradients, and a .ckpt → model round trip.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import {
  AutoencoderKL, DiagonalGaussianDistribution, Decoder, Encoder, VQModel, VQModelInterface, type DDConfig,
} from '../../runtime/autoencoder/index.js';
import { readTorchCheckpoint, selectPrefix } from '../../runtime/weights/ckpt.js';
import { loadStateDict, stateDict } from '../../runtime/weights/state-dict.js';
import { writeCheckpoint } from './ckpt-writer.js';
import { autoencoderFacts, ddconfigDefaults } from '../../schema/facts/autoencoder.js';

const DD: DDConfig = { double_z: false, z_channels: 3, resolution: 16, in_channels: 3, out_ch: 3, ch: 32, ch_mult: [1, 2], num_res_blocks: 1, attn_resolutions: [8], dropout: 0 };

const maxAbs = (a: Tensor, b: Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

describe('runtime/autoencoder', function () {
  this.timeout(60000);
  before(async () => { await initBackend({ backend: 'cpu', quiet: true }); });

  it('VQModelInterface / AutoencoderKL have latent-diffusion\'s parameter counts and key order', () => {
    const vq = new VQModelInterface({ ddconfig: DD, n_embed: 64, embed_dim: 3 });
    expect(vq.paramCount()).to.equal(705342); // summary.json vq_tiny.params
    const names = vq.paramEntries().map((p) => p.name);
    expect(names.length).to.equal(155);
    expect(names.slice(0, 4)).to.deep.equal(['encoder.conv_in.weight', 'encoder.conv_in.bias', 'encoder.down.0.block.0.norm1.weight', 'encoder.down.0.block.0.norm1.bias']);
    expect(names).to.include.members(['encoder.down.0.downsample.conv.weight', 'encoder.down.1.attn.0.q.weight', 'encoder.mid.attn_1.proj_out.bias',
      'encoder.down.1.block.0.nin_shortcut.weight', 'decoder.up.1.attn.1.k.weight', 'decoder.up.1.upsample.conv.weight',
      'decoder.up.0.block.0.nin_shortcut.weight', 'quantize.embedding.weight', 'quant_conv.weight', 'post_quant_conv.bias']);
    expect(names.some((n) => n.startsWith('decoder.up.0.attn') || n.startsWith('decoder.up.0.upsample'))).to.equal(false);
    const kl = new AutoencoderKL({ ddconfig: { ...DD, double_z: true, z_channels: 4 }, embed_dim: 4 });
    expect(kl.paramCount()).to.equal(708679); // summary.json kl_tiny.params
    expect(() => new AutoencoderKL({ ddconfig: DD, embed_dim: 4 })).to.throw(/double_z must be true/);
    expect(() => new VQModelInterface({ ddconfig: DD, n_embed: 8, embed_dim: 3, remap: 'used.npy' })).to.throw(/remap .* not supported yet/);
    vq.dispose(); kl.dispose();
  });

  it('shapes, attn_type none / linear, give_pre_end, tanh_out, avg-pool downsampling', () => {
    tf.tidy(() => {
      const x = tf.randomUniform([2, 16, 16, 3], -1, 1) as Tensor4D;
      for (const extra of [{ attn_type: 'none' as const }, { use_linear_attn: true }, { resamp_with_conv: false }]) {
        const enc = new Encoder({ ...DD, ...extra }), dec = new Decoder({ ...DD, ...extra });
        const z = enc.forward(x);
        expect(z.shape).to.deep.equal([2, 8, 8, 3]);
        expect(dec.forward(z).shape).to.deep.equal([2, 16, 16, 3]);
        if ('attn_type' in extra) expect(enc.paramEntries().some((p) => p.name.includes('attn'))).to.equal(false);
        if ('use_linear_attn' in extra) expect(enc.paramEntries().map((p) => p.name)).to.include('mid.attn_1.to_qkv.weight');
        enc.dispose(); dec.dispose();
      }
      const pre = new Decoder({ ...DD, give_pre_end: true });
      expect(pre.forward(tf.zeros([1, 8, 8, 3]) as Tensor4D).shape).to.deep.equal([1, 16, 16, 32]);
      const th = new Decoder({ ...DD, tanh_out: true });
      const y = th.forward(tf.mul(tf.randomNormal([1, 8, 8, 3]), 10) as Tensor4D);
      expect(tf.max(tf.abs(y)).dataSync()[0]).to.be.at.most(1);
      expect(th.zShape).to.deep.equal([1, 3, 8, 8]);
      pre.dispose(); th.dispose();
    });
  });

  it('runs on images of another side than ddconfig.resolution, with the shapes and parameters its facts give for that side', () => {
    // A LatentDiffusion runs its first stage at image_size × f (SD: 512px through a VAE that records
    // 256); resolution only places the attention levels.
    const facts = autoencoderFacts({ kind: 'vq', ddconfig: { ...ddconfigDefaults, ...DD }, embed_dim: 3, n_embed: 64 }, { inputSide: 32 });
    const vq = new VQModelInterface({ ddconfig: DD, n_embed: 64, embed_dim: 3 });
    tf.tidy(() => {
      const h = vq.encode(tf.randomUniform([1, 32, 32, 3], -1, 1) as Tensor4D);
      expect(h.shape.slice(1)).to.deep.equal([facts.latentShape[1], facts.latentShape[2], facts.latentShape[0]]);
      expect(vq.decode(h).shape.slice(1)).to.deep.equal([facts.outputShape[1], facts.outputShape[2], facts.outputShape[0]]);
    });
    expect(vq.paramCount()).to.equal(facts.paramCount);
    vq.dispose();
  });

  it('VectorQuantizer: nearest codes, straight-through gradient to the encoder, codebook gradient', () => {
    const vq = new VQModel({ ddconfig: DD, n_embed: 16, embed_dim: 3 });
    const x = tf.randomUniform([1, 8, 8, 3], -1, 1) as Tensor4D; // small: the cpu backward is slow
    const { quant, indices, embLoss } = vq.encode(x);
    const h = vq.encodeToPrequant(x);
    // each quantized vector is its code's row, and no other code is closer
    const table = vq.quantize.weight.arraySync() as number[][];
    const hv = h.arraySync()[0]!.flat(), qv = quant.arraySync()[0]!.flat(), idx = Array.from(indices.dataSync());
    const d2 = (a: number[], b: number[]): number => a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0);
    idx.forEach((k, i) => {
      expect(qv[i]).to.deep.equal(table[k]);
      for (const row of table) expect(d2(hv[i]!, table[k]!)).to.be.at.most(d2(hv[i]!, row) + 1e-5);
    });
    // legacy loss: (1 + β)·mean((zq − z)²) in value
    expect(embLoss.dataSync()[0]).to.be.closeTo(1.25 * tf.mean(tf.square(tf.sub(quant, h))).dataSync()[0]!, 1e-6);
    const grads = tf.variableGrads(() => { const r = vq.forward(x); return tf.add(tf.sum(r.dec), r.diff) as tf.Scalar; });
    expect(Object.keys(grads.grads).length).to.equal(vq.parameters().length);
    const gNorm = (v: tf.Variable): number => tf.sum(tf.abs(grads.grads[v.name]!)).dataSync()[0]!;
    expect(gNorm(vq.encoder.conv_in.weight)).to.be.above(0); // through the straight-through estimator
    expect(gNorm(vq.quantize.weight)).to.be.above(0);
    tf.dispose([x, quant, indices, embLoss, h, grads.value, ...Object.values(grads.grads)]);
    vq.dispose();
  });

  it('DiagonalGaussianDistribution: clamp, sample from eps, kl to N(0,I) and to another, deterministic', () => {
    tf.tidy(() => {
      const mean = tf.randomNormal([2, 3, 3, 2]) as Tensor4D;
      const logvar = tf.concat([tf.fill([2, 1, 3, 2], 40), tf.fill([2, 1, 3, 2], -50), tf.randomNormal([2, 1, 3, 2])], 1);
      const p = new DiagonalGaussianDistribution(tf.concat([mean, logvar], -1) as Tensor4D);
      expect(tf.max(p.logvar).dataSync()[0]).to.equal(20);
      expect(tf.min(p.logvar).dataSync()[0]).to.equal(-30);
      const eps = tf.randomNormal(mean.shape) as Tensor4D;
      expect(maxAbs(p.sample(eps), tf.add(p.mean, tf.mul(p.std, eps)))).to.equal(0);
      const kl = p.kl();
      const want = tf.mul(0.5, tf.sum(tf.sub(tf.sub(tf.add(tf.square(p.mean), tf.exp(p.logvar)), 1), p.logvar), [1, 2, 3]));
      expect(maxAbs(kl, want)).to.be.below(1e-3 * Math.max(1, tf.max(tf.abs(want)).dataSync()[0]!));
      expect(maxAbs(p.kl(p), tf.zeros([2]))).to.be.below(1e-4);
      const d = new DiagonalGaussianDistribution(tf.concat([mean, logvar], -1) as Tensor4D, true);
      expect(Array.from(d.kl().dataSync())).to.deep.equal([0, 0]);
      expect(maxAbs(d.sample(eps), mean)).to.equal(0);
    });
  });

  it('loads a Lightning .ckpt (first_stage_model. prefix) into a fresh model with identical outputs', () => {
    const src = new VQModelInterface({ ddconfig: DD, n_embed: 64, embed_dim: 3 });
    const sd = stateDict(src, 'first_stage_model.');
    const bytes = writeCheckpoint(sd);
    const ck = readTorchCheckpoint(bytes);
    expect(ck.tensors.size).to.equal(155);
    const dst = new VQModelInterface({ ddconfig: DD, n_embed: 64, embed_dim: 3 });
    const report = loadStateDict(dst, selectPrefix(ck.tensors, 'first_stage_model.'));
    expect(report.loaded).to.equal(155);
    tf.tidy(() => {
      const x = tf.randomUniform([1, 16, 16, 3], -1, 1) as Tensor4D;
      expect(maxAbs(src.decode(src.encode(x)), dst.decode(dst.encode(x)))).to.equal(0);
    });
    src.dispose(); dst.dispose();
  });
});
