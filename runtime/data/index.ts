// runtime/data: datasets, transforms and the threaded loader.
export * from './dataset.js';
export * from './errors.js';
export * from './transforms.js';
export * from './idx.js';
export * from './image-paths.js';
export * from './image-folder.js';
export * from './faces.js';
export * from './lsun.js';
export * from './imagenet.js';
export * from './registry.js';
export * from './batch.js';
export * from './loader.js';
export * from './tensors.js';
