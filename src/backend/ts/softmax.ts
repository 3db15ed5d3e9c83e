/** Reference softmax and log-softmax along the middle axis of [outer, dim, inner], max-shifted for stability. */
import type { AxisGeometry } from '../backend.js';

export function softmax(x: Float32Array, { outer, dim, inner }: AxisGeometry, y: Float32Array): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * dim * inner + i;
      let max = -Infinity;
      for (let d = 0; d < dim; d++) max = Math.max(max, x[base + d * inner]!);
      let sum = 0;
      for (let d = 0; d < dim; d++) sum += Math.exp(x[base + d * inner]! - max);
      for (let d = 0; d < dim; d++) y[base + d * inner] = Math.exp(x[base + d * inner]! - max) / sum;
    }
  }
}

export function logSoftmax(x: Float32Array, { outer, dim, inner }: AxisGeometry, y: Float32Array): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * dim * inner + i;
      let max = -Infinity;
      for (let d = 0; d < dim; d++) max = Math.max(max, x[base + d * inner]!);
      let sum = 0;
      for (let d = 0; d < dim; d++) sum += Math.exp(x[base + d * inner]! - max);
      const logZ = max + Math.log(sum);
      for (let d = 0; d < dim; d++) y[base + d * inner] = x[base + d * inner]! - logZ;
    }
  }
}

export function softmaxBackward(
  dy: Float32Array,
  y: Float32Array,
  { outer, dim, inner }: AxisGeometry,
  dx: Float32Array,
): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * dim * inner + i;
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += dy[base + d * inner]! * y[base + d * inner]!;
      for (let d = 0; d < dim; d++) {
        const at = base + d * inner;
        dx[at] = y[at]! * (dy[at]! - dot);
      }
    }
  }
}

export function logSoftmaxBackward(
  dy: Float32Array,
  y: Float32Array,
  { outer, dim, inner }: AxisGeometry,
  dx: Float32Array,
): void {
  for (let a = 0; a < outer; a++) {
    for (let i = 0; i < inner; i++) {
      const base = a * dim * inner + i;
      let s = 0;
      for (let k = 0; k < dim; k++) s += dy[base + k * inner]!;
      for (let k = 0; k < dim; k++) {
        const at = base + k * inner;
        dx[at] = dy[at]! - Math.exp(y[at]!) * s;
      }
    }
  }
}
