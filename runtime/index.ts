// The runtime's public API. Model families are namespaced (their block names overlap: both the
// UNet and the first stage have a Downsample and an Upsample); the main classes are also flat.
export { initBackend, loadGradients, type BackendName, type InitBackendOptions } from './backend.js';
export * from './module.js';
export * as nn from './nn/index.js';
export * as unet from './unet/index.js';
export { UNetModel, type UNetModelArgs, type UNetTrace } from './unet/index.js';
export * from './weights/safetensors.js';
export * from './weights/state-dict.js';
export * as diffusion from './diffusion/index.js';
export * as autoencoder from './autoencoder/index.js';
export * as encoders from './encoders/index.js';
export * as data from './data/index.js';
export { buildComponent, canBuild, type RuntimeComponent } from './build.js';
export { shaped, type Shaped, type ShapeOf } from './shaped.js';
