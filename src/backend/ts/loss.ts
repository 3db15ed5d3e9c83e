/**
 * Reference cross-entropy over log-probabilities [rows, classes] (row-major) with int32 labels
 * [rows]; per-row losses and their reduction in float64, as the loss has always been computed.
 */
import type { CrossEntropyGeometry } from '../backend.js';

export function crossEntropy(
  logProbs: Float32Array,
  labels: Int32Array,
  { rows, classes, labelSmoothing: eps, reduction }: CrossEntropyGeometry,
  loss: Float32Array,
): void {
  let total = 0;
  for (let i = 0; i < rows; i++) {
    const row = i * classes;
    let all = 0;
    for (let c = 0; c < classes; c++) all += logProbs[row + c]!;
    const li = -(1 - eps) * logProbs[row + labels[i]!]! - (eps / classes) * all;
    if (reduction === 'none') loss[i] = li;
    total += li;
  }
  if (reduction !== 'none') loss[0] = reduction === 'mean' ? total / rows : total;
}

/** d loss_i / d x_i = softmax(x_i) − target distribution, scaled by the incoming gradient. */
export function crossEntropyBackward(
  logProbs: Float32Array,
  labels: Int32Array,
  { rows, classes, labelSmoothing: eps, reduction }: CrossEntropyGeometry,
  dLoss: Float32Array,
  dx: Float32Array,
): void {
  for (let i = 0; i < rows; i++) {
    const scaleI = reduction === 'none' ? dLoss[i]! : reduction === 'mean' ? dLoss[0]! / rows : dLoss[0]!;
    const row = i * classes;
    for (let c = 0; c < classes; c++) {
      const q = (c === labels[i] ? 1 - eps : 0) + eps / classes;
      dx[row + c] = (Math.exp(logProbs[row + c]!) - q) * scaleI;
    }
  }
}
