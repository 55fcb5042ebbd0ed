// The closed registry: every target ldmc knows, by canonical id and alias. A config's `target` is
// only ever looked up here; nothing is imported or executed.
import { createHash } from 'node:crypto';
import { autoencoderTargets } from './autoencoder.js';
import { dataTargets } from './data.js';
import { diffusionTargets } from './diffusion.js';
import { encoderTargets } from './encoders.js';
import { evalTargets } from './eval.js';
import { lossTargets } from './losses.js';
import { schedulerTargets } from './schedulers.js';
import { trainerTargets } from './trainer.js';
import type { Family, TargetSpec } from './types.js';
import { unetTargets } from './unet.js';
import { closest } from './suggest.js';

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

const byName = new Map<string, TargetSpec>();
for (const t of allTargets) {
  for (const name of [t.id, ...t.aliases]) {
    if (byName.has(name)) throw new Error(`registry: duplicate target name ${name}`);
    byName.set(name, t);
  }
}

export function lookupTarget(name: string): TargetSpec | undefined {
  return byName.get(name);
}

export function allTargetNames(): string[] {
  return [...byName.keys()];
}

/** Did-you-mean for an unknown target: same class name elsewhere first, then edit distance. */
export function suggestTarget(name: string, families?: readonly Family[]): string | undefined {
  const pool = allTargets.filter((t) => !families || t.families.some((f) => families.includes(f)));
  const cls = name.split('.').pop()!.toLowerCase();
  const sameClass = pool.find((t) => [t.id, ...t.aliases].some((n) => n.split('.').pop()!.toLowerCase() === cls));
  if (sameClass) return sameClass.id;
  const names = pool.flatMap((t) => [t.id, ...t.aliases]);
  const byId = closest(name, names, Math.max(3, Math.floor(name.length / 4)));
  if (byId) return byName.get(byId)!.id;
  const classes = new Map(pool.map((t) => [t.id.split('.').pop()!, t.id]));
  const byCls = closest(name.split('.').pop()!, [...classes.keys()], 3);
  return byCls ? classes.get(byCls) : undefined;
}

/** A fingerprint of the vocabulary (ids, aliases, param schemas), stamped into generated files. */
export function registryHash(): string {
  const text = JSON.stringify(allTargets.map((t) => [t.id, t.aliases, t.params]));
  return createHash('sha256').update(text).digest('hex');
}
