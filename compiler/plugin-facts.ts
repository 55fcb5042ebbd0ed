// Static facts of plugin targets. A plugin may give a facts function (param count, a cond stage's
// output). A plugin cond stage becomes a real family member: compiler/plugins.ts gives it
// cond_stage statics built on that function, so infer.ts treats it like a built-in (a count it
// does not give is null: the total is then partial). Plugin targets of other families, and the
// modules a plugin hangs on a built-in model through an extended slot (textual inversion's
// personalization_config), are counted here. A throw in the plugin's function is LDMC717.
import type { CondStageFacts } from '../schema/facts/index.js';
import type { CondStageStatics } from '../schema/family.js';
import { PluginFactsError, type PluginTarget } from '../schema/plugin.js';
import type { PluginFacts, TargetSpec } from '../schema/index.js';
import { diag, type Reporter } from './diagnostics.js';
import { className, type IRNode, type ModelGraph } from './ir.js';

/** A target a plugin declared (not a built-in a plugin only extended). */
export function isPluginTarget(spec: TargetSpec): boolean {
  return spec.plugin !== undefined && spec.plugin.extended.length === 0;
}

/** Runs a plugin's facts function on validated params; its faults become PluginFactsError. */
function runPluginFacts(f: (p: Record<string, unknown>) => PluginFacts, params: Readonly<Record<string, unknown>>, file: string): PluginFacts {
  try {
    const out = f(structuredClone(params) as Record<string, unknown>) ?? {};
    const count = out.paramCount;
    if (count !== undefined && !(Number.isSafeInteger(count) && count >= 0)) throw new Error(`paramCount is ${JSON.stringify(count)}, not a whole number ≥ 0`);
    return out;
  } catch (e) {
    throw new PluginFactsError(file, (e as Error)?.message ?? String(e));
  }
}

/** The cond_stage statics of a plugin cond stage: its facts where given, unknown (null, with a note) where not. */
export function pluginCondStatics(t: PluginTarget, file: string): CondStageStatics {
  const cls = t.id.split('.').pop()!;
  return {
    family: 'cond_stage',
    facts: (p): CondStageFacts => {
      const f = t.facts ? runPluginFacts(t.facts, p, file) : {};
      return {
        target: cls,
        paramCount: f.paramCount ?? null,
        parts: {},
        output: f.output ?? { kind: 'unknown' },
        flops: null,
        ...(f.paramCount === undefined ? { note: `a target of plugin ${file} without a param count` } : {}),
        errors: [],
        warnings: [],
      };
    },
    inputShape: () => [],
    input: { type: 'Tensor', doc: `the input of ${cls} (declared by plugin ${file})` },
  };
}

/** The plugin's facts for a node (not a cond stage), or undefined when it gives none or they failed (LDMC717). */
export function pluginFactsOf(n: IRNode, ctx: Reporter): PluginFacts | undefined {
  if (computed.has(n)) return computed.get(n);
  const f = n.spec.plugin?.facts;
  let out: PluginFacts | undefined;
  if (f && n.valid) {
    try {
      out = runPluginFacts(f, n.params, n.spec.plugin!.file);
    } catch (e) {
      reportPluginFacts(n, e as PluginFactsError, ctx);
    }
  }
  computed.set(n, out);
  return out;
}

/** Per IR node, so per run: nodes are made fresh by each compile; the total and inspect both ask. */
const computed = new WeakMap<IRNode, PluginFacts | undefined>();

export function reportPluginFacts(n: IRNode, e: PluginFactsError, ctx: Reporter): void {
  ctx.report(diag(n.targetSpan, 'Plugin_facts_of_0_failed_1', [className(n), e.message], { hint: `fix the facts function in ${e.plugin}, or leave it out (the count is then shown as unknown)` }));
}

export interface PluginPart {
  /** The slot's path, e.g. `model.params.personalization_config`. */
  readonly path: string;
  readonly slot: string;
  readonly node: IRNode;
  /** Undefined: unknown (a plugin target without facts). */
  readonly paramCount: number | undefined;
}

/**
 * Modules a plugin hangs on the model through an extended child slot, other than cond stages (those
 * are the wrapper's extra stages): PyTorch counts them among the model's parameters, so the total does too.
 */
export function pluginParts(g: ModelGraph, ctx: Reporter): PluginPart[] {
  const m = g.model;
  const out: PluginPart[] = [];
  if (!m?.spec.plugin) return out;
  for (const slot of m.spec.plugin.extended) {
    const c = m.children.get(slot);
    if (!c || typeof c !== 'object' || c.spec.statics) continue;
    out.push({ path: c.path, slot, node: c, paramCount: isPluginTarget(c.spec) ? pluginFactsOf(c, ctx)?.paramCount : undefined });
  }
  return out;
}
