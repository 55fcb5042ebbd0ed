// The typed model graph: every later stage reads this, never the raw YAML.
import type { SentinelValue, TargetSpec } from '../schema/index.js';
import type { Span } from './diagnostics.js';
import type { MapNode } from './tree.js';

export type Role =
  | 'model'
  | 'unet'
  | 'first_stage'
  | 'cond_stage'
  | 'loss'
  | 'lr_scheduler'
  | 'data'
  | 'dataset'
  | 'callback'
  | 'logger'
  /** A node of a family a plugin declared (e.g. textual inversion's personalization_config). */
  | 'plugin';

export interface IRNode {
  /** Dotted path of the mapping in the merged config, e.g. `model.params.unet_config`. */
  readonly path: string;
  readonly role: Role;
  /** Canonical target id. */
  readonly target: string;
  /** The target as the config spells it (may be an alias). */
  readonly written: string;
  readonly spec: TargetSpec;
  /** Validated params with defaults filled; child configs are replaced by their IR paths. */
  params: Record<string, unknown>;
  readonly node: MapNode;
  readonly paramsNode: MapNode | undefined;
  readonly targetSpan: Span;
  readonly children: Map<string, IRNode | SentinelValue | null>;
  /** False when its params had errors: later phases skip facts and rules that need them. */
  valid: boolean;
}

export interface ModelGraph {
  readonly files: readonly string[];
  readonly root: MapNode;
  model?: IRNode;
  data?: IRNode;
  readonly callbacks: IRNode[];
  readonly nodes: IRNode[];
  /** `lightning.trainer` as written (validated loosely: Trainer takes many options). */
  trainer: Record<string, unknown>;
  trainerNode?: MapNode;
  baseLearningRate?: number;
  baseLearningRateSpan?: Span;
}

/** Span of a param's value (or its key), falling back to the target line. */
export function paramSpan(n: IRNode, key: string, which: 'key' | 'value' = 'value'): Span {
  const e = n.paramsNode?.entries.get(key);
  if (!e) return n.targetSpan;
  return which === 'key' ? e.keySpan : e.value.span;
}

export function child(n: IRNode | undefined, key: string): IRNode | undefined {
  const c = n?.children.get(key);
  return c && typeof c === 'object' ? c : undefined;
}

export function className(n: IRNode): string {
  return n.target.split('.').pop()!;
}
