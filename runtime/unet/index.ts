export * from './args.js';
export * from './blocks.js';
export * from './model.js';
