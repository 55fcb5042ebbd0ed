// Plugins -> one run's Registry. The loader (plugin-load.ts) hands over each plugin file's default
// export; this module checks it like any other input (every fault a diagnostic with a place in the
// plugin file and a hint, never a stack trace) and builds a Registry of the built-in targets plus
// the plugins' targets and extended params. The built-in registry itself is never changed: each run
// (a CLI command, a language-server project) gets its own instance.
import type { TObject, TProperties, TSchema } from '@sinclair/typebox';
import { Type } from '../schema/type-builder.js';
import { isPlugin, type LdmcPlugin, type PluginTarget } from '../schema/plugin.js';
import { builtinRegistry, Registry } from '../schema/registry.js';
import { childSlot, isBuiltinFamily, type Family, type TargetSpec } from '../schema/types.js';
import { diag, spanAt, type Reporter, type Span } from './diagnostics.js';
import { pluginCondStatics } from './plugin-facts.js';

export interface LoadedPlugin {
  /** The plugin file as the user named it (messages, spans). */
  readonly file: string;
  /** Its source text, for locating faults and code frames. */
  readonly text: string;
  /** Its default export (undefined when it has none). */
  readonly value: unknown;
  readonly hasDefault: boolean;
}

const DOTTED = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/;
const FAMILY = /^[a-z][a-z0-9_]*$/;
const JSON_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null', 'array', 'object']);

/** The span of the first quoted occurrence of `needle` in a plugin's text (else its first line). */
export function locate(p: Pick<LoadedPlugin, 'file' | 'text'>, needle: string | undefined): Span {
  if (needle) {
    // Quoted (an id), then as a key (`name:`), then anywhere.
    for (const [q, after] of [["'", "'"], ['"', '"'], ['`', '`'], ['', ':'], ['', '']] as const) {
      const at = p.text.indexOf(`${q}${needle}${after}`);
      if (at >= 0) return spanAt(p.file, p.text, at, needle.length + q.length + (after === ':' ? 0 : after.length));
    }
  }
  const firstLine = p.text.indexOf('\n');
  return spanAt(p.file, p.text, 0, firstLine < 0 ? p.text.length : firstLine);
}

/** Why a value is not a params schema ldmc can check against, or undefined when it is one. */
export function schemaProblem(s: unknown, where: string): string | undefined {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return `${where} is ${describe(s)}, not a TypeBox schema (Type.Number(), str('…'), opt(…), child([...]))`;
  const o = s as Record<string, unknown>;
  if (childSlot(o as TSchema)) return undefined;
  if ('type' in o) {
    const types = Array.isArray(o.type) ? o.type : [o.type];
    for (const t of types) if (typeof t !== 'string' || !JSON_TYPES.has(t)) return `${where} has type ${JSON.stringify(t)}, which is not a JSON Schema type`;
    if (o.type === 'array' && o.items !== undefined) return schemaProblem(o.items, `${where}[]`);
    if (o.type === 'object' && o.properties !== undefined) {
      if (typeof o.properties !== 'object' || o.properties === null) return `${where} has properties that are not a mapping`;
      for (const [k, v] of Object.entries(o.properties)) {
        const p = schemaProblem(v, `${where}.${k}`);
        if (p) return p;
      }
    }
    return undefined;
  }
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    if (key in o) {
      if (!Array.isArray(o[key])) return `${where}.${key} is not a list`;
      for (const [i, v] of (o[key] as unknown[]).entries()) {
        const p = schemaProblem(v, `${where} (${key} ${i})`);
        if (p) return p;
      }
      return undefined;
    }
  }
  if ('const' in o || 'enum' in o) return undefined;
  // `{}` (Type.Any / Type.Unknown) accepts anything: allowed, as main.py would.
  if (Object.keys(o).filter((k) => k !== 'description' && k !== 'default' && k !== 'title').length === 0) return undefined;
  return `${where} is not a schema ldmc understands (keys ${Object.keys(o).join(', ')})`;
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'function') return 'a function';
  return typeof v === 'object' ? 'an object' : `a ${typeof v} (${JSON.stringify(v)})`;
}

const WRITE_PLUGIN = "write `import { definePlugin } from 'ldmc'` and `export default definePlugin({ targets: [...], extend: {...} })`";

/**
 * Checks each plugin and returns the run's registry: the built-ins plus every plugin target and
 * extension that passed. Faults are reported; the caller stops the run when there are any.
 */
export function registryWithPlugins(plugins: readonly LoadedPlugin[], ctx: Reporter, base: Registry = builtinRegistry): Registry {
  const added: TargetSpec[] = [];
  const owner = new Map<string, string>(); // name -> plugin file that declared it
  const extended = new Map<string, TargetSpec>(); // built-in id -> its extended spec
  const declaredFamilies = new Set<string>();
  const pending: { p: LoadedPlugin; t: PluginTarget; spec: TargetSpec }[] = [];

  for (const p of plugins) {
    if (!p.hasDefault || !isPlugin(p.value)) {
      const why = !p.hasDefault ? 'it has no default export' : `its default export is ${describe(p.value)}, not the value of definePlugin(...)`;
      ctx.report(diag(locate(p, p.hasDefault ? 'export default' : undefined), 'Plugin_0_has_no_definePlugin_default_1', [p.file, why], { hint: WRITE_PLUGIN }));
      continue;
    }
    const def: LdmcPlugin = p.value;
    const targets: readonly unknown[] = def.targets === undefined ? [] : Array.isArray(def.targets) ? def.targets : [];
    if (def.targets !== undefined && !Array.isArray(def.targets)) {
      ctx.report(diag(locate(p, 'targets'), 'Plugin_target_0_invalid_1', ['targets', `'targets' is ${describe(def.targets)}, not a list`], { hint: 'write `targets: [{ id, family, params }]`' }));
    }
    for (const raw of targets) {
      const t = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<PluginTarget>;
      const id = typeof t.id === 'string' ? t.id : String(t.id);
      const invalid = (why: string, hint: string, at = id) => ctx.report(diag(locate(p, at), 'Plugin_target_0_invalid_1', [id, why], { hint }));
      if (typeof t.id !== 'string' || !DOTTED.test(t.id)) {
        invalid(`its id ${typeof t.id === 'string' ? `'${t.id}'` : 'is ' + describe(t.id) + ' and'} is not a dotted class path`, "write the path the fork's configs use, e.g. 'ldm.modules.embedding_manager.EmbeddingManager'");
        continue;
      }
      if (typeof t.family !== 'string' || !FAMILY.test(t.family)) {
        invalid(`its family is ${describe(t.family)}`, "name a family: a built-in one (cond_stage, dataset, first_stage, …) or the plugin's own (lower_snake_case)");
        continue;
      }
      const names = [t.id, ...(Array.isArray(t.aliases) ? t.aliases.filter((a): a is string => typeof a === 'string') : [])];
      const clash = names.find((n) => base.lookup(n) || owner.has(n));
      if (clash) {
        const other = owner.get(clash);
        ctx.report(
          diag(locate(p, clash), 'Plugin_target_0_clashes_with_1', [clash, other ? `the target of that name in plugin '${other}'` : `the built-in target ${base.lookup(clash)!.id}`], {
            hint: other ? 'declare each target in one plugin only' : 'a plugin cannot replace a built-in target; add params to it with `extend` instead, or give the new target its own id',
          }),
        );
        continue;
      }
      const problem = isObjectSchema(t.params) ? schemaProblem(t.params, 'params') : `params is ${describe(t.params)}, not a TypeBox object`;
      if (problem) {
        invalid(problem, "give params as a TypeBox object: `params({ size: opt(int('…'), 512) })` or `Type.Object({...})`", t.id);
        continue;
      }
      if (t.facts !== undefined && typeof t.facts !== 'function') {
        invalid(`facts is ${describe(t.facts)}, not a function`, 'write `facts: (params) => ({ paramCount: … })`, or leave it out (the count is then shown as unknown)', t.id);
        continue;
      }
      for (const n of names) owner.set(n, p.file);
      declaredFamilies.add(t.family);
      const params = t.params as TObject;
      const spec: TargetSpec = {
        id: t.id,
        aliases: names.slice(1),
        families: [t.family as Family],
        summary: typeof t.summary === 'string' ? t.summary : `Declared by the plugin ${p.file}.`,
        source: typeof t.source === 'string' ? t.source : p.file,
        // Strict unless the plugin says otherwise: an unknown param is an error, as for built-ins.
        params: params.additionalProperties === undefined ? ({ ...params, additionalProperties: false } as TObject) : params,
        ...(params.additionalProperties === true ? { openParams: true } : {}),
        ...(Array.isArray(t.dialects) ? { dialects: t.dialects } : {}),
        plugin: { file: p.file, extended: [], ...(t.facts ? { facts: t.facts } : {}) },
        // A plugin cond stage is a real member of its family: its facts feed the context_dim rule and the totals.
        ...(t.family === 'cond_stage' ? { statics: pluginCondStatics(t as PluginTarget, p.file) } : {}),
      };
      pending.push({ p, t: t as PluginTarget, spec });
      added.push(spec);
    }
    if (def.extend !== undefined && (typeof def.extend !== 'object' || def.extend === null || Array.isArray(def.extend))) {
      ctx.report(diag(locate(p, 'extend'), 'Plugin_target_0_invalid_1', ['extend', `'extend' is ${describe(def.extend)}, not a mapping of target id to params`], { hint: "write `extend: { 'ldm.models.diffusion.ddpm.LatentDiffusion': { reg_weight: opt(num('…'), 0) } }`" }));
      continue;
    }
    for (const [target, props] of Object.entries(def.extend ?? {})) {
      const spec = base.lookup(target);
      if (!spec) {
        const guess = base.suggest(target);
        ctx.report(diag(locate(p, target), 'Plugin_extends_unknown_target_0', [target], { hint: guess ? `did you mean '${guess}'?` : 'extend names a built-in target by its id (see `ldmc schema`); declare a new target under `targets` instead' }));
        continue;
      }
      if (typeof props !== 'object' || props === null || Array.isArray(props)) {
        ctx.report(diag(locate(p, target), 'Plugin_target_0_invalid_1', [target, `its extension is ${describe(props)}, not a mapping of param name to schema`], { hint: 'write `{ param_name: opt(num(…), 0), … }`' }));
        continue;
      }
      const current = extended.get(spec.id) ?? spec;
      const fresh: TProperties = {};
      for (const [name, schema] of Object.entries(props as TProperties)) {
        if (Object.prototype.hasOwnProperty.call(current.params.properties, name)) {
          const by = current.plugin?.extended.includes(name) ? ` (added by plugin '${current.plugin.file}')` : '';
          ctx.report(diag(locate(p, name), 'Plugin_param_0_clashes_on_1', [name, `${spec.id.split('.').pop()}${by}`], { hint: 'a plugin adds params; it cannot redefine a built-in one. Rename it, or leave it out if the built-in schema already fits' }));
          continue;
        }
        const problem = schemaProblem(schema, `${spec.id.split('.').pop()}.${name}`);
        if (problem) {
          ctx.report(diag(locate(p, name), 'Plugin_target_0_invalid_1', [spec.id, problem], { hint: "give each param a TypeBox schema, e.g. `opt(num('…'), 1.0)`" }));
          continue;
        }
        fresh[name] = schema;
      }
      if (Object.keys(fresh).length === 0) continue;
      const more = Type.Object(fresh);
      extended.set(spec.id, {
        ...current,
        params: {
          ...current.params,
          properties: { ...current.params.properties, ...more.properties },
          required: [...(current.params.required ?? []), ...(more.required ?? [])],
        } as TObject,
        plugin: { file: current.plugin ? `${current.plugin.file}, ${p.file}` : p.file, extended: [...(current.plugin?.extended ?? []), ...Object.keys(fresh)] },
      });
    }
  }

  // A child slot must name a family something can fill (built-in, or declared by a plugin target).
  const slotFamilies = (spec: TargetSpec) => Object.entries(spec.params.properties).flatMap(([k, s]) => (childSlot(s)?.families ?? []).map((f) => [k, f] as const));
  const known = (f: string) => isBuiltinFamily(f) || declaredFamilies.has(f);
  const bad = new Set<TargetSpec>();
  for (const { p, spec } of pending) {
    const miss = slotFamilies(spec).find(([, f]) => !known(f));
    if (miss) {
      ctx.report(diag(locate(p, miss[0]), 'Plugin_target_0_invalid_1', [spec.id, `param '${miss[0]}' is a child slot of family '${miss[1]}', which no target has`], { hint: 'name a built-in family, or declare a target of that family in a plugin' }));
      bad.add(spec);
    }
  }
  for (const [id, spec] of extended) {
    const miss = slotFamilies(spec).find(([, f]) => !known(f));
    if (miss) {
      const p = plugins.find((x) => spec.plugin?.file.split(', ').includes(x.file)) ?? plugins[0]!;
      ctx.report(diag(locate(p, miss[0]), 'Plugin_target_0_invalid_1', [id, `param '${miss[0]}' is a child slot of family '${miss[1]}', which no target has`], { hint: 'name a built-in family, or declare a target of that family in a plugin' }));
      extended.delete(id);
    }
  }
  if (added.length === 0 && extended.size === 0) return base;
  return new Registry([...base.targets.map((t) => extended.get(t.id) ?? t), ...added.filter((t) => !bad.has(t))]);
}

function isObjectSchema(v: unknown): v is TObject {
  return typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'object' && typeof (v as { properties?: unknown }).properties === 'object';
}
