// ldm/models/diffusion/plms.py `PLMSSampler`: pseudo linear multistep on the DDIM update.
// Step 1 is a pseudo improved-Euler step (two model calls); later steps use Adams–Bashforth of
// order 2, 3 and 4 over the ε of previous steps.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import { ddimStepParams, ddimUpdate, guidedEps, makeDdimSchedule, makeDdimTimesteps, runSampler, type DdimDiscretize, type DdimSchedule, type SampleResult, type SamplerOptions } from './ddim.js';
import type { DDPM } from './ddpm.js';

/** ε′ from the current ε and up to three previous ones (newest last). */
export function plmsEpsPrime(eT: Tensor4D, oldEps: readonly Tensor4D[]): Tensor4D {
  return tf.tidy(() => {
    const n = oldEps.length;
    const o = (k: number) => oldEps[n - k]!;
    if (n === 1) return tf.div(tf.sub(tf.mul(3, eT), o(1)), 2) as Tensor4D;
    if (n === 2) return tf.div(tf.add(tf.sub(tf.mul(23, eT), tf.mul(16, o(1))), tf.mul(5, o(2))), 12) as Tensor4D;
    return tf.div(tf.sub(tf.add(tf.sub(tf.mul(55, eT), tf.mul(59, o(1))), tf.mul(37, o(2))), tf.mul(9, o(3))), 24) as Tensor4D;
  });
}

export class PLMSSampler {
  schedule: DdimSchedule | undefined;

  constructor(readonly model: DDPM) {}

  makeSchedule(S: number, eta = 0, discretize: DdimDiscretize = 'uniform'): DdimSchedule {
    if (eta !== 0) throw new Error('PLMSSampler: ddim_eta must be 0 for PLMS');
    const ts = makeDdimTimesteps(discretize, S, this.model.numTimesteps);
    return (this.schedule = makeDdimSchedule(this.model.schedule.f32.alphas_cumprod, ts, eta));
  }

  sample(opts: SamplerOptions): SampleResult {
    const s = this.makeSchedule(opts.S, opts.eta ?? 0, opts.discretize);
    const oldEps: Tensor4D[] = [];
    try {
      // ε_t from the guided output; a v model's output is converted first (the reference PLMS
      // takes the raw output as ε, which is only right for eps models; ldmc converts v).
      const epsAt = (x: Tensor4D, t: Tensor1D): Tensor4D => tf.tidy(() => this.model.samplerEps(x, t, guidedEps(this.model, x, t, opts.conditioning, opts)));
      return runSampler(this.model, s, opts, (x, t, index, tNext) => {
        const p = ddimStepParams(s, index);
        const eT = epsAt(x, t);
        let ePrime: Tensor4D;
        if (oldEps.length === 0) {
          // pseudo improved Euler: average ε at x_t and at the DDIM prediction of x_{t_next}
          const first = ddimUpdate(x, eT, p, opts);
          const eNext = epsAt(first.xPrev, tNext);
          ePrime = tf.div(tf.add(eT, eNext), 2) as Tensor4D;
        } else ePrime = plmsEpsPrime(eT, oldEps);
        const out = ddimUpdate(x, ePrime, p, opts);
        // eT outlives this step's tidy (runSampler's): keep it for the multistep formula
        oldEps.push(tf.keep(eT));
        if (oldEps.length >= 4) oldEps.shift()!.dispose();
        return out;
      });
    } finally {
      for (const e of oldEps) e.dispose();
    }
  }
}
