// Diffusion schedules, one DDPM step and DDIM runs against CompVis/latent-diffusion
// (../shared/reference/parity). Set LDMC_PRINT_ERRORS=1 to print the measured errors.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { DDIMSampler, DDPM, DiffusionWrapper, makeDdimSchedule, makeDdimTimesteps, registerSchedule, SCHEDULE_BUFFER_NAMES, type ConditioningKey } from '../../runtime/diffusion/index.js';
import { UNetModel, type UNetModelArgs, type UNetModelRequired } from '../../runtime/unet/index.js';
import type { RawTensor } from '../../runtime/weights/safetensors.js';
import { loadStateDict } from '../../runtime/weights/state-dict.js';
import { BACKEND_PATHS, onBackendPath } from '../support/backend-paths.js';
import { requireReference } from '../support/reference.js';
import { get, maxAbsDiff, readSafetensors, readYamlParams, toTf } from './nn.helpers.js';

const log = (msg: string) => process.env.LDMC_PRINT_ERRORS && process.stderr.write(`      ${msg}\n`);

/** The schedule the parity vectors use (the LDM configs' linear 0.0015 → 0.0195, T = 1000). */
const LDM_SCHEDULE = { betaSchedule: 'linear', timesteps: 1000, linearStart: 0.0015, linearEnd: 0.0195 } as const;

/** Distance in float32 ulps (both values must be float32-representable). */
function ulps(a: number, b: number): number {
  if (a === b) return 0;
  const i = new Int32Array(new Float32Array([a, b]).buffer);
  // map the sign-magnitude bit patterns onto a monotone integer line
  const m = (x: number) => (x < 0 ? -2147483648 - x : x);
  return Math.abs(m(i[0]!) - m(i[1]!));
}

/** max |ours − ref| / max(1, |ref|): absolute for small values, relative for large ones. */
function maxScaledDiff(ours: tf.Tensor, ref: RawTensor): number {
  const o = ours.rank === 4 ? tf.transpose(ours, [0, 3, 1, 2]) : ours;
  const a = o.dataSync();
  if (o !== ours) o.dispose();
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - ref.data[i]!) / Math.max(1, Math.abs(ref.data[i]!)));
  return m;
}

function loadUNet(name: string): UNetModel {
  const model = new UNetModel(readYamlParams<UNetModelRequired & Partial<UNetModelArgs>>('parity', `${name}.yaml`));
  loadStateDict(model, readSafetensors('parity', `${name}.weights.safetensors`), { strict: true });
  return model;
}

function ldm(unet: UNetModel, key: ConditioningKey | null): DDPM {
  // LatentDiffusion: clip_denoised is off
  return new DDPM(new DiffusionWrapper(unet, key).asEpsModel(), { ...LDM_SCHEDULE, clipDenoised: false, conditioningKey: key });
}

describe('diffusion schedules vs the reference', function () {
  it('schedule_linear_1000: float32 buffers within 1 ulp (measured: all exact), float64 within 1e-12 relative', function () {
    requireReference(this, 'parity', 'schedule_linear_1000.safetensors');
    const ref32 = readSafetensors('parity', 'schedule_linear_1000.safetensors');
    const ref64 = readSafetensors('parity', 'schedule_linear_1000_f64.safetensors');
    const s = registerSchedule(LDM_SCHEDULE);
    expect(s.numTimesteps).to.equal(1000);
    const report: string[] = [];
    for (const name of [...SCHEDULE_BUFFER_NAMES, 'lvlb_weights'] as const) {
      const ref = get(ref32, name).data, ours = s.f32[name];
      expect(ours.length, name).to.equal(ref.length);
      let maxUlp = 0, off = 0;
      for (let i = 0; i < ref.length; i++) {
        const u = ulps(ours[i]!, ref[i]!);
        maxUlp = Math.max(maxUlp, u);
        if (u) off++;
      }
      let rel = 0;
      if (name !== 'lvlb_weights') {
        const r64 = get(ref64, name).data, o64 = s.f64[name];
        for (let i = 0; i < r64.length; i++) rel = Math.max(rel, Math.abs(o64[i]! - r64[i]!) / Math.max(1e-300, Math.abs(r64[i]!)));
        expect(rel, `${name} f64`).to.be.lessThan(1e-12);
      }
      report.push(`${name}: ${off} off by ≤${maxUlp} ulp, f64 rel ${rel.toExponential(1)}`);
      expect(maxUlp, name).to.be.at.most(1);
    }
    log(report.join('\n      '));
    expect(s.f32.posterior_variance[0]).to.equal(0);
    expect(s.f32.posterior_log_variance_clipped[0]).to.equal(Math.fround(Math.log(1e-20)));
  });

  it('ddim_schedules: timesteps, alphas, alphas_prev, sigmas, sqrt(1-alphas) for S in {5,20,50,200}, eta in {0,1}', function () {
    requireReference(this, 'parity', 'ddim_schedules.safetensors');
    const ref = readSafetensors('parity', 'ddim_schedules.safetensors');
    const ac = registerSchedule(LDM_SCHEDULE).f32.alphas_cumprod;
    let worst = 0;
    for (const S of [5, 20, 50, 200]) {
      for (const eta of [0, 1]) {
        const k = `S${S}_eta${eta}`;
        const ts = makeDdimTimesteps('uniform', S, 1000);
        expect([...ts], k).to.deep.equal([...get(ref, `${k}.ddim_timesteps`).data]);
        const d = makeDdimSchedule(ac, ts, eta);
        const pairs = [['ddim_alphas', d.alphas], ['ddim_alphas_prev', d.alphasPrev], ['ddim_sigmas', d.sigmas], ['ddim_sqrt_one_minus_alphas', d.sqrtOneMinusAlphas]] as const;
        for (const [name, ours] of pairs) {
          const r = get(ref, `${k}.${name}`).data;
          for (let i = 0; i < r.length; i++) {
            const e = Math.abs(ours[i]! - r[i]!) / Math.max(1e-300, Math.abs(r[i]!));
            worst = Math.max(worst, r[i] === 0 ? Math.abs(ours[i]!) : e);
          }
        }
      }
    }
    log(`ddim_schedules: max relative error ${worst.toExponential(2)}`);
    expect(worst).to.equal(0); // bit for bit, float32 reciprocal included
  });
});

for (const path of BACKEND_PATHS) {
  const backend = path.label;
  describe(`DDPM step and DDIM sampling parity (${backend})`, function () {
    onBackendPath(path);

    it('ddpm_step: q_sample, eps, predict_start_from_noise, q_posterior, q_mean_variance', function () {
      requireReference(this, 'parity', 'ddpm_step.expected.safetensors');
      const inputs = readSafetensors('parity', 'ddpm_step.inputs.safetensors');
      const expected = readSafetensors('parity', 'ddpm_step.expected.safetensors');
      const unet = loadUNet('unet_tiny');
      const ddpm = ldm(unet, null);
      const x0 = toTf(get(inputs, 'x_start')) as Tensor4D;
      const noise = toTf(get(inputs, 'noise')) as Tensor4D;
      const t = toTf(get(inputs, 't')) as Tensor1D;
      const xT = ddpm.qSample(x0, t, noise);
      const eps = ddpm.applyModel(xT, t);
      const xRecon = ddpm.predictStartFromNoise(xT, t, eps);
      const post = ddpm.qPosterior(xRecon, xT, t);
      const q = ddpm.qMeanVariance(x0, t);
      const pmv = ddpm.pMeanVariance(xT, t);
      const errors: Record<string, number> = {
        x_t: maxAbsDiff(xT, get(expected, 'x_t')),
        eps: maxAbsDiff(eps, get(expected, 'eps')),
        x_recon: maxAbsDiff(xRecon, get(expected, 'x_recon')),
        posterior_mean: maxAbsDiff(post.mean, get(expected, 'posterior_mean')),
        posterior_variance: maxAbsDiff(post.variance, get(expected, 'posterior_variance')),
        posterior_log_variance_clipped: maxAbsDiff(post.logVariance, get(expected, 'posterior_log_variance_clipped')),
        q_mean: maxAbsDiff(q.mean, get(expected, 'q_mean')),
        q_variance: maxAbsDiff(q.variance, get(expected, 'q_variance')),
        q_log_variance: maxAbsDiff(q.logVariance, get(expected, 'q_log_variance')),
        p_mean_variance: maxAbsDiff(pmv.mean, get(expected, 'posterior_mean')),
      };
      log(`${backend} ddpm_step: ${Object.entries(errors).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
      // x_recon = x_t·√(1/ᾱ) − ε·√(1/ᾱ − 1) at t = 637 multiplies ε's error by ~3 (|x_recon| ≤ 22)
      for (const [k, v] of Object.entries(errors)) expect(v, k).to.be.lessThan(1e-4);
      tf.dispose([x0, noise, t, xT, eps, xRecon, post.mean, post.variance, post.logVariance, q.mean, q.variance, q.logVariance, pmv.mean, pmv.variance, pmv.logVariance, pmv.xRecon]);
      ddpm.dispose();
      unet.dispose();
    });

    const runs = [
      { name: 'ddim_unet_tiny_S5_eta0', unet: 'unet_tiny', S: 5, key: null, scale: 1, ts: [1, 201, 401, 601, 801], tol: 1e-4 },
      // guidance ε_u + 3·(ε_c − ε_u) weighs the UNet's own error up to 7×: measured ≤ 8e-5
      { name: 'ddim_unet_tiny_xattn_S4_eta0_cfg3', unet: 'unet_tiny_xattn', S: 4, key: 'crossattn', scale: 3, ts: [1, 251, 501, 751], tol: 1.5e-4 },
    ] as const;
    for (const run of runs) {
      it(`${run.name}: samples, ddim_timesteps, x_inter.NN, pred_x0.NN within ${run.tol} (relative above 1)`, function () {
        requireReference(this, 'parity', `${run.name}.expected.safetensors`);
        const inputs = readSafetensors('parity', `${run.name}.inputs.safetensors`);
        const expected = readSafetensors('parity', `${run.name}.expected.safetensors`);
        const unet = loadUNet(run.unet);
        const ddpm = ldm(unet, run.key);
        const xT = toTf(get(inputs, 'x_T')) as Tensor4D;
        const c = inputs.has('cond_context') ? (toTf(get(inputs, 'cond_context')) as Tensor3D) : undefined;
        const uc = inputs.has('uncond_context') ? (toTf(get(inputs, 'uncond_context')) as Tensor3D) : undefined;
        const sampler = new DDIMSampler(ddpm);
        const [b, h, w, ch] = xT.shape;
        const out = sampler.sample({
          S: run.S, batchSize: b, shape: [h, w, ch], eta: 0, xT, logEveryT: 1,
          ...(c ? { conditioning: c } : {}),
          ...(uc ? { unconditionalConditioning: uc, unconditionalGuidanceScale: run.scale } : {}),
          noise: () => { throw new Error('eta 0 must draw no noise'); },
        });
        expect([...sampler.schedule!.timesteps]).to.deep.equal([...get(expected, 'ddim_timesteps').data]);
        expect([...sampler.schedule!.timesteps]).to.deep.equal([...run.ts]);
        expect(out.intermediates.x_inter.length).to.equal(run.S + 1);
        const errors: Record<string, number> = { samples: maxScaledDiff(out.samples, get(expected, 'samples')) };
        let absMax = maxAbsDiff(out.samples, get(expected, 'samples'));
        for (let i = 0; i <= run.S; i++) {
          const nn = String(i).padStart(2, '0');
          errors[`x_inter.${nn}`] = maxScaledDiff(out.intermediates.x_inter[i]!, get(expected, `x_inter.${nn}`));
          errors[`pred_x0.${nn}`] = maxScaledDiff(out.intermediates.pred_x0[i]!, get(expected, `pred_x0.${nn}`));
          absMax = Math.max(absMax, maxAbsDiff(out.intermediates.x_inter[i]!, get(expected, `x_inter.${nn}`)), maxAbsDiff(out.intermediates.pred_x0[i]!, get(expected, `pred_x0.${nn}`)));
        }
        log(`${backend} ${run.name}: max abs ${absMax.toExponential(2)}; scaled: ${Object.entries(errors).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
        // values reach ~50 (a random-weight "denoiser"): absolute below 1, relative above
        for (const [k, v] of Object.entries(errors)) expect(v, k).to.be.lessThan(run.tol);
        tf.dispose([xT, out.samples, ...out.intermediates.x_inter, ...out.intermediates.pred_x0, ...(c ? [c] : []), ...(uc ? [uc] : [])]);
        ddpm.dispose();
        unet.dispose();
      });
    }
  });
}
