/**
 * Softmax family along the middle axis of [outer, dim, inner], one thread per (outer, inner) line
 * (dim is a class count here: small), and cross-entropy over log-probabilities [rows, classes]
 * with int32 labels. p: [lines, dim, inner, ...]
 */
import type { AxisGeometry, CrossEntropyGeometry } from '../../backend.js';
import type { GpuBuffer } from '../buffer.js';
import { gridFor, type GpuRuntime } from '../runtime.js';
import type { Scratch } from './conv.js';
import { perElement, perRuntime } from './common.js';
import { reduceKernels } from './reduce.js';

const LINE = `  let dim = p[1];
  let inner = p[2];
  let base = (i / inner) * dim * inner + i % inner;`;

// p[3] = 1 for log-softmax
const softmax = perElement(
  'softmax',
  ['x', 'out y'],
  `${LINE}
  var m = x[base];
  for (var k = 1u; k < dim; k++) { m = max(m, x[base + k * inner]); }
  var s = 0.0;
  for (var k = 0u; k < dim; k++) { s += exp(x[base + k * inner] - m); }
  if (p[3] != 0u) {
    let l = log(s);
    for (var k = 0u; k < dim; k++) { y[base + k * inner] = x[base + k * inner] - m - l; }
  } else {
    for (var k = 0u; k < dim; k++) { y[base + k * inner] = exp(x[base + k * inner] - m) / s; }
  }`,
);

const softmaxBackward = perElement(
  'softmax_backward',
  ['dy', 'y', 'out dx'],
  `${LINE}
  var s = 0.0;
  for (var k = 0u; k < dim; k++) { s += dy[base + k * inner] * y[base + k * inner]; }
  for (var k = 0u; k < dim; k++) {
    let at = base + k * inner;
    dx[at] = y[at] * (dy[at] - s);
  }`,
);

const logSoftmaxBackward = perElement(
  'log_softmax_backward',
  ['dy', 'y', 'out dx'],
  `${LINE}
  var s = 0.0;
  for (var k = 0u; k < dim; k++) { s += dy[base + k * inner]; }
  for (var k = 0u; k < dim; k++) {
    let at = base + k * inner;
    dx[at] = dy[at] - exp(y[at]) * s;
  }`,
);

// loss_i = −(1 − ε)·logp[label] − (ε / classes)·Σ logp; p: [rows, classes] floats [ε]
const crossEntropy = perElement(
  'cross_entropy',
  ['logp', 'labels:i32', 'out loss'],
  `  let C = p[1];
  let eps = pf(2u);
  var all = 0.0;
  for (var c = 0u; c < C; c++) { all += logp[i * C + c]; }
  loss[i] = -(1.0 - eps) * logp[i * C + u32(labels[i])] - (eps / f32(C)) * all;`,
);

// dx = (exp(logp) − q)·scale_i; p: [n, classes, rows, perRow] floats [ε, factor]
const crossEntropyBackward = perElement(
  'cross_entropy_backward',
  ['logp', 'labels:i32', 'dLoss', 'out dx'],
  `  let C = p[1];
  let row = i / C;
  let c = i % C;
  let eps = pf(4u);
  var scale = dLoss[0] * pf(5u);
  if (p[3] != 0u) { scale = dLoss[row]; }
  var q = eps / f32(C);
  if (i32(c) == labels[row]) { q += 1.0 - eps; }
  dx[i] = (exp(logp[i]) - q) * scale;`,
);

export const softmaxKernels = perRuntime((rt: GpuRuntime) => ({
  softmax(x: GpuBuffer, { outer, dim, inner }: AxisGeometry, y: GpuBuffer, log: boolean): void {
    const lines = outer * inner;
    rt.dispatch(softmax, [x.buffer, y.buffer], gridFor(lines), [lines, dim, inner, log ? 1 : 0]);
  },
  softmaxBackward(dy: GpuBuffer, y: GpuBuffer, { outer, dim, inner }: AxisGeometry, dx: GpuBuffer): void {
    const lines = outer * inner;
    rt.dispatch(softmaxBackward, [dy.buffer, y.buffer, dx.buffer], gridFor(lines), [lines, dim, inner]);
  },
  logSoftmaxBackward(dy: GpuBuffer, y: GpuBuffer, { outer, dim, inner }: AxisGeometry, dx: GpuBuffer): void {
    const lines = outer * inner;
    rt.dispatch(logSoftmaxBackward, [dy.buffer, y.buffer, dx.buffer], gridFor(lines), [lines, dim, inner]);
  },
  crossEntropy(
    logp: GpuBuffer,
    labels: GpuBuffer,
    { rows, classes, labelSmoothing: eps, reduction }: CrossEntropyGeometry,
    loss: GpuBuffer,
    s: Scratch,
  ): void {
    const perRow = reduction === 'none' ? loss : s.take(rows);
    rt.dispatch(
      crossEntropy,
      [logp.buffer, labels.buffer, perRow.buffer],
      gridFor(rows),
      [rows, classes],
      [eps],
    );
    if (reduction !== 'none') {
      reduceKernels(rt).sum(perRow, reduction === 'mean' ? rows : 1, loss);
      s.give(perRow);
    }
  },
  crossEntropyBackward(
    logp: GpuBuffer,
    labels: GpuBuffer,
    { rows, classes, labelSmoothing: eps, reduction }: CrossEntropyGeometry,
    dLoss: GpuBuffer,
    dx: GpuBuffer,
  ): void {
    const n = rows * classes;
    const factor = reduction === 'mean' ? 1 / rows : 1;
    rt.dispatch(
      crossEntropyBackward,
      [logp.buffer, labels.buffer, dLoss.buffer, dx.buffer],
      gridFor(n),
      [n, classes, rows, reduction === 'none' ? 1 : 0],
      [eps, factor],
    );
  },
}));
