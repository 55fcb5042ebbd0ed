// First-stage models (ldm/models/autoencoder.py and the blocks of diffusionmodules/model.py), NHWC.
export * from './args.js';
export * from './blocks.js';
export * from './model.js';
export * from './quantize.js';
export * from './distributions.js';
export * from './models.js';
