// checkTrainingFits: the compiler's training-memory estimate against each backend's limit.
import { expect } from 'chai';
import { join } from 'node:path';
import { compile } from '../../compiler/program.js';
import { CPU_MARGIN_BYTES, WASM_HEAP_LIMIT_BYTES, backendsToSkip, checkTrainingFits } from '../../runtime/fit.js';
import { initBackend } from '../../runtime/backend.js';
import * as tf from '@tensorflow/tfjs-core';
import { diskHost } from '../support/compile.js';
import { repoRoot } from '../support/reference.js';

function memoryOf(example: string) {
  const r = compile({ files: [join(repoRoot, 'examples', example)] }, diskHost);
  const m = r.inference?.memory;
  if (!m) throw new Error(`${example}: no memory estimate (${r.diagnostics.map((d) => d.message).join('; ')})`);
  return m;
}

describe('checkTrainingFits', function () {
  it("celeba256 (UNet + Adam, > 4 GiB) does not fit wasm's 4 GiB heap, and the message names estimate, limit and a backend that would", function () {
    const m = memoryOf('celeba256.yaml');
    expect(m.totalBytes).to.be.greaterThan(WASM_HEAP_LIMIT_BYTES);
    const r = checkTrainingFits(m, 'wasm', { totalMemBytes: 64 * 1024 ** 3 });
    expect(r.fits).to.equal(false);
    expect(r.limitBytes).to.equal(WASM_HEAP_LIMIT_BYTES);
    expect(r.message).to.match(/training needs about \d+\.\d\d GiB at batch \d+/);
    expect(r.message).to.contain('4.00 GiB');
    expect(r.message).to.contain('wasm');
    expect(r.suggestion).to.contain('--backend cpu');
  });

  it('celeba256 on a small machine: wasm suggests tensorflow, cpu does not fit either', function () {
    const m = memoryOf('celeba256.yaml');
    const small = { totalMemBytes: 4 * 1024 ** 3 };
    expect(checkTrainingFits(m, 'wasm', small).suggestion).to.contain('--backend tensorflow');
    const cpu = checkTrainingFits(m, 'cpu', small);
    expect(cpu.fits).to.equal(false);
    expect(cpu.limitBytes).to.equal(4 * 1024 ** 3 - CPU_MARGIN_BYTES);
    expect(cpu.message).to.contain('cpu backend');
  });

  it('fashion-ldm-cond fits wasm and cpu', function () {
    const m = memoryOf('fashion-ldm-cond.yaml');
    expect(m.totalBytes).to.be.lessThan(WASM_HEAP_LIMIT_BYTES);
    expect(checkTrainingFits(m, 'wasm')).to.deep.equal({ fits: true, limitBytes: WASM_HEAP_LIMIT_BYTES });
    expect(checkTrainingFits(m, 'cpu', { totalMemBytes: 8 * 1024 ** 3 }).fits).to.equal(true);
  });

  it('tensorflow: limit unknown, treated as fitting with a note', function () {
    const r = checkTrainingFits(memoryOf('celeba256.yaml'), 'tensorflow');
    expect(r.fits).to.equal(true);
    expect(r.limitBytes).to.equal(Infinity);
    expect(r.message).to.contain('not checked');
  });

  it('rejects an unknown backend and a bad estimate', function () {
    expect(() => checkTrainingFits({ totalBytes: 1 }, 'webnn')).to.throw(/unknown backend/);
    expect(() => checkTrainingFits({ totalBytes: NaN }, 'wasm')).to.throw(/totalBytes/);
  });
});

describe('backendsToSkip (the default backend for a training run)', function () {
  it('celeba256 (over the wasm heap) leaves wasm out, and initBackend then starts the cpu backend', async function () {
    const choice = backendsToSkip(memoryOf('celeba256.yaml'));
    expect(choice.skip).to.deep.equal(['wasm']);
    expect(choice.why).to.match(/over the wasm backend's 4\.00 GiB heap: using the cpu backend/);
    const got = await initBackend({ skip: choice.skip, quiet: true });
    expect(got).to.be.oneOf(['tensorflow', 'cpu']);
    expect(tf.getBackend()).to.equal(got);
  });

  it('fashion-ldm-cond (within the heap) keeps the default order', function () {
    expect(backendsToSkip(memoryOf('fashion-ldm-cond.yaml'))).to.deep.equal({ skip: [] });
  });
});
