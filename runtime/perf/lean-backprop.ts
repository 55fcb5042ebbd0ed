// Backpropagation that frees as it goes. tfjs-core's engine.gradients (4.x) keeps every
// intermediate gradient and every tensor a kernel saved for its gradient until the whole backward
// pass ends, so a training step's peak holds the activations twice over (their saved copies and
// their gradients) on top of the parameters' gradients. PyTorch frees each of them once the node
// that needs it is done. installLeanBackprop() replaces the engine's gradients() with the same walk
// over the tape that, after each node, disposes the gradients of that node's outputs (no node
// earlier on the tape can add to them) and the tensors it saved. Values are unchanged: the same
// gradient functions run in the same order on the same inputs; only the disposal moves earlier.
// Higher-order gradients (a gradients() inside another) keep the saved tensors, as tfjs does.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';

/** What this module uses of tfjs-core's Engine and its tape nodes (tfjs-core 4.x internals). */
interface TapeNode {
  id: number;
  kernelName: string;
  outputs: Tensor[];
  inputs: Record<string, Tensor>;
  gradient?: (dys: Array<Tensor | null>) => Record<string, () => Tensor>;
  saved?: Tensor[];
}
interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
  gradients<T extends Tensor>(f: () => T, xs: Tensor[], dy?: T, allowNoGradients?: boolean): { value: T; grads: Tensor[] };
}

/** The nodes on a path from one of xs to y, their inputs pruned to those that depend on xs (tape order). */
export function nodesFromXsToY(tape: readonly TapeNode[], xs: readonly Tensor[], y: Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodeFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodeFromX.add(node.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const nodeToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const t of Object.values(node.inputs)) toY.add(t.id);
      nodeToY.add(node.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodeFromX.has(node.id) || !nodeToY.has(node.id)) continue;
    const inputs: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[k] = t;
    out.push({ ...node, inputs });
  }
  return out;
}

/** Counts how many map entries hold each gradient tensor, so one still held elsewhere is not disposed. */
class GradientMap {
  private readonly byId = new Map<number, Tensor>();
  private readonly refs = new Map<Tensor, number>();
  get(id: number): Tensor | undefined {
    return this.byId.get(id);
  }
  held(t: Tensor): boolean {
    return (this.refs.get(t) ?? 0) > 0;
  }
  set(id: number, t: Tensor): void {
    this.drop(id);
    this.byId.set(id, t);
    this.refs.set(t, (this.refs.get(t) ?? 0) + 1);
  }
  /** Removes the entry; returns its tensor when no other entry holds it. */
  drop(id: number): Tensor | undefined {
    const t = this.byId.get(id);
    if (!t) return undefined;
    this.byId.delete(id);
    const n = (this.refs.get(t) ?? 1) - 1;
    if (n > 0) {
      this.refs.set(t, n);
      return undefined;
    }
    this.refs.delete(t);
    return t;
  }
}

function leanGradients(this: EngineInternals, f: () => Tensor, xs: Tensor[], dy?: Tensor, allowNoGradients = false): { value: Tensor; grads: Tensor[] } {
  tf.util.assert(xs.length > 0, () => 'gradients() received an empty list of xs.');
  if (dy != null && dy.dtype !== 'float32') throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
  const y = this.scopedRun(() => this.startTape(), () => this.endTape(), () => this.tidy('forward', f));
  tf.util.assert(y instanceof tf.Tensor, () => 'The result y returned by f() must be a tensor.');
  const tape = this.state.activeTape ?? [];
  const nodes = nodesFromXsToY(tape, xs, y);
  if (!allowNoGradients && nodes.length === 0 && xs.length > 0) {
    throw new Error('Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all operations that lead from x to y.');
  }
  const xIds = new Set(xs.map((x) => x.id));
  const topLevel = this.state.gradientDepth === 0;
  return this.tidy('backward', () => {
    const acc = new GradientMap();
    acc.set(y.id, dy ?? tf.ones(y.shape));
    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i]!;
      if (!node.gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
      const inputGradients = node.gradient(node.outputs.map((o) => acc.get(o.id) ?? null));
      for (const [name, x] of Object.entries(node.inputs)) {
        const g = inputGradients[name];
        if (!g) throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(inputGradients)}.`);
        const dx = this.tidy(g);
        if (dx.dtype !== 'float32') throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`);
        if (!tf.util.arraysEqual(dx.shape, x.shape)) {
          throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`);
        }
        const cur = acc.get(x.id);
        if (!cur) acc.set(x.id, dx);
        else {
          acc.set(x.id, tf.add(cur, dx));
          // tfjs disposes the running sum here; the new term goes too unless another entry holds it
          if (!acc.held(cur)) cur.dispose();
          if (!acc.held(dx)) dx.dispose();
        }
      }
      // The node is done: its outputs' gradients are complete and used, and its saved tensors are
      // needed by nothing else (the user's dy and the xs' gradients stay).
      for (const o of node.outputs) {
        if (xIds.has(o.id)) continue;
        const g = acc.drop(o.id);
        if (g && g !== dy) g.dispose();
      }
      if (topLevel) for (const t of node.saved ?? []) if (!acc.held(t)) t.dispose();
    }
    const grads = xs.map((x) => acc.get(x.id)) as Tensor[];
    if (this.state.gradientDepth === 0) {
      for (const node of tape) for (const t of node.saved ?? []) t.dispose();
      this.state.activeTape = null;
    }
    return { value: y, grads };
  });
}

let original: EngineInternals['gradients'] | undefined;

/** Replaces tf.engine().gradients (behind tf.grads, tf.variableGrads, …) with the freeing walk above. Idempotent. */
export function installLeanBackprop(): void {
  setLeanBackprop(true);
}

/** Switches between the freeing walk and tfjs's own gradients() (tests compare the two). */
export function setLeanBackprop(on: boolean): void {
  const engine = tf.engine() as unknown as EngineInternals;
  original ??= engine.gradients;
  engine.gradients = on ? (leanGradients as EngineInternals['gradients']) : original;
}
