/** Memory-format change of a 4-D tensor [N, C, H, W] between nchw and nhwc, one thread per element. */
import type { GpuBuffer } from '../buffer.js';
import { gridFor, type GpuRuntime } from '../runtime.js';
import { perElement, perRuntime } from './common.js';

// i indexes the output; p: [n, C, H·W, toNhwc]
const convert = perElement(
  'convert_format',
  ['x', 'out y'],
  `  let C = p[1];
  let S = p[2];
  let n = i / (C * S);
  if (p[3] != 0u) {
    let c = i % C;
    let s = (i / C) % S;
    y[i] = x[(n * C + c) * S + s];
  } else {
    let s = i % S;
    let c = (i / S) % C;
    y[i] = x[(n * S + s) * C + c];
  }`,
);

export const formatKernels = perRuntime((rt: GpuRuntime) => ({
  convert(
    x: GpuBuffer,
    shape: readonly [number, number, number, number],
    toNhwc: boolean,
    y: GpuBuffer,
  ): void {
    const [N, C, H, W] = shape;
    const n = N * C * H * W;
    rt.dispatch(convert, [x.buffer, y.buffer], gridFor(n), [n, C, H * W, toNhwc ? 1 : 0]);
  },
}));
