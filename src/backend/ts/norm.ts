/**
 * Reference batch norm over NCHW, viewed as [batch, channels, spatial]; statistics per channel
 * over M = batch*spatial values, accumulated in double precision (two passes: mean, then variance).
 */
import type { ChannelGeometry } from '../backend.js';

export function batchNormTrain(
  x: Float32Array,
  gamma: Float32Array | null,
  beta: Float32Array | null,
  g: ChannelGeometry,
  eps: number,
  y: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  invStd: Float32Array,
): void {
  const { batch: N, channels: C, spatial: S } = g;
  const M = N * S;
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let n = 0; n < N; n++) {
      const o = (n * C + c) * S;
      for (let i = 0; i < S; i++) sum += x[o + i]!;
    }
    const mu = sum / M;
    let sq = 0;
    for (let n = 0; n < N; n++) {
      const o = (n * C + c) * S;
      for (let i = 0; i < S; i++) {
        const d = x[o + i]! - mu;
        sq += d * d;
      }
    }
    const v = sq / M;
    const istd = 1 / Math.sqrt(v + eps);
    mean[c] = mu;
    variance[c] = v;
    invStd[c] = istd;
    const scale = (gamma ? gamma[c]! : 1) * istd;
    const shift = (beta ? beta[c]! : 0) - mu * scale;
    for (let n = 0; n < N; n++) {
      const o = (n * C + c) * S;
      for (let i = 0; i < S; i++) y[o + i] = x[o + i]! * scale + shift;
    }
  }
}

export function batchNormEval(
  x: Float32Array,
  gamma: Float32Array | null,
  beta: Float32Array | null,
  runningMean: Float32Array,
  runningVar: Float32Array,
  g: ChannelGeometry,
  eps: number,
  y: Float32Array,
): void {
  const { batch: N, channels: C, spatial: S } = g;
  for (let c = 0; c < C; c++) {
    const istd = 1 / Math.sqrt(runningVar[c]! + eps);
    const scale = (gamma ? gamma[c]! : 1) * istd;
    const shift = (beta ? beta[c]! : 0) - runningMean[c]! * scale;
    for (let n = 0; n < N; n++) {
      const o = (n * C + c) * S;
      for (let i = 0; i < S; i++) y[o + i] = x[o + i]! * scale + shift;
    }
  }
}

/** dx = γ·invStd/M · (M·dy − Σdy − x̂·Σ(dy·x̂)), x̂ = (x − mean)·invStd; dγ = Σ dy·x̂; dβ = Σ dy. */
export function batchNormBackward(
  dy: Float32Array,
  x: Float32Array,
  gamma: Float32Array | null,
  mean: Float32Array,
  invStd: Float32Array,
  g: ChannelGeometry,
  dx: Float32Array,
  dGamma: Float32Array | null,
  dBeta: Float32Array | null,
): void {
  const { batch: N, channels: C, spatial: S } = g;
  const M = N * S;
  for (let c = 0; c < C; c++) {
    const mu = mean[c]!;
    const istd = invStd[c]!;
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let n = 0; n < N; n++) {
      const o = (n * C + c) * S;
      for (let i = 0; i < S; i++) {
        const d = dy[o + i]!;
        sumDy += d;
        sumDyXhat += d * (x[o + i]! - mu) * istd;
      }
    }
    if (dGamma) dGamma[c] = sumDyXhat;
    if (dBeta) dBeta[c] = sumDy;
    const k = (gamma ? gamma[c]! : 1) * istd;
    const meanDy = sumDy / M;
    const meanDyXhat = sumDyXhat / M;
    for (let n = 0; n < N; n++) {
      const o = (n * C + c) * S;
      for (let i = 0; i < S; i++) {
        const xhat = (x[o + i]! - mu) * istd;
        dx[o + i] = k * (dy[o + i]! - meanDy - xhat * meanDyXhat);
      }
    }
  }
}

export function batchNormEvalBackward(
  dy: Float32Array,
  x: Float32Array,
  gamma: Float32Array | null,
  runningMean: Float32Array,
  invStd: Float32Array,
  g: ChannelGeometry,
  dx: Float32Array,
  dGamma: Float32Array | null,
  dBeta: Float32Array | null,
): void {
  const { batch: N, channels: C, spatial: S } = g;
  for (let c = 0; c < C; c++) {
    const mu = runningMean[c]!;
    const istd = invStd[c]!;
    const k = (gamma ? gamma[c]! : 1) * istd;
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let n = 0; n < N; n++) {
      const o = (n * C + c) * S;
      for (let i = 0; i < S; i++) {
        const d = dy[o + i]!;
        sumDy += d;
        sumDyXhat += d * (x[o + i]! - mu) * istd;
        dx[o + i] = d * k;
      }
    }
    if (dGamma) dGamma[c] = sumDyXhat;
    if (dBeta) dBeta[c] = sumDy;
  }
}
