// First-stage training losses (taming's VQLPIPSWithDiscriminator, ldm's LPIPSWithDiscriminator)
// and their parts: PatchGAN discriminator, GAN losses, adaptive weight, LPIPS.
export * from './batchnorm.js';
export * from './discriminator.js';
export * from './gan.js';
export * from './last-layer.js';
export * from './lpips.js';
export * from './errors.js';
export { PerceptualGanLoss, readLog, type DiscriminatorLossParams, type LossOptions, type LossOutput } from './adversarial.js';
export * from './vqperceptual.js';
export * from './contperceptual.js';
export * from './factory.js';
