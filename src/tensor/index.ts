export { Tensor, type TensorOptions } from './tensor.js';
export {
  type MemoryFormat,
  type HostFormatConverter,
  nchwToNhwc,
  nhwcToNchw,
  setHostFormatConverter,
} from './format.js';
export {
  type Device,
  type AcceleratorDevice,
  type DeviceBuffer,
  type DeviceMemory,
  registerDeviceMemory,
  deviceMemory,
  isDevice,
} from './device.js';
export {
  allocateFloat32,
  freshFloat32,
  setFloat32Allocator,
  emptyCache,
  poolStats,
  Storage,
  type Float32Allocator,
  type PoolStats,
} from './storage.js';
export { type DType, type StorageOf, bytesPerElement } from './dtype.js';
export { type Shape, numel, formatShape, sameShape, normalizeDim } from './shape.js';
export { Generator, defaultGenerator, manualSeed, type RngState } from './rng.js';
