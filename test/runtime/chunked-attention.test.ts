// Attention in query chunks (runtime/nn/chunked-attention.ts): with a budget small enough to force
// many chunks (the last one short), CrossAttention, QKVAttention and QKVAttentionLegacy give what
// one chunk gives, forward and backward, on every backend path.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor3D } from '@tensorflow/tfjs-core';
import {
  CrossAttention, DEFAULT_ATTENTION_BUDGET, QKVAttention, QKVAttentionLegacy, attentionBudget, queryChunkRows,
  fusedAttentionActive, scaledDotProductAttention, setAttentionBudget, setFusedAttention,
} from '../../runtime/nn/index.js';
import { BACKEND_PATHS, onBackendPath } from '../support/backend-paths.js';
import { maxAbsBetween, seededData } from './nn.helpers.js';

const TOL = 1e-6;
/** Set LDMC_PRINT_ERRORS=1 to print the measured differences. */
const log = (msg: string) => process.env.LDMC_PRINT_ERRORS && process.stderr.write(`      ${msg}\n`);

/** Runs `f` with the attention budget set to `floats`, restoring the previous one. */
function withBudget<T>(floats: number | undefined, f: () => T): T {
  const prev = setAttentionBudget(floats);
  try {
    return f();
  } finally {
    setAttentionBudget(prev);
  }
}

function seeded(shape: [number, number, number], seed: number, scale = 4): Tensor3D {
  return tf.tidy(() => tf.mul(tf.tensor3d(seededData(shape, seed), shape), scale) as Tensor3D);
}

/** Values of `f()` computed unchunked and in chunks of `rows` query rows ([B·H, rows, M] each). */
function bothWays(f: () => tf.Tensor | tf.Tensor[], budget: number): { whole: Float32Array[]; chunked: Float32Array[] } {
  const run = (b: number | undefined) => {
    const out = withBudget(b, f);
    const list = Array.isArray(out) ? out : [out];
    const data = list.map((t) => t.dataSync() as Float32Array);
    tf.dispose(list);
    return data;
  };
  return { whole: run(undefined), chunked: run(budget) };
}

function expectSame(r: { whole: Float32Array[]; chunked: Float32Array[] }, what: string): number {
  let worst = 0;
  r.whole.forEach((w, i) => (worst = Math.max(worst, maxAbsBetween(w, r.chunked[i]!))));
  log(`${what}: max |chunked − whole| ${worst}`);
  expect(worst, what).to.be.at.most(TOL);
  return worst;
}

describe('attention chunking: rows per chunk', function () {
  it('bounds [B·H, rows, M] by the budget, with at least one row and at most every query', function () {
    // SD v1's first level at 512×512: B 2 (CFG), 8 heads, 4,096 tokens → 256 rows, 16 chunks of 2^24
    expect(queryChunkRows(16, 4096, 4096, DEFAULT_ATTENTION_BUDGET)).to.equal(256);
    expect(queryChunkRows(16, 4096, 77, DEFAULT_ATTENTION_BUDGET)).to.equal(4096); // cross-attention to 77 tokens: one chunk
    expect(queryChunkRows(4, 10, 1000, 10)).to.equal(1);
    expect(queryChunkRows(2, 10, 3, 13)).to.equal(2);
    expect(attentionBudget()).to.equal(DEFAULT_ATTENTION_BUDGET);
    expect(() => setAttentionBudget(0)).to.throw(RangeError);
    expect(attentionBudget()).to.equal(DEFAULT_ATTENTION_BUDGET);
  });
});

for (const path of BACKEND_PATHS) {
  describe(`attention in query chunks (${path.label})`, function () {
    this.timeout(60_000);
    onBackendPath(path);
    // B·H 6, 37 queries, 23 keys: a budget of 6·23·5 floats gives 8 chunks, 5 rows each but the last (2)
    const BH = 6, N = 37, M = 23, d = 8, BUDGET = BH * M * 5;
    // The chunking is the tfjs-ops path: the fused native kernel (which needs no chunks) is off
    // here, and compared with it in the last test.
    let fusedBefore = true;
    before(() => (fusedBefore = setFusedAttention(false)));
    after(() => setFusedAttention(fusedBefore));

    it('the fused native kernel (inference) equals the tfjs ops, scaled and not, self and cross sizes', async function () {
      setFusedAttention(true);
      try {
        if (!path.native) {
          expect(fusedAttentionActive(), 'no fused kernel without the native kernels').to.equal(false);
          return;
        }
        expect(fusedAttentionActive()).to.equal(true);
        for (const [n, m, dv, scale] of [[N, M, d, 0.35], [N, 7, 5, 1], [300, 300, 16, 0.25]] as const) {
          const q = seeded([BH, n, d], 11), k = seeded([BH, m, d], 12), v = seeded([BH, m, dv], 13);
          const p = await tf.profile(() => scaledDotProductAttention(q, k, v, scale));
          expect(p.kernels.map((kr) => kr.name)).to.deep.equal(['LdmcAttention']);
          const fusedOut = scaledDotProductAttention(q, k, v, scale);
          setFusedAttention(false);
          const opsOut = scaledDotProductAttention(q, k, v, scale);
          setFusedAttention(true);
          const diff = maxAbsBetween(fusedOut.dataSync() as Float32Array, opsOut.dataSync() as Float32Array);
          log(`fused vs ops [${BH},${n},${m}]→${dv}: ${diff}`);
          expect(fusedOut.shape).to.deep.equal([BH, n, dv]);
          expect(diff).to.be.at.most(1e-5);
          // under a gradient tape the ops run (backprop needs the saved softmax)
          const g = tf.grad((qq: tf.Tensor) => tf.sum(scaledDotProductAttention(qq as Tensor3D, k, v, scale)))(q);
          expect(g.shape).to.deep.equal(q.shape);
          tf.dispose([q, k, v, fusedOut, opsOut, g]);
        }
        // CrossAttention hands the kernel its heads as column blocks of [B, N, H·d]
        const x = seeded([2, N, 24], 14, 1), ctx = seeded([2, 7, 16], 15, 1);
        for (const m of [new CrossAttention(24, null, 3, 8), new CrossAttention(24, 16, 3, 8)]) {
          const c = m.to_k.inFeatures === 16 ? ctx : undefined;
          const fusedOut = m.forward(x, c);
          setFusedAttention(false);
          const opsOut = m.forward(x, c);
          setFusedAttention(true);
          const diff = maxAbsBetween(fusedOut.dataSync() as Float32Array, opsOut.dataSync() as Float32Array);
          log(`CrossAttention fused vs ops: ${diff}`);
          expect(diff).to.be.at.most(1e-5);
          tf.dispose([fusedOut, opsOut]);
          m.dispose();
        }
        tf.dispose([x, ctx]);
      } finally {
        setFusedAttention(false);
      }
    });

    it('scaledDotProductAttention: 8 chunks give the one-chunk result', async function () {
      expect(queryChunkRows(BH, N, M, BUDGET)).to.equal(5);
      const q = seeded([BH, N, d], 1), k = seeded([BH, M, d], 2), v = seeded([BH, M, d], 3);
      // the kernels that ran: one softmax per chunk, each over at most the budget
      const softmaxes = async (budget: number | undefined) => {
        const prev = setAttentionBudget(budget);
        try {
          const p = await tf.profile(() => scaledDotProductAttention(q, k, v, 0.35));
          return p.kernels.filter((kr) => kr.name === 'Softmax').map((kr) => kr.outputShapes[0]!.reduce((a, b) => a * b, 1));
        } finally {
          setAttentionBudget(prev);
        }
      };
      expect(await softmaxes(undefined)).to.deep.equal([BH * N * M]);
      expect(await softmaxes(BUDGET)).to.deep.equal([...Array(7).fill(BH * 5 * M), BH * 2 * M]);
      expectSame(bothWays(() => scaledDotProductAttention(q, k, v, 0.35), BUDGET), 'scaled');
      expectSame(bothWays(() => scaledDotProductAttention(q, k, v), BUDGET), 'unscaled');
      tf.dispose([q, k, v]);
    });

    it('CrossAttention (self and cross), QKVAttention and QKVAttentionLegacy: chunked = unchunked', function () {
      const x = seeded([2, N, 24], 4, 1), ctx = seeded([2, 7, 16], 5, 1);
      const self = new CrossAttention(24, null, 3, 8), cross = new CrossAttention(24, 16, 3, 8);
      // budgets of 3 rows: [2·3, 3, 37] self, [2·3, 3, 7] cross
      expectSame(bothWays(() => self.forward(x), 2 * 3 * N * 3), 'self-attention');
      expectSame(bothWays(() => cross.forward(x, ctx), 2 * 3 * 7 * 3), 'cross-attention');
      const qkv = seeded([2, N, 3 * 24], 6, 1);
      for (const m of [new QKVAttention(3), new QKVAttentionLegacy(3)]) {
        expectSame(bothWays(() => m.forward(qkv), 2 * 3 * N * 4), m.className);
        m.dispose();
      }
      tf.dispose([x, ctx, qkv]);
      self.dispose();
      cross.dispose();
    });

    it('gradients flow through the chunks: d/dq, d/dk, d/dv and every CrossAttention parameter match one chunk', function () {
      const q = seeded([BH, N, d], 7), k = seeded([BH, M, d], 8), v = seeded([BH, M, d], 9);
      const w = seeded([BH, N, d], 10, 1);
      const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(scaledDotProductAttention(a as Tensor3D, b as Tensor3D, c as Tensor3D, 0.35), w));
      const grads = bothWays(() => tf.grads(loss)([q, k, v]), BUDGET);
      expectSame(grads, 'dq, dk, dv');
      expect(Math.max(...grads.chunked.map((g) => Math.max(...g.map(Math.abs)))), 'non-zero gradients').to.be.greaterThan(1e-3);

      const x = seeded([2, N, 24], 11, 1);
      const m = new CrossAttention(24, null, 3, 8);
      const target = seeded([2, N, 24], 12, 1);
      const vars = m.parameters();
      const paramGrads = bothWays(() => {
        const { value, grads: g } = tf.variableGrads(() => tf.sum(tf.mul(m.forward(x), target)) as tf.Scalar, vars);
        value.dispose();
        return vars.map((p) => g[p.name]!);
      }, 2 * 3 * N * 3);
      expect(paramGrads.chunked.length).to.equal(5); // to_q, to_k, to_v, to_out.0 weight and bias
      expectSame(paramGrads, 'parameter gradients');
      tf.dispose([q, k, v, w, x, target]);
      m.dispose();
    });
  });
}
