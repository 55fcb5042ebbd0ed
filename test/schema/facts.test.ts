// schema/facts against the reference data: exact parameter counts and shapes of the configs in
// param_counts.json and parity/summary.json, and a sweep over all 32 reference configs.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { hasReference, referencePath, requireReference } from '../support/reference.js';
import {
  autoencoderFacts,
  bertEmbedderFacts,
  classEmbedderFacts,
  ddconfigDefaults,
  identityFacts,
  spatialRescalerFacts,
  unetDefaults,
  unetFacts,
} from '../../schema/facts/index.js';
import type {
  AutoencoderFacts,
  BERTEmbedderParams,
  ClassEmbedderParams,
  CondStageFacts,
  DDConfig,
  FirstStageFactsParams,
  SpatialRescalerParams,
  UNetFacts,
  UNetFactsParams,
} from '../../schema/facts/index.js';

// ---------------------------------------------------------------------------------------------
// Reading the reference data. The real compiler will feed the facts from validated IR nodes;
// until then this fills constructor defaults from targets.json (Python literals as strings).

type Obj = Record<string, unknown>;

interface InitParam {
  name: string;
  kind: string;
  default?: string;
  required?: boolean;
}

interface TargetEntry {
  target: string;
  init_params?: InitParam[] | null;
}

interface ParamCountEntry {
  file: string;
  first_stage: string;
  first_stage_params: number;
  first_stage_parts: Record<string, number>;
  latent_shape: number[];
  unet_params?: number;
  unet_input_shape?: number[];
  unet_output_shape?: number[];
  cond_stage?: string;
  cond_stage_params?: number;
}

const UNET = 'ldm.modules.diffusionmodules.openaimodel.UNetModel';

/** The Python literals targets.json uses for defaults: None, True, False, numbers, strings, flat tuples/lists. */
function pyLiteral(src: string): unknown {
  const s = src.trim();
  if (s === 'None') return null;
  if (s === 'True') return true;
  if (s === 'False') return false;
  if (/^-?\d+(\.\d*)?([eE]-?\d+)?$/.test(s)) return Number(s);
  if (/^(['"]).*\1$/.test(s)) return s.slice(1, -1);
  if (/^[([].*[)\]]$/.test(s)) {
    const inner = s.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').filter((x) => x.trim() !== '').map(pyLiteral);
  }
  return s; // an expression (none among the params used here): kept as its source text
}

let targetsCache: Map<string, TargetEntry> | undefined;
function targets(): Map<string, TargetEntry> {
  if (!targetsCache) {
    const data = JSON.parse(readFileSync(referencePath('targets.json'), 'utf8')) as { targets: TargetEntry[] };
    targetsCache = new Map(data.targets.map((t) => [t.target, t]));
  }
  return targetsCache;
}

/** params with the constructor defaults of `target` filled in (targets.json). */
function withDefaults(target: string, params: Obj): Obj {
  const out: Obj = {};
  for (const ip of targets().get(target)?.init_params ?? []) {
    if (ip.default !== undefined && ip.kind === 'positional_or_keyword') out[ip.name] = pyLiteral(ip.default);
  }
  return { ...out, ...params };
}

function obj(v: unknown): Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {};
}

function loadConfig(file: string): Obj {
  return obj(parse(readFileSync(referencePath('ldm-configs', file), 'utf8')));
}

function unetParams(cfg: Obj): UNetFactsParams {
  // targets.json is latent-diffusion's signature; the sd1/sd2 params it lacks keep ldmc's defaults
  // (each the value that builds latent-diffusion's network).
  return { ...unetDefaults, ...withDefaults(UNET, obj(cfg.params)) } as unknown as UNetFactsParams;
}

function firstStageParams(cfg: Obj): FirstStageFactsParams {
  const target = String(cfg.target);
  const p = obj(cfg.params);
  const ddconfig = { ...ddconfigDefaults, ...obj(p.ddconfig) } as unknown as DDConfig;
  const embed_dim = Number(p.embed_dim);
  if (target.endsWith('.AutoencoderKL')) return { kind: 'kl', ddconfig, embed_dim };
  if (target.endsWith('.VQModel') || target.endsWith('.VQModelInterface'))
    return { kind: 'vq', ddconfig, embed_dim, n_embed: Number(p.n_embed) };
  throw new Error(`not a first stage: ${target}`);
}

interface ConfigFacts {
  unet?: UNetFacts;
  firstStage?: AutoencoderFacts;
  cond?: CondStageFacts | null;
}

/** Every fact the test can derive from one reference config. */
function factsOfConfig(file: string): ConfigFacts {
  const model = obj(loadConfig(file).model);
  const target = String(model.target);
  if (!target.endsWith('.LatentDiffusion')) return { firstStage: autoencoderFacts(firstStageParams(model)) };
  const p = obj(model.params);
  const firstStage = autoencoderFacts(firstStageParams(obj(p.first_stage_config)));
  const unet = unetFacts(unetParams(obj(p.unet_config)));
  const condCfg = p.cond_stage_config;
  let cond: CondStageFacts | null = null;
  if (typeof condCfg !== 'string') {
    const c = obj(condCfg);
    const ct = String(c.target);
    const cp = withDefaults(ct, obj(c.params));
    if (ct.endsWith('.ClassEmbedder')) cond = classEmbedderFacts(cp as unknown as ClassEmbedderParams);
    else if (ct.endsWith('.BERTEmbedder')) cond = bertEmbedderFacts(cp as unknown as BERTEmbedderParams);
    else if (ct.endsWith('.SpatialRescaler')) {
      const r = cp as unknown as SpatialRescalerParams;
      cond = spatialRescalerFacts(r, [r.in_channels, firstStage.inputShape[1], firstStage.inputShape[2]]);
    } else if (ct === 'torch.nn.Identity') cond = identityFacts();
    else throw new Error(`unknown cond stage ${ct}`);
  }
  return { unet, firstStage, cond };
}

function listConfigs(): string[] {
  const root = referencePath('ldm-configs');
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const full = join(dir, name);
      return statSync(full).isDirectory() ? walk(full) : name.endsWith('.yaml') ? [relative(root, full)] : [];
    });
  return walk(root).sort();
}

// ---------------------------------------------------------------------------------------------

describe('schema/facts against param_counts.json', function () {
  if (!hasReference('param_counts.json')) {
    it('reference data', function () {
      requireReference(this, 'param_counts.json');
    });
    return;
  }
  const entries = (JSON.parse(readFileSync(referencePath('param_counts.json'), 'utf8')) as { configs: ParamCountEntry[] }).configs;

  for (const e of entries) {
    it(`${e.file}: exact counts and shapes`, function () {
      const f = factsOfConfig(e.file);
      const fs = f.firstStage!;
      expect(fs.paramCount, 'first stage params').to.equal(e.first_stage_params);
      expect(fs.parts, 'first stage parts').to.deep.equal(e.first_stage_parts);
      expect([1, ...fs.latentShape], 'latent shape').to.deep.equal(e.latent_shape);
      expect(fs.errors).to.deep.equal([]);
      if (e.unet_params !== undefined) {
        const u = f.unet!;
        expect(u.paramCount, 'unet params').to.equal(e.unet_params);
        expect([1, ...u.inputShape], 'unet input').to.deep.equal(e.unet_input_shape);
        expect([1, ...u.outputShape], 'unet output').to.deep.equal(e.unet_output_shape);
        expect(Object.values(u.parts).reduce((a, b) => a + b, 0)).to.equal(u.paramCount);
        expect(u.errors).to.deep.equal([]);
      }
      if (e.cond_stage_params !== undefined) {
        expect(f.cond?.paramCount ?? 0, 'cond stage params').to.equal(e.cond_stage_params);
      }
    });
  }

  it('txt2img BERTEmbedder: 581994042 params, [77, 1280] context', function () {
    const f = factsOfConfig('configs/latent-diffusion/txt2img-1p4B-eval.yaml');
    expect(f.cond?.paramCount).to.equal(581994042);
    expect(f.cond?.output).to.deep.equal({ kind: 'tokens', shape: [77, 1280] });
  });

  it('celeba256: attention at 32×32, 16×16 and 8×8 (attention_resolutions are ds factors)', function () {
    const u = factsOfConfig('models/ldm/celeba256/config.yaml').unet!;
    const at = (block: string) => u.attention.filter((a) => a.block === block).map((a) => [a.ds, a.resolution[0], a.channels]);
    // Level 0 (ds 1, 64×64) has no attention; levels ds 2, 4, 8 have two blocks each on the way down.
    expect(at('input')).to.deep.equal([[2, 32, 448], [2, 32, 448], [4, 16, 672], [4, 16, 672], [8, 8, 896], [8, 8, 896]]);
    expect(at('middle')).to.deep.equal([[8, 8, 896]]);
    expect(at('output')).to.deep.equal([
      [8, 8, 896], [8, 8, 896], [8, 8, 896], [4, 16, 672], [4, 16, 672], [4, 16, 672], [2, 32, 448], [2, 32, 448], [2, 32, 448],
    ]);
    expect([...new Set(u.attention.map((a) => a.resolution[0]))].sort((a, b) => b - a)).to.deep.equal([32, 16, 8]);
    for (const a of u.attention) expect(a.headChannels).to.equal(32);
    expect(u.unmatchedAttentionResolutions).to.deep.equal([]);
    for (const g of u.groupNorms) expect(g.channels % 32, g.path).to.equal(0);
    expect(u.inputShape).to.deep.equal([3, 64, 64]);
  });

  it('RDM 768x768: UNet on 48×48 inputs (its own image_size, not the 16×16 latent)', function () {
    const f = factsOfConfig('configs/retrieval-augmented-diffusion/768x768.yaml');
    expect(f.unet!.paramCount).to.equal(1335480400);
    expect(f.unet!.inputShape).to.deep.equal([16, 48, 48]);
    expect(f.firstStage!.latentShape).to.deep.equal([16, 16, 16]);
  });
});

describe('schema/facts against parity/summary.json', function () {
  const cases: Array<[string, (cfg: Obj) => number]> = [
    ['unet_tiny', (cfg) => unetFacts(unetParams(cfg)).paramCount],
    ['unet_tiny_xattn', (cfg) => unetFacts(unetParams(cfg)).paramCount],
    ['unet_tiny_updown', (cfg) => unetFacts(unetParams(cfg)).paramCount],
    ['vq_tiny', (cfg) => autoencoderFacts(firstStageParams(cfg)).paramCount],
    ['kl_tiny', (cfg) => autoencoderFacts(firstStageParams(cfg)).paramCount],
  ];
  for (const [name, count] of cases) {
    it(`${name}: exact parameter count`, function () {
      requireReference(this, 'parity', 'summary.json');
      const summary = JSON.parse(readFileSync(referencePath('parity', 'summary.json'), 'utf8')) as Record<string, { params: number }>;
      const cfg = obj(parse(readFileSync(referencePath('parity', `${name}.yaml`), 'utf8')));
      expect(count(cfg)).to.equal(summary[name]!.params);
    });
  }

  it('unet_tiny_xattn: SpatialTransformer(64, n_heads 4, d_head 16) under legacy', function () {
    requireReference(this, 'parity', 'unet_tiny_xattn.yaml');
    const cfg = obj(parse(readFileSync(referencePath('parity', 'unet_tiny_xattn.yaml'), 'utf8')));
    const u = unetFacts(unetParams(cfg));
    for (const a of u.attention) {
      expect(a.kind).to.equal('SpatialTransformer');
      expect([a.channels, a.heads, a.headChannels, a.resolution[0]]).to.deep.equal([64, 4, 16, 4]);
    }
  });
});

describe('schema/facts over all 32 reference configs', function () {
  it('unetDefaults mirror the reference signature in targets.json', function () {
    requireReference(this, 'targets.json');
    const d = withDefaults(UNET, {});
    // Every latent-diffusion default is ldmc's; the params only sd1/sd2 have are not in its signature.
    const ldmKeys = Object.keys(d);
    expect(ldmKeys.length).to.be.greaterThan(15);
    for (const k of ldmKeys) expect(unetDefaults as Record<string, unknown>, k).to.have.property(k);
    for (const k of ldmKeys) expect((unetDefaults as Record<string, unknown>)[k], k).to.deep.equal(d[k]);
  });

  it('every config yields positive finite facts', function () {
    requireReference(this, 'ldm-configs');
    const files = listConfigs();
    expect(files).to.have.length(32);
    const positive = (n: number, what: string) => expect(Number.isFinite(n) && n > 0, `${what} = ${n}`).to.equal(true);
    for (const file of files) {
      const f = factsOfConfig(file);
      expect(f.firstStage, file).to.not.equal(undefined);
      const fs = f.firstStage!;
      positive(fs.paramCount, `${file} first stage params`);
      positive(fs.flops.total, `${file} first stage flops`);
      positive(fs.activationElements, `${file} first stage activations`);
      expect(fs.errors, file).to.deep.equal([]);
      if (f.unet) {
        positive(f.unet.paramCount, `${file} unet params`);
        positive(f.unet.flops, `${file} unet flops`);
        positive(f.unet.activationElements, `${file} unet activations`);
        expect(f.unet.errors, file).to.deep.equal([]);
        expect(f.unet.outputShape.slice(1), file).to.deep.equal(f.unet.inputShape.slice(1));
      }
      if (f.cond) expect(f.cond.paramCount !== null && Number.isFinite(f.cond.paramCount) && f.cond.paramCount >= 0, file).to.equal(true);
    }
  });

  it('semantic_synthesis256: [32, 16, 8] match no level, only the middle block attends', function () {
    requireReference(this, 'ldm-configs');
    const f = factsOfConfig('models/ldm/semantic_synthesis256/config.yaml');
    expect(f.unet!.unmatchedAttentionResolutions).to.deep.equal([32, 16, 8]);
    expect(f.unet!.attention.map((a) => a.block)).to.deep.equal(['middle']);
    // SpatialRescaler(n_stages 2, 182 → 3 channels, no bias) on a 256×256 segmentation map.
    expect(f.cond?.paramCount).to.equal(182 * 3);
    expect(f.cond?.output).to.deep.equal({ kind: 'spatial', shape: [3, 64, 64] });
  });
});
