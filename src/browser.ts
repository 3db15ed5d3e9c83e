/**
 * resnext in a browser (dist/browser/resnext.js, an ES module): the engine without the file
 * system, the native addon or the CLI. Tensors, autograd, the ops, layers, models, optimizers and
 * schedules, summaries, safetensors bytes, the image transforms and top-k ranking, on the
 * TypeScript kernels ('cpu') and on WebGPU ('webgpu', after `await initWebGpu()`).
 */
export * from './tensor/index.js';
export {
  backward,
  noGrad,
  inferenceMode,
  isGradEnabled,
  setGradEnabled,
  type GradNode,
} from './autograd/index.js';
export * as F from './ops/index.js';
export {
  getBackend,
  setBackend,
  backendFor,
  backendOn,
  registerDeviceBackend,
  tsBackend,
  type Backend,
  type AnyBackend,
  type KernelBuffer,
} from './backend/index.js';
export type * from './backend/backend.js';
export { initWebGpu, webGpuContext, type WebGpuContext, type WebGpuOptions } from './backend/webgpu/index.js';
export * as nn from './nn/index.js';
export { Module, Parameter, onMetaDevice, type StateDict } from './nn/index.js';
export * from './models/index.js';
export * from './optim/index.js';
export {
  parseSafetensors,
  serializeSafetensors,
  SafetensorsError,
  type SafetensorsContent,
  type SerializeOptions,
} from './io/safetensors-format.js';
export { summary, summarize, type SummaryReport, type SummaryRow } from './summary.js';
export { rankClasses, type TopK } from './train/top-k.js';
