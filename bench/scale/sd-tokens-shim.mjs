// Bench-only stand-in for the CLIP tokenizer, for `ldmc txt2img` builds without one (branch sdtok adds
// encodeText to both CLIP text encoders; where it exists this file does nothing). Loaded with
// `node --import ./bench/scale/sd-tokens-shim.mjs bin/ldmc.js txt2img ...`. The ids come from
// LDMC_BENCH_TOKENS, a JSON file that `bench/torch_sd.py tokens` writes with its own CLIP BPE tokenizer
// ({"hf": {prompt: ids}, "open_clip": {prompt: ids}}), so both sides encode the same ids.
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { FrozenCLIPEmbedder, FrozenOpenCLIPEmbedder } = await import(pathToFileURL(join(root, 'dist/runtime/encoders/clip-text.js')).href);
const table = process.env.LDMC_BENCH_TOKENS ? JSON.parse(readFileSync(process.env.LDMC_BENCH_TOKENS, 'utf8')) : undefined;

for (const [C, form] of [[FrozenCLIPEmbedder, 'hf'], [FrozenOpenCLIPEmbedder, 'open_clip']]) {
  if (typeof C.prototype.encodeText === 'function') continue;
  C.prototype.encodeText = function (prompts) {
    const rows = prompts.map((p) => {
      const ids = table?.[form]?.[p];
      if (!ids) throw new Error(`sd-tokens-shim: no ${form} ids for ${JSON.stringify(p)} in LDMC_BENCH_TOKENS (${process.env.LDMC_BENCH_TOKENS ?? 'unset'})`);
      return ids;
    });
    const t = tf.tensor2d(rows.flat(), [rows.length, 77], 'int32');
    try {
      return this.forward(t);
    } finally {
      t.dispose();
    }
  };
}
