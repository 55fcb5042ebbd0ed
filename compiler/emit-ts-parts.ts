// What the generated-code emitters share: the ts-morph project, the naming, and the record of
// each emitted class (for index.ts and MODEL.md).
import type { Project } from 'ts-morph';
import type { IRNode } from './ir.js';

export type EmittedRole = 'unet' | 'first_stage' | 'cond_stage' | 'model' | 'data';

export interface Emitted {
  readonly role: EmittedRole;
  readonly cls: string;
  readonly base: string;
  readonly file: string;
  /** Further names the file exports (types), listed in index.ts. */
  readonly types?: readonly string[];
}

export interface EmitContext {
  readonly project: Project;
  /** PascalCase of the output name: the class prefix. */
  readonly Name: string;
  /** The output folder name, e.g. `fashion-ldm-cond`. */
  readonly name: string;
  /** Path from generated/<name>/ to the ldmc package root (or the package name). */
  readonly root: string;
  /** `file:line` of a node's target, for the docs. */
  where(n: IRNode): string;
}

export function tuple(s: readonly number[]): string {
  return `readonly [${s.join(', ')}]`;
}

/** `[B, …]` as a Shaped pattern type: the batch axis free, the rest literal. */
export function shapedType(tensor: string, dims: readonly number[]): string {
  return `Shaped<${tensor}, [number, ${dims.join(', ')}]>`;
}

/** The runtime `shaped()` pattern for the same shape. */
export function shapedPattern(dims: readonly number[]): string {
  return `[null, ${dims.join(', ')}]`;
}

/** [C, H, W] (PyTorch order, as facts give it) → NHWC without the batch axis. */
export function hwc(s: readonly number[]): number[] {
  return [s[1]!, s[2]!, s[0]!];
}

/** The module specifier of a runtime file from generated code. */
export function runtimeModule(ctx: EmitContext, path: string): string {
  return `${ctx.root}/${path}`;
}
