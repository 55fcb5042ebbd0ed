// The config as the reference would see it after ldmc: merged, interpolated, validated, defaults
// filled, children expanded. What `ldmc export` writes, what generated config.ts holds, and what the
// runtime builds a whole model from.
import type { IRNode } from './ir.js';
import type { CompileResult } from './program.js';

/** The config as main.py would see it after ldmc: children expanded, defaults filled. */
export function resolvedConfig(r: CompileResult, node: (n: IRNode) => { target: string; params: Record<string, unknown> } = resolvedNode): Record<string, unknown> {
  const g = r.graph!;
  const out: Record<string, unknown> = {};
  if (g.model) out.model = { ...(g.baseLearningRate !== undefined ? { base_learning_rate: g.baseLearningRate } : {}), ...node(g.model) };
  if (g.data) out.data = node(g.data);
  const callbacks = g.callbacks.filter((c) => c.path.startsWith('lightning.callbacks.'));
  if (Object.keys(g.trainer).length || callbacks.length) {
    out.lightning = {
      ...(Object.keys(g.trainer).length ? { trainer: g.trainer } : {}),
      ...(callbacks.length ? { callbacks: Object.fromEntries(callbacks.map((c) => [c.path.slice('lightning.callbacks.'.length), node(c)])) } : {}),
    };
  }
  return out;
}


/** One node with its children expanded. */
export function resolvedNode(n: IRNode): { target: string; params: Record<string, unknown> } {
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(n.params)) {
    const c = n.children.get(k);
    params[k] = c === undefined ? v : c === null ? null : typeof c === 'string' ? c : resolvedNode(c);
  }
  return { target: n.target, params };
}
