// The editor's front end: a Project of versioned documents (parse reuse, modeline bases) and the
// position queries on its results, on the real celeba256 example.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readModeline } from '../../compiler/modeline.js';
import { compile } from '../../compiler/program.js';
import { Project } from '../../compiler/project.js';
import { completionsAt, definitionAt, findAt, fixesFor, hoverAt, inlayHints, outline } from '../../compiler/query.js';
import { main } from '../../cli/main.js';
import { codes, diskHost, find, memoryHost } from '../support/compile.js';
import { repoRoot } from '../support/reference.js';

const celeba = readFileSync(join(repoRoot, 'examples/celeba256.yaml'), 'utf8');

/** Replaces exactly one occurrence, so a changed example fails loudly instead of testing nothing. */
function edit(text: string, from: string, to: string): string {
  const i = text.indexOf(from);
  if (i < 0 || text.indexOf(from, i + 1) >= 0) throw new Error(`example changed: expected exactly one '${from.trim()}'`);
  return text.slice(0, i) + to + text.slice(i + from.length);
}
const at = (text: string, needle: string, delta = 0) => {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`'${needle}' not in the text`);
  return i + delta;
};
const lineOf = (text: string, offset: number) => text.slice(0, offset).split('\n').length;

describe('project: modeline bases', function () {
  it('reads `# ldmc: base=` before the YAML, several bases in order, resolved against the file', function () {
    const text = '# ldmc: base=../a.yaml,b.yaml\n# comment\n#ldmc: base=/abs/c.yaml\nmodel:\n# ldmc: base=ignored.yaml\n';
    const b = readModeline('cfg/variants/v.yaml', text);
    expect(b.map((x) => x.path)).to.deep.equal(['cfg/a.yaml', 'cfg/variants/b.yaml', '/abs/c.yaml']);
    expect(text.slice(b[1]!.offset, b[1]!.offset + b[1]!.length)).to.equal('b.yaml');
  });

  it('merges the bases first, and a value keeps the file that set it', function () {
    const host = memoryHost({
      'cfg/base.yaml': celeba,
      'cfg/v/small.yaml': '# ldmc: base=../base.yaml\nmodel:\n  params:\n    unet_config:\n      params:\n        model_channels: 100\n',
    });
    const r = compile({ files: ['cfg/v/small.yaml'] }, host);
    expect(r.files).to.deep.equal(['cfg/base.yaml', 'cfg/v/small.yaml']);
    expect(r.inference!.unet!.node.params.model_channels).to.equal(100);
    const d = find(r, 'LDMC504')!; // 100 × mult is not divisible by 32: reported where 100 was written
    expect(d.span!.file).to.equal('cfg/v/small.yaml');
    expect(d.span!.line).to.equal(6);
  });

  it('reports a missing base at the modeline, and a cycle', function () {
    const missing = compile({ files: ['v.yaml'] }, memoryHost({ 'v.yaml': '# ldmc: base=nope.yaml\nmodel: {}\n' }));
    const d = find(missing, 'LDMC100')!;
    expect(d.span).to.include({ file: 'v.yaml', line: 1, col: 14 });
    const cyc = compile({ files: ['a.yaml'] }, memoryHost({ 'a.yaml': '# ldmc: base=b.yaml\nmodel: {}\n', 'b.yaml': '# ldmc: base=a.yaml\nmodel: {}\n' }));
    expect(codes(cyc)).to.include('LDMC207');
    expect(find(cyc, 'LDMC207')!.message).to.contain('a.yaml -> b.yaml -> a.yaml');
  });

  it('`ldmc check` on a variant with a modeline checks it merged on its base', async function () {
    const out: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => out.push(s), color: false };
    const code = await main(['inspect', join(repoRoot, 'examples/modeline/celeba256-small.yaml'), '--format', 'json'], io);
    expect(code).to.equal(0);
    const j = JSON.parse(out.join('\n')) as { files: string[]; components: { unet: { config: { model_channels: number } } } };
    expect(j.files.map((f) => f.slice(repoRoot.length + 1))).to.deep.equal(['examples/celeba256.yaml', 'examples/modeline/celeba256-small.yaml']);
    expect(j.components.unet.config.model_channels).to.equal(128);
  });
});

describe('project: versioned documents', function () {
  it('closing a document drops its cached parse and every result that read it (an editor session stays bounded)', function () {
    const p = new Project(memoryHost({}));
    p.setDocument('a.yaml', celeba, 1);
    p.setDocument('v.yaml', '# ldmc: base=a.yaml\nmodel:\n  params:\n    unet_config:\n      params:\n        model_channels: 192\n', 1);
    p.compile({ files: ['a.yaml'] });
    p.compile({ files: ['v.yaml'] });
    expect(p.cacheSizes()).to.deep.equal({ cachedParses: 2, cachedResults: 2 });
    p.removeDocument('v.yaml');
    expect(p.cacheSizes()).to.deep.equal({ cachedParses: 1, cachedResults: 1 });
    p.removeDocument('a.yaml');
    expect(p.cacheSizes()).to.deep.equal({ cachedParses: 0, cachedResults: 0 });
  });

  it('reparses only the document that changed, and serves an unchanged result from cache', function () {
    const p = new Project(diskHost);
    const v = join(repoRoot, 'examples/modeline/celeba256-small.yaml');
    const base = join(repoRoot, 'examples/celeba256.yaml');
    const text = readFileSync(v, 'utf8');
    p.setDocument(v, text, 1);
    const r1 = p.compile({ files: [v] });
    expect(p.compile({ files: [v] })).to.equal(r1);
    const baseTree = p.parse(base, readFileSync(base, 'utf8'));
    p.setDocument(v, text.replace('128', '160'), 2);
    const r2 = p.compile({ files: [v] });
    expect(r2).to.not.equal(r1);
    expect(r2.inference!.unet!.node.params.model_channels).to.equal(160);
    expect(p.parse(base, readFileSync(base, 'utf8'))).to.equal(baseTree);
    p.removeDocument(v);
    expect(p.compile({ files: [v] }).inference!.unet!.node.params.model_channels).to.equal(128);
  });
});

describe('query: positions on the typed graph (celeba256)', function () {
  const file = 'celeba256.yaml';
  const project = () => {
    const p = new Project(memoryHost({}));
    p.setDocument(file, celeba, 1);
    return p;
  };

  it('hover on the UNet target shows its parameter count, shapes and true attention resolutions', function () {
    const r = project().compile({ files: [file] });
    const h = hoverAt(r, file, at(celeba, 'openaimodel.UNetModel'))!;
    expect(h.markdown).to.contain('274,056,163');
    expect(h.markdown).to.contain('32×32, 16×16, 8×8');
    expect(h.markdown).to.contain('[3, 64, 64]');
  });

  it('hover on a param shows its description, default, merged value and where it was set', function () {
    const r = project().compile({ files: [file] });
    const f = findAt(r, file, at(celeba, 'num_head_channels: 32', 2));
    expect(f).to.include({ kind: 'param', key: 'num_head_channels' });
    const h = hoverAt(r, file, at(celeba, 'num_head_channels: 32', 2))!;
    expect(h.markdown).to.contain('default: `-1`');
    expect(h.markdown).to.contain('value after merging: `32`');
    expect(h.markdown).to.contain(`set in: ${file}:${lineOf(celeba, at(celeba, 'num_head_channels: 32'))}`);
  });

  it('inlay hints: parameter counts after target lines, attention as resolutions, the effective lr', function () {
    const r = project().compile({ files: [file] });
    const hints = inlayHints(r, file, celeba);
    const byLine = new Map(hints.map((h) => [lineOf(celeba, h.offset), h.label]));
    expect(byLine.get(lineOf(celeba, at(celeba, 'openaimodel.UNetModel')))).to.equal('274,056,163 params');
    expect(byLine.get(lineOf(celeba, at(celeba, 'attention_resolutions:')))).to.equal('→ 32×32, 16×16, 8×8');
    expect(byLine.get(lineOf(celeba, at(celeba, 'base_learning_rate')))).to.match(/^lr 9\.6e-05 = /);
  });

  it('completes targets by the family of the slot: first stages in first_stage_config, not the UNet', function () {
    const r = project().compile({ files: [file] });
    const text = edit(celeba, 'target: ldm.models.autoencoder.VQModelInterface', 'target: ');
    const items = completionsAt(r.graph, text, at(text, 'first_stage_config:\n      target: ', 'first_stage_config:\n      target: '.length)).map((c) => c.label);
    expect(items).to.include.members(['ldm.models.autoencoder.VQModelInterface', 'ldm.models.autoencoder.AutoencoderKL']);
    expect(items).to.not.include('ldm.modules.diffusionmodules.openaimodel.UNetModel');
  });

  it('completes param keys of the chosen target with defaults as snippets, and enum values', function () {
    const r = project().compile({ files: [file] });
    const text = edit(celeba, '        num_head_channels: 32\n', '        num_head_channels: 32\n        use_\n');
    const keys = completionsAt(r.graph, text, at(text, '        use_\n', 12));
    const ck = keys.find((k) => k.label === 'use_checkpoint')!;
    expect(ck.insertText).to.equal('use_checkpoint: ${1:false}');
    expect(keys.map((k) => k.label)).to.not.include('model_channels'); // already set
    const t2 = edit(celeba, 'cond_stage_key: class_label\n', 'cond_stage_key: class_label\n    parameterization: \n');
    const vals = completionsAt(r.graph, t2, at(t2, 'parameterization: ', 18)).map((c) => c.label);
    expect(vals).to.include.members(['eps', 'x0']);
  });

  it('quick fixes: did-you-mean for an unknown param, the channel count for LDMC500', function () {
    const p = project();
    const text = edit(edit(celeba, 'in_channels: 3\n        out', 'in_channels: 4\n        out'), 'model_channels: 224', 'model_channel: 224');
    p.setDocument(file, text, 2);
    const r = p.compile({ files: [file] });
    const ic = find(r, 'LDMC500')!;
    expect(ic.span!.line).to.equal(lineOf(text, at(text, 'in_channels: 4')));
    const fixes = fixesFor(r, file);
    const rename = fixes.find((f) => f.diagnostic.code === 'LDMC400')!;
    expect(rename.edits[0]!.newText).to.equal('model_channels');
    expect(text.slice(rename.edits[0]!.offset, rename.edits[0]!.offset + rename.edits[0]!.length)).to.equal('model_channel');
    const channels = fixes.find((f) => f.diagnostic.code === 'LDMC500')!;
    expect(channels.title).to.equal('Set in_channels to 3');
    const missing = fixes.find((f) => f.diagnostic.code === 'LDMC402')!;
    expect(missing.edits[0]!.newText).to.equal('\n        model_channels: ');
  });

  it('quick fix: did-you-mean for an unknown target, from the registry', function () {
    const p = project();
    const text = edit(celeba, 'target: ldm.models.autoencoder.VQModelInterface', 'target: ldm.models.autoencoder.VQModelInterfac');
    p.setDocument(file, text, 2);
    const r = p.compile({ files: [file] });
    const fix = fixesFor(r, file).find((f) => f.diagnostic.code === 'LDMC300')!;
    expect(fix.edits[0]!.newText).to.equal('ldm.models.autoencoder.VQModelInterface');
    expect(text.slice(fix.edits[0]!.offset, fix.edits[0]!.offset + fix.edits[0]!.length)).to.equal('ldm.models.autoencoder.VQModelInterfac');
  });

  it('go to definition: a modeline base, an interpolation, and the base value an override replaces', function () {
    const p = new Project(memoryHost({}));
    const v = '# ldmc: base=base.yaml\nmodel:\n  params:\n    image_size: 32\n    unet_config:\n      params:\n        image_size: ${model.params.image_size}\n';
    p.setDocument('base.yaml', celeba, 1);
    p.setDocument('v.yaml', v, 1);
    const r = p.compile({ files: ['v.yaml'] });
    const treeOf = (f: string) => p.parse(f, p.readFile(f) as string).root;
    const q = (offset: number) => definitionAt({ result: r, file: 'v.yaml', text: v, offset, treeOf });
    expect(q(at(v, 'base.yaml', 2))).to.deep.equal({ file: 'base.yaml', span: undefined });
    const interp = q(at(v, '${model', 4))!;
    expect(interp.file).to.equal('v.yaml');
    expect(interp.span!.line).to.equal(4);
    const over = q(at(v, 'image_size: 32', 2))!;
    expect(over.file).to.equal('base.yaml');
    expect(over.span!.line).to.equal(lineOf(celeba, at(celeba, 'image_size: 64')));
  });

  it('outlines the component tree', function () {
    const p = project();
    const names = (ns: ReturnType<typeof outline>): unknown[] => ns.map((n) => [n.name, n.detail, names(n.children)]);
    const tree = names(outline(p.parse(file, celeba).root));
    expect(tree[0]).to.deep.equal(['model', 'LatentDiffusion', [['unet_config', 'UNetModel', []], ['first_stage_config', 'VQModelInterface', [['lossconfig', 'Identity', []]]]]]);
  });
});
