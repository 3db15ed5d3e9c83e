/**
 * Elementwise kernels over flat float32 buffers: fill, ReLU and its backward, add, scale, the
 * broadcast of a scalar (backward of sum/mean), and the per-channel updates of batch-norm statistics.
 * In-place forms (x and y the same buffer) use their own kernels: WebGPU forbids binding one buffer
 * as both a read-only and a writable storage binding of a dispatch.
 */
import type { GpuBuffer } from '../buffer.js';
import { gridFor, type GpuRuntime } from '../runtime.js';
import { perElement, perRuntime } from './common.js';

const fill = perElement('fill', ['out y'], '  y[i] = pf(1u);');
const relu = perElement('relu', ['x', 'out y'], '  let v = x[i];\n  y[i] = select(v, 0.0, v <= 0.0);');
const reluInPlace = perElement('relu_', ['out y'], '  let v = y[i];\n  y[i] = select(v, 0.0, v <= 0.0);');
const reluBackward = perElement(
  'relu_backward',
  ['dy', 'y', 'out dx'],
  '  dx[i] = select(dy[i], 0.0, y[i] <= 0.0);',
);
const add = perElement('add', ['a', 'b', 'out y'], '  y[i] = a[i] + b[i];');
const addInPlace = perElement('add_', ['b', 'out y'], '  y[i] = y[i] + b[i];');
const scale = perElement('scale', ['x', 'out y'], '  y[i] = x[i] * pf(1u);');
const broadcastScalar = perElement('broadcast_scalar', ['s', 'out y'], '  y[i] = s[0] / pf(1u);');
const invStd = perElement('inv_std', ['v', 'out y'], '  y[i] = 1.0 / sqrt(v[i] + pf(1u));');
// p: [C, momentum, count / (count − 1)]
const runningStats = perElement(
  'running_stats',
  ['mean', 'variance', 'out runningMean', 'out runningVar'],
  `  let m = pf(1u);
  runningMean[i] = (1.0 - m) * runningMean[i] + m * mean[i];
  runningVar[i] = (1.0 - m) * runningVar[i] + m * (variance[i] * pf(2u));`,
);

export const elementwiseKernels = perRuntime((rt: GpuRuntime) => ({
  fill(y: GpuBuffer, value: number): void {
    rt.dispatch(fill, [y.buffer], gridFor(y.length), [y.length], [value]);
  },
  relu(x: GpuBuffer, y: GpuBuffer): void {
    if (x.buffer === y.buffer) rt.dispatch(reluInPlace, [y.buffer], gridFor(y.length), [y.length]);
    else rt.dispatch(relu, [x.buffer, y.buffer], gridFor(y.length), [y.length]);
  },
  reluBackward(dy: GpuBuffer, y: GpuBuffer, dx: GpuBuffer): void {
    rt.dispatch(reluBackward, [dy.buffer, y.buffer, dx.buffer], gridFor(dx.length), [dx.length]);
  },
  add(a: GpuBuffer, b: GpuBuffer, y: GpuBuffer): void {
    if (a.buffer === y.buffer) rt.dispatch(addInPlace, [b.buffer, y.buffer], gridFor(y.length), [y.length]);
    else if (b.buffer === y.buffer)
      rt.dispatch(addInPlace, [a.buffer, y.buffer], gridFor(y.length), [y.length]);
    else rt.dispatch(add, [a.buffer, b.buffer, y.buffer], gridFor(y.length), [y.length]);
  },
  scale(x: GpuBuffer, factor: number, y: GpuBuffer): void {
    rt.dispatch(scale, [x.buffer, y.buffer], gridFor(y.length), [y.length], [factor]);
  },
  broadcastScalar(s: GpuBuffer, divisor: number, y: GpuBuffer): void {
    rt.dispatch(broadcastScalar, [s.buffer, y.buffer], gridFor(y.length), [y.length], [divisor]);
  },
  invStd(variance: GpuBuffer, eps: number, y: GpuBuffer): void {
    rt.dispatch(invStd, [variance.buffer, y.buffer], gridFor(y.length), [y.length], [eps]);
  },
  updateRunningStats(
    runningMean: GpuBuffer,
    runningVar: GpuBuffer,
    mean: GpuBuffer,
    variance: GpuBuffer,
    count: number,
    momentum: number,
  ): void {
    const C = mean.length;
    rt.dispatch(
      runningStats,
      [mean.buffer, variance.buffer, runningMean.buffer, runningVar.buffer],
      gridFor(C),
      [C],
      [momentum, count / (count - 1)],
    );
  },
}));
