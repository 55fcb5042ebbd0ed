// Denoising networks: ldm/modules/diffusionmodules/openaimodel.py.
import { unetFacts, type UNetFactsParams } from './facts/unet.js';
import { UNetModelParams } from './params/unet.js';
import { defineTarget } from './types.js';

export * from './params/unet.js';

export const UNetModel = defineTarget({
  id: 'ldm.modules.diffusionmodules.openaimodel.UNetModel',
  aliases: [],
  families: ['unet'],
  summary: 'The full UNet with attention and timestep embedding (ADM / guided-diffusion architecture).',
  source: 'ldm/modules/diffusionmodules/openaimodel.py:413',
  params: UNetModelParams,
  statics: { family: 'unet', facts: (p, o) => unetFacts(p as unknown as UNetFactsParams, o) },
  runtime: { module: 'runtime/unet/index.js', export: 'UNetModel' },
});

export const unetTargets = [UNetModel];
