// A LastLayer for ldm's Decoder: decode once, keep the activation that enters the head
// (norm_out → SiLU → conv_out [→ tanh]), and let the adaptive weight re-run only that head.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import type { Decoder } from '../autoencoder/index.js';
import { silu } from '../nn/index.js';
import type { LastLayer } from './gan.js';

export interface DecoderLastLayer extends LastLayer {
  /** Frees the kept head input. Call it once the loss (and its gradient) has been computed. */
  dispose(): void;
}

/**
 * `decoder.forward(z)` plus a LastLayer on `decoder.conv_out.weight` (`get_last_layer()` in
 * ldm's autoencoders). Call it inside the generator's gradient function, then pass `lastLayer`
 * to the loss; dispose it after the optimizer step.
 */
export function decodeWithLastLayer(decoder: Decoder, z: Tensor4D): { dec: Tensor4D; lastLayer: DecoderLastLayer } {
  if (decoder.config.give_pre_end) throw new Error('decodeWithLastLayer: the decoder has give_pre_end set, so it has no last layer');
  let prev: Tensor | null = null, headInput: Tensor4D | null = null;
  const dec = decoder.forward(z, (name, t) => {
    // The tap before 'conv_out' is the last block of up[0]: the head's input. Kept past the
    // decoder's tidy, which would otherwise free it.
    if (name === 'conv_out' && prev) headInput = tf.keep(prev) as Tensor4D;
    prev = t;
  });
  const h = headInput as Tensor4D | null;
  if (!h) throw new Error('decodeWithLastLayer: the decoder reported no activation before conv_out');
  const lastLayer: DecoderLastLayer = {
    variable: decoder.conv_out.weight,
    reconstruct: () => tf.tidy(() => {
      const y = decoder.conv_out.forward(decoder.norm_out.forwardSilu(h));
      return decoder.config.tanh_out ? tf.tanh(y) : y;
    }),
    dispose: () => h.dispose(),
  };
  return { dec, lastLayer };
}
