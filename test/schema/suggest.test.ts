// Did-you-mean stays exact where it answers and linear where it does not: the bounded edit
// distance equals the full one (capped at bound + 1), and a huge word costs no quadratic work.
import { expect } from 'chai';
import fc from 'fast-check';
import { allTargetNames, suggestTarget } from '../../schema/registry.js';
import { closest, editDistance } from '../../schema/suggest.js';

/** The textbook full-matrix optimal string alignment distance, to compare against. */
function reference(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[a.length]![b.length]!;
}

describe('did-you-mean (schema/suggest)', function () {
  it('the bounded distance is the full one, capped at bound + 1 (fast-check, fixed seed, 3000 runs)', function () {
    const word = fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'd'), maxLength: 12 });
    fc.assert(
      fc.property(word, word, fc.integer({ min: 0, max: 14 }), (a, b, k) => {
        expect(editDistance(a, b, k)).to.equal(Math.min(reference(a, b), k + 1));
        expect(editDistance(a, b)).to.equal(reference(a, b));
      }),
      { seed: 20261205, numRuns: 3000 },
    );
  });

  it('still suggests what it used to', function () {
    expect(closest('nmu_heads', ['num_heads', 'num_head_channels'])).to.equal('num_heads');
    expect(suggestTarget('ldm.models.diffusion.ddpm.LatentDifusion')).to.equal('ldm.models.diffusion.ddpm.LatentDiffusion');
  });

  it('answers a 300,000-character word against every target name without quadratic work', function () {
    const names = allTargetNames();
    const huge = 'x'.repeat(300_000);
    const t0 = performance.now();
    expect(suggestTarget(huge)).to.equal(undefined);
    expect(closest(huge, names, 100_000)).to.equal(undefined);
    // A near-miss of a long name is bounded too (band of width 2·bound+1).
    expect(closest(`${names[0]}zz`, names)).to.equal(names[0]);
    // Generous: it used to take over 30 s; it takes milliseconds.
    expect(performance.now() - t0).to.be.below(2000);
  });
});
