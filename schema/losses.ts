// Training losses of the first stage. Not part of the parameter counts (the reference counts
// replace them by torch.nn.Identity).
import { bool, defineTarget, int, num, oneOf, opt, params, type Filled } from './types.js';

const discriminator = {
  disc_start: int('Global step at which the discriminator loss switches on.', { minimum: 0 }),
  pixelloss_weight: opt(num('Weight of the pixel reconstruction loss.'), 1.0),
  disc_num_layers: opt(int('Layers of the NLayerDiscriminator (PatchGAN).', { minimum: 1 }), 3),
  disc_in_channels: opt(int('Input channels of the discriminator.', { minimum: 1 }), 3),
  disc_factor: opt(num('Multiplier of the discriminator loss once it is on.'), 1.0),
  disc_weight: opt(num('Multiplier of the adaptive generator weight.'), 1.0),
  perceptual_weight: opt(num('Weight of the LPIPS perceptual loss (needs VGG weights).', { minimum: 0 }), 1.0),
  use_actnorm: opt(bool('ActNorm instead of BatchNorm in the discriminator.'), false),
  disc_conditional: opt(bool('Conditional discriminator.'), false),
  disc_loss: opt(oneOf(['hinge', 'vanilla'] as const, 'GAN loss.'), 'hinge'),
};

export const LPIPSWithDiscriminatorParams = params({
  ...discriminator,
  logvar_init: opt(num('Initial learned output log-variance.'), 0.0),
  kl_weight: opt(num('Weight of the KL term.', { minimum: 0 }), 1.0),
});
export type LPIPSWithDiscriminatorParams = Filled<typeof LPIPSWithDiscriminatorParams>;

export const LPIPSWithDiscriminator = defineTarget({
  id: 'ldm.modules.losses.LPIPSWithDiscriminator',
  // Stability-AI/stablediffusion ships no ldm/modules/losses.
  dialects: ['ldm', 'sd1'],
  aliases: ['ldm.modules.losses.contperceptual.LPIPSWithDiscriminator'],
  families: ['loss'],
  summary: 'KL autoencoder loss: L1 + LPIPS reconstruction with a learned variance, KL term and PatchGAN discriminator.',
  source: 'ldm/modules/losses/contperceptual.py:7',
  params: LPIPSWithDiscriminatorParams,
  statics: {
    family: 'loss',
    trains: 'kl',
    // contperceptual.py forward: the generator dict (optimizer_idx 0), then the discriminator's.
    logged: ['total_loss', 'logvar', 'kl_loss', 'nll_loss', 'rec_loss', 'd_weight', 'disc_factor', 'g_loss', 'disc_loss', 'logits_real', 'logits_fake'],
    patchGan: true,
  },
});

export const VQLPIPSWithDiscriminatorParams = params({
  ...discriminator,
  codebook_weight: opt(num('Weight of the codebook (commitment) loss.', { minimum: 0 }), 1.0),
  disc_ndf: opt(int('Base width of the discriminator.', { minimum: 1 }), 64),
});
export type VQLPIPSWithDiscriminatorParams = Filled<typeof VQLPIPSWithDiscriminatorParams>;

export const VQLPIPSWithDiscriminator = defineTarget({
  id: 'taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator',
  aliases: [],
  families: ['loss'],
  summary: 'VQ autoencoder loss (taming-transformers): L1 + LPIPS, codebook loss and PatchGAN discriminator.',
  source: 'taming/modules/losses/vqperceptual.py (taming-transformers)',
  params: VQLPIPSWithDiscriminatorParams,
  statics: {
    family: 'loss',
    trains: 'vq',
    // vqperceptual.py forward: the generator dict (optimizer_idx 0), then the discriminator's.
    logged: ['total_loss', 'quant_loss', 'nll_loss', 'rec_loss', 'p_loss', 'd_weight', 'disc_factor', 'g_loss', 'disc_loss', 'logits_real', 'logits_fake'],
    patchGan: true,
  },
});

export const DummyLoss = defineTarget({
  id: 'taming.modules.losses.vqperceptual.DummyLoss',
  aliases: ['ldm.modules.losses.contperceptual.DummyLoss'],
  families: ['loss'],
  summary: 'A loss with no parameters, for inference-only models.',
  source: 'taming/modules/losses/vqperceptual.py (taming-transformers)',
  note: 'ldm.modules.losses.contperceptual.DummyLoss only resolves through a star import of taming in the reference.',
  params: params({}),
  statics: { family: 'loss', trains: null, logged: [], patchGan: false },
});

export const lossTargets = [LPIPSWithDiscriminator, VQLPIPSWithDiscriminator, DummyLoss];
