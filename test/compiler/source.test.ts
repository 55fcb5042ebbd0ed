// The source phase: spans of every node, Python-like typing of literals, and clear diagnostics
// for broken YAML instead of exceptions.
import { expect } from 'chai';
import { DiagnosticBag } from '../../compiler/diagnostics.js';
import { parseSource } from '../../compiler/source.js';
import { getPath } from '../../compiler/tree.js';

function parse(text: string) {
  const bag = new DiagnosticBag();
  const root = parseSource('f.yaml', text, bag);
  return { root, codes: bag.items.map((d) => d.code), bag };
}

describe('source', function () {
  it('keeps line and column of keys and values', function () {
    const { root } = parse('model:\n  params:\n    ch: 128\n    mult: [1, 2]\n');
    const ch = getPath(root, ['model', 'params', 'ch'])!;
    expect([ch.span.line, ch.span.col]).to.deep.equal([3, 9]);
    const m1 = getPath(root, ['model', 'params', 'mult', '1'])!;
    expect([m1.span.line, m1.span.col]).to.deep.equal([4, 15]);
  });

  it('tells float literals from ints, as Python would type them', function () {
    const { root } = parse('a: 1\nb: 1.0\nc: 1e-4\nd: 2.0e-06\ne: 0x10\n');
    const kinds = ['a', 'b', 'c', 'd', 'e'].map((k) => {
      const n = getPath(root, [k])!;
      return n.kind === 'scalar' ? n.numKind : undefined;
    });
    expect(kinds).to.deep.equal(['int', 'float', 'float', 'float', 'int']);
  });

  it('expands aliases and YAML merge keys', function () {
    const { root, codes } = parse('base: &b\n  x: 1\n  y: 2\nmodel:\n  <<: *b\n  y: 3\n');
    expect(codes).to.deep.equal([]);
    const y = getPath(root, ['model', 'y'])!;
    const x = getPath(root, ['model', 'x'])!;
    expect(y.kind === 'scalar' && y.value).to.equal(3);
    expect(x.kind === 'scalar' && x.value).to.equal(1);
  });

  it('stops an alias bomb with a diagnostic', function () {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      lines.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    }
    const t0 = Date.now();
    const { codes } = parse(lines.join('\n') + '\n');
    expect(codes).to.include('LDMC103');
    expect(Date.now() - t0).to.be.below(2000);
  });

  it('reports syntax errors, duplicate keys, empty files, non-mapping top levels and tags', function () {
    expect(parse('model: [1\n').codes).to.include('LDMC101');
    const dup = parse('model: 1\nmodel: 2\n');
    expect(dup.codes).to.deep.equal(['LDMC102']);
    expect(dup.bag.items[0]!.span!.line).to.equal(2);
    expect(parse('').codes).to.deep.equal(['LDMC104']);
    expect(parse('# only a comment\n').codes).to.deep.equal(['LDMC104']);
    expect(parse('- 1\n- 2\n').codes).to.deep.equal(['LDMC105']);
    expect(parse('model: !!python/object/apply:os.system ["ls"]\n').codes).to.include('LDMC106');
  });
});
