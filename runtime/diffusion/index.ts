// Diffusion: schedules, DDPM (q, posterior, ancestral sampling, losses), DDIM, PLMS and DPM-Solver samplers,
// LitEma, and DiffusionWrapper's conditioning routes.
export * from './schedule.js';
export * from './noise.js';
export * from './conditioning.js';
export * from './ddpm.js';
export * from './ddim.js';
export * from './plms.js';
export * from './dpm-solver.js';
export * from './ema.js';
export * from './latent-diffusion.js';
export * from './sample.js';
