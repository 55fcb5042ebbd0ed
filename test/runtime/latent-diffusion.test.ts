// LatentDiffusion built from a compiled config: the loss trains, the whole state_dict has the
// reference's names, and a checkpoint written here loads back into an identical model.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { compile } from '../../compiler/program.js';
import { resolvedNode } from '../../compiler/resolved.js';
import { initBackend } from '../../runtime/backend.js';
import { LatentDiffusion, type LatentDiffusionArgs } from '../../runtime/diffusion/index.js';
import { diskHost } from '../support/compile.js';

function fashionArgs(overrides: string[] = []): LatentDiffusionArgs {
  const r = compile({ files: ['examples/fashion-ldm-cond.yaml'], overrides }, diskHost);
  expect(r.hasErrors).to.equal(false);
  return resolvedNode(r.graph!.model!).params as unknown as LatentDiffusionArgs;
}

describe('LatentDiffusion', function () {
  this.timeout(120000);
  before(async function () {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('has the reference parameter layout and trains the UNet and the cond stage only', function () {
    const ld = new LatentDiffusion(fashionArgs());
    try {
      expect(ld.paramCount()).to.equal(7083583);
      const names = ld.namedParameters().map(([n]) => n);
      expect(names).to.include('model.diffusion_model.time_embed.0.weight');
      expect(names).to.include('first_stage_model.quantize.embedding.weight');
      expect(names).to.include('cond_stage_model.embedding.weight');
      const trainable = ld.trainableVariables().reduce((a, v) => a + v.size, 0);
      expect(trainable).to.equal(6132291 + 640);
      expect(ld.conditioningKey).to.equal('crossattn');
    } finally {
      ld.dispose();
    }
  });

  // On wasm: the cpu backend's conv gradients take about a minute a step here.
  it('takes a gradient step that lowers the loss on a fixed batch (wasm)', async function () {
    await initBackend({ backend: 'wasm', quiet: true });
    const ld = new LatentDiffusion(fashionArgs(['model.params.unet_config.params.num_res_blocks=1']));
    try {
      const images = tf.randomUniform([4, 32, 32, 1], -1, 1, 'float32', 1) as Tensor4D;
      const labels = tf.tensor1d([0, 1, 2, 3], 'int32');
      const t = tf.tensor1d([10, 200, 500, 900], 'int32');
      const noise = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 2) as Tensor4D;
      const batch = { image: images, class_label: labels };
      const opt = tf.train.adam(1e-3);
      const vars = ld.trainableVariables();
      const lossAt = () => {
        const r = ld.trainingLoss(batch, { t, noise });
        const v = r.loss.dataSync()[0]!;
        tf.dispose([r.loss, ...Object.values(r.lossDict)]);
        return v;
      };
      const before = lossAt();
      for (let i = 0; i < 5; i++) {
        const { value, grads } = tf.variableGrads(() => ld.trainingLoss(batch, { t, noise }).loss, vars);
        opt.applyGradients(grads as tf.NamedTensorMap as never);
        tf.dispose([value, ...Object.values(grads)]);
      }
      const after = lossAt();
      expect(Number.isFinite(before)).to.equal(true);
      expect(after).to.be.below(before);
      tf.dispose([images, labels, t, noise]);
      opt.dispose();
    } finally {
      ld.dispose();
      await initBackend({ backend: 'cpu', quiet: true });
    }
  });

  it('writes a full state_dict with PyTorch names that loads back into an identical model', function () {
    const args = fashionArgs(['model.params.unet_config.params.num_res_blocks=1']);
    const a = new LatentDiffusion(args);
    const b = new LatentDiffusion(args, { zeroInit: true });
    try {
      a.ema!.update(a.model);
      const sd = a.fullStateDict();
      for (const k of ['betas', 'alphas_cumprod', 'posterior_mean_coef2', 'model_ema.decay', 'model_ema.num_updates', 'model_ema.diffusion_modeltime_embed0weight']) expect(sd.has(k), k).to.equal(true);
      const rep = b.loadFull(sd);
      expect(rep.loaded).to.equal(b.namedParameters().length);
      expect(() => b.loadFull(new Map([...sd, ['model.diffusion_model.extra.weight', { shape: [1], data: new Float32Array(1) }]]))).to.throw(/unexpected keys \(1\): model.diffusion_model.extra.weight/);
      expect(b.ema!.numUpdates).to.equal(1);
      const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 3) as Tensor4D;
      const t = tf.tensor1d([5, 500], 'int32');
      const c = a.getLearnedConditioning(tf.tensor1d([1, 7], 'int32'));
      const ya = a.ddpm.applyModel(x, t, c), yb = b.ddpm.applyModel(x, t, c);
      expect(tf.max(tf.abs(tf.sub(ya, yb))).dataSync()[0]).to.equal(0);
      const sd2 = b.fullStateDict();
      expect([...sd2.keys()].sort()).to.deep.equal([...sd.keys()].sort());
      expect([...sd2.get('model_ema.diffusion_modeltime_embed0weight')!.data]).to.deep.equal([...sd.get('model_ema.diffusion_modeltime_embed0weight')!.data]);
    } finally {
      a.dispose();
      b.dispose();
    }
  });
});
