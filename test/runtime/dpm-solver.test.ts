// DPM-Solver++(2M) as Stability-AI's DPMSolverSampler runs it: the times and orders from the
// reference's formulas, and exact landing on x₀ (up to the last step's α, σ) for a model that
// returns the true ε or v of a fixed x₀, computed from the DDPM's own discrete schedule.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import { DDPM, DPMSolverSampler, NoiseScheduleVP, dpmSolverOrders, dpmSolverTimesteps, registerSchedule } from '../../runtime/diffusion/index.js';

/** SD's schedule (v1/v2-inference.yaml). */
const SD = { betaSchedule: 'linear', timesteps: 1000, linearStart: 0.00085, linearEnd: 0.012 } as const;

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe('DPM-Solver (multistep, order 2, time_uniform)', function () {
  this.timeout(60000);
  before(async function () {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('spaces the times as torch.linspace(1, 1/N, S + 1) and feeds the model (t − 1/N)·1000', function () {
    for (const [N, S] of [[1000, 20], [1000, 9], [20, 5]] as const) {
      const ts = dpmSolverTimesteps(N, S);
      expect(ts.length).to.equal(S + 1);
      for (let i = 0; i <= S; i++) expect(ts[i]!).to.be.closeTo(1 + (i * (1 / N - 1)) / S, 1e-6);
      expect(ts[0]).to.equal(1);
      expect(ts[S]).to.equal(Math.fround(1 / N));
    }
    const ns = new NoiseScheduleVP(registerSchedule(SD).f32.alphas_cumprod);
    expect(ns.modelTime(1)).to.be.closeTo(999, 1e-4);
    expect(ns.modelTime(0.001)).to.be.closeTo(0, 1e-6);
    // at the knots t = (n + 1)/N, log α is ½·log ᾱ_n exactly (no interpolation)
    const ac = registerSchedule(SD).f32.alphas_cumprod;
    for (const n of [0, 1, 500, 998, 999]) expect(ns.alpha(Math.fround((n + 1) / 1000))).to.be.closeTo(Math.sqrt(ac[n]!), 1e-6);
  });

  it('takes 1 first-order warm-up step, then order 2, dropping to order 1 for the last step below 15 steps', function () {
    expect(dpmSolverOrders(2)).to.deep.equal([1, 1]);
    expect(dpmSolverOrders(5)).to.deep.equal([1, 2, 2, 2, 1]);
    expect(dpmSolverOrders(14)).to.deep.equal([1, ...Array(12).fill(2), 1]);
    expect(dpmSolverOrders(15)).to.deep.equal([1, ...Array(14).fill(2)]);
    expect(dpmSolverOrders(50)).to.deep.equal([1, ...Array(49).fill(2)]);
    expect(() => dpmSolverOrders(1)).to.throw(/steps must be an integer ≥ the order 2/);
  });

  for (const parameterization of ['eps', 'v'] as const) {
    it(`lands on x₀ for a model that outputs the exact ${parameterization === 'eps' ? 'noise' : 'v'} of a fixed x₀`, function () {
      const schedule = registerSchedule(SD);
      const sqrtAc = schedule.f64.sqrt_alphas_cumprod, sqrt1m = schedule.f64.sqrt_one_minus_alphas_cumprod;
      const shape = [2, 4, 4, 3] as const;
      const x0 = tf.tidy(() => tf.sin(tf.reshape(tf.range(0, 96, 1, 'float32'), [...shape])) as Tensor4D);
      const xT = tf.tidy(() => tf.cos(tf.mul(tf.reshape(tf.range(0, 96, 1, 'float32'), [...shape]), 0.7)) as Tensor4D);
      // S = 9 divides 999, so every model time (t − 1/N)·1000 is a whole step n (up to float32
      // rounding) and the oracle can use the discrete schedule: α = √ᾱ_n, σ = √(1 − ᾱ_n).
      const S = 9;
      const seen: number[] = [];
      const oracle = (x: Tensor4D, t: Tensor1D): Tensor4D => tf.tidy(() => {
        const tIn = t.dataSync()[0]!;
        const n = Math.round(tIn);
        expect(Math.abs(tIn - n), `model time ${tIn}`).to.be.below(1e-3);
        seen.push(n);
        const a = sqrtAc[n]!, s = sqrt1m[n]!;
        const eps = tf.div(tf.sub(x, tf.mul(a, x0)), s);
        return (parameterization === 'eps' ? eps : tf.sub(tf.mul(a, eps), tf.mul(s, x0))) as Tensor4D;
      });
      const ddpm = new DDPM(oracle, { ...SD, parameterization });
      const steps: number[] = [];
      const out = new DPMSolverSampler(ddpm).sample({ S, batchSize: 2, shape: [4, 4, 3], xT, callback: (i) => steps.push(i) });
      // S model evaluations, at the first S times (none after the last update)
      expect(seen).to.deep.equal([999, 888, 777, 666, 555, 444, 333, 222, 111]);
      expect(steps).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8]);
      // the ODE path of this oracle is x_t = α_t·x₀ + σ_t·ε with ε = (x_T − α_1·x₀)/σ_1
      const expected = tf.tidy(() => {
        const eps = tf.div(tf.sub(xT, tf.mul(sqrtAc[999]!, x0)), sqrt1m[999]!);
        return tf.add(tf.mul(sqrtAc[0]!, x0), tf.mul(sqrt1m[0]!, eps));
      });
      expect(maxDiff(out, expected)).to.be.below(2e-5);
      // and t = 1/N is x₀ itself up to σ_0·ε (σ_0 ≈ 0.029)
      expect(maxDiff(out, x0)).to.be.below(0.03 * 6);
      tf.dispose([x0, xT, out, expected]);
      ddpm.dispose();
    });
  }

  it('guides with u + s·(c − u) on one batch of cat([uc, c]) (scale 1: one conditional pass)', function () {
    const shape = [1, 2, 2, 1] as const;
    const calls: number[] = [];
    // output = the context's mean per sample, so cond (1) and uncond (0) give different "noise"
    const model = (x: Tensor4D, _t: Tensor1D, cond?: { c_crossattn?: readonly tf.Tensor[] }): Tensor4D => tf.tidy(() => {
      const c = cond!.c_crossattn![0]!;
      calls.push(x.shape[0]);
      return tf.mul(tf.ones(x.shape), tf.reshape(tf.mean(c, [1, 2]), [x.shape[0], 1, 1, 1])) as Tensor4D;
    });
    const ddpm = new DDPM(model, { ...SD, parameterization: 'eps', conditioningKey: 'crossattn' });
    const c = tf.ones([1, 3, 2]), uc = tf.zeros([1, 3, 2]);
    const xT = tf.zeros([...shape]) as Tensor4D;
    const guided = new DPMSolverSampler(ddpm).sample({ S: 3, batchSize: 1, shape: [2, 2, 1], xT, conditioning: c, unconditionalConditioning: uc, unconditionalGuidanceScale: 4 });
    expect(calls).to.deep.equal([2, 2, 2]);
    calls.length = 0;
    const g4 = new DPMSolverSampler(ddpm).sample({ S: 3, batchSize: 1, shape: [2, 2, 1], xT, conditioning: tf.fill([1, 3, 2], 4), unconditionalGuidanceScale: 1 });
    expect(calls).to.deep.equal([1, 1, 1]);
    // u + 4·(c − u) = 0 + 4·1 = what an unguided model whose context mean is 4 outputs
    expect(maxDiff(guided, g4)).to.be.below(1e-5);
    tf.dispose([c, uc, xT, guided, g4]);
    ddpm.dispose();
  });
});
