// Conditioning-stage encoders (ldm/modules/encoders/modules.py, ldm/modules/x_transformer.py).
export * from './modules.js';
export * from './interpolate.js';
export * from './x-transformer.js';
export * from './clip-text.js';
export * from './noise-augmentation.js';
export * from './clip-tokenizer.js';
