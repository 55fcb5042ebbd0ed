// Facts and runtime cannot drift apart: for every registered network (a target with static facts
// and a runtime class) and each small setting of test/support/drift-grid.ts, the runtime module
// built on the cpu backend has the facts' parameter count, per top-level part (the facts' `parts`
// against the runtime's named parameters grouped by path prefix), and the facts' output shape.
// Runs without ../shared. A buildable target without a grid entry fails here.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor1D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import { buildComponent } from '../../runtime/build.js';
import type { Module } from '../../runtime/module.js';
import { assertNever } from '../../schema/family.js';
import { allTargets, type TargetSpec } from '../../schema/index.js';
import { compileText } from '../support/compile.js';
import { driftGrid, type DriftCase } from '../support/drift-grid.js';

/** The networks the registry can both describe statically and build. */
const networks = allTargets.filter((t) => t.runtime && t.statics && t.statics.family !== 'diffusion' && !(t.statics.family === 'cond_stage' && t.statics.passthrough));

/** Runtime parameter counts by path prefix. */
function paramsUnder(m: Module, prefix: string): number {
  let n = 0;
  for (const [path, v] of m.namedParameters()) if (path === prefix.replace(/\.$/, '') || path.startsWith(prefix)) n += v.size;
  return n;
}

/** NHWC → [C, H, W]; other ranks drop the batch axis. */
function sampleShape(t: Tensor): number[] {
  return t.rank === 4 ? [t.shape[3]!, t.shape[1]!, t.shape[2]!] : t.shape.slice(1);
}

interface Checked {
  paramCount: number;
  parts: Record<string, number>;
  output: number[] | undefined;
  run: ((m: Module) => Tensor) | undefined;
}

/** Facts and the generic forward of each family. */
function factsOf(spec: TargetSpec, p: Record<string, unknown>, c: DriftCase): Checked {
  const st = spec.statics!;
  switch (st.family) {
    case 'unet': {
      const f = st.facts(p, {});
      const [C, H, W] = f.inputShape;
      const ctxDim = p.context_dim as number | null;
      return {
        paramCount: f.paramCount, parts: f.parts, output: f.outputShape,
        run: (m) => {
          const net = m as unknown as { forward(x: Tensor4D, t: Tensor1D, ctx?: Tensor3D, y?: Tensor1D): Tensor4D };
          return net.forward(tf.ones([1, H, W, C]) as Tensor4D, tf.tensor1d([7]), ctxDim ? (tf.ones([1, 3, ctxDim]) as Tensor3D) : undefined, p.num_classes != null ? (tf.tensor1d([1], 'int32') as Tensor1D) : undefined);
        },
      };
    }
    case 'first_stage': {
      const f = st.facts(p);
      const [C, H, W] = f.inputShape;
      return {
        paramCount: f.paramCount, parts: { ...f.parts } as Record<string, number>, output: f.outputShape,
        // encode to the pre-quantization latent, decode back: the reconstruction's shape
        run: (m) => {
          const ae = m as unknown as { encodeToPrequant?(x: Tensor4D): Tensor4D; decodeQuant?(z: Tensor4D): Tensor4D; encode(x: Tensor4D): { mean: Tensor4D }; decode(z: Tensor4D): Tensor4D };
          const x = tf.ones([1, H, W, C]) as Tensor4D;
          if (ae.encodeToPrequant && ae.decodeQuant) return ae.decodeQuant(ae.encodeToPrequant(x));
          return ae.decode(ae.encode(x).mean);
        },
      };
    }
    case 'cond_stage': {
      const f = st.facts(p, { imageSide: c.imageSide ?? 32 });
      const o = f.output;
      const out = o.kind === 'tokens' || o.kind === 'spatial' ? [...o.shape] : o.kind === 'vector' ? [o.width] : undefined;
      // A buildable network always has a known count (an unknown architecture has no runtime module).
      if (f.paramCount === null) throw new Error(`${spec.id}: facts give no parameter count for ${c.name}`);
      return { paramCount: f.paramCount, parts: f.parts, output: out, run: c.forward };
    }
    case 'diffusion':
      throw new Error('diffusion wrappers are not networks');
    case 'loss':
    case 'lr_scheduler':
    case 'callback':
      throw new Error(`${st.family} targets are not networks`);
    default:
      return assertNever(st, 'family');
  }
}

describe('facts and runtime agree, layer by layer (registry-driven, no ../shared)', function () {
  this.timeout(300_000);
  before(async function () {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('every registered network has drift-grid entries (test/support/drift-grid.ts)', function () {
    expect(networks.length).to.be.greaterThan(5);
    expect(networks.filter((t) => !(driftGrid[t.id]?.length)).map((t) => t.id)).to.deep.equal([]);
    expect(Object.keys(driftGrid).filter((id) => !networks.some((t) => t.id === id))).to.deep.equal([]);
  });

  for (const spec of networks) {
    for (const c of driftGrid[spec.id] ?? []) {
      it(`${spec.id.split('.').pop()}: ${c.name}`, function () {
        // The real compiler validates the setting and fills its defaults (a bare {target, params} node).
        const r = compileText(JSON.stringify({ target: spec.id, params: c.params }));
        expect(r.hasErrors, r.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n')).to.equal(false);
        const p = r.graph!.model!.params;
        const facts = factsOf(spec, p, c);
        const m = buildComponent(spec.id, p);
        try {
          expect(m.paramCount(), 'total parameters').to.equal(facts.paramCount);
          for (const [part, n] of Object.entries(facts.parts)) expect(paramsUnder(m, `${c.partsPrefix ?? ''}${part}.`), `parameters of ${part}`).to.equal(n);
          // every runtime submodule with parameters is a part the facts name (when they name parts)
          const named = Object.keys(facts.parts);
          if (named.length) {
            const tops = new Set(m.namedParameters().map(([path]) => path.slice((c.partsPrefix ?? '').length).split('.')[0]!));
            expect([...tops].filter((t) => !named.includes(t)), 'runtime parts the facts lack').to.deep.equal([]);
          }
          if (facts.output && facts.run) {
            m.eval();
            const out = tf.tidy(() => facts.run!(m));
            try {
              expect(sampleShape(out), 'output shape').to.deep.equal(facts.output);
            } finally {
              out.dispose();
            }
          } else if (spec.statics!.family !== 'cond_stage') {
            expect.fail('no forward to compare the output shape with');
          }
        } finally {
          m.dispose();
        }
      });
    }
  }
});
