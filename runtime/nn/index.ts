// Public API of the nn building blocks (channels-last tensors throughout).
export * from './init.js';
export * from './layers.js';
export * from './functional.js';
export * from './attention.js';
export * from './chunked-attention.js';
export { registerConv2dGradient } from './conv-grad.js';
