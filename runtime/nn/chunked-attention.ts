// softmax(q·kᵀ)·v with a bounded attention matrix. SD's first UNet level at 512×512 attends over
// 64×64 = 4,096 tokens: with CFG's batch 2 and 8 heads the full matrix is 2·8·4096² floats = 1 GiB,
// and the scaling and softmax make more of them. Rows of the matrix are independent (softmax runs
// along the keys), so the queries are split into chunks whose matrices hold at most `budget`
// floats over all B·heads, each freed before the next is made (peak: about two budgets plus the
// activations). One code path: small inputs are one chunk. Every row sees the same operations as
// unchunked, so results agree to the last bit where a kernel's per-row arithmetic does not depend
// on the row count (the tfjs kernels; the native product differs by an ulp or so).
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor3D } from '@tensorflow/tfjs-core';
import { batchMatMul, explicitTransposes, transposeLast2 } from '../perf/matmul.js';
import { ATTENTION, nativeKernelsActive } from '../perf/native-kernels.js';

/** Default bound on one attention matrix: 2^24 float32 values = 64 MiB, over all B·heads. */
export const DEFAULT_ATTENTION_BUDGET = 2 ** 24;

let budget = DEFAULT_ATTENTION_BUDGET;
let fused = true;

/**
 * Switches the fused native attention kernel on or off (default on; it only runs where the native
 * kernels are active and no gradient tape records) and returns the previous setting. Off, the
 * chunked tfjs ops below run: tests compare the two, and check the chunking itself.
 */
export function setFusedAttention(on: boolean): boolean {
  const prev = fused;
  fused = on;
  return prev;
}

/** True when scaledDotProductAttention would run the fused native kernel now. */
export function fusedAttentionActive(): boolean {
  return fused && nativeKernelsActive() && !tf.engine().isTapeOn();
}

/** The current bound, in float32 values, on one chunk's attention matrix. */
export function attentionBudget(): number {
  return budget;
}

/**
 * Sets the bound on one chunk's attention matrix (in float32 values; undefined restores the
 * default) and returns the previous one. Tests force many chunks with a tiny budget; a memory-
 * starved process may lower it. Smaller budgets only cost speed (more, smaller products).
 */
export function setAttentionBudget(floats?: number): number {
  const prev = budget;
  if (floats !== undefined && !(Number.isInteger(floats) && floats >= 1)) throw new RangeError(`setAttentionBudget: a positive integer number of floats, not ${floats}`);
  budget = floats ?? DEFAULT_ATTENTION_BUDGET;
  return prev;
}

/**
 * Query rows per chunk so that [batchHeads, rows, keys] stays within `floats` (never below one
 * row: a single row over every key is the smallest piece softmax can be computed on).
 */
export function queryChunkRows(batchHeads: number, queries: number, keys: number, floats = budget): number {
  return Math.max(1, Math.min(queries, Math.floor(floats / (batchHeads * keys))));
}

/**
 * The fused native kernel on heads laid out as column blocks: q [B, N, H·d], k [B, M, H·d],
 * v [B, M, H·dv] → [B, N, H·dv] (torch's `b n (h d)`), so no transposes split or merge the heads.
 * Only while fusedAttentionActive().
 */
export function fusedAttention(q: Tensor3D, k: Tensor3D, v: Tensor3D, heads: number, scale: number): Tensor3D {
  return tf.engine().runKernel(ATTENTION, { q, k, v }, { scale, heads } as unknown as tf.NamedAttrMap) as Tensor3D;
}

/**
 * softmax(q·kᵀ·scale)·v over [B·H, N, d] queries and [B·H, M, d] keys and values → [B·H, N, d].
 * The logits are scaled after the product, as torch's CrossAttention does (`einsum(q, k) *
 * scale`), which keeps the rounding identical; pass scale 1 when q and k arrive already scaled
 * (QKVAttention). Differentiable: under tf.grad the tape keeps what backprop needs, so the bound
 * holds for inference only.
 */
export function scaledDotProductAttention(q: Tensor3D, k: Tensor3D, v: Tensor3D, scale = 1): Tensor3D {
  const [BH, N] = q.shape, M = k.shape[1];
  // Inference on the native kernels: one fused kernel that never stores the matrix (its blocks of
  // logits stay in cache), so neither the budget nor the chunks below apply. Backprop needs the
  // softmax saved, so under a gradient tape the tfjs ops run.
  if (fusedAttentionActive() && q.dtype === 'float32' && k.dtype === 'float32' && v.dtype === 'float32') {
    return fusedAttention(q, k, v, 1, scale);
  }
  const rows = queryChunkRows(BH, N, M);
  const attendRows = (qc: Tensor3D, kT: Tensor3D | null): Tensor3D => tf.tidy(() => {
    // Each matrix is freed as soon as the next one exists, so at most two are alive at once. Safe
    // under tf.grad too: the tape keeps its own references (clones) to what backprop reads.
    const raw = kT ? batchMatMul(qc, kT) : batchMatMul(qc, k, false, true);
    const logits = scale !== 1 ? tf.mul(raw, scale) : raw;
    if (logits !== raw) raw.dispose();
    const w = tf.softmax(logits, -1) as Tensor3D;
    logits.dispose();
    const out = batchMatMul(w, v);
    w.dispose();
    return out;
  });
  if (rows >= N) return attendRows(q, null);
  return tf.tidy(() => {
    // where a transposed operand would be copied per product (wasm's XNNPACK path), copy it once
    const kT = explicitTransposes() ? transposeLast2(k) : null;
    const outs: Tensor3D[] = [];
    for (let start = 0; start < N; start += rows) {
      const n = Math.min(rows, N - start);
      outs.push(tf.tidy(() => attendRows(tf.slice(q, [0, start, 0], [BH, n, q.shape[2]]), kT)));
    }
    return tf.concat(outs, 1);
  });
}
