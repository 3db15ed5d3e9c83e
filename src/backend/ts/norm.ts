/**
 * Reference batch norm over NCHW, viewed as [batch, channels, spatial]; statistics per channel
 * over M = batch*spatial values, accumulated in double precision (two passes: mean, then variance).
 */
import type { ChannelGeometry, Epilogue } from '../backend.js';

/**
 * The normalisation y = x·scale + shift of one channel, from the float32 statistics, so that a fused
 * ReLU's backward recomputes exactly the forward's values.
 */
function channelAffine(
  gamma: Float32Array | null,
  beta: Float32Array | null,
  mean: number,
  invStd: number,
  c: number,
): [scale: number, shift: number] {
  const scale = Math.fround((gamma ? gamma[c]! : 1) * invStd);
  return [scale, Math.fround((beta ? beta[c]! : 0) - mean * scale)];
}

/** y = epilogue(x·scale + shift) over one channel of NCHW [N, C, S]. */
function normaliseChannel(
  x: Float32Array,
  y: Float32Array,
  g: ChannelGeometry,
  c: number,
  scale: number,
  shift: number,
  epilogue: Epilogue | undefined,
): void {
  const { batch: N, channels: C, spatial: S } = g;
  const residual = epilogue?.residual ?? null;
  const relu = epilogue?.relu ?? false;
  for (let n = 0; n < N; n++) {
    const o = (n * C + c) * S;
    for (let i = 0; i < S; i++) {
      let v = Math.fround(x[o + i]! * scale + shift);
      if (residual) v = Math.fround(v + residual[o + i]!);
      y[o + i] = relu && v <= 0 ? 0 : v;
    }
  }
}

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
  epilogue?: Epilogue,
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
    mean[c] = mu;
    variance[c] = v;
    invStd[c] = 1 / Math.sqrt(v + eps);
    const [scale, shift] = channelAffine(gamma, beta, mean[c]!, invStd[c]!, c);
    normaliseChannel(x, y, g, c, scale, shift, epilogue);
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
  epilogue?: Epilogue,
): void {
  for (let c = 0; c < g.channels; c++) {
    const invStd = Math.fround(1 / Math.sqrt(runningVar[c]! + eps));
    const [scale, shift] = channelAffine(gamma, beta, runningMean[c]!, invStd, c);
    normaliseChannel(x, y, g, c, scale, shift, epilogue);
  }
}

/**
 * dx = γ·invStd/M · (M·dy − Σdy − x̂·Σ(dy·x̂)), x̂ = (x − mean)·invStd; dγ = Σ dy·x̂; dβ = Σ dy.
 * With fusedRelu, dy is first zeroed where the forward's fused ReLU output was 0.
 */
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
  fusedRelu?: { readonly beta: Float32Array | null },
): void {
  const { batch: N, channels: C, spatial: S } = g;
  const M = N * S;
  for (let c = 0; c < C; c++) {
    const mu = mean[c]!;
    const istd = invStd[c]!;
    const [scale, shift] = fusedRelu ? channelAffine(gamma, fusedRelu.beta, mu, istd, c) : [0, 0];
    const dyAt = fusedRelu
      ? (j: number): number => (Math.fround(x[j]! * scale + shift) <= 0 ? 0 : dy[j]!)
      : (j: number): number => dy[j]!;
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let n = 0; n < N; n++) {
      const o = (n * C + c) * S;
      for (let i = 0; i < S; i++) {
        const d = dyAt(o + i);
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
        dx[o + i] = k * (dyAt(o + i) - meanDy - xhat * meanDyXhat);
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

export function updateRunningStats(
  runningMean: Float32Array,
  runningVar: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  count: number,
  momentum: number,
): void {
  for (let c = 0; c < mean.length; c++) {
    runningMean[c] = (1 - momentum) * runningMean[c]! + momentum * mean[c]!;
    runningVar[c] = (1 - momentum) * runningVar[c]! + momentum * ((variance[c]! * count) / (count - 1));
  }
}

export function invStd(variance: Float32Array, eps: number, out: Float32Array): void {
  for (let c = 0; c < variance.length; c++) out[c] = 1 / Math.sqrt(variance[c]! + eps);
}
