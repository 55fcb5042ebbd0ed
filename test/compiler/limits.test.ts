// The limits checked before the YAML parser (compiler/limits.ts): each is one diagnostic at the
// right place, the depth scan does not mistake brackets in quotes, comments or plain scalars for
// nesting, and real configs are far inside every limit.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DiagnosticBag } from '../../compiler/diagnostics.js';
import { DEFAULT_LIMITS, firstTooDeep } from '../../compiler/limits.js';
import { compile } from '../../compiler/program.js';
import { parseSource } from '../../compiler/source.js';
import { yamlFiles } from '../support/files.js';
import { referencePath, repoRoot } from '../support/reference.js';

function parse(text: string, limits = DEFAULT_LIMITS) {
  const bag = new DiagnosticBag();
  parseSource('f.yaml', text, bag, limits);
  return bag.items.map((d) => `${d.code}@${d.span?.line}:${d.span?.col}`);
}

describe('source limits', function () {
  it('a flow bomb of 50,000 brackets: LDMC115 at the bracket past the limit, not a stack overflow', function () {
    expect(parse(`model: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`)).to.deep.equal([`LDMC115@1:${8 + 255}`]);
  });

  it('3,000 nested mappings: LDMC115 at the first key past the limit', function () {
    const text = Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n');
    expect(parse(text)).to.deep.equal(['LDMC115@257:257']);
  });

  it('`- ` items on one line count as levels (the 256th dash opens level 257)', function () {
    expect(parse(`a:\n${'- '.repeat(300)}x\n`)).to.deep.equal([`LDMC115@2:${1 + 2 * 256}`]);
  });

  it('brackets in quotes, comments and plain scalars are not nesting', function () {
    const b = '['.repeat(400);
    expect(parse(`a: "${b}"\nb: '${b}'\nc: x${b}\ne: x,${b}\n# ${b}\nd: [x, "${b}"]\n`)).to.deep.equal([]);
  });

  it('a NUL byte: LDMC114 at it; DEL and other controls too; tab, CR and LF are text', function () {
    expect(parse('model:\n  target: a\0b\n')).to.deep.equal(['LDMC114@2:12']);
    expect(parse('a: 1\x7f\n')).to.deep.equal(['LDMC114@1:5']);
    expect(parse('a: 1\r\nb:\t2\r\n')).to.deep.equal([]);
  });

  it('the document size and scalar length limits, lowered', function () {
    expect(parse('a: 1\nb: 2\n', { ...DEFAULT_LIMITS, maxDocumentBytes: 8 })).to.deep.equal(['LDMC116@1:1']);
    // UTF-8 bytes, not UTF-16 units: 'é' is two bytes.
    expect(parse('a: ééé\n', { ...DEFAULT_LIMITS, maxDocumentBytes: 8 })).to.deep.equal(['LDMC116@1:1']);
    expect(parse('a: 1\nb: xxxxxxxxxx\n', { ...DEFAULT_LIMITS, maxScalarLength: 5 })).to.deep.equal(['LDMC117@2:4']);
  });

  it('compile() takes the limits from its input', function () {
    const r = compile({ files: ['x.yaml'], limits: { maxDocumentBytes: 4 } }, { readFile: () => 'model: {}\n', fileExists: () => false });
    expect(r.diagnostics.map((d) => d.code)).to.deep.equal(['LDMC116']);
  });

  it('every example and reference config is far inside the depth limit (at most 16 levels)', function () {
    const files = [...yamlFiles(join(repoRoot, 'examples')), ...yamlFiles(referencePath('ldm-configs'))];
    expect(files.length).to.be.at.least(10);
    for (const f of files) expect(firstTooDeep(readFileSync(f, 'utf8'), 16), f).to.equal(-1);
  });
});
