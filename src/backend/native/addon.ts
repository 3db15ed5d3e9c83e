/**
 * Loading the C++ addon (build/Release/resnext_native.node, built by node-gyp during npm ci).
 * A missing or unloadable addon is not an error: callers fall back to the TypeScript kernels.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { convertWithLoops, setHostFormatConverter } from '../../tensor/format.js';
import { setFloat32Allocator } from '../../tensor/storage.js';
import { packageRoot } from '../../util/package-root.js';
import type { Backend, KernelName } from '../backend.js';
import type { hostSmallKernels } from '../ts/index.js';

/** The Backend kernels the addon implements; the rest come from the shared host kernels. */
export type NativeKernelName = Exclude<KernelName, keyof typeof hostSmallKernels>;

/**
 * The addon: runtime controls, and `kernels`, which take exactly the Backend methods' arguments
 * (descriptors read by field name, arrays validated against them on the C++ side).
 */
/** Instruction-set levels of the hand-written kernels, in order: avx512 needs AVX-512 F/BW/DQ/VL. */
export type KernelIsa = 'portable' | 'avx2' | 'avx512';

export interface NativeInfo {
  /** The processor's brand string (cpuid). */
  cpu: string;
  /** The best level this CPU supports. */
  cpuIsa: KernelIsa;
  /** The hand-written kernels in use: the best compiled variant the CPU runs, unless RESNEXT_ISA set it lower. */
  kernels: KernelIsa;
  /** The best variant this build carries. */
  kernelVariants: KernelIsa;
  avx2: boolean;
  threads: number;
  blas: string;
  /** The ISA oneDNN dispatches its GEMM and convolutions to on this CPU. */
  gemmIsa: string;
}

export interface NativeAddon {
  info(): NativeInfo;
  setThreads(n: number): void;
  /** glibc malloc_trim(0): true when memory was returned to the OS. */
  trimMemory(): boolean;
  /** Selects the kernels' variant; returns the previous one; throws when the CPU or build lacks it. */
  setKernelIsa(isa: KernelIsa): KernelIsa;
  sgemmGflops(n: number, repeats: number): number;
  /** `length` zeros starting on a 64-byte boundary (a view at an offset into a slightly larger buffer). */
  alignedFloat32Array(length: number): Float32Array;
  /** How many bytes past a 64-byte boundary the array's data starts. */
  byteAlignment(array: ArrayBufferView): number;
  /** 4-D activations NCHW → NHWC (toNhwc) or back, between two distinct arrays of N·C·H·W floats. */
  convertFormat(
    src: Float32Array,
    N: number,
    C: number,
    H: number,
    W: number,
    toNhwc: boolean,
    dst: Float32Array,
  ): void;
  readonly kernels: Pick<Backend, NativeKernelName>;
}

/** Below this many elements a native call costs more than the TypeScript loops. */
const MIN_NATIVE_CONVERSION = 4096;

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
      applyIsaVariable(addon);
      const threads = Number(process.env.RESNEXT_THREADS);
      if (Number.isInteger(threads) && threads > 0) addon.setThreads(threads);
      setHostFormatConverter((src, shape, toNhwc, dst) => {
        if (src.length < MIN_NATIVE_CONVERSION) return convertWithLoops(src, shape, toNhwc, dst);
        const [N, C, H, W] = shape;
        addon.convertFormat(src, N, C, H, W, toNhwc, dst);
      });
      // Op outputs on cache-line boundaries: a 16-float vector load or store of an unaligned array
      // touches two lines (the grouped kernels ran up to 17% slower on them, a training step 3%).
      setFloat32Allocator((length) => addon.alignedFloat32Array(length));
      cached = { addon, reason: '' };
    }
  } catch (err) {
    if (err instanceof IsaVariableError) throw err;
    cached = { addon: null, reason: (err as Error).message.split('\n')[0]! };
  }
  return cached;
}

class IsaVariableError extends Error {}

const ISAS: readonly KernelIsa[] = ['portable', 'avx2', 'avx512'];

/** RESNEXT_ISA=portable|avx2|avx512 forces a kernel variant (for tests and comparison); a bad value is fatal. */
function applyIsaVariable(addon: NativeAddon): void {
  const isa = process.env.RESNEXT_ISA;
  if (isa === undefined || isa === '') return;
  if (!(ISAS as readonly string[]).includes(isa))
    throw new IsaVariableError(`RESNEXT_ISA must be one of ${ISAS.join(', ')}, got "${isa}"`);
  try {
    addon.setKernelIsa(isa as KernelIsa);
  } catch (err) {
    throw new IsaVariableError(`RESNEXT_ISA=${(err as Error).message.replace(/^resnext native: /, '')}`);
  }
}
