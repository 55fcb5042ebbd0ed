// The closed registry: every target ldmc knows, by canonical id and alias. A config's `target` is
// only ever looked up here; nothing is imported or executed.
import { createRequire } from 'node:module';
import { autoencoderTargets } from './autoencoder.js';
import { dataTargets, typedDataTargets } from './data.js';
import { diffusionTargets } from './diffusion.js';
import { encoderTargets } from './encoders.js';
import { evalTargets } from './eval.js';
import { lossTargets } from './losses.js';
import { schedulerTargets } from './schedulers.js';
import { trainerTargets } from './trainer.js';
import type { Family, TargetSpec } from './types.js';
import { unetTargets } from './unet.js';
import { closest } from './suggest.js';

/**
 * The built-in targets `defineConfig` types exactly, each with its literal id: index.ts derives
 * `typedTargets` from this list, so a new target of these families is typed with no other edit.
 * (Datasets built in loops and the eval models are typed by id pattern: index.ts OtherTarget.)
 */
export const typedTargetList = [
  ...diffusionTargets,
  ...unetTargets,
  ...autoencoderTargets,
  ...encoderTargets,
  ...lossTargets,
  ...schedulerTargets,
  ...typedDataTargets,
  ...trainerTargets,
];

export const allTargets: readonly TargetSpec[] = [
  ...diffusionTargets,
  ...unetTargets,
  ...autoencoderTargets,
  ...encoderTargets,
  ...lossTargets,
  ...schedulerTargets,
  ...dataTargets,
  ...trainerTargets,
  ...evalTargets,
];

/**
 * One run's vocabulary: the built-in targets, plus (for a run given plugins) the plugins' targets and
 * extended params. An instance per run, never a mutable global, so a language server serving two
 * projects with different plugins keeps them apart. Lookups only: nothing here imports a target.
 */
export class Registry {
  private readonly byName = new Map<string, TargetSpec>();

  constructor(readonly targets: readonly TargetSpec[]) {
    for (const t of targets) {
      for (const name of [t.id, ...t.aliases]) {
        if (this.byName.has(name)) throw new Error(`registry: duplicate target name ${name}`);
        this.byName.set(name, t);
      }
    }
  }

  lookup(name: string): TargetSpec | undefined {
    return this.byName.get(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  /** Did-you-mean for an unknown target: same class name elsewhere first, then edit distance. */
  suggest(name: string, families?: readonly Family[]): string | undefined {
    const pool = this.targets.filter((t) => !families || t.families.some((f) => families.includes(f)));
    const cls = name.split('.').pop()!.toLowerCase();
    const sameClass = pool.find((t) => [t.id, ...t.aliases].some((n) => n.split('.').pop()!.toLowerCase() === cls));
    if (sameClass) return sameClass.id;
    const names = pool.flatMap((t) => [t.id, ...t.aliases]);
    const byId = closest(name, names, Math.max(3, Math.floor(name.length / 4)));
    if (byId) return this.byName.get(byId)!.id;
    const classes = new Map(pool.map((t) => [t.id.split('.').pop()!, t.id]));
    const byCls = closest(name.split('.').pop()!, [...classes.keys()], 3);
    return byCls ? classes.get(byCls) : undefined;
  }

  /** Targets of any of these families. */
  ofFamilies(families: readonly Family[]): TargetSpec[] {
    return this.targets.filter((t) => t.families.some((f) => families.includes(f)));
  }

  /** A fingerprint of the vocabulary (ids, aliases, param schemas), stamped into generated files. */
  hash(): string {
    const text = JSON.stringify(this.targets.map((t) => [t.id, t.aliases, t.params]));
    // node:crypto costs more to load than `ldmc check` spends checking, and only the generators hash.
    const { createHash } = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
    return createHash('sha256').update(text).digest('hex');
  }
}

/** The built-in vocabulary, shared read-only by every run without plugins. */
export const builtinRegistry = new Registry(allTargets);

export function lookupTarget(name: string): TargetSpec | undefined {
  return builtinRegistry.lookup(name);
}

export function allTargetNames(): string[] {
  return builtinRegistry.names();
}

/** Did-you-mean among the built-in targets (see Registry.suggest). */
export function suggestTarget(name: string, families?: readonly Family[]): string | undefined {
  return builtinRegistry.suggest(name, families);
}

/** The built-in registry's fingerprint (see Registry.hash). */
export function registryHash(): string {
  return builtinRegistry.hash();
}
