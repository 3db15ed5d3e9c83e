/**
 * Loading the C++ addon (build/Release/resnext_native.node, built by node-gyp during npm ci).
 * A missing or unloadable addon is not an error: callers fall back to the TypeScript kernels.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../../util/package-root.js';

/** The addon's functions; arrays are validated against the geometry on the C++ side. */
export interface NativeAddon {
  info(): { avx2: boolean; kernels: 'avx2' | 'portable'; threads: number; blas: string };
  setThreads(n: number): void;
  /** glibc malloc_trim(0): true when memory was returned to the OS. */
  trimMemory(): boolean;
  forcePortable(force: boolean): boolean;
  sgemmGflops(n: number, repeats: number): number;
  /** y = relu?(conv + b + residual?): the last two arguments are the fused epilogue. */
  conv2d(
    x: Float32Array,
    w: Float32Array,
    b: Float32Array | null,
    geom: Int32Array,
    y: Float32Array,
    residual: Float32Array | null,
    relu: boolean,
  ): void;
  conv2dBackwardInput(dy: Float32Array, w: Float32Array, geom: Int32Array, dx: Float32Array): void;
  conv2dBackwardWeight(
    dy: Float32Array,
    x: Float32Array,
    geom: Int32Array,
    dw: Float32Array,
    db: Float32Array | null,
  ): void;
  batchNormTrain(
    x: Float32Array,
    gamma: Float32Array | null,
    beta: Float32Array | null,
    rows: number,
    channels: number,
    eps: number,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    invStd: Float32Array,
    residual: Float32Array | null,
    relu: boolean,
  ): void;
  batchNormEval(
    x: Float32Array,
    gamma: Float32Array | null,
    beta: Float32Array | null,
    runningMean: Float32Array,
    runningVar: Float32Array,
    rows: number,
    channels: number,
    eps: number,
    y: Float32Array,
    residual: Float32Array | null,
    relu: boolean,
  ): void;
  /** The last two arguments: the forward fused a ReLU without a residual, with this beta. */
  batchNormBackward(
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array | null,
    mean: Float32Array,
    invStd: Float32Array,
    rows: number,
    channels: number,
    dx: Float32Array,
    dGamma: Float32Array | null,
    dBeta: Float32Array | null,
    fusedRelu: boolean,
    beta: Float32Array | null,
  ): void;
  batchNormEvalBackward(
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array | null,
    mean: Float32Array,
    invStd: Float32Array,
    rows: number,
    channels: number,
    dx: Float32Array,
    dGamma: Float32Array | null,
    dBeta: Float32Array | null,
  ): void;
  relu(x: Float32Array, y: Float32Array): void;
  reluBackward(dy: Float32Array, y: Float32Array, dx: Float32Array): void;
  add(a: Float32Array, b: Float32Array, y: Float32Array): void;
  maxPool2d(x: Float32Array, geom: Int32Array, y: Float32Array, argmax: Int32Array): void;
  adaptiveMaxPool2d(x: Float32Array, geom: Int32Array, y: Float32Array, argmax: Int32Array): void;
  maxPoolBackward(dy: Float32Array, argmax: Int32Array, geom: Int32Array, dx: Float32Array): void;
  adaptiveAvgPool2d(x: Float32Array, geom: Int32Array, y: Float32Array): void;
  adaptiveAvgPool2dBackward(dy: Float32Array, geom: Int32Array, dx: Float32Array): void;
  linear(
    x: Float32Array,
    w: Float32Array,
    b: Float32Array | null,
    rows: number,
    inF: number,
    outF: number,
    y: Float32Array,
  ): void;
  linearBackward(
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    rows: number,
    inF: number,
    outF: number,
    dx: Float32Array | null,
    dw: Float32Array | null,
    db: Float32Array | null,
  ): void;
  softmax(x: Float32Array, outer: number, dim: number, inner: number, log: boolean, y: Float32Array): void;
  softmaxBackward(
    dy: Float32Array,
    y: Float32Array,
    outer: number,
    dim: number,
    inner: number,
    dx: Float32Array,
  ): void;
  sgdStep(
    param: Float32Array,
    grad: Float32Array,
    buf: Float32Array | null,
    lr: number,
    momentum: number,
    dampening: number,
    weightDecay: number,
    nesterov: boolean,
    first: boolean,
  ): void;
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
