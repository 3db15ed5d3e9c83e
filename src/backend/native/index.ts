/**
 * The native backend: the C++ kernels (NHWC activations, AVX2 where the CPU has it, oneDNN's sgemm,
 * OpenMP threads) behind the Backend interface. The addon's kernels take the Backend methods'
 * arguments as they are; the small host kernels are the TypeScript ones.
 */
import type { Backend } from '../backend.js';
import { hostSmallKernels } from '../ts/index.js';
import { loadAddon, type KernelIsa, type NativeAddon, type NativeInfo } from './addon.js';

export type { KernelIsa, NativeInfo } from './addon.js';

export function createNativeBackend(addon: NativeAddon): Backend {
  return {
    name: 'native',
    device: 'cpu',
    activationFormat: 'nhwc',
    conv2dIntoResidual: true,
    ...addon.kernels,
    ...hostSmallKernels,
  };
}

let backend: Backend | null | undefined;

/** The native backend, or null when the addon is not built or cannot load (see nativeUnavailableReason). */
export function nativeBackend(): Backend | null {
  if (backend === undefined) {
    const { addon } = loadAddon();
    backend = addon ? createNativeBackend(addon) : null;
  }
  return backend;
}

export function nativeUnavailableReason(): string {
  return loadAddon().reason;
}

/** Runtime facts for reports: CPU, ISA and kernels chosen, threads, GEMM library; null without the addon. */
export function nativeInfo(): NativeInfo | null {
  return loadAddon().addon?.info() ?? null;
}

/** Sets the OpenMP thread count of the native kernels (and oneDNN's GEMM, on the same pool). */
export function setNativeThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1)
    throw new RangeError(`threads must be a positive integer, got ${threads}`);
  loadAddon().addon?.setThreads(threads);
}

/**
 * Returns freed heap memory to the OS (glibc's malloc_trim; false elsewhere or without the addon).
 * Cheap enough to call once an epoch; it keeps resident memory from creeping up across epochs.
 */
export function releaseFreeMemory(): boolean {
  return loadAddon().addon?.trimMemory() ?? false;
}

/**
 * Selects the hand-written kernels' variant (as RESNEXT_ISA does at load); returns the previous
 * one. Throws, naming the reason, where the CPU or this build lacks that level.
 */
export function setKernelIsa(isa: KernelIsa): KernelIsa {
  const addon = loadAddon().addon;
  if (!addon) throw new Error(`the native addon is not loaded: ${nativeUnavailableReason()}`);
  return addon.setKernelIsa(isa);
}

/** GFLOP/s of an n×n×n sgemm through the GEMM the native kernels use (best of `repeats`). */
export function sgemmGflops(n = 2048, repeats = 5): number | null {
  return loadAddon().addon?.sgemmGflops(n, repeats) ?? null;
}
