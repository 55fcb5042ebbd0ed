// The source phase: spans of every node, Python-like typing of literals, and clear diagnostics
// for broken YAML instead of exceptions.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DiagnosticBag } from '../../compiler/diagnostics.js';
import { parseSource } from '../../compiler/source.js';
import { getPath } from '../../compiler/tree.js';
import { repoRoot } from '../support/reference.js';

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

  describe('a YAML syntax mistake is one LDMC101 at the line to edit', function () {
    /** `line:col` of every diagnostic, and its hint. */
    const where = (text: string) => parse(text).bag.items.map((d) => ({ code: d.code, at: `${d.span!.line}:${d.span!.col}`, message: d.message, hint: d.hint ?? '' }));
    const fixture = (name: string) => readFileSync(join(repoRoot, 'test', 'fixtures', 'broken', name), 'utf8');
    const unet = (params: string) => `model:\n  target: ldm.models.diffusion.ddpm.LatentDiffusion\n  params:\n    unet_config:\n      target: ldm.modules.diffusionmodules.openaimodel.UNetModel\n      params:\n${params}    cond_stage_config: __is_unconditional__\n`;

    // The broken-config fixtures, each with the one place a person must edit: the line, and the column
    // of the key (or of the tab, the `[` or the quote that is never closed).
    const fixtures: [string, string][] = [
      ['83-yaml-over-indented-key.yaml', '22:11'],
      ['84-yaml-under-indented-key.yaml', '21:7'],
      ['85-yaml-tab-indent.yaml', '20:1'],
      ['86-yaml-unclosed-flow-sequence.yaml', '23:32'],
      ['87-yaml-key-without-colon.yaml', '19:9'],
      ['88-yaml-stray-dash.yaml', '20:9'],
      ['89-yaml-unclosed-quote.yaml', '17:15'],
    ];
    for (const [name, at] of fixtures) {
      it(`${name}: once, at ${at}`, function () {
        expect(where(fixture(name)).map((d) => `${d.code}@${d.at}`)).to.deep.equal([`LDMC101@${at}`]);
      });
    }

    it('names the indentation expected, and a sibling key to copy it from', function () {
      const over = where(unet('        image_size: 64\n        in_channels: 3\n          out_channels: 3\n        model_channels: 32\n'));
      expect(over).to.have.length(1);
      expect(over[0]!.at).to.equal('9:11');
      expect(over[0]!.message).to.equal('YAML syntax error: `out_channels` is indented 10 spaces, deeper than its siblings (8)');
      expect(over[0]!.hint).to.equal('indent `out_channels` like its siblings (8 spaces), e.g. `in_channels` on line 8');
    });

    it('an over-indented first or last key of a block, a bare `-`, and a tab after spaces', function () {
      // The first entry sets a block's indentation, so the fault is the first line, not its followers.
      expect(where(unet('          image_size: 64\n        in_channels: 3\n        out_channels: 3\n')).map((d) => d.at)).to.deep.equal(['7:11']);
      expect(where(unet('        in_channels: 3\n        out_channels: 3\n          model_channels: 32\n')).map((d) => d.at)).to.deep.equal(['9:11']);
      const dash = where(unet('        in_channels: 3\n        -\n        out_channels: 3\n'));
      expect(dash.map((d) => [d.at, d.hint])).to.deep.equal([['8:9', 'remove the stray `-`']]);
      const tab = where(unet('        in_channels: 3\n        \tout_channels: 3\n'));
      expect(tab.map((d) => d.at)).to.deep.equal(['8:9']);
      expect(tab[0]!.hint).to.contain('indent `out_channels` with 8 spaces and no tab, like `in_channels` on line 7');
    });

    it('an unclosed bracket or quote at the end of the file points at where it opens', function () {
      const flow = where('model:\n  target: x\n  params:\n    channel_mult: [1, 2, 4\n');
      expect(flow.map((d) => [d.at, d.hint])).to.deep.equal([['4:19', 'add `]` at the end of line 4: `channel_mult: [1, 2, 4]`']]);
      expect(where('model:\n  params:\n    ddconfig: {ch: 128, z_channels: 4\n    lossconfig: 1\n').map((d) => d.at)).to.deep.equal(['3:15']);
      expect(where("model:\n  target: 'ldm.models.autoencoder.AutoencoderKL\n  params: {}\n").map((d) => d.at)).to.deep.equal(['2:11']);
    });

    it('reports each of two independent mistakes once, with no cascade and no phantom duplicate keys', function () {
      const two = where(unet('        in_channels: 3\n          out_channels: 3\n        model_channels: 32\n\tnum_res_blocks: 2\n        channel_mult: {a: 1, b: 2\n        attention_resolutions: [1]\n'));
      expect(two.map((d) => `${d.code}@${d.at}`)).to.deep.equal(['LDMC101@8:11', 'LDMC101@10:1', 'LDMC101@11:23']);
    });

    it('keeps line numbers with CRLF line ends, and in a list of mappings', function () {
      const crlf = unet('        in_channels: 3\n          out_channels: 3\n').replace(/\n/g, '\r\n');
      expect(where(crlf).map((d) => d.at)).to.deep.equal(['8:11']);
      const list = where('lightning:\n  trainer:\n    plugins:\n      - name: a\n          value: 1\n      - name: b\n        value: 2\n');
      expect(list.map((d) => [d.at, d.hint])).to.deep.equal([['5:11', 'indent `value` like its siblings (8 spaces), e.g. `name` on line 4']]);
    });

    it('still reports, once per line, an error no repair explains', function () {
      const odd = where('model:\n  target: x\n  params: ]\n');
      expect(odd.length).to.be.at.least(1);
      expect(new Set(odd.map((d) => d.at.split(':')[0])).size).to.equal(odd.length);
      for (const d of odd) expect(d.code).to.equal('LDMC101');
    });
  });
});
