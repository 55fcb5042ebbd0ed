// TEMPORARY test-only stand-in for the CLIP tokenizer (branch sdtok adds encodeText to both CLIP
// text encoders): loaded into the `ldmc txt2img` child processes with `node --import` until that
// lands, never by shipped code. Prompts become ids by a fixed hash, BOS first and EOS last, as
// wide as the encoder's vocabulary, then run through the encoder's own forward.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import { FrozenCLIPEmbedder, FrozenOpenCLIPEmbedder } from '../../runtime/encoders/clip-text.js';

function ids(prompts: string[], vocab: number): Tensor2D {
  const T = 77, out = new Int32Array(prompts.length * T);
  prompts.forEach((p, b) => {
    out[b * T] = vocab - 2;
    const n = Math.min(p.length, T - 2);
    for (let i = 0; i < n; i++) out[b * T + 1 + i] = (p.charCodeAt(i) * 31 + i) % (vocab - 2);
    for (let i = n + 1; i < T; i++) out[b * T + i] = vocab - 1;
  });
  return tf.tensor2d(out, [prompts.length, T], 'int32');
}

for (const C of [FrozenCLIPEmbedder, FrozenOpenCLIPEmbedder] as const) {
  const proto = C.prototype as unknown as { encodeText?: (p: string[]) => Tensor3D; forward(t: Tensor2D): Tensor3D };
  if (typeof proto.encodeText === 'function') continue;
  proto.encodeText = function (this: FrozenCLIPEmbedder | FrozenOpenCLIPEmbedder, prompts: string[]): Tensor3D {
    const vocab = this instanceof FrozenCLIPEmbedder ? this.transformer.arch.vocabSize : this.model.arch.text.vocabSize;
    const t = ids(prompts, vocab);
    try {
      return this.forward(t);
    } finally {
      t.dispose();
    }
  };
}
