// The v-parameterization (Stability-AI/stablediffusion ddpm.py get_v, predict_start_from_z_and_v,
// predict_eps_from_z_and_v; ddim.py p_sample_ddim): exact recovery of x₀ and ε from a known pair,
// the training target, DDIM and PLMS steps; and, with ../shared/reference, sd-parity's v_targets.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import { DDIMSampler, DDPM, PLMSSampler, registerSchedule } from '../../runtime/diffusion/index.js';
import { requireReference } from '../support/reference.js';
import { get, readSafetensors } from './nn.helpers.js';

/** SD 2's v-model schedule (v2-inference-v.yaml). */
const SD_V = { betaSchedule: 'linear', timesteps: 1000, linearStart: 0.00085, linearEnd: 0.012 } as const;

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** NCHW reference data → NHWC tensor. */
function nhwc(r: { shape: readonly number[]; data: ArrayLike<number> }): Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor(Float32Array.from(r.data), [...r.shape] as [number, number, number, number]), [0, 2, 3, 1]) as Tensor4D);
}

describe('v-parameterization', function () {
  this.timeout(60000);
  before(async function () {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  const x0 = () => tf.tidy(() => tf.sin(tf.reshape(tf.range(0, 2 * 4 * 4 * 3, 1, 'float32'), [2, 4, 4, 3])) as Tensor4D);
  const noise = () => tf.tidy(() => tf.cos(tf.mul(tf.reshape(tf.range(0, 2 * 4 * 4 * 3, 1, 'float32'), [2, 4, 4, 3]), 0.7)) as Tensor4D);

  it('get_v, then predict_start/eps_from_z_and_v, give back x₀ and ε', function () {
    const xs = x0(), n = noise();
    // A model is needed only for applyModel; these methods use the schedule alone.
    const d = new DDPM(() => { throw new Error('not called'); }, { ...SD_V, parameterization: 'v' });
    for (const step of [0, 1, 500, 999]) {
      const t = tf.fill([2], step) as Tensor1D;
      const xt = d.qSample(xs, t, n);
      const v = d.getV(xs, n, t);
      const backX0 = d.predictStartFromZAndV(xt, t, v);
      const backEps = d.predictEpsFromZAndV(xt, t, v);
      expect(maxDiff(backX0, xs), `x0 at t=${step}`).to.be.below(1e-5);
      expect(maxDiff(backEps, n), `eps at t=${step}`).to.be.below(1e-5);
      // the training target is v, and the ancestral x̂₀ of a v output is x₀
      expect(maxDiff(d.lossTarget(xs, n, t), v)).to.equal(0);
      expect(maxDiff(d.predictStart(xt, t, v), backX0)).to.equal(0);
      tf.dispose([t, xt, v, backX0, backEps]);
    }
    d.dispose();
    tf.dispose([xs, n]);
  });

  it('lvlb_weights are all 1 for v (and not for eps)', function () {
    expect([...registerSchedule({ ...SD_V, parameterization: 'v' }).f32.lvlb_weights].every((w) => w === 1)).to.equal(true);
    expect([...registerSchedule({ ...SD_V, parameterization: 'eps' }).f32.lvlb_weights].some((w) => w !== 1)).to.equal(true);
  });

  it('a model that outputs the true v has zero loss under v, and not under eps', function () {
    const xs = x0(), n = noise();
    const t = tf.tensor1d([3, 700], 'float32') as Tensor1D;
    let oracle: DDPM;
    const model = (_x: Tensor4D, tt: Tensor1D) => oracle.getV(xs, n, tt);
    const v = (oracle = new DDPM(model, { ...SD_V, parameterization: 'v' }));
    const lv = v.pLosses(xs, t, { noise: n });
    expect(lv.loss.dataSync()[0]).to.be.below(1e-10);
    const e = new DDPM(model, { ...SD_V, parameterization: 'eps' });
    const le = e.pLosses(xs, t, { noise: n });
    expect(le.loss.dataSync()[0]).to.be.above(0.1);
    tf.dispose([xs, n, t, lv.loss, le.loss, ...Object.values(lv.lossDict), ...Object.values(le.lossDict)]);
    v.dispose();
    e.dispose();
  });

  it('DDIM and PLMS with a model that outputs the true v of a fixed x₀ land on that x₀', function () {
    const target = tf.tidy(() => tf.mul(x0(), 0.5) as Tensor4D);
    let d: DDPM;
    // v of (x₀, ε) for the ε implied by x_t: ε = (x_t − √ᾱ·x₀)/√(1−ᾱ); then v = √ᾱ·ε − √(1−ᾱ)·x₀
    const model = (x: Tensor4D, t: Tensor1D) => tf.tidy(() => {
      const a = d.extract('sqrt_alphas_cumprod', t), s = d.extract('sqrt_one_minus_alphas_cumprod', t);
      const eps = tf.div(tf.sub(x, tf.mul(a, target)), s);
      return tf.sub(tf.mul(a, eps), tf.mul(s, target)) as Tensor4D;
    });
    d = new DDPM(model, { ...SD_V, parameterization: 'v' });
    const xT = noise();
    for (const sampler of [new DDIMSampler(d), new PLMSSampler(d)]) {
      const r = sampler.sample({ S: 10, batchSize: 2, shape: [4, 4, 3], xT });
      // the last step goes to ᾱ_1 (not 1): x = √ᾱ₁·x₀ + √(1−ᾱ₁)·ε, within a few percent of x₀
      const last = r.intermediates.pred_x0.at(-1)!;
      expect(maxDiff(last, target), `${sampler.constructor.name} pred_x0`).to.be.below(1e-3);
      tf.dispose([r.samples, ...r.intermediates.x_inter, ...r.intermediates.pred_x0]);
    }
    tf.dispose([target, xT]);
    d.dispose();
  });

  it('matches sd-parity v_targets (Stability-AI DDPM methods)', function () {
    requireReference(this, 'sd-parity', 'v_targets.inputs.safetensors');
    const inp = readSafetensors('sd-parity', 'v_targets.inputs.safetensors');
    const exp = readSafetensors('sd-parity', 'v_targets.expected.safetensors');
    const d = new DDPM(() => { throw new Error('not called'); }, { ...SD_V, parameterization: 'v' });
    const xs = nhwc(get(inp, 'x0')), n = nhwc(get(inp, 'noise'));
    const t = tf.tensor1d(Float32Array.from(get(inp, 't').data), 'float32') as Tensor1D;
    const xt = d.qSample(xs, t, n);
    const v = d.getV(xs, n, t);
    const checks: Array<[string, Tensor4D]> = [['x_t', xt], ['v_target', v], ['x0_from_v_target', d.predictStartFromZAndV(xt, t, v)], ['eps_from_v_target', d.predictEpsFromZAndV(xt, t, v)]];
    for (const [k, ours] of checks) {
      const ref = nhwc(get(exp, k));
      expect(maxDiff(ours, ref), k).to.be.below(1e-5);
      ref.dispose();
    }
    tf.dispose([xs, n, t, ...checks.map((c) => c[1])]);
    d.dispose();
  });
});
