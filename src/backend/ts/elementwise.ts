/** Reference elementwise kernels over flat arrays. */
import type { Epilogue } from '../backend.js';

/** y = relu?(y + residual?) in place, element by element (any layout: residual is laid out as y). */
export function applyEpilogue(y: Float32Array, epilogue: Epilogue | undefined): void {
  const residual = epilogue?.residual ?? null;
  const relu = epilogue?.relu ?? false;
  if (!residual && !relu) return;
  for (let i = 0; i < y.length; i++) {
    const v = residual ? Math.fround(y[i]! + residual[i]!) : y[i]!;
    y[i] = relu && v <= 0 ? 0 : v; // NaN passes, as torch.relu
  }
}

export function relu(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = v <= 0 ? 0 : v; // NaN passes, as torch.relu
  }
}

export function reluBackward(dy: Float32Array, y: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < dy.length; i++) dx[i] = y[i]! <= 0 ? 0 : dy[i]!;
}

export function add(a: Float32Array, b: Float32Array, y: Float32Array): void {
  for (let i = 0; i < a.length; i++) y[i] = a[i]! + b[i]!;
}
