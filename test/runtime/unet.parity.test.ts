// UNetModel against CompVis/latent-diffusion's outputs (../shared/reference/parity), on cpu and wasm.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { UNetModel, type UNetModelArgs, type UNetModelRequired } from '../../runtime/unet/index.js';
import { loadStateDict, stateDict } from '../../runtime/weights/state-dict.js';
import { BACKEND_PATHS, onBackendPath } from '../support/backend-paths.js';
import { requireReference } from '../support/reference.js';
import { get, maxAbsDiff, readSafetensors, readYamlParams, toTf } from './nn.helpers.js';

/**
 * float32-vs-float64 differences of the reference are ≤ ~1.2e-5 (summary.json); tfjs sums in a
 * different order and computes its own timestep frequencies (≤ 2e-5 in t_emb), so allow 1e-4.
 */
const TOL = 1e-4;
const MODELS = ['unet_tiny', 'unet_tiny_xattn', 'unet_tiny_updown'] as const;
const TRACED = ['t_emb', 'time_embed', 'input_blocks.1', 'input_blocks.3', 'middle_block', 'output_blocks.0', 'output_blocks.3'];

/** Set LDMC_PRINT_ERRORS=1 to print the measured errors. */
const log = (msg: string) => process.env.LDMC_PRINT_ERRORS && process.stderr.write(`      ${msg}\n`);

for (const path of BACKEND_PATHS) {
  const backend = path.label;
  describe(`UNetModel parity (${backend})`, function () {
    onBackendPath(path);

    for (const name of MODELS) {
      it(`${name}: out and intermediates match PyTorch within ${TOL}`, function () {
        requireReference(this, 'parity', `${name}.weights.safetensors`);
        const params = readYamlParams<UNetModelRequired & Partial<UNetModelArgs>>('parity', `${name}.yaml`);
        const weights = readSafetensors('parity', `${name}.weights.safetensors`);
        const inputs = readSafetensors('parity', `${name}.inputs.safetensors`);
        const expected = readSafetensors('parity', `${name}.expected.safetensors`);
        const model = new UNetModel(params);
        const report = loadStateDict(model, weights);
        expect(report.loaded).to.equal(weights.size);
        const x = toTf(get(inputs, 'x')) as Tensor4D;
        const t = toTf(get(inputs, 'timesteps')) as Tensor1D;
        const ctx = inputs.has('context') ? (toTf(get(inputs, 'context')) as Tensor3D) : undefined;
        const errors: Record<string, number> = {};
        const out = model.forward(x, t, ctx, undefined, (key, value) => {
          if (!TRACED.includes(key)) return;
          errors[key] = maxAbsDiff(value, get(expected, key === 't_emb' ? 't_emb' : `inter.${key}`));
        });
        errors.out = maxAbsDiff(out, get(expected, 'out'));
        log(`${backend} ${name}: ${Object.entries(errors).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
        for (const [k, v] of Object.entries(errors)) expect(v, k).to.be.lessThan(TOL);
        tf.dispose([x, t, out, ...(ctx ? [ctx] : [])]);
        model.dispose();
      });
    }

    it('unet_tiny: loadStateDict then stateDict reproduces the file exactly (names and values)', function () {
      requireReference(this, 'parity', 'unet_tiny.weights.safetensors');
      const weights = readSafetensors('parity', 'unet_tiny.weights.safetensors');
      const model = new UNetModel(readYamlParams('parity', 'unet_tiny.yaml'));
      expect(model.paramCount()).to.equal(702499); // summary.json
      loadStateDict(model, weights);
      const back = stateDict(model);
      expect([...back.keys()].sort()).to.deep.equal([...weights.keys()].sort());
      for (const [k, v] of back) {
        const ref = weights.get(k)!;
        expect(v.shape, k).to.deep.equal(ref.shape);
        // the view's own bytes: on the cpu path a tensor's array may be a view into a pooled buffer
        expect(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength).equals(Buffer.from(Float32Array.from(ref.data).buffer)), k).to.equal(true);
      }
      model.dispose();
    });
  });
}
