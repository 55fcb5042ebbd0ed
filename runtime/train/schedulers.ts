// ldm/lr_scheduler.py: LambdaLR multipliers of the base learning rate, by optimizer step.
import { assertNever } from '../../schema/family.js';
import { lookupTarget, type LambdaLinearSchedulerParams, type LambdaWarmUpCosineSchedulerParams } from '../../schema/index.js';

export type LrMultiplier = (step: number) => number;

/** LambdaWarmUpCosineScheduler: linear warm-up lr_start → lr_max, then cosine to lr_min. */
export function warmUpCosine(p: LambdaWarmUpCosineSchedulerParams): LrMultiplier {
  return (n) => {
    if (n < p.warm_up_steps) return ((p.lr_max - p.lr_start) / p.warm_up_steps) * n + p.lr_start;
    const t = Math.min((n - p.warm_up_steps) / (p.max_decay_steps - p.warm_up_steps), 1.0);
    return p.lr_min + 0.5 * (p.lr_max - p.lr_min) * (1 + Math.cos(t * Math.PI));
  };
}

/** LambdaLinearScheduler (LambdaWarmUpCosineScheduler2's cycles, linear decay). */
export function lambdaLinear(p: LambdaLinearSchedulerParams): LrMultiplier {
  const cum = [0];
  for (const c of p.cycle_lengths) cum.push(cum[cum.length - 1]! + c);
  return (n) => {
    let cycle = 0;
    // find_in_interval: a step on a boundary still belongs to the earlier cycle (n <= cum).
    while (cycle < p.cycle_lengths.length - 1 && n > cum[cycle + 1]!) cycle++;
    const m = n - cum[cycle]!;
    const warm = p.warm_up_steps[cycle]!, fMax = p.f_max[cycle]!, fStart = p.f_start[cycle]!, fMin = p.f_min[cycle]!;
    if (m < warm) return ((fMax - fStart) / warm) * m + fStart;
    return fMin + ((fMax - fMin) * (p.cycle_lengths[cycle]! - m)) / p.cycle_lengths[cycle]!;
  };
}

/** The multiplier of a `scheduler_config` target; its registry statics say which schedule it computes. */
export function makeScheduler(target: string | undefined, params: Record<string, unknown> | undefined): LrMultiplier {
  if (!target) return () => 1;
  const st = lookupTarget(target)?.statics;
  if (st?.family !== 'lr_scheduler') throw new Error(`no learning-rate schedule for ${target}`);
  switch (st.schedule) {
    case 'warm-up-cosine':
      return warmUpCosine(params as unknown as LambdaWarmUpCosineSchedulerParams);
    case 'linear-cycles':
      return lambdaLinear(params as unknown as LambdaLinearSchedulerParams);
    default:
      return assertNever(st.schedule, 'schedule');
  }
}
