// The registry covers every target of the reference configs with the reference constructor's
// params and defaults (../shared/reference/targets.json), and nothing else is resolvable.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import type { TSchema } from '@sinclair/typebox';
import { allTargets, childSlot, lookupTarget, paramDialects, suggestTarget } from '../../schema/index.js';
import { hasReference, referencePath, requireReference } from '../support/reference.js';

interface InitParam {
  name: string;
  kind: string;
  default?: string;
  required?: boolean;
}
interface TargetEntry {
  target: string;
  status: string;
  params_keys_in_configs: string[];
  init_params?: InitParam[] | null;
  base_init?: { init_params: InitParam[] }[];
  external_signature?: string;
}

/** Params a subclass fixes itself, so they are not the subclass's own params. */
const FIXED_BY_SUBCLASS: Record<string, string[]> = {
  'ldm.data.lsun.LSUNChurchesTrain': ['txt_file', 'data_root'],
  'ldm.data.lsun.LSUNChurchesValidation': ['txt_file', 'data_root'],
  'ldm.data.lsun.LSUNBedroomsTrain': ['txt_file', 'data_root'],
  'ldm.data.lsun.LSUNBedroomsValidation': ['txt_file', 'data_root'],
};

/** Python literal (as targets.json writes defaults) -> JS value. */
function pyLiteral(s: string): unknown {
  const t = s.trim();
  if (t === 'None') return null;
  if (t === 'True') return true;
  if (t === 'False') return false;
  if (/^["'].*["']$/.test(t)) return t.slice(1, -1);
  if (/^[([]/.test(t)) {
    const inner = t.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').filter((x) => x.trim() !== '').map(pyLiteral);
  }
  const n = Number(t.endsWith('.') ? t + '0' : t);
  if (!Number.isNaN(n)) return n;
  throw new Error(`unparsed default ${s}`);
}

function parseSignature(sig: string): InitParam[] {
  const inner = sig.trim().replace(/^\(/, '').replace(/\)$/, '');
  if (inner === '') return [];
  return inner.split(',').map((p) => {
    const [name, dflt] = p.split('=').map((x) => x.trim());
    return dflt === undefined ? { name: name!, kind: 'positional_or_keyword', required: true } : { name: name!, kind: 'positional_or_keyword', default: dflt };
  });
}

/** The constructor's keyword params as Python resolves them (own params, then the bases'). */
function constructorParams(t: TargetEntry): InitParam[] {
  if (t.external_signature) return parseSignature(t.external_signature);
  const own = (t.init_params ?? []).filter((p) => p.kind === 'positional_or_keyword');
  const seen = new Set(own.map((p) => p.name));
  const out = [...own];
  for (const b of t.base_init ?? []) for (const p of b.init_params) if (p.kind === 'positional_or_keyword' && !seen.has(p.name)) out.push(p), seen.add(p.name);
  const fixed = FIXED_BY_SUBCLASS[t.target] ?? [];
  return out.filter((p) => !fixed.includes(p.name));
}

describe('registry', function () {
  const targets: TargetEntry[] = hasReference('targets.json') ? (JSON.parse(readFileSync(referencePath('targets.json'), 'utf8')) as { targets: TargetEntry[] }).targets : [];

  it('covers all 42 targets of targets.json and both sentinels', function () {
    requireReference(this, 'targets.json');
    expect(targets).to.have.length(42);
    for (const t of targets) expect(lookupTarget(t.target), t.target).to.exist;
    const sentinels = Object.keys((JSON.parse(readFileSync(referencePath('targets.json'), 'utf8')) as { sentinels: object }).sentinels);
    expect(sentinels.sort()).to.deep.equal(['__is_first_stage__', '__is_unconditional__']);
    const ld = lookupTarget('ldm.models.diffusion.ddpm.LatentDiffusion')!;
    expect(childSlot(ld.params.properties.cond_stage_config as TSchema)!.sentinels).to.have.members(sentinels);
  });

  it('has every constructor param with the reference default, and marks the required ones', function () {
    requireReference(this, 'targets.json');
    for (const t of targets) {
      const spec = lookupTarget(t.target)!;
      if (spec.openParams) continue;
      const props = spec.params.properties as Record<string, TSchema & { default?: unknown }>;
      const required = new Set(spec.params.required ?? []);
      if (t.status === 'missing_module') {
        for (const k of t.params_keys_in_configs) expect(props, `${t.target}.${k}`).to.have.property(k);
        continue;
      }
      const ctor = constructorParams(t);
      for (const p of ctor) {
        expect(props, `${t.target}: ${p.name}`).to.have.property(p.name);
        if (p.required) expect(required.has(p.name), `${t.target}: ${p.name} required`).to.equal(true);
        else expect(props[p.name]!.default, `${t.target}: default of ${p.name}`).to.deep.equal(pyLiteral(p.default!));
      }
      // latent-diffusion's signature is exactly the params its dialect accepts; sd1/sd2-only params are marked.
      const ldmProps = Object.keys(props).filter((k) => paramDialects(props[k]!).includes('ldm'));
      expect(ldmProps.sort(), t.target).to.deep.equal(ctor.map((p) => p.name).sort());
      for (const k of t.params_keys_in_configs) expect(props, `${t.target}.${k} (set by a config)`).to.have.property(k);
    }
  });

  it('documents every param', function () {
    for (const t of allTargets) {
      for (const [k, s] of Object.entries(t.params.properties as Record<string, TSchema>)) {
        expect(typeof s.description === 'string' && s.description.length > 5, `${t.id}.${k}`).to.equal(true);
      }
    }
  });

  it('resolves aliases to one canonical target', function () {
    expect(lookupTarget('ldm.data.faceshq.CelebAHQTrain')).to.equal(lookupTarget('taming.data.faceshq.CelebAHQTrain'));
    expect(lookupTarget('ldm.modules.losses.contperceptual.DummyLoss')!.id).to.equal('taming.modules.losses.vqperceptual.DummyLoss');
  });

  it('suggests targets: same class elsewhere, then by spelling, never anything for os.system', function () {
    expect(suggestTarget('ldm.models.UNetModel')).to.equal('ldm.modules.diffusionmodules.openaimodel.UNetModel');
    expect(suggestTarget('ldm.models.autoencoder.VQModelInterfce')).to.equal('ldm.models.autoencoder.VQModelInterface');
    expect(lookupTarget('os.system')).to.equal(undefined);
    expect(suggestTarget('os.system')).to.equal(undefined);
  });
});
