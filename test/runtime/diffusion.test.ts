// Unit tests of runtime/diffusion on tiny hand-checkable models (no reference data needed).
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor1D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import {
  DDIMSampler, DDPM, DiffusionWrapper, LitEma, PLMSSampler, makeBetaSchedule, makeDdimSchedule, makeDdimTimesteps,
  noiseFrom, registerSchedule, seededNoise, stdScaleFactor, toCondDict, torchLinspace, type CondDict, type EpsModel,
} from '../../runtime/diffusion/index.js';
import { Module } from '../../runtime/module.js';

const f32 = Math.fround;
const SCHED = { betaSchedule: 'linear', timesteps: 1000, linearStart: 0.0015, linearEnd: 0.0195 } as const;

/** A stand-in for the UNet: records its inputs and returns x·k (+ the context mean, + y). */
class FakeNet extends Module {
  static override readonly className = 'FakeNet';
  last: { x: number[]; context?: number[]; y?: number[] } | undefined;
  readonly w: tf.Variable;
  readonly frozen: tf.Variable;
  constructor(readonly outChannels = 1) {
    super();
    this.w = this.addParam('weight', tf.tensor1d([1, 2, 3]));
    this.frozen = this.addParam('frozen', tf.tensor1d([7]), 'plain', false);
  }
  forward(x: Tensor4D, _t: Tensor1D, context?: Tensor3D, y?: Tensor1D): Tensor4D {
    this.last = { x: [...x.shape], ...(context ? { context: [...context.shape] } : {}), ...(y ? { y: [...y.dataSync()] } : {}) };
    return tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, this.outChannels]);
  }
}

/** A bare module whose members tests add by hand. */
class Holder extends Module {
  static override readonly className = 'Holder';
  param(name: string, t: Tensor): tf.Variable {
    return this.addParam(name, t);
  }
  addChild<M extends Module>(name: string, m: M): M {
    return this.add(name, m);
  }
}

function scalarImage(v: number, b = 1): Tensor4D {
  return tf.fill([b, 1, 1, 1], v) as Tensor4D;
}

describe('diffusion: beta schedules', function () {
  it('torch.linspace is exact at both ends and symmetric', function () {
    const l = torchLinspace(0.1, 0.7, 7);
    expect(l[0]).to.equal(0.1);
    expect(l[6]).to.equal(0.7);
    expect(torchLinspace(2, 3, 1)[0]).to.equal(2);
  });

  it('linear: evenly spaced in sqrt(beta), from linear_start to linear_end', function () {
    const b = makeBetaSchedule('linear', 1000, 0.0015, 0.0195);
    expect(b[0]).to.be.closeTo(0.0015, 1e-18);
    expect(b[999]).to.be.closeTo(0.0195, 1e-17);
    const d0 = Math.sqrt(b[1]!) - Math.sqrt(b[0]!), d1 = Math.sqrt(b[999]!) - Math.sqrt(b[998]!);
    expect(d0).to.be.closeTo(d1, 1e-15);
  });

  it('sqrt_linear gives plain linear betas (despite its name); sqrt gives their square roots', function () {
    const a = makeBetaSchedule('sqrt_linear', 11, 0.001, 0.011), s = makeBetaSchedule('sqrt', 11, 0.001, 0.011);
    for (let i = 0; i < 11; i++) {
      expect(a[i]).to.be.closeTo(0.001 + 0.001 * i, 1e-17);
      expect(s[i]).to.equal(Math.sqrt(a[i]!));
    }
  });

  it('cosine: betas in [0, 0.999], the last clipped to 0.999, and alphas_cumprod = cos² profile', function () {
    const T = 1000, s = 8e-3;
    const b = makeBetaSchedule('cosine', T, 1e-4, 2e-2, s);
    expect(Math.min(...b)).to.be.at.least(0);
    expect(Math.max(...b)).to.equal(0.999);
    expect(b[T - 1]).to.equal(0.999);
    expect(b[0]).to.be.lessThan(1e-4);
    const sched = registerSchedule({ betaSchedule: 'cosine', timesteps: T, cosineS: s });
    const profile = (t: number) => Math.cos((((t / T + s) / (1 + s)) * Math.PI) / 2) ** 2 / Math.cos(((s / (1 + s)) * Math.PI) / 2) ** 2;
    for (const t of [0, 10, 500, 900]) expect(sched.f64.alphas_cumprod[t]).to.be.closeTo(profile(t + 1), 1e-12);
  });

  it('register_schedule: given_betas, v_posterior = 1 gives beta, x0 lvlb_weights = 0.5·sqrt(a)/(2 − a) with w[0] = w[1]', function () {
    const betas = [0.1, 0.2, 0.3, 0.4];
    const s = registerSchedule({ givenBetas: betas, vPosterior: 1, parameterization: 'x0' });
    expect(s.numTimesteps).to.equal(4);
    for (let i = 0; i < 4; i++) expect(s.f64.posterior_variance[i]).to.be.closeTo(betas[i]!, 1e-16);
    const ac = s.f32.alphas_cumprod;
    for (let i = 1; i < 4; i++) expect(s.f32.lvlb_weights[i]).to.equal(f32(f32(0.5 * f32(Math.sqrt(ac[i]!))) / f32(2 - ac[i]!)));
    expect(s.f32.lvlb_weights[0]).to.equal(s.f32.lvlb_weights[1]);
    const eps = registerSchedule(SCHED);
    expect(Number.isFinite(eps.f32.lvlb_weights[0]!)).to.equal(true);
    expect(eps.f32.lvlb_weights[0]).to.equal(eps.f32.lvlb_weights[1]);
  });

  it('DDIM timesteps: uniform has the +1, non-divisors give extra steps, quad follows linspace² ', function () {
    expect([...makeDdimTimesteps('uniform', 4, 1000)]).to.deep.equal([1, 251, 501, 751]);
    expect([...makeDdimTimesteps('uniform', 3, 1000)]).to.deep.equal([1, 334, 667, 1000]);
    // ... whose last index is past the schedule (the reference fails there too)
    const ac = registerSchedule(SCHED).f32.alphas_cumprod;
    expect(() => makeDdimSchedule(ac, makeDdimTimesteps('uniform', 3, 1000), 0)).to.throw(/outside the 1000-step schedule/);
    const q = makeDdimTimesteps('quad', 5, 1000);
    expect(q[0]).to.equal(1);
    expect(q[4]).to.equal(Math.trunc(Math.sqrt(800) ** 2) + 1);
    expect(q[2]).to.equal(Math.trunc((Math.sqrt(800) / 2) ** 2) + 1);
  });
});

describe('diffusion: runtime pieces (cpu)', function () {
  before(async function () {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('DiffusionWrapper routes concat / crossattn / hybrid / adm as the reference does', function () {
    const net = new FakeNet();
    const x = tf.zeros([2, 4, 4, 3]) as Tensor4D, t = tf.tensor1d([1, 2]);
    const cMap = tf.ones([2, 4, 4, 2]) as Tensor4D, ctx = tf.ones([2, 5, 16]) as Tensor3D, ctx2 = tf.ones([2, 3, 16]) as Tensor3D;
    new DiffusionWrapper(net, 'concat').forward(x, t, toCondDict(cMap, 'concat'));
    expect(net.last).to.deep.equal({ x: [2, 4, 4, 5] });
    new DiffusionWrapper(net, 'crossattn').forward(x, t, toCondDict([ctx, ctx2], 'crossattn'));
    expect(net.last).to.deep.equal({ x: [2, 4, 4, 3], context: [2, 8, 16] });
    new DiffusionWrapper(net, 'hybrid').forward(x, t, { c_concat: [cMap], c_crossattn: [ctx] });
    expect(net.last).to.deep.equal({ x: [2, 4, 4, 5], context: [2, 5, 16] });
    new DiffusionWrapper(net, 'adm').forward(x, t, toCondDict(tf.tensor1d([3, 7]), 'adm'));
    expect(net.last).to.deep.equal({ x: [2, 4, 4, 3], y: [3, 7] });
    expect(() => new DiffusionWrapper(net, 'crossattn').forward(x, t)).to.throw(/needs c_crossattn/);
    expect(new DiffusionWrapper(net, null).namedParameters().map(([n]) => n)).to.deep.equal(['diffusion_model.weight', 'diffusion_model.frozen']);
    tf.dispose([x, t, cMap, ctx, ctx2]);
  });

  it('LitEma: warm-up decay min(0.9999, (1+n)/(10+n)), float32 update, names without dots, copy_to/store/restore', function () {
    const net = new FakeNet();
    const wrapper = new DiffusionWrapper(net, null);
    const ema = new LitEma(wrapper);
    // trainable parameters only; dots removed
    expect(ema.buffers().map((b) => b.name)).to.deep.equal(['decay', 'num_updates', 'diffusion_modelweight']);
    expect(LitEma.warmupDecay(0.9999, 1)).to.equal(f32(2 / 11));
    expect(LitEma.warmupDecay(0.9999, 100)).to.equal(f32(101 / 110));
    expect(LitEma.warmupDecay(0.9999, 100000)).to.equal(f32(0.9999));
    net.w.assign(tf.tensor1d([2, 2, 2]));
    ema.update(wrapper);
    expect(ema.numUpdates).to.equal(1);
    const omd = f32(1 - f32(2 / 11));
    const expected = [1, 2, 3].map((s0) => f32(s0 - f32(omd * f32(s0 - 2))));
    const got = [...ema.shadowOf('diffusion_model.weight').dataSync()];
    got.forEach((g, i) => expect(g).to.be.closeTo(expected[i]!, 1e-7));
    ema.update(wrapper); // n = 2: decay 3/12
    const omd2 = f32(1 - f32(3 / 12));
    const got2 = [...ema.shadowOf('diffusion_model.weight').dataSync()];
    got2.forEach((g, i) => expect(g).to.be.closeTo(expected[i]! - omd2 * (expected[i]! - 2), 1e-6));
    // store → copy_to → restore
    ema.store(wrapper.parameters());
    ema.copyTo(wrapper);
    expect([...net.w.dataSync()]).to.deep.equal(got2);
    ema.restore(wrapper.parameters());
    expect([...net.w.dataSync()]).to.deep.equal([2, 2, 2]);
    const fixed = new LitEma(wrapper, { useNumUpdates: false, decay: 0.5 });
    expect(fixed.numUpdates).to.equal(-1);
    fixed.update(wrapper);
    expect(fixed.numUpdates).to.equal(-1);
    expect([...fixed.shadowOf('diffusion_model.weight').dataSync()]).to.deep.equal([2, 2, 2]); // shadow was 2 already
    expect(() => new LitEma(wrapper, { decay: 2 })).to.throw(/between 0 and 1/);
    ema.dispose();
    fixed.dispose();
    wrapper.dispose();
  });

  it('LitEma refuses two parameters whose dot-free names collide', function () {
    const h = new Holder();
    h.param('a1', tf.zeros([1]));
    h.addChild('a', new Holder()).param('1', tf.zeros([1]));
    expect(() => new LitEma(h)).to.throw(/'a1' and 'a.1' both map to buffer 'a1'/);
    h.dispose();
  });

  describe('p_losses on fixed inputs (model ε̂ = 0.5·x_noisy)', function () {
    const x0v = [0.5, -1, 0.25, 2, -0.5, 1, 1.5, -2];
    const nv = [0.1, 0.2, -0.3, 0.4, -1, 0.5, 0.7, -0.2];
    const tv = [10, 500];
    const half: EpsModel = (x) => tf.mul(0.5, x) as Tensor4D;

    function expected(opts: { l1: boolean; x0: boolean; w: number; elbo: number; logvar: number }) {
      const s = registerSchedule({ ...SCHED, parameterization: opts.x0 ? 'x0' : 'eps' }).f32;
      const per: number[] = [];
      for (let b = 0; b < 2; b++) {
        let acc = 0;
        for (let i = 0; i < 4; i++) {
          const k = b * 4 + i, t = tv[b]!;
          const xn = s.sqrt_alphas_cumprod[t]! * x0v[k]! + s.sqrt_one_minus_alphas_cumprod[t]! * nv[k]!;
          const d = (opts.x0 ? x0v[k]! : nv[k]!) - 0.5 * xn;
          acc += opts.l1 ? Math.abs(d) : d * d;
        }
        per.push(acc / 4);
      }
      const simple = (per[0]! + per[1]!) / 2;
      const gamma = per.map((p) => p / Math.exp(opts.logvar) + opts.logvar);
      const vlb = (s.lvlb_weights[tv[0]!]! * per[0]! + s.lvlb_weights[tv[1]!]! * per[1]!) / 2;
      return { simple, vlb, gamma: (gamma[0]! + gamma[1]!) / 2, loss: opts.w * ((gamma[0]! + gamma[1]!) / 2) + opts.elbo * vlb };
    }

    for (const lossType of ['l2', 'l1'] as const) {
      for (const p of ['eps', 'x0'] as const) {
        it(`${lossType}, ${p}: loss_simple, loss_vlb and loss (l_simple_weight 2, original_elbo_weight 0.5)`, function () {
          const ddpm = new DDPM(half, { ...SCHED, lossType, parameterization: p, lSimpleWeight: 2, originalElboWeight: 0.5 });
          const x0 = tf.tensor4d(x0v, [2, 2, 2, 1]), noise = tf.tensor4d(nv, [2, 2, 2, 1]), t = tf.tensor1d(tv);
          const { loss, lossDict } = ddpm.pLosses(x0, t, { noise });
          const e = expected({ l1: lossType === 'l1', x0: p === 'x0', w: 2, elbo: 0.5, logvar: 0 });
          expect(Object.keys(lossDict).sort()).to.deep.equal(['train/loss', 'train/loss_simple', 'train/loss_vlb']);
          expect(lossDict['train/loss_simple']!.dataSync()[0]).to.be.closeTo(e.simple, 1e-6);
          expect(lossDict['train/loss_vlb']!.dataSync()[0]).to.be.closeTo(e.vlb, 1e-6 * Math.max(1, e.vlb));
          expect(loss.dataSync()[0]).to.be.closeTo(e.loss, 1e-5 * Math.max(1, e.loss));
          tf.dispose([x0, noise, t, loss, ...Object.values(lossDict)]);
          ddpm.dispose();
        });
      }
    }

    it('learn_logvar: loss_gamma and logvar keys, val prefix, gradient reaches logvar', function () {
      const ddpm = new DDPM(half, { ...SCHED, learnLogvar: true, logvarInit: 0.5 });
      const x0 = tf.tensor4d(x0v, [2, 2, 2, 1]), noise = tf.tensor4d(nv, [2, 2, 2, 1]), t = tf.tensor1d(tv);
      const { loss, lossDict } = ddpm.pLosses(x0, t, { noise, training: false });
      const e = expected({ l1: false, x0: false, w: 1, elbo: 0, logvar: 0.5 });
      expect(Object.keys(lossDict).sort()).to.deep.equal(['logvar', 'val/loss', 'val/loss_gamma', 'val/loss_simple', 'val/loss_vlb']);
      expect(lossDict['val/loss_gamma']!.dataSync()[0]).to.be.closeTo(e.gamma, 1e-6);
      expect(lossDict.logvar!.dataSync()[0]).to.be.closeTo(0.5, 1e-7);
      expect(loss.dataSync()[0]).to.be.closeTo(e.loss, 1e-6);
      const { grads } = tf.variableGrads(() => ddpm.pLosses(x0, t, { noise }).loss, [ddpm.logvar as tf.Variable]);
      const g = Object.values(grads)[0]!.dataSync();
      // d/dlogvar_t of mean_b(L_b·e^{−logvar_t} + logvar_t) = (1 − L_b·e^{−0.5})/2 at the two t's, 0 elsewhere
      expect(g[10]).to.not.equal(0);
      expect(g[11]).to.equal(0);
      tf.dispose([x0, noise, t, loss, ...Object.values(lossDict), ...Object.values(grads)]);
      ddpm.dispose();
    });
  });

  it('p_sample adds no noise at t = 0; p_sample_loop logs x_T, T−1 and every log_every_t', function () {
    const zero: EpsModel = (x) => tf.zerosLike(x);
    const ddpm = new DDPM(zero, { givenBetas: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], clipDenoised: false });
    const x = scalarImage(1, 2);
    const a = ddpm.pSample(x, tf.tensor1d([0, 0]), { noise: seededNoise(1) }).sample;
    const b = ddpm.pSample(x, tf.tensor1d([0, 0]), { noise: seededNoise(2) }).sample;
    expect([...a.dataSync()]).to.deep.equal([...b.dataSync()]);
    const c = ddpm.pSample(x, tf.tensor1d([3, 3]), { noise: seededNoise(2) }).sample;
    expect([...c.dataSync()]).to.not.deep.equal([...a.dataSync()]);
    const run = ddpm.pSampleLoop([2, 1, 1, 1], { noise: seededNoise(7), logEveryT: 2 });
    expect(run.intermediates.length).to.equal(1 + 3 + 1); // x_T, i = 5 (T−1), 4, 2, 0
    const again = ddpm.pSampleLoop([2, 1, 1, 1], { noise: seededNoise(7), logEveryT: 2 });
    expect([...again.samples.dataSync()]).to.deep.equal([...run.samples.dataSync()]);
    tf.dispose([x, a, b, c, run.samples, ...run.intermediates, again.samples, ...again.intermediates]);
    ddpm.dispose();
  });

  it('stdScaleFactor is 1/std with the unbiased (N − 1) estimator, as torch.std', function () {
    const z = tf.tensor1d([1, 2, 3, 4]);
    expect(stdScaleFactor(z)).to.be.closeTo(1 / Math.sqrt(5 / 3), 1e-12);
    z.dispose();
  });

  /**
   * ε̂(x, t, c) = k·x + c: linear, so every sampler step can be written out with plain numbers.
   * The conditioning c is a [B, 1, 1, 1] map passed as c_concat; ε̂ ignores t.
   */
  const K = 0.3;
  const linearEps: EpsModel = (x: Tensor4D, _t: Tensor1D, cond?: CondDict) =>
    tf.tidy(() => (cond?.c_concat?.[0] ? tf.add(tf.mul(K, x), cond.c_concat[0]) : tf.mul(K, x)) as Tensor4D);

  /** The DDIM update with scalars (float64: the tolerance covers float32 rounding). */
  function ddimScalar(x: number, e: number, a: number, ap: number): [number, number] {
    const p = (x - Math.sqrt(1 - a) * e) / Math.sqrt(a);
    return [Math.sqrt(ap) * p + Math.sqrt(1 - ap) * e, p];
  }

  function schedule(S: number) {
    const ac = registerSchedule(SCHED).f32.alphas_cumprod;
    const ts = [...makeDdimTimesteps('uniform', S, 1000)];
    const idx = (i: number) => ({ a: ac[ts[i]!]!, ap: i === 0 ? ac[0]! : ac[ts[i - 1]!]! });
    return { ts, idx };
  }

  it('DDIM with eta 0 on ε̂ = k·x + c with guidance matches the step-by-step scalar computation', function () {
    const S = 5, scale = 2.5, cVal = 0.2, ucVal = -0.1, x0 = 1.3;
    const { idx } = schedule(S);
    const eps = (x: number) => ucVal + K * x + scale * (cVal - ucVal);
    let x = x0;
    const want: number[] = [];
    for (let index = S - 1; index >= 0; index--) {
      const { a, ap } = idx(index);
      [x] = ddimScalar(x, eps(x), a, ap);
      want.push(x);
    }
    const ddpm = new DDPM(linearEps, { ...SCHED, conditioningKey: 'concat', clipDenoised: false });
    const xT = scalarImage(x0), c = scalarImage(cVal), uc = scalarImage(ucVal);
    const out = new DDIMSampler(ddpm).sample({
      S, batchSize: 1, shape: [1, 1, 1], xT, conditioning: c, unconditionalConditioning: uc, unconditionalGuidanceScale: scale, logEveryT: 1,
    });
    const got = out.intermediates.x_inter.slice(1).map((v) => v.dataSync()[0]!);
    got.forEach((g, i) => expect(g, `step ${i}`).to.be.closeTo(want[i]!, 1e-5 * Math.max(1, Math.abs(want[i]!))));
    tf.dispose([xT, c, uc, out.samples, ...out.intermediates.x_inter, ...out.intermediates.pred_x0]);
    ddpm.dispose();
  });

  it('DDIM with eta 1: noise enters as sigma·z (given draws), and seeded runs repeat', function () {
    const ddpm = new DDPM(linearEps, { ...SCHED, clipDenoised: false });
    const sampler = new DDIMSampler(ddpm);
    const z = [0.5, -1, 2].map((v) => scalarImage(v));
    const xT = scalarImage(0.7);
    const out = sampler.sample({ S: 3, batchSize: 1, shape: [1, 1, 1], xT, eta: 1, noise: noiseFrom(z), logEveryT: 1, discretize: 'quad' });
    const s = sampler.schedule!;
    let x = 0.7;
    for (let i = 0; i < 3; i++) {
      const index = 2 - i;
      const a = s.alphas[index]!, ap = s.alphasPrev[index]!, sig = s.sigmas[index]!;
      const e = K * x;
      const p = (x - Math.sqrt(1 - a) * e) / Math.sqrt(a);
      x = Math.sqrt(ap) * p + Math.sqrt(1 - ap - sig * sig) * e + sig * z[i]!.dataSync()[0]!;
      expect(out.intermediates.x_inter[i + 1]!.dataSync()[0]).to.be.closeTo(x, 1e-5 * Math.max(1, Math.abs(x)));
    }
    const r1 = sampler.sample({ S: 4, batchSize: 2, shape: [2, 2, 1], eta: 1, noise: seededNoise(3) });
    const r2 = sampler.sample({ S: 4, batchSize: 2, shape: [2, 2, 1], eta: 1, noise: seededNoise(3) });
    expect([...r1.samples.dataSync()]).to.deep.equal([...r2.samples.dataSync()]);
    tf.dispose([...z, xT, out.samples, ...out.intermediates.x_inter, ...out.intermediates.pred_x0, r1.samples, r2.samples,
      ...r1.intermediates.x_inter, ...r1.intermediates.pred_x0, ...r2.intermediates.x_inter, ...r2.intermediates.pred_x0]);
    ddpm.dispose();
  });

  it('PLMS: improved-Euler first step, then Adams–Bashforth 2/3/4, as computed by hand (with guidance)', function () {
    const S = 8, scale = 2, cVal = 0.1, ucVal = -0.05, x0 = 0.9;
    const { ts, idx } = schedule(S);
    const eps = (x: number) => ucVal + K * x + scale * (cVal - ucVal);
    let x = x0;
    const old: number[] = [];
    const want: number[] = [];
    for (let i = 0; i < S; i++) {
      const index = S - 1 - i;
      const { a, ap } = idx(index);
      const e = eps(x);
      let ePrime: number;
      if (old.length === 0) {
        const [xNext] = ddimScalar(x, e, a, ap);
        ePrime = (e + eps(xNext)) / 2; // ε̂ ignores t, so t_next does not enter here
      } else if (old.length === 1) ePrime = (3 * e - old[0]!) / 2;
      else if (old.length === 2) ePrime = (23 * e - 16 * old[1]! + 5 * old[0]!) / 12;
      else ePrime = (55 * e - 59 * old[2]! + 37 * old[1]! - 9 * old[0]!) / 24;
      [x] = ddimScalar(x, ePrime, a, ap);
      want.push(x);
      old.push(e);
      if (old.length >= 4) old.shift();
    }
    expect(ts).to.have.length(S);
    let calls = 0;
    const counted: EpsModel = (xx, t, c) => {
      calls++;
      return linearEps(xx, t, c);
    };
    const ddpm = new DDPM(counted, { ...SCHED, conditioningKey: 'concat', clipDenoised: false });
    const xT = scalarImage(x0), c = scalarImage(cVal), uc = scalarImage(ucVal);
    const sampler = new PLMSSampler(ddpm);
    const before = tf.memory().numTensors;
    const out = sampler.sample({
      S, batchSize: 1, shape: [1, 1, 1], xT, conditioning: c, unconditionalConditioning: uc, unconditionalGuidanceScale: scale, logEveryT: 1,
    });
    expect(calls).to.equal(S + 1); // the first step calls the model twice
    const got = out.intermediates.x_inter.slice(1).map((v) => v.dataSync()[0]!);
    got.forEach((g, i) => expect(g, `step ${i}`).to.be.closeTo(want[i]!, 1e-5 * Math.max(1, Math.abs(want[i]!))));
    // no leak: what is left is exactly what was returned
    const returned = 1 + out.intermediates.x_inter.length + out.intermediates.pred_x0.length;
    expect(tf.memory().numTensors - before).to.equal(returned);
    expect(() => sampler.sample({ S, batchSize: 1, shape: [1, 1, 1], eta: 0.5 })).to.throw(/eta must be 0/);
    tf.dispose([xT, c, uc, out.samples, ...out.intermediates.x_inter, ...out.intermediates.pred_x0]);
    ddpm.dispose();
  });
});
