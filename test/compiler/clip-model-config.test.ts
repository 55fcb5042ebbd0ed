// The CLIP text encoders' architectures named by model-config files, as the reference resolves
// them: FrozenCLIPEmbedder `version` = a folder holding an HF config.json (or the JSON itself),
// FrozenOpenCLIPEmbedder `arch` = the path of an open_clip model-config JSON. `ldmc check` counts
// them, relative paths starting at the config file's directory; the sd-parity tiny configs give the
// README's figures.
import { expect } from 'chai';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { compile } from '../../compiler/program.js';
import { DiskHost } from '../../cli/host.js';
import { hfClipTextArchFromJson, openClipArchFromJson, resolveHfClipText, resolveOpenClip } from '../../schema/facts/clip.js';
import { referencePath, requireReference } from '../support/reference.js';

function checkOne(file: string) {
  const r = compile({ files: [file] }, new DiskHost());
  return { facts: r.inference?.condStage?.facts, diagnostics: r.diagnostics.map((d) => `${d.code} ${d.message}`) };
}

describe('CLIP text encoders from model-config files', function () {
  let dir: string;
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'ldmc-clip-config-'));
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it("sd-parity's clip_text_tiny config.json in a folder the config names: exactly 51,616 parameters, context [77, 32]", function () {
    requireReference(this, 'sd-parity', 'clip_text_tiny.hf_config.json');
    mkdirSync(join(dir, 'models', 'clip-tiny'), { recursive: true });
    copyFileSync(referencePath('sd-parity', 'clip_text_tiny.hf_config.json'), join(dir, 'models', 'clip-tiny', 'config.json'));
    const yaml = join(dir, 'text.yaml');
    writeFileSync(yaml, 'model:\n  target: ldm.modules.encoders.modules.FrozenCLIPEmbedder\n  params:\n    version: models/clip-tiny\n');
    const { facts, diagnostics } = checkOne(yaml);
    expect(diagnostics).to.deep.equal([]);
    expect(facts?.paramCount).to.equal(51_616);
    expect(facts?.output).to.deep.equal({ kind: 'tokens', shape: [77, 32] });
  });

  it("sd-parity's openclip_text_tiny.model_config.json by a relative path: exactly 73,665 parameters, context [77, 32]", function () {
    requireReference(this, 'sd-parity', 'openclip_text_tiny.model_config.json');
    const yaml = join(dir, 'text.yaml');
    const rel = relative(dir, referencePath('sd-parity', 'openclip_text_tiny.model_config.json'));
    writeFileSync(yaml, `model:\n  target: ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder\n  params:\n    arch: ${rel}\n    layer: penultimate\n`);
    const { facts, diagnostics } = checkOne(yaml);
    expect(diagnostics).to.deep.equal([]);
    expect(facts?.paramCount).to.equal(73_665);
    expect(facts?.output).to.deep.equal({ kind: 'tokens', shape: [77, 32] });
  });

  it('a missing file, a broken file and an unknown name are diagnostics, not crashes', function () {
    const yaml = join(dir, 'text.yaml');
    // Widths that do not split into the heads: both libraries raise while building the attention.
    writeFileSync(join(dir, 'bad.json'), '{"embed_dim": 32, "text_cfg": {"width": 30, "heads": 4}}');
    writeFileSync(join(dir, 'bad-hf.json'), '{"hidden_size": 30, "num_attention_heads": 4}');
    const cases: Array<[string, string, string]> = [
      ['FrozenOpenCLIPEmbedder', 'arch: ./nothing.json', 'LDMC547'],
      ['FrozenOpenCLIPEmbedder', 'arch: bad.json', 'LDMC548'],
      ['FrozenOpenCLIPEmbedder', 'arch: ViT-bigG-14', 'LDMC546'],
      ['FrozenCLIPEmbedder', 'version: ./no-folder', 'LDMC547'],
      ['FrozenCLIPEmbedder', 'version: bad-hf.json', 'LDMC548'],
      ['FrozenCLIPEmbedder', 'version: some-org/some-clip', 'LDMC546'],
    ];
    for (const [cls, param, code] of cases) {
      writeFileSync(yaml, `model:\n  target: ldm.modules.encoders.modules.${cls}\n  params:\n    ${param}\n`);
      const { facts, diagnostics } = checkOne(yaml);
      expect(diagnostics.map((d) => d.slice(0, 7)), `${cls} ${param}`).to.deep.equal([code]);
      expect(facts?.paramCount, `${cls} ${param}`).to.equal(null);
    }
  });

  it('reads HF configs as from_pretrained does: a CLIPConfig\'s text_config, CLIPTextConfig defaults for missing fields', function () {
    const full = hfClipTextArchFromJson(JSON.stringify({ model_type: 'clip', text_config: { hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12 }, vision_config: {} }));
    expect(full).to.deep.equal({ vocabSize: 49408, contextLength: 77, width: 768, heads: 12, layers: 12, mlpWidth: 3072, act: 'quick_gelu', layerNormEps: 1e-5 });
    expect(hfClipTextArchFromJson('{"hidden_act": "gelu", "layer_norm_eps": 1e-6}')).to.include({ width: 512, heads: 8, mlpWidth: 2048, act: 'gelu', layerNormEps: 1e-6 });
    expect(() => hfClipTextArchFromJson('[1]')).to.throw(/not a JSON object/);
    // open_clip: MLP 4 × width; quick_gelu from the flag
    const oc = openClipArchFromJson('{"embed_dim": 16, "quick_gelu": true, "text_cfg": {"width": 24, "heads": 3, "layers": 2}}', 'x.json');
    expect(oc.text).to.deep.equal({ vocabSize: 49408, contextLength: 77, width: 24, heads: 3, layers: 2, mlpWidth: 96, act: 'quick_gelu' });
    expect(oc.embedDim).to.equal(16);
  });

  it('a hub name ldmc knows is looked up locally first, then in the table (from_pretrained order)', function () {
    const none = () => new Error('no such file');
    expect(resolveHfClipText('openai/clip-vit-large-patch14', none).kind).to.equal('found');
    const local = resolveHfClipText('openai/clip-vit-large-patch14', (p) => (p === 'openai/clip-vit-large-patch14/config.json' ? '{"hidden_size": 64, "num_attention_heads": 2}' : none()));
    expect(local.kind === 'found' && local.arch.width).to.equal(64);
    expect(resolveOpenClip('ViT-H-14', none).kind).to.equal('found');
    expect(resolveOpenClip('not-a-model', none)).to.deep.equal({ kind: 'unknown', name: 'not-a-model' });
  });
});
