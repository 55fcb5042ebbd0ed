// The Module base class: a tree of named children and parameters whose dotted paths are exactly
// PyTorch's state_dict keys (`input_blocks.1.0.in_layers.2.weight`). Parameters are tf.Variables
// kept in tfjs's layout; `ParamLayout` says how to convert each one to and from PyTorch's.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';

/**
 * How a parameter's tfjs layout relates to PyTorch's:
 * - `plain`: identical (biases, norm scales, embedding tables);
 * - `linear`: tfjs `[in, out]` ↔ torch `[out, in]`;
 * - `conv1d`: tfjs `[in, out]` ↔ torch `[out, in, 1]` (kernel-size-1 Conv1d, run as a matmul);
 * - `conv2d`: tfjs `[kh, kw, in, out]` ↔ torch `[out, in, kh, kw]`.
 */
export type ParamLayout = 'plain' | 'linear' | 'conv1d' | 'conv2d';

export interface NamedParam {
  /** Dotted PyTorch path relative to the module it was listed from. */
  readonly name: string;
  readonly variable: tf.Variable;
  readonly layout: ParamLayout;
}

/** A module that maps one tensor to one tensor; what a `Sequential` can hold. */
export interface UnaryModule extends Module {
  forward(x: Tensor): Tensor;
  /**
   * This layer and `next` as one function, when the two have a fused form (GroupNorm then SiLU);
   * Sequential uses it. Undefined: run them one after the other.
   */
  fuseWith?(next: UnaryModule): ((x: Tensor) => Tensor) | undefined;
}

export abstract class Module {
  /** The PyTorch class name this module mirrors. */
  static readonly className: string = 'Module';

  private readonly childMap = new Map<string, Module>();
  private readonly paramMap = new Map<string, { variable: tf.Variable; layout: ParamLayout }>();
  private trainingMode = false;

  get className(): string {
    return (this.constructor as typeof Module).className;
  }

  /** Adds a named child; the name becomes one segment of every parameter path below it. */
  protected add<M extends Module>(name: string, child: M): M {
    checkName(name, this);
    if (this.childMap.has(name) || this.paramMap.has(name)) {
      throw new Error(`${this.className}: duplicate member name '${name}'`);
    }
    this.childMap.set(name, child);
    child.train(this.trainingMode);
    return child;
  }

  /**
   * Adds a parameter initialised from `init` (which this module takes ownership of).
   * tfjs variable names are left automatic: they are global and must be unique, so two models
   * could never share them; our own path names live in the module tree.
   */
  protected addParam(name: string, init: Tensor, layout: ParamLayout = 'plain', trainable = true): tf.Variable {
    checkName(name, this);
    if (this.childMap.has(name) || this.paramMap.has(name)) {
      throw new Error(`${this.className}: duplicate member name '${name}'`);
    }
    const variable = tf.variable(init, trainable);
    init.dispose();
    this.paramMap.set(name, { variable, layout });
    return variable;
  }

  child(name: string): Module | undefined {
    return this.childMap.get(name);
  }

  namedChildren(): Array<[string, Module]> {
    return [...this.childMap];
  }

  /** Every module in the tree, depth first, with its dotted path ('' for this one). */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [name, c] of this.childMap) out.push(...c.namedModules(join(prefix, name)));
    return out;
  }

  /** Parameters with their layouts, in PyTorch's order: own parameters first, then children. */
  paramEntries(prefix = ''): NamedParam[] {
    const out: NamedParam[] = [];
    for (const [name, p] of this.paramMap) out.push({ name: join(prefix, name), variable: p.variable, layout: p.layout });
    for (const [name, c] of this.childMap) out.push(...c.paramEntries(join(prefix, name)));
    return out;
  }

  namedParameters(prefix = ''): Array<[string, tf.Variable]> {
    return this.paramEntries(prefix).map((p) => [p.name, p.variable]);
  }

  parameters(): tf.Variable[] {
    return this.paramEntries().map((p) => p.variable);
  }

  /** Number of scalar parameters (equals PyTorch's `sum(p.numel())`). */
  paramCount(): number {
    let n = 0;
    for (const p of this.paramEntries()) n += p.variable.size;
    return n;
  }

  get training(): boolean {
    return this.trainingMode;
  }

  /** Sets the training flag (dropout) on this module and all its descendants. */
  train(mode = true): this {
    this.trainingMode = mode;
    for (const c of this.childMap.values()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Frees every parameter of the tree. The module must not be used afterwards. */
  dispose(): void {
    for (const p of this.paramEntries()) p.variable.dispose();
  }
}

function checkName(name: string, owner: Module): void {
  if (name === '' || name.includes('.')) {
    throw new Error(`${owner.className}: member name '${name}' must be non-empty and contain no '.'`);
  }
}

function join(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}.${name}`;
}

/** `nn.Sequential`: children named '0', '1', …; parameter-free layers (SiLU, Dropout) count too. */
export class Sequential extends Module implements UnaryModule {
  static override readonly className: string = 'Sequential';
  readonly layers: readonly UnaryModule[];

  constructor(layers: UnaryModule[]) {
    super();
    layers.forEach((l, i) => this.add(String(i), l));
    this.layers = layers;
  }

  get length(): number {
    return this.layers.length;
  }

  at(i: number): UnaryModule {
    const l = this.layers.at(i);
    if (!l) throw new Error(`Sequential: index ${i} out of range (length ${this.layers.length})`);
    return l;
  }

  /** Runs layers [start, end) — PyTorch's `seq[start:end](x)`, used by ResBlock's up/down path. */
  forwardRange<T extends Tensor>(x: T, start = 0, end = this.layers.length): T {
    let h: Tensor = x;
    for (let i = start; i < end; i++) {
      const l = this.layers[i]!;
      const fused = i + 1 < end ? l.fuseWith?.(this.layers[i + 1]!) : undefined;
      if (fused) {
        h = fused(h);
        i++;
      } else {
        h = l.forward(h);
      }
    }
    return h as T;
  }

  /** The layers of a Sequential keep the rank of their input (conv, norm, activation, linear). */
  forward<T extends Tensor>(x: T): T {
    return this.forwardRange(x);
  }
}

/** `nn.ModuleList`: children named '0', '1', … with no forward of its own. */
export class ModuleList<M extends Module = Module> extends Module {
  static override readonly className: string = 'ModuleList';
  private readonly items: M[] = [];

  constructor(items: M[] = []) {
    super();
    for (const m of items) this.push(m);
  }

  push(m: M): M {
    this.add(String(this.items.length), m);
    this.items.push(m);
    return m;
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    const m = this.items.at(i);
    if (!m) throw new Error(`ModuleList: index ${i} out of range (length ${this.items.length})`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}

/**
 * Runs `f` with `modules` in eval mode (no dropout, BatchNorm running statistics) and puts them
 * back in training mode afterwards, as Lightning does around validation and image logging.
 */
export function inEvalMode<T>(modules: readonly Module[], f: () => T): T {
  for (const m of modules) m.eval();
  try {
    return f();
  } finally {
    for (const m of modules) m.train(true);
  }
}
