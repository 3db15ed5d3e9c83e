/**
 * Batch norm over NHWC activations viewed as [rows = N·H·W, C]; statistics per channel over the
 * rows in two passes (mean, then the biased variance around it), each a two-stage column sum.
 * The normalisation is y = fma(x, scale, shift) with scale = γ·invStd, shift = β − mean·scale per
 * channel, then the fused tail (+ residual, ReLU); a fused ReLU's backward recomputes that value
 * to rebuild its mask. Absent γ / β / residual bind a dummy buffer and a flag says so.
 */
import type { ChannelGeometry } from '../../backend.js';
import type { GpuBuffer } from '../buffer.js';
import { gridFor, type GpuRuntime } from '../runtime.js';
import type { Scratch } from './conv.js';
import { perElement, perRuntime } from './common.js';
import { columnKernel, reduceKernels } from './reduce.js';

const AFFINE = `fn affine(c: u32) -> vec2<f32> {
  var g = 1.0;
  var b = 0.0;
  if (p[3] != 0u) { g = gamma[c]; }
  if (p[4] != 0u) { b = beta[c]; }
  let scale = g * invStd[c];
  return vec2<f32>(scale, b - mean[c] * scale);
}`;

// p: [n, C, hasGamma, hasBeta, hasResidual, relu]
const normalise = perElement(
  'batch_norm_normalise',
  ['x', 'gamma', 'beta', 'mean', 'invStd', 'res', 'out y'],
  `  let c = i % p[1];
  let a = affine(c);
  var v = fma(x[i], a.x, a.y);
  if (p[4] != 0u) { v += res[i]; }
  if (p[5] != 0u) { v = select(v, 0.0, v <= 0.0); }
  y[i] = v;`,
  // affine() reads the flags at p[3], p[4]: shift them by one for this kernel's layout.
  AFFINE.replace('p[3]', 'p[2]').replace('p[4]', 'p[3]'),
);

const sumX = columnKernel('batch_norm_sum', ['x'], ['x[at]']);
const sumSquares = columnKernel(
  'batch_norm_sum_squares',
  ['x', 'mean'],
  ['(x[at] - mean[c]) * (x[at] - mean[c])'],
);

// p: [C, rows] floats [eps]: mean = s/rows; then (second call) variance = s/rows, invStd
const meanFromSum = perElement('batch_norm_mean', ['s', 'out mean'], '  mean[i] = s[i] / f32(p[1]);');
const varianceFromSum = perElement(
  'batch_norm_variance',
  ['s', 'out variance', 'out invStd'],
  `  let v = s[i] / f32(p[1]);
  variance[i] = v;
  invStd[i] = 1.0 / sqrt(v + pf(2u));`,
);

// Column sums of the backward: term0 = dy' (dy masked by the fused ReLU when p[5] says so), term1 = dy'·x̂.
// p: [rows, C, perChunk, hasGamma, hasBeta, fusedRelu]
const backwardSums = columnKernel(
  'batch_norm_backward_sums',
  ['dy', 'x', 'gamma', 'beta', 'mean', 'invStd'],
  ['dyAt(at, c)', 'dyAt(at, c) * (x[at] - mean[c]) * invStd[c]'],
  `${AFFINE}
fn dyAt(at: u32, c: u32) -> f32 {
  if (p[5] != 0u) {
    let a = affine(c);
    if (fma(x[at], a.x, a.y) <= 0.0) { return 0.0; }
  }
  return dy[at];
}`,
);

// Per channel for the backward's dx: coef[0..6)[C] = γ·invStd, Σdy'/M, invStd·Σdy'x̂/M, mean, and the
// forward's affine (scale, shift) for the ReLU mask. p: [C, rows, hasGamma, hasBeta]
const backwardCoefficients = perElement(
  'batch_norm_backward_coefficients',
  ['gamma', 'beta', 'mean', 'invStd', 'sums', 'out coef'],
  `  let C = p[0];
  let M = f32(p[1]);
  var g = 1.0;
  if (p[2] != 0u) { g = gamma[i]; }
  let a = affine(i);
  coef[i] = g * invStd[i];
  coef[C + i] = sums[i] / M;
  coef[2u * C + i] = invStd[i] * sums[C + i] / M;
  coef[3u * C + i] = mean[i];
  coef[4u * C + i] = a.x;
  coef[5u * C + i] = a.y;`,
  AFFINE.replace('p[3]', 'p[2]').replace('p[4]', 'p[3]'),
);

// dx = γ·invStd·(dy' − Σdy'/M − (x − mean)·invStd·Σdy'x̂/M); p: [n, C, fusedRelu]
const backwardInput = perElement(
  'batch_norm_backward_input',
  ['dy', 'x', 'coef', 'out dx'],
  `  let C = p[1];
  let c = i % C;
  var d = dy[i];
  if (p[2] != 0u && fma(x[i], coef[4u * C + c], coef[5u * C + c]) <= 0.0) { d = 0.0; }
  dx[i] = coef[c] * (d - coef[C + c] - (x[i] - coef[3u * C + c]) * coef[2u * C + c]);`,
);

// Eval backward: dx = dy·γ·invStd; p: [n, C, hasGamma]
const evalBackwardInput = perElement(
  'batch_norm_eval_backward_input',
  ['dy', 'gamma', 'invStd', 'out dx'],
  `  let c = i % p[1];
  var g = 1.0;
  if (p[2] != 0u) { g = gamma[c]; }
  dx[i] = dy[i] * g * invStd[c];`,
);
const evalBackwardSums = columnKernel(
  'batch_norm_eval_backward_sums',
  ['dy', 'x', 'mean', 'invStd'],
  ['dy[at]', 'dy[at] * (x[at] - mean[c]) * invStd[c]'],
);

export const normKernels = perRuntime((rt: GpuRuntime) => {
  const columns = reduceKernels(rt).columns;
  const rowsOf = (g: ChannelGeometry): number => g.batch * g.spatial;
  /** Σ terms into a [2][C] scratch, then dBeta = sums[0..C), dGamma = sums[C..2C). */
  const sumsTo = (sums: GpuBuffer, C: number, dGamma: GpuBuffer | null, dBeta: GpuBuffer | null): void => {
    if (dBeta) rt.copy(sums.buffer, dBeta.buffer, C * 4, 0, 0);
    if (dGamma) rt.copy(sums.buffer, dGamma.buffer, C * 4, C * 4, 0);
  };
  return {
    normalise(
      x: GpuBuffer,
      gamma: GpuBuffer | null,
      beta: GpuBuffer | null,
      mean: GpuBuffer,
      invStd: GpuBuffer,
      C: number,
      y: GpuBuffer,
      residual: GpuBuffer | null,
      relu: boolean,
      s: Scratch,
    ): void {
      rt.dispatch(
        normalise,
        [
          x.buffer,
          (gamma ?? s.dummy).buffer,
          (beta ?? s.dummy).buffer,
          mean.buffer,
          invStd.buffer,
          (residual ?? s.dummy).buffer,
          y.buffer,
        ],
        gridFor(y.length),
        [y.length, C, gamma ? 1 : 0, beta ? 1 : 0, residual ? 1 : 0, relu ? 1 : 0],
      );
    },
    statistics(
      x: GpuBuffer,
      g: ChannelGeometry,
      eps: number,
      mean: GpuBuffer,
      variance: GpuBuffer,
      invStd: GpuBuffer,
      s: Scratch,
    ): void {
      const C = g.channels;
      const rows = rowsOf(g);
      const sums = s.take(C);
      const take = (n: number): GpuBuffer => s.take(n);
      const give = (b: GpuBuffer): void => s.give(b);
      columns(sumX, [x], rows, C, sums, take, give);
      rt.dispatch(meanFromSum, [sums.buffer, mean.buffer], gridFor(C), [C, rows]);
      columns(sumSquares, [x, mean], rows, C, sums, take, give);
      rt.dispatch(
        varianceFromSum,
        [sums.buffer, variance.buffer, invStd.buffer],
        gridFor(C),
        [C, rows],
        [eps],
      );
      s.give(sums);
    },
    backward(
      dy: GpuBuffer,
      x: GpuBuffer,
      gamma: GpuBuffer | null,
      mean: GpuBuffer,
      invStd: GpuBuffer,
      g: ChannelGeometry,
      dx: GpuBuffer,
      dGamma: GpuBuffer | null,
      dBeta: GpuBuffer | null,
      fusedRelu: { readonly beta: GpuBuffer | null } | undefined,
      s: Scratch,
    ): void {
      const C = g.channels;
      const rows = rowsOf(g);
      const beta = fusedRelu?.beta ?? null;
      const sums = s.take(2 * C);
      const flags = [gamma ? 1 : 0, beta ? 1 : 0, fusedRelu ? 1 : 0];
      const operands = [dy, x, gamma ?? s.dummy, beta ?? s.dummy, mean, invStd];
      columns(
        backwardSums,
        operands,
        rows,
        C,
        sums,
        (n) => s.take(n),
        (b) => s.give(b),
        flags,
      );
      const coef = s.take(6 * C);
      rt.dispatch(
        backwardCoefficients,
        [...operands.slice(2).map((b) => b.buffer), sums.buffer, coef.buffer],
        gridFor(C),
        [C, rows, gamma ? 1 : 0, beta ? 1 : 0],
      );
      rt.dispatch(backwardInput, [dy.buffer, x.buffer, coef.buffer, dx.buffer], gridFor(dx.length), [
        dx.length,
        C,
        fusedRelu ? 1 : 0,
      ]);
      sumsTo(sums, C, dGamma, dBeta);
      s.give(coef);
      s.give(sums);
    },
    evalBackward(
      dy: GpuBuffer,
      x: GpuBuffer,
      gamma: GpuBuffer | null,
      mean: GpuBuffer,
      invStd: GpuBuffer,
      g: ChannelGeometry,
      dx: GpuBuffer,
      dGamma: GpuBuffer | null,
      dBeta: GpuBuffer | null,
      s: Scratch,
    ): void {
      const C = g.channels;
      rt.dispatch(
        evalBackwardInput,
        [dy.buffer, (gamma ?? s.dummy).buffer, invStd.buffer, dx.buffer],
        gridFor(dx.length),
        [dx.length, C, gamma ? 1 : 0],
      );
      if (!dGamma && !dBeta) return;
      const sums = s.take(2 * C);
      columns(
        evalBackwardSums,
        [dy, x, mean, invStd],
        rowsOf(g),
        C,
        sums,
        (n) => s.take(n),
        (b) => s.give(b),
      );
      sumsTo(sums, C, dGamma, dBeta);
      s.give(sums);
    },
  };
});
