export {
  Module,
  parameter,
  type StateDict,
  type ForwardHook,
  type HookHandle,
  type LoadResult,
} from './module.js';
export { Parameter, onMetaDevice } from './parameter.js';
export { Conv2d, type Conv2dConfig } from './layers/conv.js';
export { BatchNorm2d, type BatchNorm2dConfig } from './layers/batchnorm.js';
export {
  ReLU,
  Identity,
  Flatten,
  MaxPool2d,
  AdaptiveAvgPool2d,
  AdaptiveMaxPool2d,
  Linear,
  Sequential,
} from './layers/basic.js';
export { InferencePlan, traceInference, type TraceOptions } from './inference-plan.js';
export * as init from './init.js';
