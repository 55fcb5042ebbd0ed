// Learning-rate schedules: ldm/lr_scheduler.py. They return a LambdaLR multiplier of the base LR.
import { Type } from './type-builder.js';
import { defineTarget, int, num, opt, params, type Filled } from './types.js';

export const LambdaWarmUpCosineSchedulerParams = params({
  warm_up_steps: int('Steps of linear warm-up from lr_start to lr_max.', { minimum: 0 }),
  lr_min: num('Multiplier at the end of the cosine decay.'),
  lr_max: num('Multiplier after warm-up.'),
  lr_start: num('Multiplier at step 0.'),
  max_decay_steps: int('Step at which the cosine decay reaches lr_min.', { minimum: 1 }),
  verbosity_interval: opt(int('Print the multiplier every this many steps (0: never).', { minimum: 0 }), 0),
});
export type LambdaWarmUpCosineSchedulerParams = Filled<typeof LambdaWarmUpCosineSchedulerParams>;

export const LambdaWarmUpCosineScheduler = defineTarget({
  id: 'ldm.lr_scheduler.LambdaWarmUpCosineScheduler',
  aliases: [],
  families: ['lr_scheduler'],
  summary: 'Linear warm-up, then cosine decay of the learning-rate multiplier.',
  source: 'ldm/lr_scheduler.py:4',
  params: LambdaWarmUpCosineSchedulerParams,
  statics: { family: 'lr_scheduler', schedule: 'warm-up-cosine' },
});

const cycles = (d: string) => Type.Array(Type.Number(), { minItems: 1, description: d });

export const LambdaLinearSchedulerParams = params({
  warm_up_steps: Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, description: 'Warm-up steps of each cycle.' }),
  f_min: cycles('Multiplier at the end of each cycle.'),
  f_max: cycles('Multiplier after warm-up in each cycle.'),
  f_start: cycles('Multiplier at the start of each cycle.'),
  cycle_lengths: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, description: 'Length of each cycle in steps.' }),
  verbosity_interval: opt(int('Print the multiplier every this many steps (0: never).', { minimum: 0 }), 0),
});
export type LambdaLinearSchedulerParams = Filled<typeof LambdaLinearSchedulerParams>;

export const LambdaLinearScheduler = defineTarget({
  id: 'ldm.lr_scheduler.LambdaLinearScheduler',
  aliases: [],
  families: ['lr_scheduler'],
  summary: 'Per cycle: linear warm-up from f_start to f_max, then linear decay to f_min.',
  source: 'ldm/lr_scheduler.py:81',
  params: LambdaLinearSchedulerParams,
  statics: { family: 'lr_scheduler', schedule: 'linear-cycles' },
});

export const schedulerTargets = [LambdaWarmUpCosineScheduler, LambdaLinearScheduler];
