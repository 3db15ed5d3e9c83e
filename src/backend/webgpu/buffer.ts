/**
 * Device memory for the WebGPU backend: tensors' storage as GPUBuffers (float32, or int32 for
 * int64 tensors and indices), pooled by byte size, plus the transfers and whole-buffer operations
 * the tensor layer asks of a device (DeviceMemory).
 */
import type { DeviceBuffer, DeviceMemory } from '../../tensor/device.js';
import type { DType, StorageOf } from '../../tensor/dtype.js';
import type { GpuRuntime } from './runtime.js';
import { BufferUsage } from './usage.js';
import { formatKernels } from './kernels/format.js';
import { elementwiseKernels } from './kernels/elementwise.js';

/** A tensor's storage on the GPU: `length` 32-bit elements in `buffer` (at least that many bytes × 4). */
export interface GpuBuffer extends DeviceBuffer {
  readonly device: 'webgpu';
  readonly buffer: GPUBuffer;
}

const USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

/** Bytes allocated for `length` elements: a multiple of 16 (and never 0, which WebGPU cannot bind). */
function byteSize(length: number): number {
  return Math.max(16, Math.ceil((length * 4) / 16) * 16);
}

export class WebGpuMemory implements DeviceMemory {
  readonly device = 'webgpu' as const;
  private readonly pool = new Map<number, GPUBuffer[]>();
  cachedBytes = 0;
  allocatedBytes = 0;

  constructor(private readonly runtime: GpuRuntime) {}

  allocate(_dtype: DType, length: number): GpuBuffer {
    const size = byteSize(length);
    const cached = this.pool.get(size)?.pop();
    if (cached) {
      this.cachedBytes -= size;
      return { device: 'webgpu', length, buffer: cached };
    }
    this.allocatedBytes += size;
    return { device: 'webgpu', length, buffer: this.runtime.device.createBuffer({ size, usage: USAGE }) };
  }

  /** Back to the pool: work already encoded that reads it runs before any later reuse (queue order). */
  free(buffer: DeviceBuffer): void {
    const gpu = (buffer as GpuBuffer).buffer;
    let list = this.pool.get(gpu.size);
    if (!list) this.pool.set(gpu.size, (list = []));
    list.push(gpu);
    this.cachedBytes += gpu.size;
  }

  /** Destroys every pooled buffer (torch.cuda.empty_cache()). */
  emptyCache(): void {
    this.runtime.flush();
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    this.allocatedBytes -= this.cachedBytes;
    this.pool.clear();
    this.cachedBytes = 0;
  }

  upload<D extends DType>(dtype: D, values: StorageOf<D>): GpuBuffer {
    const out = this.allocate(dtype, values.length);
    this.overwrite(dtype, out, values);
    return out;
  }

  overwrite<D extends DType>(dtype: D, buffer: DeviceBuffer, values: StorageOf<D>): void {
    this.write(
      buffer as GpuBuffer,
      dtype === 'float32' ? (values as Float32Array) : toInt32(values as BigInt64Array),
    );
  }

  /** Writes host values into a buffer, after the work already encoded (which may still read it). */
  write(target: GpuBuffer, values: Float32Array | Int32Array): void {
    this.runtime.flush();
    this.runtime.device.queue.writeBuffer(
      target.buffer,
      0,
      values.buffer,
      values.byteOffset,
      values.byteLength,
    );
  }

  async download<D extends DType>(dtype: D, buffer: DeviceBuffer): Promise<StorageOf<D>> {
    const source = buffer as GpuBuffer;
    const bytes = await this.runtime.read(source.buffer, source.length * 4);
    if (dtype === 'float32') return new Float32Array(bytes) as StorageOf<D>;
    return BigInt64Array.from(new Int32Array(bytes), (v) => BigInt(v)) as StorageOf<D>;
  }

  fill(buffer: DeviceBuffer, value: number): void {
    const b = buffer as GpuBuffer;
    elementwiseKernels(this.runtime).fill(b, value);
  }

  copy(source: DeviceBuffer, target: DeviceBuffer): void {
    const s = source as GpuBuffer;
    this.runtime.copy(s.buffer, (target as GpuBuffer).buffer, s.length * 4);
  }

  convertFormat(
    source: DeviceBuffer,
    shape: readonly [number, number, number, number],
    toNhwc: boolean,
    target: DeviceBuffer,
  ): void {
    formatKernels(this.runtime).convert(source as GpuBuffer, shape, toNhwc, target as GpuBuffer);
  }
}

function toInt32(values: BigInt64Array): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < -2147483648n || v > 2147483647n) {
      throw new RangeError(`int64 value ${v} at index ${i} does not fit the GPU's int32 storage`);
    }
    out[i] = Number(v);
  }
  return out;
}
