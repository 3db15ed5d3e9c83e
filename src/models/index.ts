export { ResNet, Bottleneck, type ResNetConfig, type GlobalPooling } from './resnet.js';
export { foldBatchNorm } from './fold.js';
export {
  createModel,
  listModels,
  getModelInfo,
  type ModelInfo,
  resnet50,
  resnext50_32x4d,
  resnext101_32x8d,
  resnext101_64x4d,
  resnext50_32x4d_tutorial,
} from './registry.js';
export { fromTutorialStateDict, isTutorialStateDict } from './tutorial-weights.js';
