// OmegaConf merge semantics, --set overrides and ${} interpolation, with spans that point at
// whichever file or override set a value.
import { expect } from 'chai';
import { compile } from '../../compiler/program.js';
import { getPath, toPlain } from '../../compiler/tree.js';
import { compileText, find, memoryHost } from '../support/compile.js';

const base = `model:
  target: ldm.modules.diffusionmodules.openaimodel.UNetModel
  params:
    image_size: 32
    in_channels: 4
    out_channels: 4
    model_channels: 64
    num_res_blocks: 1
    attention_resolutions: [2, 4]
    channel_mult: [1, 2, 4]
    num_head_channels: 32
`;

describe('merge', function () {
  it('merges files left to right: mappings deeply, lists replaced', function () {
    const over = `model:\n  params:\n    model_channels: 96\n    channel_mult: [1, 2]\n`;
    const r = compile({ files: ['a.yaml', 'b.yaml'] }, memoryHost({ 'a.yaml': base, 'b.yaml': over }));
    expect(r.hasErrors).to.equal(false);
    const p = r.graph!.model!.params;
    expect(p.model_channels).to.equal(96);
    expect(p.channel_mult).to.deep.equal([1, 2]);
    expect(p.attention_resolutions).to.deep.equal([2, 4]);
    expect(p.in_channels).to.equal(4);
    const mc = getPath(r.merged, ['model', 'params', 'model_channels'])!;
    expect(mc.span.file).to.equal('b.yaml');
    expect(mc.span.line).to.equal(3);
  });

  it('an error in a value from the second file points to that file', function () {
    const over = `model:\n  params:\n    model_channels: 100\n`;
    const r = compile({ files: ['a.yaml', 'b.yaml'] }, memoryHost({ 'a.yaml': base, 'b.yaml': over }));
    const d = find(r, 'LDMC504')!;
    expect(d.span!.file).to.equal('b.yaml');
    expect(d.span!.line).to.equal(3);
  });

  it('--set applies a dotlist override, typed as YAML, and errors point at it', function () {
    const ok = compileText(base, ['model.params.model_channels=128', 'model.params.channel_mult=[1,1]']);
    expect(ok.hasErrors).to.equal(false);
    expect(ok.graph!.model!.params.model_channels).to.equal(128);
    expect(ok.graph!.model!.params.channel_mult).to.deep.equal([1, 1]);
    const bad = compileText(base, ['model.params.model_channels=abc']);
    const d = find(bad, 'LDMC401')!;
    expect(d.span!.file).to.equal('--set model.params.model_channels=abc');
    expect(d.span!.col).to.equal('--set model.params.model_channels='.length + 1);
  });

  it('--set creates missing mappings and rejects paths through scalars', function () {
    const r = compileText(base, ['model.params.dropout=0.1']);
    expect(r.graph!.model!.params.dropout).to.equal(0.1);
    const bad = compileText(base, ['model.target.x=1']);
    expect(find(bad, 'LDMC201')).to.exist;
    const malformed = compileText(base, ['model.params.model_channels']);
    expect(find(malformed, 'LDMC200')).to.exist;
  });

  it('resolves ${} interpolation: absolute, relative, inside strings', function () {
    const text = `shared:\n  ch: 64\n  name: unet\nmodel:\n  target: ldm.modules.diffusionmodules.openaimodel.UNetModel\n  params:\n    image_size: 32\n    in_channels: \${.out_channels}\n    out_channels: 4\n    model_channels: \${shared.ch}\n    num_res_blocks: 1\n    attention_resolutions: []\n    channel_mult: [1]\n    num_heads: 2\n`;
    const r = compileText(text);
    expect(r.graph!.model!.params.model_channels).to.equal(64);
    expect(r.graph!.model!.params.in_channels).to.equal(4);
    const plain = toPlain(r.merged!) as { shared: { ch: number } };
    expect(plain.shared.ch).to.equal(64);
    // The unknown section is only a warning.
    expect(r.hasErrors).to.equal(false);
    expect(find(r, 'LDMC307')!.span!.line).to.equal(1);
  });

  it('reports missing keys, cycles and resolvers in interpolations', function () {
    expect(find(compileText(`model:\n  a: \${nope.x}\n`), 'LDMC202')!.span!.line).to.equal(2);
    expect(find(compileText(`a: \${b}\nb: \${a}\nmodel: {}\n`), 'LDMC203')).to.exist;
    expect(find(compileText(`model:\n  a: \${oc.env:HOME}\n`), 'LDMC204')).to.exist;
  });
});
