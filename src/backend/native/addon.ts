/**
 * Loading the C++ addon (build/Release/resnext_native.node, built by node-gyp during npm ci).
 * A missing or unloadable addon is not an error: callers fall back to the TypeScript kernels.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../../util/package-root.js';
import type { Backend, KernelName } from '../backend.js';
import type { hostSmallKernels } from '../ts/index.js';

/** The Backend kernels the addon implements; the rest come from the shared host kernels. */
export type NativeKernelName = Exclude<KernelName, keyof typeof hostSmallKernels>;

/**
 * The addon: runtime controls, and `kernels`, which take exactly the Backend methods' arguments
 * (descriptors read by field name, arrays validated against them on the C++ side).
 */
export interface NativeAddon {
  info(): { avx2: boolean; kernels: 'avx2' | 'portable'; threads: number; blas: string };
  setThreads(n: number): void;
  /** glibc malloc_trim(0): true when memory was returned to the OS. */
  trimMemory(): boolean;
  forcePortable(force: boolean): boolean;
  sgemmGflops(n: number, repeats: number): number;
  readonly kernels: Pick<Backend, NativeKernelName>;
}

let cached: { addon: NativeAddon | null; reason: string } | null = null;

/** The addon, or null with the reason it could not be loaded. Loaded once. */
export function loadAddon(): { addon: NativeAddon | null; reason: string } {
  if (cached) return cached;
  try {
    // RESNEXT_ADDON_PATH points elsewhere (another build, or nowhere to test the fallback).
    const path =
      process.env.RESNEXT_ADDON_PATH ?? join(packageRoot(), 'build', 'Release', 'resnext_native.node');
    if (!existsSync(path)) {
      cached = {
        addon: null,
        reason: `${path} is not built (run npm run build:native; it needs g++ and libdnnl-dev)`,
      };
    } else {
      const addon = createRequire(import.meta.url)(path) as NativeAddon;
      const threads = Number(process.env.RESNEXT_THREADS);
      if (Number.isInteger(threads) && threads > 0) addon.setThreads(threads);
      cached = { addon, reason: '' };
    }
  } catch (err) {
    cached = { addon: null, reason: (err as Error).message.split('\n')[0]! };
  }
  return cached;
}
