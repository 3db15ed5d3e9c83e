/** Reference linear layer: y[R,O] = x[R,I] · W[O,I]ᵀ + b[O], PyTorch's weight layout. */
import type { LinearGeometry } from '../backend.js';
import { gemmABt, transpose } from './gemm.js';

export function linear(
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  { rows, inFeatures, outFeatures }: LinearGeometry,
  y: Float32Array,
): void {
  gemmABt(rows, outFeatures, inFeatures, x, 0, inFeatures, weight, 0, inFeatures, y, 0, outFeatures, false);
  if (bias) {
    for (let r = 0; r < rows; r++) {
      const o = r * outFeatures;
      for (let j = 0; j < outFeatures; j++) y[o + j] = y[o + j]! + bias[j]!;
    }
  }
}

/** dx[R,I] = dy[R,O] · W[O,I];  dW[O,I] = dy[R,O]ᵀ · x[R,I];  db[O] = Σ_r dy[r,O]. */
export function linearBackward(
  dy: Float32Array,
  x: Float32Array,
  weight: Float32Array,
  { rows, inFeatures, outFeatures }: LinearGeometry,
  dx: Float32Array | null,
  dWeight: Float32Array | null,
  dBias: Float32Array | null,
): void {
  if (dx) {
    const weightT = transpose(
      weight,
      0,
      outFeatures,
      inFeatures,
      inFeatures,
      new Float32Array(weight.length),
    );
    gemmABt(
      rows,
      inFeatures,
      outFeatures,
      dy,
      0,
      outFeatures,
      weightT,
      0,
      outFeatures,
      dx,
      0,
      inFeatures,
      false,
    );
  }
  if (dWeight) {
    const dyT = transpose(dy, 0, rows, outFeatures, outFeatures, new Float32Array(dy.length));
    const xT = transpose(x, 0, rows, inFeatures, inFeatures, new Float32Array(x.length));
    gemmABt(outFeatures, inFeatures, rows, dyT, 0, rows, xT, 0, rows, dWeight, 0, inFeatures, false);
  }
  if (dBias) {
    for (let j = 0; j < outFeatures; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += dy[r * outFeatures + j]!;
      dBias[j] = s;
    }
  }
}
