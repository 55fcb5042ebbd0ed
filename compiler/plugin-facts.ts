// Static facts of plugin targets. A plugin may give a facts function (param count, a cond stage's
// output); ldmc runs it on the validated params, guarded (a throw is LDMC717 at the target). A
// plugin target without facts has an unknown count: the model total is then partial, never a guess.
import type { CondStageFacts } from '../schema/facts/index.js';
import type { PluginFacts, TargetSpec } from '../schema/index.js';
import { diag, type Reporter } from './diagnostics.js';
import { className, type IRNode, type ModelGraph } from './ir.js';

/** A target a plugin declared (not a built-in a plugin only extended). */
export function isPluginTarget(spec: TargetSpec): boolean {
  return spec.plugin !== undefined && spec.plugin.extended.length === 0;
}

/** The plugin's facts for a node, or undefined when it gives none (or they failed: LDMC717). */
export function pluginFactsOf(n: IRNode, ctx: Reporter): PluginFacts | undefined {
  // Once per node: the total and the cond-stage rules both ask, and a fault is reported once.
  if (computed.has(n)) return computed.get(n);
  const out = runFacts(n, ctx);
  computed.set(n, out);
  return out;
}

/** Per IR node, so per run: nodes are made fresh by each compile. */
const computed = new WeakMap<IRNode, PluginFacts | undefined>();

function runFacts(n: IRNode, ctx: Reporter): PluginFacts | undefined {
  const f = n.spec.plugin?.facts;
  if (!f || !n.valid) return undefined;
  try {
    const out = f(structuredClone(n.params));
    const count = out?.paramCount;
    if (count !== undefined && !(Number.isSafeInteger(count) && count >= 0)) throw new Error(`paramCount is ${JSON.stringify(count)}, not a whole number ≥ 0`);
    return out ?? {};
  } catch (e) {
    ctx.report(
      diag(n.targetSpan, 'Plugin_facts_of_0_failed_1', [className(n), (e as Error)?.message ?? String(e)], {
        hint: `fix the facts function in ${n.spec.plugin!.file}, or leave it out (the count is then shown as unknown)`,
      }),
    );
    return undefined;
  }
}

/** A plugin cond stage's facts in the shape the cross-module rules read; undefined when its count is unknown. */
export function pluginCondFacts(n: IRNode, ctx: Reporter): CondStageFacts | undefined {
  const f = pluginFactsOf(n, ctx);
  if (f?.paramCount === undefined) return undefined;
  return {
    // CondStageFacts names the built-in classes; a plugin's class is carried through as it is.
    target: className(n) as CondStageFacts['target'],
    paramCount: f.paramCount,
    parts: {},
    output: f.output ?? { kind: 'passthrough', shape: null },
    flops: 0,
    errors: [],
    warnings: [],
  };
}

export interface ExtraComponent {
  /** The slot's path, e.g. `model.params.personalization_config`. */
  readonly path: string;
  readonly node: IRNode;
  /** Undefined: unknown (a plugin target without facts). */
  readonly paramCount: number | undefined;
}

/**
 * Modules a plugin hangs on the model through an extended child slot (textual inversion's
 * personalization_config): PyTorch counts them among the model's parameters, so the total does too.
 */
export function extraComponents(g: ModelGraph, ctx: Reporter): ExtraComponent[] {
  const m = g.model;
  const out: ExtraComponent[] = [];
  if (!m?.spec.plugin) return out;
  for (const key of m.spec.plugin.extended) {
    const c = m.children.get(key);
    if (!c || typeof c !== 'object') continue;
    out.push({ path: c.path, node: c, paramCount: isPluginTarget(c.spec) ? pluginFactsOf(c, ctx)?.paramCount : undefined });
  }
  return out;
}
