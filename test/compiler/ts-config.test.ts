// TS-authored configs: `export default defineConfig({...})` is parsed (never run) into the same
// config tree as YAML, so every phase and diagnostic works unchanged.
import { expect } from 'chai';
import { join } from 'node:path';
import ts from 'typescript';
import { compile, type CompileResult } from '../../compiler/program.js';
import { defineConfig, typedTargets, untypedTargetIds } from '../../index.js';
import { codes, compileText, diskHost, find } from '../support/compile.js';
import { repoRoot } from '../support/reference.js';
import { showTsDiagnostic, strictProgram } from '../support/typecheck.js';

const fixture = (f: string) => join(repoRoot, 'test', 'fixtures', 'ts-config', f);

function graphOf(r: CompileResult) {
  const g = r.graph!;
  return {
    nodes: g.nodes.map((n) => ({ path: n.path, target: n.target, params: n.params })),
    trainer: g.trainer,
    lr: g.baseLearningRate,
  };
}

describe('TS-authored configs', function () {
  it('a .ts twin compiles to the same graph as its YAML', function () {
    const y = compile({ files: [join(repoRoot, 'examples', 'fashion-vq-f4.yaml')] }, diskHost);
    const t = compile({ files: [fixture('fashion-vq-f4.config.ts')] }, diskHost);
    expect(codes(t)).to.deep.equal(codes(y));
    expect(t.hasErrors).to.equal(false);
    expect(graphOf(t)).to.deep.equal(graphOf(y));
    expect(t.graph!.model!.targetSpan.file).to.equal(fixture('fashion-vq-f4.config.ts'));
    expect(t.graph!.model!.targetSpan.line).to.equal(7);
  });

  it('keeps int vs float as written (224.0 for an int is LDMC401)', function () {
    const r = compileText(
      "import { defineConfig } from 'ldmc';\nexport default defineConfig({ model: { target: 'ldm.modules.diffusionmodules.openaimodel.UNetModel', params: { image_size: 8.0, in_channels: 3, out_channels: 3, model_channels: 32, num_res_blocks: 1, attention_resolutions: [], num_heads: -1, num_head_channels: 32 } } });\n",
      [],
      'm.config.ts',
    );
    const d = find(r, 'LDMC401');
    expect(d, codes(r).join(',')).to.exist;
    expect(d!.span!.line).to.equal(2);
  });

  it('a wrong param is LDMC400 at its line', function () {
    const r = compile({ files: [fixture('wrong-param.config.ts')] }, diskHost);
    const d = find(r, 'LDMC400');
    expect(d, codes(r).join(',')).to.exist;
    expect([d!.span!.line, d!.span!.col]).to.deep.equal([14, 7]);
    expect(d!.hint).to.contain('num_heads');
  });

  it('a function call is LDMC110 at the call, and nothing runs', function () {
    const r = compile({ files: [fixture('call.config.ts')] }, diskHost);
    const d = find(r, 'LDMC110');
    expect(d, codes(r).join(',')).to.exist;
    expect([d!.span!.line, d!.span!.col]).to.deep.equal([16, 23]);
    expect(r.graph).to.equal(undefined);
    expect((globalThis as Record<string, unknown>).__ldmcTsConfigRan).to.equal(undefined);
  });

  it('names, spreads and template strings are LDMC110 too', function () {
    const r = compileText("const w = 32;\nexport default defineConfig({ model: { ...x, target: `a${w}`, params: { ch: w } } });\n", [], 'x.ts');
    expect(codes(r)).to.deep.equal(['LDMC110', 'LDMC110', 'LDMC110']);
  });

  it('a missing `export default defineConfig(...)` is LDMC111; a syntax error is LDMC112', function () {
    expect(codes(compile({ files: [fixture('no-default.config.ts')] }, diskHost))).to.deep.equal(['LDMC111']);
    expect(codes(compileText('export default foo({});\n', [], 'y.ts'))).to.deep.equal(['LDMC111']);
    expect(codes(compile({ files: [fixture('syntax.config.ts')] }, diskHost))).to.include('LDMC112');
  });

  it('defineConfig is a typed identity; every registry target is typed exactly or by pattern', function () {
    const c = { model: { target: 'torch.nn.Identity' as const } };
    expect(defineConfig(c)).to.equal(c);
    for (const [id, spec] of Object.entries(typedTargets)) expect(spec.id).to.equal(id);
    expect(untypedTargetIds()).to.deep.equal([]);
  });

  it('type-checks: the twin is clean, a wrong param is a TypeScript error at its line', function () {
    this.timeout(120000);
    const files = [fixture('fashion-vq-f4.config.ts'), fixture('wrong-param.config.ts')];
    const program = strictProgram(files, { paths: { ldmc: [join(repoRoot, 'index.ts')] } });
    const diags = (f: string) => ts.getPreEmitDiagnostics(program, program.getSourceFile(f));
    const show = (ds: readonly ts.Diagnostic[]) => ds.map(showTsDiagnostic);
    expect(show(diags(files[0]!))).to.deep.equal([]);
    const bad = diags(files[1]!);
    expect(bad.length, 'expected a TypeScript error').to.be.greaterThan(0);
    const d = bad[0]!;
    expect(d.file!.fileName).to.equal(files[1]);
    expect(d.file!.getLineAndCharacterOfPosition(d.start!).line + 1, show(bad).join('\n')).to.equal(14);
    expect(ts.flattenDiagnosticMessageText(d.messageText, ' ')).to.contain('num_head');
  });
});
