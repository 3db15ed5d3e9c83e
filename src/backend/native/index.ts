/**
 * The native backend: the C++ kernels (NHWC activations, AVX2 where the CPU has it, oneDNN's sgemm,
 * OpenMP threads) behind the Backend interface. Geometry travels as small Int32Arrays (geometry.ts).
 */
import type { Backend, Conv2dGeometry, Pool2dGeometry, PoolPlanes } from '../backend.js';
import { convGeometryWords, poolGeometryWords } from '../geometry.js';
import { hostSmallKernels } from '../ts/index.js';
import { loadAddon, type NativeAddon } from './addon.js';

const convGeometry = (g: Conv2dGeometry): Int32Array => Int32Array.from(convGeometryWords(g));
const poolGeometry = (g: PoolPlanes | Pool2dGeometry): Int32Array => Int32Array.from(poolGeometryWords(g));

export function createNativeBackend(addon: NativeAddon): Backend {
  return {
    name: 'native',
    device: 'cpu',
    activationFormat: 'nhwc',
    conv2d: (x, w, b, g, y, e) =>
      addon.conv2d(x, w, b, convGeometry(g), y, e?.residual ?? null, e?.relu ?? false),
    conv2dBackwardInput: (dy, w, g, dx) => addon.conv2dBackwardInput(dy, w, convGeometry(g), dx),
    conv2dBackwardWeight: (dy, x, g, dw, db) => addon.conv2dBackwardWeight(dy, x, convGeometry(g), dw, db),
    // NHWC activations are [rows = N·H·W, C] for batch norm.
    batchNormTrain: (x, gamma, beta, g, eps, y, mean, variance, invStd, e) =>
      addon.batchNormTrain(
        x,
        gamma,
        beta,
        g.batch * g.spatial,
        g.channels,
        eps,
        y,
        mean,
        variance,
        invStd,
        e?.residual ?? null,
        e?.relu ?? false,
      ),
    batchNormEval: (x, gamma, beta, rm, rv, g, eps, y, e) =>
      addon.batchNormEval(
        x,
        gamma,
        beta,
        rm,
        rv,
        g.batch * g.spatial,
        g.channels,
        eps,
        y,
        e?.residual ?? null,
        e?.relu ?? false,
      ),
    batchNormBackward: (dy, x, gamma, mean, invStd, g, dx, dGamma, dBeta, fusedRelu) =>
      addon.batchNormBackward(
        dy,
        x,
        gamma,
        mean,
        invStd,
        g.batch * g.spatial,
        g.channels,
        dx,
        dGamma,
        dBeta,
        fusedRelu !== undefined,
        fusedRelu?.beta ?? null,
      ),
    batchNormEvalBackward: (dy, x, gamma, mean, invStd, g, dx, dGamma, dBeta) =>
      addon.batchNormEvalBackward(
        dy,
        x,
        gamma,
        mean,
        invStd,
        g.batch * g.spatial,
        g.channels,
        dx,
        dGamma,
        dBeta,
      ),
    relu: (x, y) => addon.relu(x, y),
    reluBackward: (dy, y, dx) => addon.reluBackward(dy, y, dx),
    add: (a, b, y) => addon.add(a, b, y),
    maxPool2d: (x, g, y, argmax) => addon.maxPool2d(x, poolGeometry(g), y, argmax),
    adaptiveMaxPool2d: (x, g, y, argmax) => addon.adaptiveMaxPool2d(x, poolGeometry(g), y, argmax),
    maxPoolBackward: (dy, argmax, g, dx) => addon.maxPoolBackward(dy, argmax, poolGeometry(g), dx),
    adaptiveAvgPool2d: (x, g, y) => addon.adaptiveAvgPool2d(x, poolGeometry(g), y),
    adaptiveAvgPool2dBackward: (dy, g, dx) => addon.adaptiveAvgPool2dBackward(dy, poolGeometry(g), dx),
    linear: (x, w, b, rows, inF, outF, y) => addon.linear(x, w, b, rows, inF, outF, y),
    linearBackward: (dy, x, w, rows, inF, outF, dx, dw, db) =>
      addon.linearBackward(dy, x, w, rows, inF, outF, dx, dw, db),
    softmax: (x, outer, dim, inner, y) => addon.softmax(x, outer, dim, inner, false, y),
    logSoftmax: (x, outer, dim, inner, y) => addon.softmax(x, outer, dim, inner, true, y),
    softmaxBackward: (dy, y, outer, dim, inner, dx) => addon.softmaxBackward(dy, y, outer, dim, inner, dx),
    sgdStep: (param, grad, buf, o) =>
      addon.sgdStep(param, grad, buf, o.lr, o.momentum, o.dampening, o.weightDecay, o.nesterov, o.first),
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

/** Runtime facts for reports: kernels chosen, threads, GEMM library; null without the addon. */
export function nativeInfo(): ReturnType<NativeAddon['info']> | null {
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

/** Makes the native backend use its portable kernels even where AVX2 is available (for comparison). */
export function forcePortableKernels(force: boolean): boolean {
  return loadAddon().addon?.forcePortable(force) ?? false;
}

/** GFLOP/s of an n×n×n sgemm through the GEMM the native kernels use (best of `repeats`). */
export function sgemmGflops(n = 2048, repeats = 5): number | null {
  return loadAddon().addon?.sgemmGflops(n, repeats) ?? null;
}
