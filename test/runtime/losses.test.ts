// First-stage training losses: GAN pieces against hand-computed values, the PatchGAN
// discriminator's structure, BatchNorm/ActNorm, the VQ and KL losses' logs, the LPIPS plumbing
// (tiny random instances: the real weights are not available here) and a full GAN step.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../../runtime/backend.js';
import { DiagonalGaussianDistribution, VQModel, type DDConfig } from '../../runtime/autoencoder/index.js';
import {
  ActNorm, BatchNorm2d, LPIPS, LPIPSWithDiscriminator, LpipsWeightsError, LpipsWeightsRequired, NLayerDiscriminator,
  VQLPIPSWithDiscriminator, DummyLoss, adopt_weight, calculateAdaptiveWeight, createLoss, decodeWithLastLayer, hinge_d_loss,
  lpipsStateDict, trainableParamCount, trainableVariables, vanilla_d_loss, type LastLayer,
} from '../../runtime/losses/index.js';
import { Conv2d } from '../../runtime/nn/index.js';
import { seedInit } from '../../runtime/nn/init.js';
import { maxPatchGanLayers, patchGanOutputSide } from '../../schema/facts/index.js';
import { serializeSafetensors } from '../../runtime/weights/safetensors.js';
import { loadStateDict, stateDict, type TorchTensor } from '../../runtime/weights/state-dict.js';
import type { LPIPSWithDiscriminatorParams, VQLPIPSWithDiscriminatorParams } from '../../schema/losses.js';

const VQ_TARGET = 'taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator';
const KL_TARGET = 'ldm.modules.losses.contperceptual.LPIPSWithDiscriminator';
const TINY_LPIPS = [4, 4, 8, 8, 8] as const;

const vqParams = (over: Partial<VQLPIPSWithDiscriminatorParams> = {}): VQLPIPSWithDiscriminatorParams => ({
  disc_start: 0, codebook_weight: 1, pixelloss_weight: 1, disc_num_layers: 2, disc_in_channels: 3, disc_factor: 1, disc_weight: 1,
  perceptual_weight: 0, use_actnorm: false, disc_conditional: false, disc_loss: 'hinge', disc_ndf: 8, ...over,
});
const klParams = (over: Partial<LPIPSWithDiscriminatorParams> = {}): LPIPSWithDiscriminatorParams => ({
  disc_start: 0, pixelloss_weight: 1, disc_num_layers: 2, disc_in_channels: 3, disc_factor: 1, disc_weight: 1,
  perceptual_weight: 0, use_actnorm: false, disc_conditional: false, disc_loss: 'hinge', logvar_init: 0, kl_weight: 1e-6, ...over,
});

const num = (t: Tensor): number => t.dataSync()[0]!;
const softplus = (x: number) => Math.log1p(Math.exp(x));
const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const close = (a: number, b: number, tol = 1e-5) => expect(Math.abs(a - b), `${a} vs ${b}`).to.be.below(tol * Math.max(1, Math.abs(b)));

/** A last layer for tests: reconstructions = conv3x3(h) + bias with a trainable weight. */
function convHead(h: Tensor4D, cout = 3): { conv: Conv2d; lastLayer: LastLayer } {
  const conv = new Conv2d(h.shape[3], cout, 3, { padding: 1 });
  return { conv, lastLayer: { variable: conv.weight, reconstruct: () => conv.forward(h) } };
}

describe('runtime/losses', function () {
  this.timeout(60000);
  before(async () => { await initBackend({ backend: 'cpu', quiet: true }); });

  it('hinge_d_loss / vanilla_d_loss on fixed logits', () => {
    const real = [2, -0.5, 0.3, 1.5], fake = [-2, 0.5, -0.3, 0.1];
    tf.tidy(() => {
      const r = tf.tensor4d(real, [1, 2, 2, 1]), f = tf.tensor4d(fake, [1, 2, 2, 1]);
      // relu(1 − r) = [0, 1.5, 0.7, 0], relu(1 + f) = [0, 1.5, 0.7, 1.1]
      close(num(hinge_d_loss(r, f)), 0.5 * (0.55 + 0.825));
      close(num(vanilla_d_loss(r, f)), 0.5 * (mean(real.map((v) => softplus(-v))) + mean(fake.map(softplus))));
    });
  });

  it('adopt_weight switches the discriminator on at disc_start', () => {
    expect(adopt_weight(0.8, 0, 100)).to.equal(0);
    expect(adopt_weight(0.8, 99, 100)).to.equal(0);
    expect(adopt_weight(0.8, 100, 100)).to.equal(0.8);
    expect(adopt_weight(0.8, 5)).to.equal(0.8);
    expect(adopt_weight(0.8, 3, 10, 0.25)).to.equal(0.25);
  });

  it('calculateAdaptiveWeight is the ratio of the two gradient norms (closed form), also nested in an optimizer step', () => {
    // y = h·W; nll = mean((y − t)²) ⇒ ∇W = hᵀ·2(y − t)/N; g = −mean(y ⊙ v) ⇒ ∇W = −hᵀ·v/N.
    const N = 5, I = 4, O = 3;
    const rnd = (n: number, s: number) => Array.from({ length: n }, (_, i) => Math.sin(s * (i + 1)) * 1.3);
    const h = rnd(N * I, 1.7), t = rnd(N * O, 2.3), v = rnd(N * O, 0.9), w0 = rnd(I * O, 3.1);
    const W = tf.variable(tf.tensor2d(w0, [I, O]));
    const H = tf.tensor2d(h, [N, I]), T = tf.tensor2d(t, [N, O]), V = tf.tensor2d(v, [N, O]);
    const y = (i: number, o: number) => { let s = 0; for (let k = 0; k < I; k++) s += h[i * I + k]! * w0[k * O + o]!; return s; };
    let nllSq = 0, gSq = 0;
    for (let k = 0; k < I; k++) for (let o = 0; o < O; o++) {
      let gn = 0, gg = 0;
      for (let i = 0; i < N; i++) { gn += h[i * I + k]! * 2 * (y(i, o) - t[i * O + o]!) / (N * O); gg -= h[i * I + k]! * v[i * O + o]! / (N * O); }
      nllSq += gn * gn; gSq += gg * gg;
    }
    const expected = Math.sqrt(nllSq) / (Math.sqrt(gSq) + 1e-4);
    const nllFn = () => tf.mean(tf.square(tf.sub(tf.matMul(H, W as unknown as Tensor2D), T))) as Scalar;
    const gFn = () => tf.neg(tf.mean(tf.mul(tf.matMul(H, W as unknown as Tensor2D), V))) as Scalar;
    close(calculateAdaptiveWeight(nllFn, gFn, W), expected, 1e-5);
    close(calculateAdaptiveWeight(nllFn, gFn, W, 0.5), 0.5 * expected, 1e-5);
    // Clamped at 1e4 when the adversarial gradient vanishes.
    expect(calculateAdaptiveWeight(nllFn, () => tf.mul(tf.sum(W), 0) as Scalar, W)).to.equal(1e4);
    // Inside another gradient computation (an optimizer's minimize): same value, no leak.
    let nested = -1;
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => { nested = calculateAdaptiveWeight(nllFn, gFn, W); return nllFn(); }, [W]);
    tf.dispose([value, ...Object.values(grads)]);
    close(nested, expected, 1e-5);
    expect(tf.memory().numTensors).to.equal(before);
    tf.dispose([W, H, T, V]);
  });

  it('NLayerDiscriminator: taming state_dict names, parameter count, patch shapes', () => {
    const d = new NLayerDiscriminator(3, 64, 3);
    const names = d.paramEntries().map((p) => p.name);
    const bn = (i: number) => ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((k) => `main.${i}.${k}`);
    expect(names).to.deep.equal(['main.0.weight', 'main.0.bias', 'main.2.weight', ...bn(3), 'main.5.weight', ...bn(6), 'main.8.weight', ...bn(9), 'main.11.weight', 'main.11.bias']);
    // conv 3→64 (+bias), conv 64→128 + BN, conv 128→256 + BN, conv 256→512 + BN, conv 512→1 (+bias); 4×4 kernels.
    const expected = (3 * 64 * 16 + 64) + (64 * 128 * 16 + 2 * 128) + (128 * 256 * 16 + 2 * 256) + (256 * 512 * 16 + 2 * 512) + (512 * 16 + 1);
    expect(expected).to.equal(2765633);
    expect(trainableParamCount(d)).to.equal(expected);
    expect(trainableVariables(d).length).to.equal(13); // 5 convs (2 with bias) + 3 BN × (weight, bias)
    // torch layouts of the checkpoint: conv [out, in, 4, 4]
    expect(d.paramEntries().find((p) => p.name === 'main.8.weight')!.variable.shape).to.deep.equal([4, 4, 256, 512]);
    // weights_init: conv weights ~ N(0, 0.02), BN weight ~ N(1, 0.02), bias 0 (not for a bare module)
    const lossD = new VQLPIPSWithDiscriminator(vqParams({ disc_num_layers: 3, disc_ndf: 64 })).discriminator;
    tf.tidy(() => {
      const w = lossD.main.at(5) as Conv2d, b = lossD.main.at(6) as BatchNorm2d;
      const m = tf.moments(w.weight);
      expect(Math.abs(num(m.mean))).to.be.below(2e-3);
      close(Math.sqrt(num(m.variance)), 0.02, 0.05);
      close(num(tf.mean(b.weight)), 1, 0.01);
      expect(num(tf.max(tf.abs(b.bias)))).to.equal(0);
    });
    tf.tidy(() => {
      expect(d.forward(tf.randomNormal([2, 32, 32, 3])).shape).to.deep.equal([2, 2, 2, 1]);
    });
    const small = new NLayerDiscriminator(3, 8, 3); // same geometry at 256×256, at a fraction of the cost
    tf.tidy(() => { expect(small.forward(tf.randomNormal([1, 256, 256, 3])).shape).to.deep.equal([1, 30, 30, 1]); });
    const act = new NLayerDiscriminator(3, 8, 2, true);
    expect(act.paramEntries().map((p) => p.name)).to.include.members(['main.2.bias', 'main.3.loc', 'main.3.scale', 'main.3.initialized']);
    d.dispose(); small.dispose(); act.dispose(); lossD.dispose();
  });

  it('weights_init draws from the seeded init stream: the same seed gives the same discriminator, another seed another', () => {
    const build = (seed: number | undefined, kl = false) => {
      seedInit(seed);
      try {
        return kl ? new LPIPSWithDiscriminator(klParams()) : new VQLPIPSWithDiscriminator(vqParams({ disc_num_layers: 3 }));
      } finally {
        seedInit(undefined);
      }
    };
    const weights = (l: { discriminator: NLayerDiscriminator }) => l.discriminator.paramEntries().map((p) => [p.name, Array.from(p.variable.dataSync())] as const);
    for (const kl of [false, true]) {
      const [a, b, c] = [build(5, kl), build(5, kl), build(6, kl)];
      const [wa, wb, wc] = [a, b, c].map(weights);
      expect(wb, 'same seed: bit-identical').to.deep.equal(wa);
      // Every weights_init draw differs with the seed: conv weights and BatchNorm weights alike.
      for (const name of ['main.0.weight', 'main.2.weight', 'main.3.weight']) {
        const i = wa!.findIndex(([n]) => n === name);
        expect(wc![i]![1], name).to.not.deep.equal(wa![i]![1]);
      }
      a.dispose(); b.dispose(); c.dispose();
    }
    // Still N(0, 0.02) / N(1, 0.02) under a seed.
    const d = build(11, false);
    tf.tidy(() => {
      const m = tf.moments((d.discriminator.main.at(5) as Conv2d).weight);
      expect(Math.abs(num(m.mean))).to.be.below(2e-3);
      close(Math.sqrt(num(m.variance)), 0.02, 0.05);
      close(num(tf.mean((d.discriminator.main.at(3) as BatchNorm2d).weight)), 1, 0.01);
    });
    d.dispose();
  });

  it('NLayerDiscriminator too deep for its inputs: an error naming the largest n_layers that fits (PyTorch raises too)', () => {
    expect(patchGanOutputSide(256, 3)).to.equal(30);
    expect(patchGanOutputSide(32, 3)).to.equal(2);
    expect(patchGanOutputSide(16, 2)).to.equal(2);
    expect(patchGanOutputSide(16, 3)).to.equal(0);
    expect([16, 32, 256, 6, 5].map(maxPatchGanLayers)).to.deep.equal([2, 3, 6, 1, 0]);
    const deep = new NLayerDiscriminator(1, 4, 3).train();
    const bn = deep.main.at(3) as BatchNorm2d;
    tf.tidy(() => {
      const x = tf.randomNormal([4, 16, 16, 1]) as Tensor4D;
      expect(() => deep.forward(x)).to.throw(/n_layers = 3 is too deep for 16×16 inputs.*disc_num_layers ≤ 2/);
      expect(() => deep.forward(tf.randomNormal([4, 16, 32, 1]) as Tensor4D)).to.throw(/16×32/);
      expect(() => deep.forward(tf.randomNormal([1, 4, 4, 1]) as Tensor4D)).to.throw(/too small for any PatchGAN/);
      expect(deep.forward(tf.randomNormal([4, 32, 32, 1]) as Tensor4D).shape).to.deep.equal([4, 2, 2, 1]);
    });
    expect(num(bn.num_batches_tracked), 'the failed passes left the buffers alone').to.equal(1);
    const ok = new NLayerDiscriminator(1, 4, 2);
    tf.tidy(() => { expect(ok.forward(tf.randomNormal([4, 16, 16, 1]) as Tensor4D).shape).to.deep.equal([4, 2, 2, 1]); });
    // Through the losses: the 16×16 case gave ~1e-41 "losses" from an empty patch map before.
    const loss = new VQLPIPSWithDiscriminator(vqParams({ disc_num_layers: 3, disc_in_channels: 1 }));
    tf.tidy(() => {
      const x = tf.randomNormal([2, 16, 16, 1]) as Tensor4D;
      expect(() => loss.forward(tf.scalar(0), x, x, 1, 0)).to.throw(/too deep/);
    });
    deep.dispose(); ok.dispose(); loss.dispose();
  });

  it('BatchNorm2d: batch statistics and running updates in training, running statistics in eval', () => {
    const bn = new BatchNorm2d(2).train();
    const data = Array.from({ length: 2 * 3 * 3 * 2 }, (_, i) => Math.cos(i * 1.3) * 2 + (i % 2) * 5);
    const x = tf.tensor4d(data, [2, 3, 3, 2]);
    const ch = (c: number) => data.filter((_, i) => i % 2 === c);
    const mu = [mean(ch(0)), mean(ch(1))];
    const varB = [0, 1].map((c) => mean(ch(c).map((v) => (v - mu[c]!) ** 2)));
    const n = 18;
    tf.tidy(() => {
      const y = bn.forward(x);
      const m = tf.moments(y, [0, 1, 2]);
      m.mean.dataSync().forEach((v) => expect(Math.abs(v)).to.be.below(1e-5));
      m.variance.dataSync().forEach((v, c) => close(v, varB[c]! / (varB[c]! + 1e-5), 1e-4));
    });
    const rm = bn.running_mean.dataSync(), rv = bn.running_var.dataSync();
    [0, 1].forEach((c) => { close(rm[c]!, 0.1 * mu[c]!); close(rv[c]!, 0.9 + 0.1 * varB[c]! * n / (n - 1)); });
    expect(num(bn.num_batches_tracked)).to.equal(1);
    // updateStats false: same output, buffers untouched
    tf.tidy(() => { bn.forward(x, false); });
    expect(num(bn.num_batches_tracked)).to.equal(1);
    // gradient through the batch statistics
    tf.tidy(() => {
      const g = tf.grad((xx: Tensor) => tf.sum(tf.square(bn.forward(xx as Tensor4D, false))))(x);
      expect(g.shape).to.deep.equal([2, 3, 3, 2]);
      expect(Number.isFinite(num(tf.sum(tf.abs(g))))).to.equal(true);
    });
    bn.eval();
    tf.tidy(() => {
      const y = bn.forward(x).dataSync();
      const rmv = bn.running_mean.dataSync(), rvv = bn.running_var.dataSync();
      data.forEach((v, i) => close(y[i]!, (v - rmv[i % 2]!) / Math.sqrt(rvv[i % 2]! + 1e-5), 1e-4));
    });
    expect(num(bn.num_batches_tracked)).to.equal(1);
    expect(bn.parameters().filter((v) => !v.trainable).length).to.equal(3);
    x.dispose(); bn.dispose();
  });

  it('ActNorm initialises from its first training batch only', () => {
    const an = new ActNorm(3).train();
    const x = tf.add(tf.mul(tf.randomNormal([4, 5, 5, 3]), 3), 2) as Tensor4D;
    tf.tidy(() => {
      const y = an.forward(x);
      const m = tf.moments(y, [0, 1, 2]);
      m.mean.dataSync().forEach((v) => expect(Math.abs(v)).to.be.below(1e-4));
      m.variance.dataSync().forEach((v) => close(v * 100 / 99, 1, 1e-3)); // unbiased std is 1
    });
    expect(num(an.initialized)).to.equal(1);
    const loc = Array.from(an.loc.dataSync());
    tf.tidy(() => { an.forward(tf.randomNormal([4, 5, 5, 3])); });
    expect(Array.from(an.loc.dataSync())).to.deep.equal(loc);
    x.dispose(); an.dispose();
  });

  describe('VQLPIPSWithDiscriminator', () => {
    const x = () => tf.tidy(() => tf.tensor4d(Array.from({ length: 2 * 16 * 16 * 3 }, (_, i) => Math.sin(i * 0.37)), [2, 16, 16, 3]));

    it('generator step: log keys and values before and after disc_start (perceptual_weight 0)', () => {
      const loss = new VQLPIPSWithDiscriminator(vqParams({ disc_start: 10, codebook_weight: 0.7, disc_weight: 0.5 }));
      const inputs = x(), h = tf.randomNormal([2, 16, 16, 4]) as Tensor4D;
      const { conv, lastLayer } = convHead(h);
      const recon = lastLayer.reconstruct(), q = tf.scalar(0.3);
      const l1 = num(tf.mean(tf.abs(tf.sub(inputs, recon))));
      const g = num(tf.neg(tf.mean(loss.discriminator.forward(recon, { updateStats: false }))));
      for (const step of [5, 10]) {
        const { loss: l, log } = loss.forward(q, inputs, recon, 0, step, lastLayer, null, 'val');
        expect(Object.keys(log)).to.deep.equal(['val/total_loss', 'val/quant_loss', 'val/nll_loss', 'val/rec_loss', 'val/p_loss', 'val/d_weight', 'val/disc_factor', 'val/g_loss']);
        close(log['val/nll_loss']!, l1); close(log['val/rec_loss']!, l1); close(log['val/quant_loss']!, 0.3);
        expect(log['val/p_loss']).to.equal(0);
        close(log['val/g_loss']!, g, 1e-4);
        expect(log['val/disc_factor']).to.equal(step < 10 ? 0 : 1);
        // d_weight as calculate_adaptive_weight gives it, independently of the loss
        const dw = calculateAdaptiveWeight(() => tf.mean(tf.abs(tf.sub(inputs, lastLayer.reconstruct()))) as Scalar,
          () => tf.neg(tf.mean(loss.discriminator.forward(lastLayer.reconstruct(), { updateStats: false }))) as Scalar, conv.weight, 0.5);
        // Before disc_start ldmc skips the adaptive weight (the reference computes it only to log it).
        close(log['val/d_weight']!, step < 10 ? 0 : dw, 1e-4);
        expect(dw).to.be.above(0);
        const total = l1 + (step < 10 ? 0 : dw * g) + 0.7 * 0.3;
        close(num(l), total, 1e-4); close(log['val/total_loss']!, total, 1e-4);
        l.dispose();
      }
      // eval (validation): no adaptive weight, no last layer needed
      loss.eval();
      const { loss: le, log: logE } = loss.forward(q, inputs, recon, 0, 20);
      expect(logE['train/d_weight']).to.equal(0);
      le.dispose();
      loss.train();
      expect(() => loss.forward(q, inputs, recon, 0, 20)).to.throw(/needs last_layer/);
      expect(() => loss.forward(q, inputs, recon, 0, 20, lastLayer, inputs)).to.throw(/disc_conditional is false/);
      tf.dispose([inputs, h, recon, q]); conv.dispose(); loss.dispose();
    });

    it('discriminator step: disc_loss and logits before and after disc_start; BN statistics counted per pass', () => {
      for (const disc_loss of ['hinge', 'vanilla'] as const) {
        const loss = new VQLPIPSWithDiscriminator(vqParams({ disc_start: 3, disc_factor: 0.8, disc_loss }));
        const inputs = x(), recon = tf.tidy(() => tf.add(inputs, tf.mul(tf.randomNormal(inputs.shape), 0.3))) as Tensor4D, q = tf.scalar(0);
        const [r, f] = [inputs, recon].map((t) => loss.discriminator.forward(t, { updateStats: false }));
        const dl = num((disc_loss === 'hinge' ? hinge_d_loss : vanilla_d_loss)(r!, f!));
        const bn = loss.discriminator.main.at(3) as BatchNorm2d;
        for (const step of [2, 3]) {
          const { loss: l, log } = loss.forward(q, inputs, recon, 1, step);
          expect(Object.keys(log)).to.deep.equal(['train/disc_loss', 'train/logits_real', 'train/logits_fake']);
          close(log['train/disc_loss']!, step < 3 ? 0 : 0.8 * dl, 1e-4);
          close(num(l), log['train/disc_loss']!, 1e-6);
          close(log['train/logits_real']!, num(tf.mean(r!)), 1e-4);
          close(log['train/logits_fake']!, num(tf.mean(f!)), 1e-4);
          l.dispose();
        }
        expect(num(bn.num_batches_tracked)).to.equal(4); // real and fake, two steps
        tf.dispose([inputs, recon, q, r!, f!]); loss.dispose();
      }
    });

    it('perceptual term with a (tiny, random) LPIPS: rec = |x − x̂| + w·LPIPS, p_loss logged', () => {
      const lpips = new LPIPS({ widths: TINY_LPIPS }).eval();
      // Trained LPIPS heads are non-negative; random ones need not be.
      for (const l of lpips.lins) for (const v of l.parameters()) v.assign(tf.tidy(() => tf.abs(v)));
      const loss = new VQLPIPSWithDiscriminator(vqParams({ perceptual_weight: 0.5 }), { lpips });
      loss.eval(); // LPIPS dropout off: deterministic
      const inputs = x(), recon = tf.tidy(() => tf.add(inputs, tf.mul(tf.randomNormal(inputs.shape), 0.3))) as Tensor4D;
      const p = num(tf.mean(lpips.forward(inputs, recon)));
      const l1 = num(tf.mean(tf.abs(tf.sub(inputs, recon))));
      const { loss: l, log } = loss.forward(tf.scalar(0), inputs, recon, 0, 0);
      expect(p).to.be.above(0);
      close(log['train/p_loss']!, p, 1e-4);
      close(log['train/rec_loss']!, l1 + 0.5 * p, 1e-4);
      expect(loss.paramEntries().some((e) => e.name === 'perceptual_loss.lin0.model.1.weight')).to.equal(true);
      l.dispose(); tf.dispose([inputs, recon]); loss.dispose();
    });
  });

  it('LPIPSWithDiscriminator: learned logvar, KL term, log keys', () => {
    const loss = new LPIPSWithDiscriminator(klParams({ logvar_init: 0.5, kl_weight: 0.01, disc_start: 100 }));
    expect(loss.paramEntries()[0]!.name).to.equal('logvar');
    expect(loss.logvar.shape).to.deep.equal([]);
    expect(loss.logvar.trainable).to.equal(true);
    const inputs = tf.randomNormal([2, 16, 16, 3]) as Tensor4D, h = tf.randomNormal([2, 16, 16, 4]) as Tensor4D;
    const { conv, lastLayer } = convHead(h);
    const recon = lastLayer.reconstruct();
    const post = new DiagonalGaussianDistribution(tf.randomNormal([2, 4, 4, 8]) as Tensor4D);
    const absSum = num(tf.sum(tf.abs(tf.sub(inputs, recon)))), n = 2 * 16 * 16 * 3;
    const nll = (absSum / Math.exp(0.5) + 0.5 * n) / 2, kl = num(tf.sum(post.kl())) / 2;
    const { loss: l, log } = loss.forward(inputs, recon, post, 0, 50, lastLayer);
    expect(Object.keys(log)).to.deep.equal(['train/total_loss', 'train/logvar', 'train/kl_loss', 'train/nll_loss', 'train/rec_loss', 'train/d_weight', 'train/disc_factor', 'train/g_loss']);
    close(log['train/logvar']!, 0.5); close(log['train/nll_loss']!, nll, 1e-4); close(log['train/kl_loss']!, kl, 1e-4);
    close(log['train/rec_loss']!, absSum / n, 1e-4);
    expect(log['train/disc_factor']).to.equal(0);
    // Before disc_start ldmc skips the adaptive weight (the reference computes it only to log it).
    expect(log['train/d_weight']).to.equal(0);
    close(num(l), nll + 0.01 * kl, 1e-4);
    const { loss: la, log: logA } = loss.forward(inputs, recon, post, 0, 150, lastLayer);
    expect(logA['train/disc_factor']).to.equal(1);
    expect(logA['train/d_weight']).to.be.above(0);
    close(num(la), nll + 0.01 * kl + logA['train/d_weight']! * logA['train/g_loss']!, 1e-4);
    // per-element weights scale the weighted nll only; gradient reaches logvar: d/dlv = −Σ rec·e^−lv / B + n/B
    const { loss: lw, log: logW } = loss.forward(inputs, recon, post, 0, 50, lastLayer, null, 'train', tf.scalar(2));
    close(num(lw), 2 * nll + 0.01 * kl, 1e-4); close(logW['train/nll_loss']!, nll, 1e-4);
    const { grads, value } = tf.variableGrads(() => loss.forward(inputs, recon, post, 0, 50, lastLayer).loss, [loss.logvar]);
    close(num(grads[loss.logvar.name]!), (-absSum * Math.exp(-0.5) + n) / 2, 1e-4);
    // disc_factor 0: no adaptive weight (and no last layer needed)
    const off = new LPIPSWithDiscriminator(klParams({ disc_factor: 0 }));
    const { loss: lo, log: logO } = off.forward(inputs, recon, post, 0, 50);
    expect(logO['train/d_weight']).to.equal(0);
    const { loss: ld, log: logD } = loss.forward(inputs, recon, post, 1, 150);
    expect(Object.keys(logD)).to.deep.equal(['train/disc_loss', 'train/logits_real', 'train/logits_fake']);
    tf.dispose([l, la, lw, lo, ld, value, ...Object.values(grads), inputs, h, recon]);
    post.dispose(); conv.dispose(); loss.dispose(); off.dispose();
  });

  it('createLoss: targets, defaults, LpipsWeightsRequired', () => {
    expect(() => createLoss(VQ_TARGET, { disc_start: 0 })).to.throw(LpipsWeightsRequired, /--lpips-weights FILE.*ldmc convert.*perceptual_weight: 0/s);
    expect(() => createLoss(KL_TARGET, { disc_start: 0 })).to.throw(LpipsWeightsRequired, /LPIPSWithDiscriminator: perceptual_weight is 1/);
    const vq = createLoss(VQ_TARGET, { disc_start: 250001, perceptual_weight: 0 });
    expect(vq).to.be.instanceOf(VQLPIPSWithDiscriminator);
    const v = vq as VQLPIPSWithDiscriminator;
    expect(v.perceptual_loss).to.equal(null);
    expect(v.paramEntries().some((p) => p.name.startsWith('perceptual_loss.'))).to.equal(false);
    expect(v.params.disc_ndf).to.equal(64); expect(v.codebook_weight).to.equal(1); expect(v.discriminator_iter_start).to.equal(250001);
    expect(trainableParamCount(v)).to.equal(2765633);
    const kl = createLoss('ldm.modules.losses.LPIPSWithDiscriminator', { disc_start: 50001, kl_weight: 1e-6, disc_weight: 0.5, perceptual_weight: 0 });
    expect(kl).to.be.instanceOf(LPIPSWithDiscriminator);
    expect((kl as LPIPSWithDiscriminator).params.logvar_init).to.equal(0);
    expect(createLoss('torch.nn.Identity')).to.equal(null);
    expect(createLoss('taming.modules.losses.vqperceptual.DummyLoss')).to.be.instanceOf(DummyLoss);
    expect(() => createLoss(VQ_TARGET, { perceptual_weight: 0 })).to.throw(/disc_start/);
    expect(() => createLoss(VQ_TARGET, { disc_start: 0, perceptual_weight: 0, disc_loss: 'wasserstein' })).to.throw(/disc_loss/);
    expect(() => createLoss('ldm.modules.losses.Nope', {})).to.throw(/not a first-stage loss/);
    // with a weights file: a tiny LPIPS is not a VGG16, so a real run would use the full widths
    v.dispose(); (kl as LPIPSWithDiscriminator).dispose();
  });

  it('LPIPS: tiny instance shapes and gradients; weight files and their key names', () => {
    const lp = new LPIPS({ widths: TINY_LPIPS });
    expect(lp.parameters().every((p) => !p.trainable)).to.equal(true);
    const names = lp.paramEntries().map((p) => p.name);
    expect(names.slice(0, 4)).to.deep.equal(['net.slice1.0.weight', 'net.slice1.0.bias', 'net.slice1.2.weight', 'net.slice1.2.bias']);
    expect(names).to.include.members(['net.slice2.5.weight', 'net.slice3.14.bias', 'net.slice5.28.weight', 'lin0.model.1.weight', 'lin4.model.1.weight']);
    expect(names.length).to.equal(26 + 5);
    tf.tidy(() => {
      const a = tf.randomUniform([2, 32, 32, 3], -1, 1) as Tensor4D, b = tf.randomUniform([2, 32, 32, 3], -1, 1) as Tensor4D;
      const d = lp.forward(a, b);
      expect(d.shape).to.deep.equal([2, 1, 1, 1]);
      expect(num(tf.max(tf.abs(lp.forward(a, a))))).to.be.below(1e-6);
      const g = tf.grad((y: Tensor) => tf.sum(lp.forward(a, y as Tensor4D)))(b);
      const gs = num(tf.sum(tf.abs(g)));
      expect(gs).to.be.above(0); expect(Number.isFinite(gs)).to.equal(true);
    });
    // torchvision names map onto the slices; a checkpoint prefix is stripped
    const renamed = lpipsStateDict(new Map([['features.0.weight', 1], ['features.10.bias', 2], ['features.28.weight', 3], ['lin2.model.1.weight', 4]]));
    expect([...renamed.keys()]).to.deep.equal(['net.slice1.0.weight', 'net.slice3.10.bias', 'net.slice5.28.weight', 'lin2.model.1.weight']);
    const pre = lpipsStateDict(new Map([['loss.perceptual_loss.lin0.model.1.weight', 1], ['loss.perceptual_loss.net.slice1.0.weight', 2], ['encoder.conv_in.weight', 3]]));
    expect([...pre.keys()]).to.deep.equal(['lin0.model.1.weight', 'net.slice1.0.weight']);
    // a safetensors round trip in torchvision naming, then a file with the wrong keys
    const dir = mkdtempSync(join(os.tmpdir(), 'ldmc-lpips-'));
    const sd = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const p of lp.paramEntries()) {
      const t = p.layout === 'conv2d' ? tf.transpose(p.variable, [3, 2, 0, 1]) : p.variable;
      const m = /^net\.slice\d\.(\d+)\.(.*)$/.exec(p.name);
      sd.set(m ? `features.${m[1]}.${m[2]}` : p.name, { shape: t.shape, data: t.dataSync() as Float32Array });
      if (t !== p.variable) t.dispose();
    }
    writeFileSync(join(dir, 'good.safetensors'), serializeSafetensors(sd));
    const loaded = LPIPS.fromFile(join(dir, 'good.safetensors'), { widths: TINY_LPIPS });
    tf.tidy(() => {
      const a = tf.randomUniform([1, 16, 16, 3], -1, 1) as Tensor4D, b = tf.randomUniform([1, 16, 16, 3], -1, 1) as Tensor4D;
      close(num(loaded.forward(a, b)), num(lp.forward(a, b)), 1e-5);
    });
    writeFileSync(join(dir, 'bad.safetensors'), serializeSafetensors(new Map([['foo.weight', { shape: [2], data: new Float32Array(2) }]])));
    expect(() => LPIPS.fromFile(join(dir, 'bad.safetensors'))).to.throw(LpipsWeightsError, /missing \d+ keys.*features\.\{0,2,5.*lin0\.model\.1\.weight/s);
    expect(() => LPIPS.fromFile(join(dir, 'none.safetensors'))).to.throw(LpipsWeightsError, /cannot read/);
    expect(() => new VQLPIPSWithDiscriminator(vqParams({ perceptual_weight: 1 }), { lpipsWeights: join(dir, 'bad.safetensors') })).to.throw(LpipsWeightsError);
    rmSync(dir, { recursive: true, force: true });
    lp.dispose(); loaded.dispose();
  });

  it('discriminator state dicts round-trip, int64 num_batches_tracked included (loss.discriminator.* of a taming checkpoint)', () => {
    const a = new VQLPIPSWithDiscriminator(vqParams()), b = new VQLPIPSWithDiscriminator(vqParams());
    tf.tidy(() => { a.discriminator.forward(tf.randomNormal([2, 16, 16, 3])); });
    const sd = new Map<string, TorchTensor>();
    for (const [k, v] of stateDict(a, 'loss.')) sd.set(k, k.endsWith('num_batches_tracked') ? { shape: v.shape, data: Float64Array.from(v.data) } : v);
    expect([...sd.keys()].slice(0, 3)).to.deep.equal(['loss.discriminator.main.0.weight', 'loss.discriminator.main.0.bias', 'loss.discriminator.main.2.weight']);
    expect(sd.get('loss.discriminator.main.3.num_batches_tracked')!.shape).to.deep.equal([]);
    const report = loadStateDict(b, sd, { prefix: 'loss.' });
    expect(report.loaded).to.equal(a.paramEntries().length);
    a.paramEntries().forEach((p, i) => expect(Array.from(b.paramEntries()[i]!.variable.dataSync())).to.deep.equal(Array.from(p.variable.dataSync())));
    a.dispose(); b.dispose();
  });
});

for (const backend of ['wasm'] as BackendName[]) {
  describe(`runtime/losses on ${backend}`, function () {
    this.timeout(60000);
    before(async () => { await initBackend({ backend, quiet: true }); });
    after(async () => { await initBackend({ backend: 'cpu', quiet: true }); });

    it('discriminator + both GAN losses: forward and gradients', () => {
      const loss = new VQLPIPSWithDiscriminator(vqParams({ disc_loss: 'vanilla' }));
      const inputs = tf.randomUniform([2, 16, 16, 3], -1, 1) as Tensor4D, h = tf.randomNormal([2, 16, 16, 4]) as Tensor4D;
      const { conv, lastLayer } = convHead(h);
      const recon = lastLayer.reconstruct();
      const { grads, value } = tf.variableGrads(() => loss.forward(tf.scalar(0.1), inputs, recon, 1, 0).loss, trainableVariables(loss.discriminator));
      expect(Object.values(grads).every((g) => Number.isFinite(num(tf.sum(tf.abs(g)))))).to.equal(true);
      const out = loss.forward(tf.scalar(0.1), inputs, recon, 0, 0, lastLayer);
      expect(out.log['train/d_weight']).to.be.above(0);
      const lp = new LPIPS({ widths: TINY_LPIPS });
      tf.tidy(() => {
        const g = tf.grad((y: Tensor) => tf.sum(lp.forward(inputs, y as Tensor4D)))(recon);
        expect(Number.isFinite(num(tf.sum(tf.abs(g))))).to.equal(true);
      });
      tf.dispose([value, out.loss, ...Object.values(grads), inputs, h, recon]); conv.dispose(); loss.dispose(); lp.dispose();
    });

    // On wasm: the cpu backend's convolution gradients make this step ~100× slower.
    it('a generator + discriminator step on a tiny VQModel with two Adam optimizers changes both sets of weights', () => {
      const dd: DDConfig = { double_z: false, z_channels: 3, resolution: 32, in_channels: 3, out_ch: 3, ch: 32, ch_mult: [1, 2], num_res_blocks: 1, attn_resolutions: [], dropout: 0 };
      const model = new VQModel({ ddconfig: dd, n_embed: 16, embed_dim: 3 });
      const loss = new VQLPIPSWithDiscriminator(vqParams({ disc_num_layers: 3, disc_ndf: 16, disc_start: 0 }));
      const genVars = trainableVariables(model), discVars = trainableVariables(loss.discriminator);
      const optG = tf.train.adam(1e-3, 0.5, 0.9), optD = tf.train.adam(1e-3, 0.5, 0.9);
      const x = tf.randomUniform([2, 32, 32, 3], -1, 1) as Tensor4D;
      const snap = (v: tf.Variable) => Array.from(v.dataSync());
      const g0 = snap(model.decoder.conv_out.weight), e0 = snap(model.encoder.conv_in.weight), d0 = snap(loss.discriminator.main.at(0).paramEntries()[0]!.variable);
      const bn = loss.discriminator.main.at(3) as BatchNorm2d;
      const counts: number[] = [];
      let genLog: Record<string, number> = {}, discLog: Record<string, number> = {};
      for (let step = 0; step < 3; step++) {
        let ll: { dispose(): void } | null = null;
        optG.minimize(() => {
          const { quant, embLoss } = model.encode(x);
          const { dec, lastLayer } = decodeWithLastLayer(model.decoder, model.post_quant_conv.forward(quant));
          ll = lastLayer;
          const out = loss.forward(embLoss, x, dec, 0, step, lastLayer);
          genLog = out.log;
          return out.loss;
        }, false, genVars);
        (ll as { dispose(): void } | null)?.dispose();
        optD.minimize(() => {
          const { dec, diff } = model.forward(x);
          const out = loss.forward(diff, x, dec, 1, step);
          discLog = out.log;
          return out.loss;
        }, false, discVars);
        counts.push(tf.memory().numTensors);
      }
      expect(counts[2]).to.equal(counts[1]); // no leak per step (Adam's state is made on the first)
      expect(genLog['train/d_weight']).to.be.above(0);
      expect(Object.values(genLog).every(Number.isFinite)).to.equal(true);
      expect(Object.values(discLog).every(Number.isFinite)).to.equal(true);
      const changed = (a: number[], v: tf.Variable) => snap(v).some((b, i) => b !== a[i]);
      expect(changed(g0, model.decoder.conv_out.weight)).to.equal(true);
      expect(changed(e0, model.encoder.conv_in.weight)).to.equal(true);
      expect(changed(d0, loss.discriminator.main.at(0).paramEntries()[0]!.variable)).to.equal(true);
      // one BN count per discriminator forward: 1 in each generator step, 2 in each discriminator step
      expect(num(bn.num_batches_tracked)).to.equal(9);
      tf.dispose([x]); optG.dispose(); optD.dispose(); model.dispose(); loss.dispose();
    });
  });
}
