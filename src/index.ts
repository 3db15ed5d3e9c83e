/** resnext: ResNeXt image classification in TypeScript, with PyTorch's semantics. */
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
  useBackend,
  tsBackend,
  nativeBackend,
  nativeInfo,
  nativeUnavailableReason,
  setNativeThreads,
  releaseFreeMemory,
  setKernelIsa,
  sgemmGflops,
  type Backend,
  type KernelIsa,
  type NativeInfo,
} from './backend/index.js';
export type * from './backend/backend.js';
export * as nn from './nn/index.js';
export { Module, Parameter, onMetaDevice, type StateDict } from './nn/index.js';
export { InferencePlan, traceInference, type TraceOptions } from './nn/index.js';
export * from './models/index.js';
export * from './optim/index.js';
export * from './io/index.js';
export { summary, summarize, type SummaryReport, type SummaryRow } from './summary.js';
export * as data from './data/index.js';
export {
  DataLoader,
  scanImageFolder,
  loadIdxDataset,
  type Dataset,
  type TransformSpec,
} from './data/index.js';
export {
  train,
  resumeTraining,
  DEFAULT_TRAIN_CONFIG,
  type ResumeOverrides,
  type TrainConfig,
  type TrainHooks,
  type TrainResult,
  type OptimizerName,
} from './train/trainer.js';
export { evaluate } from './train/evaluate.js';
export { ClassificationMetrics, type ClassReport } from './train/metrics.js';
export { saveCheckpoint, loadCheckpoint, type ModelMeta, type Checkpoint } from './train/checkpoint.js';
export { loadTrainedModel, loadPretrained } from './train/model-setup.js';
export { exportWeightsToOnnx, onnxMetadata } from './train/export.js';
export { modelCard, cardMarkdown, type ModelCard } from './train/card.js';
export { exportOnnx, ONNX_OPSET, type OnnxExportOptions } from './io/onnx.js';
export { predictFiles, collectImages, Classifier, type Prediction, type TopK } from './train/predict.js';
export {
  createPredictServer,
  DEFAULT_SERVE_LIMITS,
  type PredictServer,
  type ServeLimits,
} from './serve/server.js';
export { writeReport, type EpochRecord } from './train/report.js';
export { prepareData, type DataConfig, type PreparedData } from './train/data-setup.js';
