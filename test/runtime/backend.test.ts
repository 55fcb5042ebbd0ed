// Backend selection.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';

describe('backend', () => {
  it('an explicit backend that cannot start is an error that says why', async () => {
    let err: unknown;
    try {
      await initBackend({ backend: 'tensorflow', quiet: true });
    } catch (e) {
      err = e;
    }
    // tfjs-node is not a dependency; where it happens to be installed the call succeeds.
    if (err === undefined) return;
    expect(String(err)).to.match(/could not start the 'tensorflow' tfjs backend[\s\S]*tfjs-node/);
  });

  it('starts cpu and wasm on request, with gradients registered', async () => {
    expect(await initBackend({ backend: 'cpu', quiet: true })).to.equal('cpu');
    expect(tf.getGradient('Conv2D')).to.not.equal(undefined);
    expect(await initBackend({ backend: 'wasm', quiet: true })).to.equal('wasm');
    expect(tf.getBackend()).to.equal('wasm');
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(x, x)))(tf.tensor1d([1, 2]));
    expect([...g.dataSync()]).to.deep.equal([2, 4]);
  });
});
