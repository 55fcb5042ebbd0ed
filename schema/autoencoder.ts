// First stages: ldm/models/autoencoder.py and the Encoder/Decoder of ldm/modules/diffusionmodules/model.py.
import { autoencoderFacts, type FirstStageFactsParams } from './facts/autoencoder.js';
import { AutoencoderKLParams, VQModelParams } from './params/autoencoder.js';
import { defineTarget } from './types.js';

export * from './params/autoencoder.js';

export const VQModel = defineTarget({
  id: 'ldm.models.autoencoder.VQModel',
  // Stability-AI/stablediffusion keeps only AutoencoderKL (and IdentityFirstStage) in autoencoder.py.
  dialects: ['ldm', 'sd1'],
  aliases: [],
  families: ['first_stage', 'model'],
  summary: 'VQ-regularised autoencoder (VQGAN): encode → quant_conv → quantize → post_quant_conv → decode.',
  source: 'ldm/models/autoencoder.py:14',
  params: VQModelParams,
  statics: { family: 'first_stage', codegen: 'vq', regularizer: 'vq', facts: (p, o) => autoencoderFacts({ kind: 'vq', ...p } as unknown as FirstStageFactsParams, o) },
  runtime: { module: 'runtime/autoencoder/index.js', export: 'VQModel' },
});

export const VQModelInterface = defineTarget({
  id: 'ldm.models.autoencoder.VQModelInterface',
  // Stability-AI/stablediffusion keeps only AutoencoderKL (and IdentityFirstStage) in autoencoder.py.
  dialects: ['ldm', 'sd1'],
  aliases: [],
  families: ['first_stage', 'model'],
  summary: 'VQModel whose encode() stops before quantization (what LatentDiffusion diffuses); decode() quantizes.',
  source: 'ldm/models/autoencoder.py:264',
  params: VQModelParams,
  statics: { family: 'first_stage', codegen: 'vq-interface', regularizer: 'vq', facts: (p, o) => autoencoderFacts({ kind: 'vq', ...p } as unknown as FirstStageFactsParams, o) },
  runtime: { module: 'runtime/autoencoder/index.js', export: 'VQModelInterface' },
});

export const AutoencoderKL = defineTarget({
  id: 'ldm.models.autoencoder.AutoencoderKL',
  aliases: [],
  families: ['first_stage', 'model'],
  summary: 'KL-regularised autoencoder: the encoder gives a diagonal Gaussian posterior over the latent.',
  source: 'ldm/models/autoencoder.py:285',
  params: AutoencoderKLParams,
  statics: { family: 'first_stage', codegen: 'kl', regularizer: 'kl', facts: (p, o) => autoencoderFacts({ kind: 'kl', ...p } as unknown as FirstStageFactsParams, o) },
  runtime: { module: 'runtime/autoencoder/index.js', export: 'AutoencoderKL' },
});

export const autoencoderTargets = [VQModel, VQModelInterface, AutoencoderKL];
