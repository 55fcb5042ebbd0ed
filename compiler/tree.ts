// The config tree every phase after `source` works on: YAML values with the span of the text
// that set them. Merging moves whole nodes, so a value keeps pointing at the file (or --set
// argument) it came from.
import type { Span } from './diagnostics.js';

export type ScalarValue = string | number | boolean | null;

export interface ScalarNode {
  readonly kind: 'scalar';
  readonly value: ScalarValue;
  /** For numbers: whether the literal was written as a float (`1.0`, `1e-4`), as Python would type it. */
  readonly numKind?: 'int' | 'float';
  readonly span: Span;
}

export interface MapEntry {
  readonly key: string;
  readonly keySpan: Span;
  value: ConfigNode;
}

export interface MapNode {
  readonly kind: 'map';
  readonly entries: Map<string, MapEntry>;
  readonly span: Span;
}

export interface SeqNode {
  readonly kind: 'seq';
  readonly items: ConfigNode[];
  readonly span: Span;
}

export type ConfigNode = ScalarNode | MapNode | SeqNode;

export function get(node: ConfigNode | undefined, key: string): ConfigNode | undefined {
  return node?.kind === 'map' ? node.entries.get(key)?.value : undefined;
}

export function getPath(node: ConfigNode | undefined, path: readonly string[]): ConfigNode | undefined {
  let cur = node;
  for (const k of path) {
    if (!cur) return undefined;
    if (cur.kind === 'map') cur = cur.entries.get(k)?.value;
    else if (cur.kind === 'seq' && /^\d+$/.test(k)) cur = cur.items[Number(k)];
    else return undefined;
  }
  return cur;
}

/** Plain JS value of a node (what PyYAML/OmegaConf would hand to a constructor). */
export function toPlain(node: ConfigNode): unknown {
  switch (node.kind) {
    case 'scalar':
      return node.value;
    case 'seq':
      return node.items.map(toPlain);
    case 'map': {
      const out: Record<string, unknown> = {};
      for (const [k, e] of node.entries) out[k] = toPlain(e.value);
      return out;
    }
  }
}

export function describeNode(node: ConfigNode): string {
  if (node.kind === 'map') return 'a mapping';
  if (node.kind === 'seq') return 'a list';
  const v = node.value;
  if (v === null) return 'null';
  if (typeof v === 'number') return `${node.numKind === 'float' ? 'float' : 'integer'} ${String(v)}`;
  if (typeof v === 'boolean') return `boolean ${String(v)}`;
  return `string ${JSON.stringify(v)}`;
}
