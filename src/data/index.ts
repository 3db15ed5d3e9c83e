export {
  decodeImage,
  decodeImageBytes,
  probeImage,
  isImageFile,
  fromGray8,
  ImageDecodeError,
  IMAGE_EXTENSIONS,
  type RawImage,
  type DecodeOptions,
} from './image.js';
export * as transforms from './transforms.js';
export type { TransformSpec } from './transforms.js';
export { parseIdx, readIdx, IdxError, type IdxArray } from './idx.js';
export {
  FileDataset,
  PixelDataset,
  Subset,
  scanImageFolder,
  loadIdxDataset,
  stratifiedSplit,
  stratifiedSubset,
  datasetFromSpec,
  FASHION_MNIST_CLASSES,
  DEFAULT_FASHION_MNIST_DIR,
  type Dataset,
  type DatasetSpec,
  type ScanReport,
} from './datasets.js';
export { DataLoader, type LoaderOptions, type Batch } from './loader.js';
export { SampleBuilder, sampleSeed, type SampleOptions, type BatchData } from './sample.js';
