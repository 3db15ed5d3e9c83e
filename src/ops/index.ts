/** The differentiable ops, as torch.nn.functional: each validates, dispatches to the backend and records backward. */
export { conv2d, convOutputSize, type Conv2dOptions } from './conv.js';
export { batchNorm, type BatchNormOptions } from './norm.js';
export { relu, relu_, softmax, logSoftmax } from './activation.js';
export { add, add_, sum, mean, scale } from './elementwise.js';
export { maxPool2d, adaptiveAvgPool2d, adaptiveMaxPool2d, type MaxPool2dOptions } from './pool.js';
export { linear } from './linear.js';
export { crossEntropy, type CrossEntropyOptions } from './loss.js';
export { reshape, flatten } from './shape.js';
export { toFormat } from './format.js';
export type { IntPair } from './check.js';
