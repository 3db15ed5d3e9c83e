/**
 * Where a tensor's values live. 'cpu' storage is a typed array the host backends (native, ts) read
 * directly; any other device's storage is a handle owned by that device's memory (a GPUBuffer for
 * 'webgpu'), reached only through its kernels, an upload (`.to(device)`) and an async read-back.
 */
import type { DType, StorageOf } from './dtype.js';

export type Device = 'cpu' | 'webgpu';
export type AcceleratorDevice = Exclude<Device, 'cpu'>;

/** An allocation in a device's memory: `length` elements (int64 values are stored as int32). */
export interface DeviceBuffer {
  readonly device: AcceleratorDevice;
  readonly length: number;
}

/**
 * What the tensor layer needs from a device: allocation (pooled by the device), transfers, and the
 * few whole-buffer operations that tensors themselves perform (fill, copy, memory-format change).
 * Shapes are [N, C, H, W] logical; nhwc and nchw as in format.ts.
 */
export interface DeviceMemory {
  readonly device: AcceleratorDevice;
  /** Contents unspecified. */
  allocate(dtype: DType, length: number): DeviceBuffer;
  /** Returns the buffer to the device's pool; nothing may use it afterwards. */
  free(buffer: DeviceBuffer): void;
  upload<D extends DType>(dtype: D, values: StorageOf<D>): DeviceBuffer;
  /** Overwrites `buffer` with host values (after the work already queued that reads it). */
  overwrite<D extends DType>(dtype: D, buffer: DeviceBuffer, values: StorageOf<D>): void;
  download<D extends DType>(dtype: D, buffer: DeviceBuffer): Promise<StorageOf<D>>;
  fill(buffer: DeviceBuffer, value: number): void;
  copy(source: DeviceBuffer, target: DeviceBuffer): void;
  convertFormat(
    source: DeviceBuffer,
    shape: readonly [number, number, number, number],
    toNhwc: boolean,
    target: DeviceBuffer,
  ): void;
}

const memories = new Map<AcceleratorDevice, DeviceMemory>();

/** Makes a device usable by tensors (done by its backend when it starts). */
export function registerDeviceMemory(memory: DeviceMemory): void {
  memories.set(memory.device, memory);
}

export function deviceMemory(device: AcceleratorDevice): DeviceMemory {
  const memory = memories.get(device);
  if (!memory) {
    throw new Error(
      `device "${device}" is not initialised: create its backend first (for webgpu: await initWebGpu())`,
    );
  }
  return memory;
}

export function isDevice(name: string): name is Device {
  return name === 'cpu' || name === 'webgpu';
}
