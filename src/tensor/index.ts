export { Tensor } from './tensor.js';
export { type DType, type StorageOf, bytesPerElement } from './dtype.js';
export { type Shape, numel, formatShape, sameShape, normalizeDim } from './shape.js';
export { Generator, defaultGenerator, manualSeed, type RngState } from './rng.js';
