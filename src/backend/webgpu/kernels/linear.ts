/**
 * Linear layers through the tiled GEMM, row-major: x [R, I], weight [O, I] (PyTorch's layout).
 *   forward          y[R, O]  = x · weightᵀ + bias
 *   backward input   dx[R, I] = dy · weight
 *   backward weight  dW[O, I] = dyᵀ · x;  dBias[O] = Σ_rows dy
 * p: [R, I, O, hasBias]
 */
import type { LinearGeometry } from '../../backend.js';
import type { GpuBuffer } from '../buffer.js';
import type { GpuRuntime } from '../runtime.js';
import type { Scratch } from './conv.js';
import { perRuntime } from './common.js';
import { gemmGrid, tiledGemm } from './gemm.js';
import { columnKernel, reduceKernels } from './reduce.js';

const SHAPE = `var<private> R: u32;
var<private> I: u32;
var<private> O: u32;`;
const READ = '  R = p[0]; I = p[1]; O = p[2];';

const forward = tiledGemm({
  name: 'linear_forward',
  buffers: ['x', 'w', 'bias', 'out y'],
  wx: 16,
  wy: 16,
  helpers: SHAPE,
  prologue: `${READ}\n  M = R; N = O; kBegin = 0u; kEnd = I;`,
  loadA: '  return x[m * I + k];',
  loadB: '  return w[n * I + k];',
  store: `  var r = v;
  if (p[3] != 0u) { r += bias[n]; }
  y[m * O + n] = r;`,
});

const backwardInput = tiledGemm({
  name: 'linear_backward_input',
  buffers: ['dy', 'w', 'out dx'],
  wx: 16,
  wy: 16,
  helpers: SHAPE,
  prologue: `${READ}\n  M = R; N = I; kBegin = 0u; kEnd = O;`,
  loadA: '  return dy[m * O + k];',
  loadB: '  return w[k * I + n];',
  store: '  dx[m * I + n] = v;',
});

const backwardWeight = tiledGemm({
  name: 'linear_backward_weight',
  buffers: ['dy', 'x', 'out dw'],
  wx: 16,
  wy: 16,
  helpers: SHAPE,
  prologue: `${READ}\n  M = O; N = I; kBegin = 0u; kEnd = R;`,
  loadA: '  return dy[k * O + m];',
  loadB: '  return x[k * I + n];',
  store: '  dw[m * I + n] = v;',
});

const biasGrad = columnKernel('linear_bias_grad', ['dy'], ['dy[at]']);

export const linearKernels = perRuntime((rt: GpuRuntime) => ({
  forward(
    x: GpuBuffer,
    w: GpuBuffer,
    b: GpuBuffer | null,
    { rows, inFeatures: inF, outFeatures: outF }: LinearGeometry,
    y: GpuBuffer,
    s: Scratch,
  ): void {
    rt.dispatch(
      forward,
      [x.buffer, w.buffer, (b ?? s.dummy).buffer, y.buffer],
      gemmGrid(rows, outF, 16, 16),
      [rows, inF, outF, b ? 1 : 0],
    );
  },
  backward(
    dy: GpuBuffer,
    x: GpuBuffer,
    w: GpuBuffer,
    { rows, inFeatures: inF, outFeatures: outF }: LinearGeometry,
    dx: GpuBuffer | null,
    dw: GpuBuffer | null,
    db: GpuBuffer | null,
    s: Scratch,
  ): void {
    const shape = [rows, inF, outF, 0];
    if (dx) rt.dispatch(backwardInput, [dy.buffer, w.buffer, dx.buffer], gemmGrid(rows, inF, 16, 16), shape);
    if (dw) rt.dispatch(backwardWeight, [dy.buffer, x.buffer, dw.buffer], gemmGrid(outF, inF, 16, 16), shape);
    if (db) {
      reduceKernels(rt).columns(
        biasGrad,
        [dy],
        rows,
        outF,
        db,
        (n) => s.take(n),
        (b) => s.give(b),
      );
    }
  },
}));
