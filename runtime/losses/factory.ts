// Builds a first-stage model's `lossconfig` target. Params are the compiler's validated ones;
// defaults are filled again here so that hand-written params work too.
import type { TObject } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import {
  DummyLoss as DummyLossTarget, LPIPSWithDiscriminator as KLTarget, VQLPIPSWithDiscriminator as VQTarget,
  type LPIPSWithDiscriminatorParams, type VQLPIPSWithDiscriminatorParams,
} from '../../schema/losses.js';
import { isPassthrough } from '../../schema/family.js';
import { allTargets, lookupTarget } from '../../schema/registry.js';
import type { TargetSpec } from '../../schema/types.js';
import type { LossOptions } from './adversarial.js';
import { LPIPSWithDiscriminator } from './contperceptual.js';
import { DummyLoss, VQLPIPSWithDiscriminator } from './vqperceptual.js';

export type FirstStageLoss = VQLPIPSWithDiscriminator | LPIPSWithDiscriminator | DummyLoss;

const names = (t: TargetSpec): string[] => [t.id, ...t.aliases];

/** Loss-slot targets with nothing to build (torch.nn.Identity): the registry says which (isPassthrough). */
const noLoss = (t: TargetSpec | undefined): boolean => !!t && t.families.includes('loss') && isPassthrough(t);

/** The loss targets createLoss accepts (registry ids and aliases, plus the no-op torch.nn.Identity). */
export const lossTargetIds: readonly string[] = [...names(VQTarget), ...names(KLTarget), ...names(DummyLossTarget), ...allTargets.filter(noLoss).flatMap(names)];

/**
 * The loss for a `lossconfig` target, or null for `torch.nn.Identity` (no loss: inference-only
 * configs). Throws LpipsWeightsRequired when perceptual_weight > 0 and no `lpipsWeights` is given.
 */
export function createLoss(target: string, params: Readonly<Record<string, unknown>> = {}, opts: LossOptions = {}): FirstStageLoss | null {
  if (noLoss(lookupTarget(target))) return null;
  if (names(VQTarget).includes(target)) return new VQLPIPSWithDiscriminator(filled<VQLPIPSWithDiscriminatorParams>(VQTarget, params), opts);
  if (names(KLTarget).includes(target)) return new LPIPSWithDiscriminator(filled<LPIPSWithDiscriminatorParams>(KLTarget, params), opts);
  if (names(DummyLossTarget).includes(target)) {
    filled(DummyLossTarget, params);
    return new DummyLoss();
  }
  throw new Error(`createLoss: '${target}' is not a first-stage loss (one of ${lossTargetIds.join(', ')})`);
}

function filled<P>(spec: TargetSpec<TObject>, params: Readonly<Record<string, unknown>>): P {
  const value = Value.Default(spec.params, structuredClone(params));
  if (!Value.Check(spec.params, value)) {
    const err = Value.Errors(spec.params, value).First();
    const where = err?.path ? ` at '${err.path.slice(1).replace(/\//g, '.')}'` : '';
    throw new Error(`createLoss: invalid params for ${spec.id}${where}: ${err?.message ?? 'does not match the schema'}`);
  }
  return value as P;
}
