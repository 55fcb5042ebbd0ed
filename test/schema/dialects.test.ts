// The dialect marks on params and enum values, read back through every wrapping order.
import { expect } from 'chai';
import { bool, dialects, Dialects, nullable, oneOf, opt, paramDialects, str, valueDialects, valueDialectsOf } from '../../schema/types.js';

describe('schema dialect marks', () => {
  it('an unmarked param is accepted by all three repositories', () => {
    expect(paramDialects(opt(bool('x'), false))).to.deep.equal(Dialects);
  });
  it('dialects() survives opt() in either order', () => {
    expect(paramDialects(opt(dialects(['sd2'], bool('x')), false))).to.deep.equal(['sd2']);
    expect(paramDialects(dialects(['sd2'], opt(bool('x'), false)))).to.deep.equal(['sd2']);
  });
  it('dialects() survives nullable() in either order, and opt() around both', () => {
    expect(paramDialects(nullable(dialects(['sd1', 'sd2'], str('x'))))).to.deep.equal(['sd1', 'sd2']);
    expect(paramDialects(dialects(['sd1', 'sd2'], nullable(str('x'))))).to.deep.equal(['sd1', 'sd2']);
    expect(paramDialects(opt(nullable(dialects(['sd2'], str('x'))), null))).to.deep.equal(['sd2']);
  });
  it('dialects() keeps the optional marker of opt()', () => {
    const s = dialects(['sd2'], opt(bool('x'), true)) as unknown as { default: unknown };
    expect(s.default).to.equal(true);
    expect(Object.getOwnPropertySymbols(s).length).to.be.greaterThan(0);
  });
  it('valueDialects() marks single enum values and leaves the rest to all three', () => {
    const s = opt(valueDialects(oneOf(['eps', 'x0', 'v'] as const, 'p'), { v: ['sd2'] }), 'eps');
    expect(valueDialectsOf(s, 'v')).to.deep.equal(['sd2']);
    expect(valueDialectsOf(s, 'eps')).to.deep.equal(Dialects);
    expect(valueDialectsOf(s, 'toString')).to.deep.equal(Dialects);
    expect(paramDialects(s)).to.deep.equal(Dialects);
  });
});
