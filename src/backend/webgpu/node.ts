/**
 * WebGPU in Node through the `webgpu` package (Dawn's dawn.node). On a machine without a GPU
 * driver Dawn finds no adapter; `software` points the Vulkan loader at Chromium's SwiftShader
 * driver when one is installed (slow: for tests and checks, not for training).
 */
import { existsSync } from 'node:fs';
import { initWebGpu, type WebGpuContext } from './index.js';

const SWIFTSHADER_ICDS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/opt/google/chrome/vk_swiftshader_icd.json',
];

export interface NodeWebGpuOptions {
  /** Use SwiftShader (CPU) when no other adapter is wanted or found; also RESNEXT_WEBGPU_SOFTWARE=1. */
  software?: boolean;
}

let instance: GPU | null = null;

interface WebGpuPackage {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

/** Initialises WebGPU in Node; throws with what is missing (package, driver, adapter). */
export async function initNodeWebGpu(options: NodeWebGpuOptions = {}): Promise<WebGpuContext> {
  const software = options.software ?? process.env.RESNEXT_WEBGPU_SOFTWARE === '1';
  let pkg: WebGpuPackage;
  try {
    pkg = (await import('webgpu')) as unknown as WebGpuPackage;
  } catch (error) {
    throw new Error(`the webgpu package is not installed (npm install webgpu): ${(error as Error).message}`);
  }
  for (const [name, value] of Object.entries(pkg.globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  if (software && !process.env.VK_ICD_FILENAMES) {
    const icd = SWIFTSHADER_ICDS.find((path) => existsSync(path));
    if (!icd) {
      throw new Error(
        `software WebGPU needs Chromium's SwiftShader Vulkan driver (looked for ${SWIFTSHADER_ICDS.join(', ')}) ` +
          'and the Vulkan loader (Debian: chromium-headless-shell, libvulkan1)',
      );
    }
    process.env.VK_ICD_FILENAMES = icd;
  }
  // Dawn's instance must outlive every device made from it: the module keeps it.
  instance ??= pkg.create([]);
  try {
    return await initWebGpu({ gpu: instance });
  } catch (error) {
    const hint = software
      ? ''
      : '; Dawn needs a Vulkan driver it supports (Debian 12 lavapipe is not one): on a machine without a GPU, ' +
        'RESNEXT_WEBGPU_SOFTWARE=1 uses Chromium’s SwiftShader driver';
    throw new Error(`${(error as Error).message} in Node${hint}`);
  }
}
