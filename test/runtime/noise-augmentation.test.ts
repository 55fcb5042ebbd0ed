// sd2's noise augmentors: the x4 upscaler's low-scale model against the reference's vectors
// (../shared/reference/sd-parity/x4_lowscale.*), and unCLIP's CLIPEmbeddingNoiseAugmentation.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import { noiseFrom } from '../../runtime/diffusion/noise.js';
import { makeBetaSchedule } from '../../runtime/diffusion/schedule.js';
import { CLIPEmbeddingNoiseAugmentation, ImageConcatWithNoiseAugmentation } from '../../runtime/encoders/index.js';
import { requireReference } from '../support/reference.js';
import { get, maxAbsBetween, maxAbsDiff, readSafetensors, toTf } from './nn.helpers.js';

describe('noise augmentation (sd2 low-scale and unCLIP)', function () {
  before(async function () {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('ImageConcatWithNoiseAugmentation (x4-upscaling low_scale_config): buffers bit-exact, z_low within 1e-6', function () {
    requireReference(this, 'sd-parity', 'x4_lowscale.expected.safetensors');
    const m = new ImageConcatWithNoiseAugmentation({ noise_schedule_config: { linear_start: 0.0001, linear_end: 0.02 }, max_noise_level: 350 });
    expect(m.paramCount()).to.equal(0);
    const sched = readSafetensors('sd-parity', 'x4_lowscale.schedule.safetensors');
    expect(maxAbsBetween(m.sqrtAlphasCumprod, get(sched, 'sqrt_alphas_cumprod').data)).to.equal(0);
    expect(maxAbsBetween(m.sqrtOneMinusAlphasCumprod, get(sched, 'sqrt_one_minus_alphas_cumprod').data)).to.equal(0);
    const inputs = readSafetensors('sd-parity', 'x4_lowscale.inputs.safetensors');
    const x = toTf(get(inputs, 'x_low'));
    const noise = toTf(get(inputs, 'noise'));
    const levels = Array.from(get(inputs, 'noise_level').data, (v) => Math.round(v));
    expect(levels).to.deep.equal([0, 20, 349]);
    const { z, noiseLevel } = m.forward(x, levels, noiseFrom([noise]));
    expect(maxAbsDiff(z, get(readSafetensors('sd-parity', 'x4_lowscale.expected.safetensors'), 'z_low'))).to.be.lessThan(1e-6);
    expect(Array.from(noiseLevel.dataSync())).to.deep.equal(levels);
    tf.dispose([x, noise, z, noiseLevel]);
  });

  it('draws levels in [0, max_noise_level) when none is given', function () {
    const m = new ImageConcatWithNoiseAugmentation({ noise_schedule_config: {}, max_noise_level: 3 });
    const lv = m.drawLevels(200);
    expect(Math.min(...lv)).to.equal(0);
    expect(Math.max(...lv)).to.equal(2);
  });

  it("CLIPEmbeddingNoiseAugmentation: level 0 keeps the embedding (almost), the level embedding is timestep_dim wide; squaredcos_cap_v2 caps the last beta", function () {
    const betas = makeBetaSchedule('squaredcos_cap_v2', 1000);
    expect(betas[999]).to.equal(0.999);
    expect(betas[0]).to.be.greaterThan(0).and.lessThan(1e-4);
    const m = new CLIPEmbeddingNoiseAugmentation({ noise_schedule_config: { timesteps: 1000, beta_schedule: 'squaredcos_cap_v2' }, timestep_dim: 8 });
    const x = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [8, 7, 6, 5, 4, 3, 2, 1]]) as Tensor2D;
    const { z, levelEmbedding } = m.augment(x, [0, 999], () => tf.zeros([2, 8]));
    expect(levelEmbedding.shape).to.deep.equal([2, 8]);
    const zv = z.arraySync();
    expect(maxAbsBetween(zv[0]!, [1, 2, 3, 4, 5, 6, 7, 8])).to.be.lessThan(1e-3);
    // At the last level √ᾱ is ~0: with zero noise the embedding collapses to the mean (0).
    expect(maxAbsBetween(zv[1]!, new Array(8).fill(0))).to.be.lessThan(1e-2);
    expect(() => m.augment(tf.zeros([1, 4]) as Tensor2D, [0])).to.throw(/4 wide/);
    tf.dispose([x, z, levelEmbedding]);
  });
});
