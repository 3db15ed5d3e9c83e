/** resnext: ResNeXt image classification in TypeScript, with PyTorch's semantics. */
export * from './tensor/index.js';
export { backward, noGrad, isGradEnabled, setGradEnabled, type GradNode } from './autograd/index.js';
export * as F from './ops/index.js';
export {
  getBackend,
  setBackend,
  useBackend,
  tsBackend,
  nativeBackend,
  nativeInfo,
  nativeUnavailableReason,
  setNativeThreads,
  forcePortableKernels,
  sgemmGflops,
  type Backend,
} from './backend/index.js';
export type * from './backend/backend.js';
export * as nn from './nn/index.js';
export { Module, Parameter, onMetaDevice, type StateDict } from './nn/index.js';
export * from './models/index.js';
export * from './optim/index.js';
export * from './io/index.js';
export { summary, summarize, type SummaryReport, type SummaryRow } from './summary.js';
