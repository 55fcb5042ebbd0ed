// The freeing backward walk (runtime/perf/lean-backprop.ts) against tfjs's own gradients(): a
// cross-attention UNet's parameter gradients, bit for bit, on each backend path, and no tensor left
// behind. Its memory saving is a benchmark figure (bench/scale-ldmc.js celeba-train), not a test.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { setLeanBackprop } from '../../runtime/perf/lean-backprop.js';
import { UNetModel, type UNetModelArgs, type UNetModelRequired } from '../../runtime/unet/index.js';
import { BACKEND_PATHS, onBackendPath } from '../support/backend-paths.js';

const params = {
  image_size: 8, in_channels: 4, out_channels: 4, model_channels: 32, attention_resolutions: [1, 2], num_res_blocks: 1,
  channel_mult: [1, 2], num_heads: 2, use_spatial_transformer: true, context_dim: 16, transformer_depth: 1, resblock_updown: true,
} as UNetModelRequired & Partial<UNetModelArgs>;

function gradsOf(model: UNetModel, lean: boolean): { loss: number; grads: Map<string, Float32Array>; leftOver: number } {
  setLeanBackprop(lean);
  try {
    const x = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 1) as Tensor4D;
    const ctx = tf.randomNormal([2, 5, 16], 0, 1, 'float32', 2) as Tensor3D;
    const noise = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 3);
    const t = tf.tensor1d([10, 700]) as Tensor1D;
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(model.forward(x, t, ctx), noise))) as tf.Scalar, model.parameters());
    const out = new Map(model.namedParameters().map(([n, v]) => [n, grads[v.name]!.dataSync() as Float32Array]));
    const loss = value.dataSync()[0]!;
    tf.dispose([value, ...Object.values(grads)]);
    const leftOver = tf.memory().numTensors - before;
    tf.dispose([x, ctx, noise, t]);
    return { loss, grads: out, leftOver };
  } finally {
    setLeanBackprop(true);
  }
}

for (const path of BACKEND_PATHS) {
  describe(`runtime/perf: the freeing backward walk (${path.label})`, function () {
    onBackendPath(path);

    it('gives the same loss and parameter gradients as tfjs, bit for bit, and leaves no tensor behind', function () {
      const model = new UNetModel(params);
      model.train();
      const ref = gradsOf(model, false), lean = gradsOf(model, true);
      expect(lean.loss).to.equal(ref.loss);
      expect([...lean.grads.keys()]).to.deep.equal([...ref.grads.keys()]);
      expect(ref.grads.size).to.be.greaterThan(50);
      for (const [n, g] of ref.grads) expect(Buffer.from(lean.grads.get(n)!.buffer, lean.grads.get(n)!.byteOffset, g.byteLength).equals(Buffer.from(g.buffer, g.byteOffset, g.byteLength)), n).to.equal(true);
      expect(lean.leftOver).to.equal(0);
      expect(ref.leftOver).to.equal(0);
      model.dispose();
    });
  });
}
