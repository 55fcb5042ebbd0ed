// The two SD text encoders against the reference's outputs (../shared/reference/sd-parity:
// clip_text_tiny = HF CLIPTextModel inside sd1's FrozenCLIPEmbedder; openclip_text_tiny = sd2's
// FrozenOpenCLIPEmbedder on open_clip 2.7.0), from token ids, on cpu and wasm. Each module is
// built as a config builds it: `version` / `arch` name the oracle's own model-config JSONs
// (clip_text_tiny.hf_config.json, openclip_text_tiny.model_config.json), relative to sd-parity/.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import { buildComponent } from '../../runtime/build.js';
import { FrozenCLIPEmbedder, FrozenOpenCLIPEmbedder } from '../../runtime/encoders/index.js';
import { loadStateDict } from '../../runtime/weights/state-dict.js';
import { referencePath, requireReference } from '../support/reference.js';
import { get, maxAbsDiff, readSafetensors } from './nn.helpers.js';

/** summary.json: f32-vs-f64 ≤ 2e-6 for both; tfjs sums in another order. */
const TOL = 1e-4;
const log = (msg: string) => process.env.LDMC_PRINT_ERRORS && process.stderr.write(`      ${msg}\n`);

const HF_TARGET = 'ldm.modules.encoders.modules.FrozenCLIPEmbedder';
const OPENCLIP_TARGET = 'ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder';

/** The module a config with these params builds, relative paths starting at sd-parity/. */
function fromConfig<T>(target: string, params: Record<string, unknown>): T {
  return buildComponent(target, params, { configDir: referencePath('sd-parity') }) as unknown as T;
}

function ids(t: ReturnType<typeof get>): Tensor2D {
  return tf.tensor2d(Int32Array.from(t.data, (v) => Math.round(v)), [t.shape[0]!, t.shape[1]!], 'int32');
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`SD text encoders parity (${backend})`, function () {
    before(async function () {
      await initBackend({ backend, quiet: true });
    });

    it(`clip_text_tiny: last, pooled and hidden layers match transformers within ${TOL}`, function () {
      requireReference(this, 'sd-parity', 'clip_text_tiny.weights.safetensors');
      const weights = readSafetensors('sd-parity', 'clip_text_tiny.weights.safetensors');
      const inputs = readSafetensors('sd-parity', 'clip_text_tiny.inputs.safetensors');
      const expected = readSafetensors('sd-parity', 'clip_text_tiny.expected.safetensors');
      const x = ids(get(inputs, 'input_ids'));
      const errors: Record<string, number> = {};
      const cases: Array<[string, Record<string, unknown>]> = [
        ['last_hidden_state', {}],
        ['pooler_output', { layer: 'pooled' }],
        ['hidden_states.0', { layer: 'hidden', layer_idx: 0 }],
        ['hidden_states.1', { layer: 'hidden', layer_idx: 1 }],
        ['penultimate_pre_ln', { layer: 'hidden', layer_idx: -2 }],
      ];
      for (const [key, params] of cases) {
        const m = fromConfig<FrozenCLIPEmbedder>(HF_TARGET, { version: 'clip_text_tiny.hf_config.json', max_length: 77, ...params });
        expect(m.paramCount()).to.equal(51616); // README: 51,616 params, 36 tensors
        expect(loadStateDict(m, weights, { strict: true }).loaded).to.equal(36);
        const out = m.forward(x);
        const ref = get(expected, key);
        // pooled comes back as [B, 1, D] (sd2's `pooler_output[:, None, :]`); the file holds [B, D].
        const flat = key === 'pooler_output' ? tf.squeeze(out, [1]) : out;
        errors[key] = maxAbsDiff(flat, ref);
        tf.dispose([out, flat]);
        m.dispose();
      }
      log(`${backend} clip: ${Object.entries(errors).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
      for (const [k, v] of Object.entries(errors)) expect(v, k).to.be.lessThan(TOL);
      x.dispose();
    });

    it(`openclip_text_tiny: penultimate and last match open_clip within ${TOL}`, function () {
      requireReference(this, 'sd-parity', 'openclip_text_tiny.weights.safetensors');
      const weights = readSafetensors('sd-parity', 'openclip_text_tiny.weights.safetensors');
      // The oracle's writer stored the 0-d logit_scale as [1]; the module holds it 0-d, as
      // v2-inference.json lists it (shape []). Same single value.
      const scale = get(weights, 'model.logit_scale');
      expect(scale.shape).to.deep.equal([1]);
      weights.set('model.logit_scale', { ...scale, shape: [] });
      const inputs = readSafetensors('sd-parity', 'openclip_text_tiny.inputs.safetensors');
      const expected = readSafetensors('sd-parity', 'openclip_text_tiny.expected.safetensors');
      const x = ids(get(inputs, 'tokens'));
      const errors: Record<string, number> = {};
      for (const [key, layer] of [['z_penultimate', 'penultimate'], ['z_last', 'last']] as const) {
        const m = fromConfig<FrozenOpenCLIPEmbedder>(OPENCLIP_TARGET, { arch: 'openclip_text_tiny.model_config.json', layer });
        expect(m.paramCount()).to.equal(73665); // README: 73,665 params, 42 tensors
        expect(loadStateDict(m, weights, { strict: true }).loaded).to.equal(42);
        const out = m.forward(x);
        errors[key] = maxAbsDiff(out, get(expected, key));
        out.dispose();
        m.dispose();
      }
      log(`${backend} openclip: ${Object.entries(errors).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
      for (const [k, v] of Object.entries(errors)) expect(v, k).to.be.lessThan(TOL);
      x.dispose();
    });
  });
}
