// Training smoke test: one Adam step of unet_tiny on wasm (which needs the forward-conv Conv2D gradient).
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import { UNetModel } from '../../runtime/unet/index.js';
import { loadStateDict } from '../../runtime/weights/state-dict.js';
import { requireReference } from '../support/reference.js';
import { readSafetensors, readYamlParams } from './nn.helpers.js';

describe('UNetModel training step (wasm)', function () {
  before(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
  });

  it('one Adam step on unet_tiny runs, keeps the loss finite and moves every parameter group', function () {
    requireReference(this, 'parity', 'unet_tiny.weights.safetensors');
    const model = new UNetModel(readYamlParams('parity', 'unet_tiny.yaml'));
    loadStateDict(model, readSafetensors('parity', 'unet_tiny.weights.safetensors'));
    model.train();
    const before = new Map(model.namedParameters().map(([n, v]) => [n, v.dataSync().slice()]));
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 1) as Tensor4D;
    const noise = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 2);
    const t = tf.tensor1d([10, 700]) as Tensor1D;
    const opt = tf.train.adam(1e-3);
    const loss = opt.minimize(() => tf.mean(tf.square(tf.sub(model.forward(x, t), noise))) as tf.Scalar, true, model.parameters());
    expect(loss).to.not.equal(null);
    expect(Number.isFinite(loss!.dataSync()[0]!)).to.equal(true);
    for (const [name, v] of model.namedParameters()) {
      if (!/weight$/.test(name)) continue;
      const moved = v.dataSync().some((val, i) => val !== before.get(name)![i]);
      expect(moved, `${name} did not change`).to.equal(true);
    }
    tf.dispose([x, noise, t, loss!]);
    opt.dispose();
    model.dispose();
  });
});
