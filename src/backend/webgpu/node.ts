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
  /**
   * true: SwiftShader (CPU) only; 'fallback': a GPU adapter when Dawn finds one, else SwiftShader;
   * false (the default, or RESNEXT_WEBGPU_SOFTWARE=1 for true): a GPU adapter only.
   */
  software?: boolean | 'fallback';
}

/** Dawn's instances must outlive every device made from them: the module keeps them. */
const instances: GPU[] = [];

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
  const attempt = (): Promise<WebGpuContext> => {
    const gpu = pkg.create([]);
    instances.push(gpu);
    return initWebGpu({ gpu });
  };
  if (software !== true) {
    try {
      return await attempt();
    } catch (error) {
      if (software === false) {
        throw new Error(
          `${(error as Error).message} in Node: Dawn needs a Vulkan driver it supports (Debian 12's lavapipe is ` +
            'not one); on a machine without a GPU, RESNEXT_WEBGPU_SOFTWARE=1 uses Chromium’s SwiftShader driver',
        );
      }
    }
  }
  useSwiftShader();
  return attempt();
}

/** Points the Vulkan loader (read at each instance creation) at SwiftShader. */
function useSwiftShader(): void {
  if (process.env.VK_ICD_FILENAMES?.includes('swiftshader')) return;
  const icd = SWIFTSHADER_ICDS.find((path) => existsSync(path));
  if (!icd) {
    throw new Error(
      `software WebGPU needs Chromium's SwiftShader Vulkan driver (looked for ${SWIFTSHADER_ICDS.join(', ')}) ` +
        'and the Vulkan loader (Debian: chromium-headless-shell, libvulkan1)',
    );
  }
  process.env.VK_ICD_FILENAMES = icd;
}
