/** --backend, shared by the commands that run a model: the cpu kernels to use, or the GPU. */
import { Option } from 'commander';
import { useBackend } from '../backend/index.js';
import { initNodeWebGpu } from '../backend/webgpu/node.js';
import type { Device } from '../tensor/device.js';

export type BackendFlag = 'native' | 'ts' | 'webgpu';

export function backendOption(): Option {
  return new Option(
    '--backend <name>',
    'kernels (default: native when built; webgpu: the GPU through Dawn, RESNEXT_WEBGPU_SOFTWARE=1 for SwiftShader)',
  ).choices(['native', 'ts', 'webgpu']);
}

/** Applies --backend: selects the cpu kernels, or initialises WebGPU; returns where models run. */
export async function deviceFor(backend: BackendFlag | undefined): Promise<Device> {
  if (backend === 'webgpu') {
    await initNodeWebGpu();
    return 'webgpu';
  }
  if (backend) useBackend(backend);
  return 'cpu';
}
