// Phase 3, resolve: the merged tree -> IR nodes. Every `target` is looked up in the closed registry;
// params are validated against the target's schema (defaults filled) and nested configs become
// child nodes. Nothing a config names is imported or run.
import {
  childSlot,
  closest,
  DefaultCallbackTargets,
  DefaultLoggerTarget,
  familyName,
  builtinRegistry,
  LightningScalarKeys,
  TrainerOptions,
  type ChildSlot,
  type Family,
  type SentinelValue,
  type Registry,
  type TargetSpec,
} from '../schema/index.js';
import { diag, type Diagnostic, type Reporter, type Span } from './diagnostics.js';
import type { IRNode, ModelGraph, Role } from './ir.js';
import { describeNode, type ConfigNode, type MapNode } from './tree.js';
import { validateParams } from './validate.js';

const SECTIONS = ['model', 'data', 'lightning'] as const;
/** What a config's top-level model may be: a full model, or one network on its own. */
const MODEL_FAMILIES: readonly Family[] = ['model', 'unet', 'first_stage', 'cond_stage', 'eval'];
const NODE_KEYS = ['target', 'params'];

const roleOfFamily: Record<Family, Role> = {
  model: 'model',
  unet: 'unet',
  first_stage: 'first_stage',
  cond_stage: 'cond_stage',
  loss: 'loss',
  lr_scheduler: 'lr_scheduler',
  data_module: 'data',
  dataset: 'dataset',
  callback: 'callback',
  logger: 'logger',
  eval: 'model',
};

export function resolveGraph(root: MapNode, files: readonly string[], ctx: Reporter, registry: Registry = builtinRegistry): ModelGraph {
  const g: ModelGraph = { files, root, callbacks: [], nodes: [], trainer: {} };
  const r = new Resolver(g, ctx, registry);
  const refused = refusePlugins(root, ctx);
  if (root.entries.has('target') && !root.entries.has('model')) {
    // A bare `{target, params}` file, as instantiate_from_config takes (the parity configs).
    const m = r.node(root, 'model', { families: MODEL_FAMILIES, sentinels: [] }, [...refused]);
    if (m && typeof m === 'object') g.model = m;
    return g;
  }
  for (const [key, e] of root.entries) {
    if (!(SECTIONS as readonly string[]).includes(key) && !refused.has(key)) {
      const guess = closest(key, SECTIONS);
      ctx.report(diag(e.keySpan, 'Unknown_top_level_section_0', [key], guess ? { hint: `did you mean '${guess}'?` } : {}));
    }
  }
  const model = root.entries.get('model');
  if (!model) {
    ctx.report(diag(root.span, 'Missing_model_section', [], { hint: 'add `model:` with `target:` and `params:`' }));
  } else {
    const m = r.node(model.value, 'model', { families: MODEL_FAMILIES, sentinels: [] }, ['base_learning_rate']);
    if (m && typeof m === 'object') g.model = m;
    else if (m === null) ctx.report(diag(model.keySpan, 'Section_0_must_be_a_mapping', ['model'], { hint: 'give the model a `target:` and its `params:`' }));
    if (model.value.kind === 'map') {
      const lr = model.value.entries.get('base_learning_rate');
      if (lr) {
        const v = lr.value;
        if (v.kind === 'scalar' && typeof v.value === 'number' && v.value > 0) {
          g.baseLearningRate = v.value;
          g.baseLearningRateSpan = v.span;
        } else {
          ctx.report(diag(v.span, 'Param_0_expects_1_got_2', ['base_learning_rate', 'a positive number', describeNode(v)]));
        }
      }
    }
  }
  const data = root.entries.get('data');
  if (data) {
    const d = r.node(data.value, 'data', { families: ['data_module'], sentinels: [] });
    if (d && typeof d === 'object') g.data = d;
    else if (d === null) ctx.report(diag(data.keySpan, 'Section_0_must_be_a_mapping', ['data'], { hint: 'remove the empty section, or give it `target: main.DataModuleFromConfig`' }));
  }
  const lightning = root.entries.get('lightning');
  if (lightning) r.lightning(lightning.value);
  return g;
}

/** Keys through which a config might try to load code. */
const PLUGIN_KEYS = ['plugins', 'plugin'];

/**
 * A config never loads a plugin (nothing it names is executed): a top-level `plugins:` (or
 * `ldmc: { plugins: … }`) is refused at its key. Returns the top-level keys it reported.
 */
function refusePlugins(root: MapNode, ctx: Reporter): Set<string> {
  const refused = new Set<string>();
  const hint = 'plugins come from the command line (`ldmc check --plugin FILE`) or the project: "ldmc": { "plugins": [...] } in package.json, or ldmc.config.ts';
  for (const [key, e] of root.entries) {
    if (PLUGIN_KEYS.includes(key)) {
      ctx.report(diag(e.keySpan, 'Config_cannot_load_plugins_0', [key], { hint }));
      refused.add(key);
    } else if (key === 'ldmc' && e.value.kind === 'map') {
      for (const [k, inner] of e.value.entries) {
        if (PLUGIN_KEYS.includes(k)) {
          ctx.report(diag(inner.keySpan, 'Config_cannot_load_plugins_0', [`ldmc.${k}`], { hint }));
          refused.add(key);
        }
      }
    }
  }
  return refused;
}

class ErrorCounter implements Reporter {
  errors = 0;
  constructor(private readonly inner: Reporter) {}
  report(d: Diagnostic): void {
    if (d.severity === 'error') this.errors++;
    this.inner.report(d);
  }
}

class Resolver {
  constructor(
    private readonly g: ModelGraph,
    private readonly ctx: Reporter,
    private readonly registry: Registry,
  ) {}

  node(cfg: ConfigNode, path: string, slot: ChildSlot, extraKeys: readonly string[] = []): IRNode | SentinelValue | null | undefined {
    if (cfg.kind === 'scalar') {
      if (typeof cfg.value === 'string' && (slot.sentinels as readonly string[]).includes(cfg.value)) return cfg.value as SentinelValue;
      if (cfg.value === null) return null;
      if (typeof cfg.value === 'string' && cfg.value.startsWith('__is_')) {
        this.ctx.report(
          diag(cfg.span, 'Sentinel_0_not_allowed_here', [cfg.value, slot.sentinels.length ? `use one of ${slot.sentinels.join(', ')}` : `${path} needs a {target, params} mapping`]),
        );
        return undefined;
      }
    }
    if (cfg.kind !== 'map') {
      this.ctx.report(
        diag(cfg.span, 'Param_0_expects_1_got_2', [path, `a {target, params} mapping${slot.sentinels.length ? ` or ${slot.sentinels.join(' / ')}` : ''}`, describeNode(cfg)]),
      );
      return undefined;
    }
    for (const [key, e] of cfg.entries) {
      if (NODE_KEYS.includes(key) || extraKeys.includes(key)) continue;
      const allowed = [...NODE_KEYS, ...extraKeys];
      const guess = closest(key, allowed);
      this.ctx.report(
        diag(e.keySpan, 'Unknown_key_0_in_target_node', [key, extraKeys.length ? `, ${extraKeys.map((k) => `'${k}'`).join(', ')}` : ''], {
          hint: guess ? `did you mean '${guess}'?` : 'params of the target go under `params:`',
        }),
      );
    }
    const te = cfg.entries.get('target');
    let name: string;
    let targetSpan: Span;
    if (!te) {
      if (!slot.defaultTarget) {
        this.ctx.report(
          diag(cfg.span, 'Missing_target', [path], {
            hint: `add \`target:\` naming ${slot.families.map((f) => familyName(f)).join(' or ')}${slot.sentinels.length ? `, or write ${slot.sentinels.join(' / ')}` : ''}`,
          }),
        );
        return undefined;
      }
      name = slot.defaultTarget;
      targetSpan = cfg.span;
    } else {
      const tv = te.value;
      if (tv.kind !== 'scalar' || typeof tv.value !== 'string' || tv.value.trim() === '') {
        this.ctx.report(diag(tv.span, 'Target_must_be_a_string', [], { hint: 'for example: target: ldm.modules.diffusionmodules.openaimodel.UNetModel' }));
        return undefined;
      }
      name = tv.value.trim();
      targetSpan = tv.span;
    }
    const spec = this.registry.lookup(name);
    if (!spec) {
      const guess = this.registry.suggest(name, slot.families) ?? this.registry.suggest(name);
      this.ctx.report(
        diag(targetSpan, 'Unknown_target_0', [name], {
          hint: guess ? `did you mean '${guess}'?` : `ldmc knows only registered targets (${slot.families.map((f) => familyName(f)).join(', ')} expected here; see \`ldmc schema\`); a fork's own module can be declared in a plugin (ldmc check --plugin FILE)`,
        }),
      );
      return undefined;
    }
    if (!spec.families.some((f) => slot.families.includes(f))) {
      this.ctx.report(
        diag(targetSpan, 'Target_0_is_a_1_expected_2', [name, familyName(spec.families[0]!).replace(/^an? /, ''), slot.families.map((f) => familyName(f)).join(' or ')]),
      );
      return undefined;
    }
    const pe = cfg.entries.get('params');
    let paramsNode: MapNode | undefined;
    if (pe) {
      if (pe.value.kind === 'map') paramsNode = pe.value;
      else if (!(pe.value.kind === 'scalar' && pe.value.value === null)) {
        this.ctx.report(diag(pe.value.span, 'Params_must_be_a_mapping', [], { hint: 'indent the params under `params:` as key: value lines' }));
      }
    }
    const owner = spec.id.split('.').pop()!;
    const counter = new ErrorCounter(this.ctx);
    // A missing param is reported at `params:` when there is one, else at the target.
    const params = validateParams(spec.params, paramsNode, { owner, site: pe ? pe.keySpan : targetSpan }, counter);
    const role = path === 'model' ? 'model' : roleOfFamily[spec.families.find((f) => slot.families.includes(f))!] ?? 'plugin';
    const ir: IRNode = { path, role, target: spec.id, written: name, spec, params, node: cfg, paramsNode, targetSpan, children: new Map(), valid: counter.errors === 0 };
    this.g.nodes.push(ir);
    this.children(ir, spec);
    return ir;
  }

  private children(ir: IRNode, spec: TargetSpec): void {
    for (const [key, ps] of Object.entries(spec.params.properties)) {
      const slot = childSlot(ps);
      if (!slot) continue;
      const raw = ir.params[key];
      if (raw === null || raw === undefined) {
        ir.children.set(key, null);
        continue;
      }
      if (typeof raw === 'object' && raw !== null && 'kind' in raw) {
        const c = this.node(raw as ConfigNode, `${ir.path}.params.${key}`, slot);
        if (c === undefined) {
          ir.params[key] = null;
          continue;
        }
        ir.children.set(key, c);
        ir.params[key] = c === null ? null : typeof c === 'string' ? c : { target: c.target, path: c.path };
      }
    }
  }

  lightning(cfg: ConfigNode): void {
    if (cfg.kind === 'scalar' && cfg.value === null) return;
    if (cfg.kind !== 'map') {
      this.ctx.report(diag(cfg.span, 'Section_0_must_be_a_mapping', ['lightning']));
      return;
    }
    const known = ['trainer', 'callbacks', 'modelcheckpoint', 'logger'];
    for (const [key, e] of cfg.entries) {
      if (key === 'trainer') this.trainer(e.value);
      else if (key === 'callbacks') this.callbacks(e.value);
      else if (key === 'modelcheckpoint') {
        const c = this.node(e.value, 'lightning.modelcheckpoint', { families: ['callback'], sentinels: [], defaultTarget: DefaultCallbackTargets.checkpoint_callback! });
        if (c && typeof c === 'object') this.g.callbacks.push(c);
      } else if (key === 'logger') {
        this.node(e.value, 'lightning.logger', { families: ['logger'], sentinels: [], defaultTarget: DefaultLoggerTarget });
      } else if (Object.prototype.hasOwnProperty.call(LightningScalarKeys, key)) {
        const v = e.value;
        if (v.kind !== 'scalar' || typeof v.value !== LightningScalarKeys[key]) this.ctx.report(diag(v.span, 'Lightning_key_0_must_be_1', [`lightning.${key}`, `a ${LightningScalarKeys[key]}`], { hint: `write lightning.${key}: true or false` }));
      } else {
        const guess = closest(key, [...known, ...Object.keys(LightningScalarKeys)]);
        this.ctx.report(diag(e.keySpan, 'Unknown_lightning_section_0', [`lightning.${key}`, known.join(', ')], guess ? { hint: `did you mean 'lightning.${guess}'?` } : {}));
      }
    }
  }

  private trainer(cfg: ConfigNode): void {
    if (cfg.kind === 'scalar' && cfg.value === null) return;
    if (cfg.kind !== 'map') {
      this.ctx.report(diag(cfg.span, 'Section_0_must_be_a_mapping', ['lightning.trainer']));
      return;
    }
    this.g.trainerNode = cfg;
    const known = Object.keys(TrainerOptions.properties);
    for (const [key, e] of cfg.entries) {
      if (!known.includes(key)) {
        const guess = closest(key, known);
        this.ctx.report(diag(e.keySpan, 'Unknown_trainer_option_0', [key], guess ? { hint: `did you mean '${guess}'?` } : {}));
      }
    }
    // Typed options are checked strictly; unknown ones pass through to the trainer as main.py does.
    const typed: MapNode = { kind: 'map', span: cfg.span, entries: new Map([...cfg.entries].filter(([k]) => known.includes(k))) };
    const checked = validateParams(TrainerOptions, typed, { owner: 'the Lightning trainer', site: cfg.span }, this.ctx);
    const rest = Object.fromEntries([...cfg.entries].filter(([k]) => !known.includes(k)).map(([k, e]) => [k, e.value.kind === 'scalar' ? e.value.value : null]));
    this.g.trainer = { ...rest, ...checked };
  }

  private callbacks(cfg: ConfigNode): void {
    if (cfg.kind === 'scalar' && cfg.value === null) return;
    if (cfg.kind !== 'map') {
      this.ctx.report(diag(cfg.span, 'Section_0_must_be_a_mapping', ['lightning.callbacks']));
      return;
    }
    for (const [name, e] of cfg.entries) {
      const dflt = DefaultCallbackTargets[name];
      const c = this.node(e.value, `lightning.callbacks.${name}`, { families: ['callback'], sentinels: [], ...(dflt ? { defaultTarget: dflt } : {}) });
      if (c && typeof c === 'object') this.g.callbacks.push(c);
    }
  }
}
