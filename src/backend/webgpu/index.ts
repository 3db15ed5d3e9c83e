/**
 * The WebGPU device: `await initWebGpu()` finds an adapter (navigator.gpu in a browser, or the
 * `gpu` given, such as the `webgpu` package's in Node), and registers the device's memory and
 * backend, after which tensors and modules move there with `.to('webgpu')`.
 */
import { registerDeviceBackend, type DeviceBackend } from '../index.js';
import { registerDeviceMemory } from '../../tensor/device.js';
import { WebGpuMemory } from './buffer.js';
import { createWebGpuBackend, type WebGpuBackend } from './backend.js';
import { GpuRuntime } from './runtime.js';

export type { GpuBuffer } from './buffer.js';
export type { WebGpuBackend } from './backend.js';

export interface WebGpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

export interface WebGpuContext {
  readonly backend: WebGpuBackend;
  readonly adapter: WebGpuAdapterInfo;
  readonly runtime: GpuRuntime;
  readonly memory: WebGpuMemory;
  /** The entry point and adapter the device came from, held so that Dawn in Node keeps its instance. */
  readonly source: { readonly gpu: GPU; readonly adapter: GPUAdapter };
  /** Resolves when the GPU has finished all submitted work (for timing). */
  finish(): Promise<void>;
}

export interface WebGpuOptions {
  /** The GPU entry point; navigator.gpu by default. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
}

let current: WebGpuContext | null = null;

/** The initialised WebGPU context, or null before initWebGpu(). */
export function webGpuContext(): WebGpuContext | null {
  return current;
}

/** Throws with the reason when no adapter or device is available. */
export async function initWebGpu(options: WebGpuOptions = {}): Promise<WebGpuContext> {
  if (current) return current;
  const gpu = options.gpu ?? (globalThis as { navigator?: Navigator }).navigator?.gpu;
  if (!gpu) throw new Error('WebGPU is not available here (no navigator.gpu)');
  const adapter = await gpu.requestAdapter(
    options.powerPreference ? { powerPreference: options.powerPreference } : undefined,
  );
  if (!adapter) throw new Error('WebGPU found no adapter');
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    },
  });
  device.addEventListener('uncapturederror', (event) => {
    const message = (event as GPUUncapturedErrorEvent).error.message;
    console.error(`WebGPU error: ${message}`);
  });
  const info = adapter.info;
  const runtime = new GpuRuntime(device);
  const memory = new WebGpuMemory(runtime);
  const backend = createWebGpuBackend(runtime, memory);
  registerDeviceMemory(memory);
  registerDeviceBackend(backend as unknown as DeviceBackend);
  current = {
    backend,
    adapter: {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
    },
    runtime,
    memory,
    source: { gpu, adapter },
    finish: () => runtime.finish(),
  };
  return current;
}
