// Validates a config node against a target's TypeBox params schema and fills defaults.
//
// Why not ajv here: the YAML literal matters (`224.0` is a float to Python, and a float channel
// count fails inside PyTorch), ajv only sees the JS number 224; and each error must land on the
// key (unknown param) or the value (bad value) in the YAML, which we have at hand while walking
// the node tree instead of mapping JSON pointers back. The schemas stay plain JSON Schema, so the
// editor (yaml-language-server) reads the very same definitions.
import type { TSchema } from '@sinclair/typebox';
import { childSlot, closest } from '../schema/index.js';
import { diag, type Reporter, type Span } from './diagnostics.js';
import { describeNode, type ConfigNode, type MapNode } from './tree.js';

export interface JsonSchema {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  patternProperties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  default?: unknown;
  description?: string;
}

export interface ValidateOptions {
  /** Human name of the target, for messages: `UNetModel`. */
  readonly owner: string;
  /** Span to use for a missing required param. */
  readonly site: Span;
}

/** Thrown-away reporter for trying union branches. */
class Probe implements Reporter {
  failed = false;
  report(): void {
    this.failed = true;
  }
}

/** Validates `node` (the `params` mapping, or undefined) against an object schema; returns params with defaults. */
export function validateParams(schema: TSchema, node: MapNode | undefined, opts: ValidateOptions, ctx: Reporter): Record<string, unknown> {
  const out = validateObject(schema as JsonSchema, node, '', opts, ctx, opts.site);
  return out ?? {};
}

function validateObject(s: JsonSchema, node: MapNode | undefined, path: string, opts: ValidateOptions, ctx: Reporter, site: Span): Record<string, unknown> | undefined {
  const props = s.properties ?? {};
  const out: Record<string, unknown> = {};
  const open = s.additionalProperties !== false;
  if (node) {
    for (const [key, entry] of node.entries) {
      const ps = props[key];
      if (!ps) {
        if (open) {
          out[key] = plain(entry.value);
          continue;
        }
        const guess = closest(key, Object.keys(props));
        ctx.report(
          diag(entry.keySpan, 'Unknown_param_0_for_1', [path + key, opts.owner], {
            hint: guess ? `did you mean '${path + guess}'?` : `a fork's own param? declare it in a plugin (ldmc check --plugin FILE); known params: ${Object.keys(props).join(', ')}`,
          }),
        );
        continue;
      }
      if (childSlot(ps as TSchema)) {
        out[key] = entry.value; // resolved as a child node by the resolve phase
        continue;
      }
      out[key] = validateValue(ps, entry.value, path + key, opts, ctx);
    }
  }
  for (const [key, ps] of Object.entries(props)) {
    if (key in out || (node && node.entries.has(key))) continue;
    if ('default' in ps) out[key] = structuredClone(ps.default);
    else if ((s.required ?? []).includes(key)) {
      ctx.report(
        diag(site, 'Missing_required_param_0_for_1', [path + key, opts.owner], {
          hint: `add \`${key}:\` (${describeSchema(ps)})${ps.description ? ` — ${ps.description}` : ''}`,
        }),
      );
    }
  }
  return out;
}

function validateValue(s: JsonSchema, node: ConfigNode, path: string, opts: ValidateOptions, ctx: Reporter): unknown {
  if (s.anyOf) return validateUnion(s, node, path, opts, ctx);
  if (s.const !== undefined) {
    if (node.kind === 'scalar' && node.value === s.const) return node.value;
    ctx.report(diag(node.span, 'Param_0_must_be_one_of_1', [path, JSON.stringify(s.const), describeNode(node)]));
    return undefined;
  }
  switch (s.type) {
    case 'integer':
    case 'number': {
      if (node.kind !== 'scalar' || typeof node.value !== 'number' || (s.type === 'integer' && (node.numKind === 'float' || !Number.isInteger(node.value)))) {
        return typeError(s, node, path, ctx);
      }
      return checkRange(s, node.value, node, path, ctx);
    }
    case 'boolean':
      if (node.kind !== 'scalar' || typeof node.value !== 'boolean') return typeError(s, node, path, ctx);
      return node.value;
    case 'string':
      if (node.kind !== 'scalar' || typeof node.value !== 'string') return typeError(s, node, path, ctx);
      return node.value;
    case 'null':
      if (node.kind !== 'scalar' || node.value !== null) return typeError(s, node, path, ctx);
      return null;
    case 'array': {
      if (node.kind !== 'seq') return typeError(s, node, path, ctx);
      if (s.minItems !== undefined && node.items.length < s.minItems) {
        ctx.report(diag(node.span, 'Param_0_out_of_range_1', [path, `a list of at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`, `${node.items.length}`]));
      }
      if (s.maxItems !== undefined && node.items.length > s.maxItems) {
        ctx.report(diag(node.span, 'Param_0_out_of_range_1', [path, `a list of at most ${s.maxItems} items`, `${node.items.length}`]));
      }
      return node.items.map((it, i) => (s.items ? validateValue(s.items, it, `${path}[${i}]`, opts, ctx) : plain(it)));
    }
    case 'object': {
      if (node.kind !== 'map') return typeError(s, node, path, ctx);
      if (!s.properties && s.patternProperties) {
        const inner = Object.values(s.patternProperties)[0]!;
        const out: Record<string, unknown> = {};
        for (const [k, e] of node.entries) out[k] = validateValue(inner, e.value, `${path}.${k}`, opts, ctx);
        return out;
      }
      return validateObject(s, node, `${path}.`, opts, ctx, node.span);
    }
    default:
      return plain(node); // unknown / unconstrained
  }
}

function validateUnion(s: JsonSchema, node: ConfigNode, path: string, opts: ValidateOptions, ctx: Reporter): unknown {
  const branches = s.anyOf!;
  // Enum of literals: one clear message listing the choices.
  if (branches.every((b) => b.const !== undefined || b.type === 'null')) {
    const values = branches.map((b) => (b.type === 'null' ? null : b.const));
    if (node.kind === 'scalar' && values.includes(node.value)) return node.value;
    const shown = values.map((v) => (v === null ? 'null' : JSON.stringify(v))).join(', ');
    const guess = node.kind === 'scalar' && typeof node.value === 'string' ? closest(node.value, values.filter((v): v is string => typeof v === 'string')) : undefined;
    ctx.report(diag(node.span, 'Param_0_must_be_one_of_1', [path, shown, describeNode(node)], guess ? { hint: `did you mean '${guess}'?` } : {}));
    return undefined;
  }
  // Nullable: null is fine, anything else must match the other branch (whose errors are precise).
  const nonNull = branches.filter((b) => b.type !== 'null');
  if (nonNull.length < branches.length && node.kind === 'scalar' && node.value === null) return null;
  if (nonNull.length === 1) return validateValue({ ...nonNull[0]!, description: s.description ?? nonNull[0]!.description }, node, path, opts, ctx);
  for (const b of nonNull) {
    const probe = new Probe();
    const v = validateValue(b, node, path, opts, probe);
    if (!probe.failed) return v;
  }
  return typeError(s, node, path, ctx);
}

function checkRange(s: JsonSchema, v: number, node: ConfigNode, path: string, ctx: Reporter): number {
  const bad =
    (s.minimum !== undefined && v < s.minimum) ||
    (s.maximum !== undefined && v > s.maximum) ||
    (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) ||
    (s.exclusiveMaximum !== undefined && v >= s.exclusiveMaximum);
  if (bad) ctx.report(diag(node.span, 'Param_0_out_of_range_1', [path, describeRange(s), String(v)]));
  return v;
}

function describeRange(s: JsonSchema): string {
  const parts: string[] = [];
  if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) parts.push(`≤ ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`);
  return parts.join(' and ');
}

function typeError(s: JsonSchema, node: ConfigNode, path: string, ctx: Reporter): undefined {
  const want = describeSchema(s);
  let hint: string | undefined;
  if (node.kind === 'scalar' && typeof node.value === 'number' && node.numKind === 'float' && s.type === 'integer') {
    hint = `write ${Math.trunc(node.value)} without the decimal point: Python would pass a float`;
  } else if (node.kind === 'scalar' && typeof node.value === 'string' && (s.type === 'integer' || s.type === 'number') && /^[-+0-9.e]+$/i.test(node.value.trim())) {
    hint = 'remove the quotes: a quoted number is a string';
  } else if (node.kind === 'scalar' && s.type === 'array') {
    hint = `write a list, e.g. [${node.value === null ? '' : String(node.value)}]`;
  }
  ctx.report(diag(node.span, 'Param_0_expects_1_got_2', [path, want, describeNode(node)], hint ? { hint } : {}));
  return undefined;
}

export function describeSchema(s: JsonSchema | TSchema): string {
  const j = s as JsonSchema;
  if (j.anyOf) {
    const parts = j.anyOf.map((b) => describeSchema(b));
    return [...new Set(parts)].join(' or ');
  }
  if (j.const !== undefined) return JSON.stringify(j.const);
  switch (j.type) {
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'string':
      return 'a string';
    case 'null':
      return 'null';
    case 'array':
      return j.items ? `a list of ${plural(describeSchema(j.items))}` : 'a list';
    case 'object':
      return 'a mapping';
    default:
      return childSlot(s as TSchema) ? 'a {target, params} mapping' : 'a value';
  }
}

function plural(d: string): string {
  return d.replace(/^an? /, '').replace(/(integer|number|string|mapping|list)$/, '$1s');
}

function plain(node: ConfigNode): unknown {
  switch (node.kind) {
    case 'scalar':
      return node.value;
    case 'seq':
      return node.items.map(plain);
    case 'map':
      return Object.fromEntries([...node.entries].map(([k, e]) => [k, plain(e.value)]));
  }
}
