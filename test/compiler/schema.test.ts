// The editor schema (compiler/emit-schema.ts): the committed file is fresh, ajv compiles it, every
// reference config validates, and typical mistakes are rejected.
import AjvModule, { type ValidateFunction } from 'ajv';
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { parse } from 'yaml';
import { buildJsonSchema, jsonSchemaText, SCHEMA_FIX_COMMAND, SCHEMA_PATH, type JsonSchemaObject } from '../../compiler/emit-schema.js';
import { allTargets, childSlot, type Registry } from '../../schema/index.js';
import { loadPlugins } from '../../compiler/plugin-load.js';
import { repoRoot, requireReference } from '../support/reference.js';
import { yamlFiles } from '../support/files.js';


// ajv is CommonJS: under NodeNext its default export is the module object, whose `default` is the class.
const Ajv = AjvModule.default;

type Doc = Record<string, unknown>;
const at = (o: unknown, ...path: string[]): Doc => path.reduce((x, k) => (x as Doc)[k], o) as Doc;
const celeba = () => parse(readFileSync(join(repoRoot, 'examples', 'celeba256.yaml'), 'utf8')) as Doc;
const unetParams = (cfg: Doc) => at(cfg, 'model', 'params', 'unet_config', 'params');

const PLUGIN = 'examples/plugins/textual-inversion.ts';
const PLUGIN_SCHEMA = 'examples/plugins/ldmc.schema.json';

describe('JSON Schema for editors', function () {
  let schema: JsonSchemaObject;
  let validate: ValidateFunction;
  /** The worked plugin example's registry and schema (examples/plugins: its configs need the plugin). */
  let pluginRegistry: Registry;
  let validatePlugin: ValidateFunction;

  before(async function () {
    schema = buildJsonSchema();
    validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    const run = await loadPlugins([join(repoRoot, PLUGIN)], undefined, { allowTs: true });
    expect(run.hasErrors).to.equal(false);
    pluginRegistry = run.registry;
    validatePlugin = new Ajv({ strict: false, allErrors: true }).compile(buildJsonSchema(pluginRegistry));
  });

  function errorsOf(doc: unknown, v: ValidateFunction = validate): string[] {
    const validate = v;
    if (validate(doc)) return [];
    // if/then/anyOf wrappers only repeat the leaf errors.
    return (validate.errors ?? []).filter((e) => !['if', 'anyOf', 'oneOf'].includes(e.keyword)).map((e) => `${e.instancePath} ${e.message}${e.params && 'additionalProperty' in e.params ? ` '${String(e.params.additionalProperty)}'` : ''}`);
  }

  it(`${SCHEMA_PATH} is up to date`, function () {
    const committed = readFileSync(join(repoRoot, SCHEMA_PATH), 'utf8');
    const fresh = jsonSchemaText();
    expect(committed === fresh, `${SCHEMA_PATH} is stale (the registry changed); regenerate it: ${SCHEMA_FIX_COMMAND}`).to.equal(true);
  });

  it('is deterministic and plain JSON (no TypeBox symbols, no ldmcChild)', function () {
    const text = jsonSchemaText();
    expect(jsonSchemaText()).to.equal(text);
    expect(text).not.to.include('ldmcChild');
    expect(text).not.to.include('TypeBox');
    expect(JSON.stringify(JSON.parse(text), null, 2) + '\n').to.equal(text);
    expect(schema.$schema).to.equal('http://json-schema.org/draft-07/schema#');
  });

  it('has one params definition per target, with descriptions, defaults and hover text', function () {
    const defs = schema.definitions as Record<string, Doc>;
    for (const t of allTargets) {
      const d = defs[`params:${t.id}`];
      expect(d, t.id).to.exist;
      const props = (d!.properties ?? {}) as Record<string, Doc>;
      expect(Object.keys(props), t.id).to.deep.equal(Object.keys(t.params.properties));
      for (const [k, p] of Object.entries(props)) {
        expect(p.description, `${t.id} ${k}`).to.be.a('string');
        expect(p.markdownDescription, `${t.id} ${k}`).to.include(t.source);
        const src = t.params.properties[k] as { default?: unknown };
        if ('default' in src) expect(p.default, `${t.id} ${k}`).to.deep.equal(src.default);
        if (childSlot(t.params.properties[k]!)) expect(JSON.stringify(p), `${t.id} ${k}`).to.include('"$ref":"#/definitions/node:');
      }
    }
    const unet = at(defs, 'params:ldm.modules.diffusionmodules.openaimodel.UNetModel', 'properties');
    expect(unet.model_channels).to.include({ type: 'integer', minimum: 1 });
    expect(at(unet, 'num_head_channels').markdownDescription).to.include('Default: `-1`').and.include('openaimodel.py:413');
    const ld = at(defs, 'params:ldm.models.diffusion.ddpm.LatentDiffusion', 'properties');
    expect(at(ld, 'beta_schedule').enum).to.deep.equal(['linear', 'cosine', 'sqrt_linear', 'sqrt', 'squaredcos_cap_v2']);
    expect(at(ld, 'conditioning_key').enum).to.deep.equal(['concat', 'crossattn', 'hybrid', 'adm', 'hybrid-adm', 'crossattn-adm', null]);
    expect(JSON.stringify(ld.cond_stage_config)).to.include('__is_unconditional__');
  });

  it('offers the target ids of the right family, with descriptions', function () {
    const target = at(schema, 'definitions', 'node:unet', 'properties', 'target');
    expect(target.enum).to.deep.equal(['ldm.modules.diffusionmodules.openaimodel.UNetModel']);
    const loss = at(schema, 'definitions', 'node:loss', 'properties', 'target');
    expect(loss.enum).to.include('ldm.modules.losses.contperceptual.LPIPSWithDiscriminator'); // alias
    expect((loss.markdownEnumDescriptions as string[]).length).to.equal((loss.enum as string[]).length);
  });

  it('accepts the 32 reference configs', function () {
    const root = requireReference(this, 'ldm-configs');
    const files = yamlFiles(root);
    expect(files).to.have.length(32);
    for (const f of files) expect(errorsOf(parse(readFileSync(f, 'utf8'))), relative(root, f)).to.deep.equal([]);
  });

  it('accepts the 5 bare {target, params} parity configs', function () {
    const dir = requireReference(this, 'parity');
    const files = yamlFiles(dir);
    expect(files).to.have.length(5);
    for (const f of files) expect(errorsOf(parse(readFileSync(f, 'utf8'))), relative(dir, f)).to.deep.equal([]);
  });

  it('accepts the examples, which carry the modeline', function () {
    for (const f of yamlFiles(join(repoRoot, 'examples'))) {
      const text = readFileSync(f, 'utf8');
      const up = relative(dirname(f), repoRoot).split(sep).join('/');
      // A config that needs the plugin points at the schema generated with it, next to it.
      const plugin = relative(repoRoot, f).startsWith(`examples${sep}plugins${sep}`);
      expect(text.split('\n')[0], relative(repoRoot, f)).to.equal(`# yaml-language-server: $schema=${plugin ? 'ldmc.schema.json' : `${up}/schema/ldmc.schema.json`}`);
      expect(errorsOf(parse(text), plugin ? validatePlugin : validate), relative(repoRoot, f)).to.deep.equal([]);
    }
  });

  it(`${PLUGIN_SCHEMA} (the schema with the example plugin) is up to date, and the plain schema rejects the fork's keys`, function () {
    const committed = readFileSync(join(repoRoot, PLUGIN_SCHEMA), 'utf8');
    expect(committed === jsonSchemaText(pluginRegistry), `${PLUGIN_SCHEMA} is stale; regenerate it: npx ldmc schema --plugin ${PLUGIN} --out ${PLUGIN_SCHEMA}`).to.equal(true);
    const dreambooth = parse(readFileSync(join(repoRoot, 'examples', 'plugins', 'v1-finetune_unfrozen.yaml'), 'utf8'));
    expect(errorsOf(dreambooth)).to.include("/model/params must NOT have additional properties 'reg_weight'");
  });

  it('rejects a misspelled param', function () {
    const cfg = celeba();
    const p = unetParams(cfg);
    p.model_channel = p.model_channels;
    delete p.model_channels;
    const errs = errorsOf(cfg);
    expect(errs).to.include("/model/params/unet_config/params must NOT have additional properties 'model_channel'");
    expect(errs).to.include("/model/params/unet_config/params must have required property 'model_channels'");
  });

  it('rejects a wrong type, a bad enum value and a target of the wrong family', function () {
    let cfg = celeba();
    unetParams(cfg).num_res_blocks = 'two';
    expect(errorsOf(cfg)).to.deep.equal(['/model/params/unet_config/params/num_res_blocks must be integer']);
    cfg = celeba();
    at(cfg, 'model', 'params').beta_schedule = 'cosin';
    expect(errorsOf(cfg)).to.deep.equal(['/model/params/beta_schedule must be equal to one of the allowed values']);
    cfg = celeba();
    at(cfg, 'model', 'params', 'first_stage_config').target = 'ldm.modules.diffusionmodules.openaimodel.UNetModel';
    expect(errorsOf(cfg)).to.include('/model/params/first_stage_config/target must be equal to one of the allowed values');
    cfg = celeba();
    at(cfg, 'model', 'params').cond_stage_config = '__is_first_stage_';
    expect(errorsOf(cfg).join('\n')).to.include('/model/params/cond_stage_config');
  });

  it('checks the lightning section (default callback targets, trainer types) and unknown sections', function () {
    const cfg = celeba();
    cfg.lightning = { trainer: { benchmark: true, max_epochs: 3 }, callbacks: { image_logger: { params: { batch_frequency: 10, max_images: 4 } } } };
    expect(errorsOf(cfg)).to.deep.equal([]);
    at(cfg, 'lightning', 'callbacks', 'image_logger', 'params').max_image = 4;
    at(cfg, 'lightning', 'trainer').max_epochs = 'three';
    cfg.lightnin = {};
    expect(errorsOf(cfg)).to.have.members([
      "/lightning/callbacks/image_logger/params must NOT have additional properties 'max_image'",
      '/lightning/trainer/max_epochs must be integer',
      " must NOT have additional properties 'lightnin'",
    ]);
  });

  it('checks a bare node by its target', function () {
    const text = readFileSync(requireReference(this, 'parity', 'unet_tiny.yaml'), 'utf8');
    const cfg = parse(text) as Doc;
    at(cfg, 'params').num_head_channel = 16;
    expect(errorsOf(cfg)).to.include("/params must NOT have additional properties 'num_head_channel'");
  });
});
