/**
 * Pooling on NHWC activations: x [N, H, W, C], y [N, Ho, Wo, C]; argmax holds the winner's index
 * iy·W + ix within its input plane (as the host kernels). One thread per output element forward;
 * backward gathers, one thread per input element, the outputs whose window can hold it (adding in
 * output order, as the host's scatter does), so no atomics are needed.
 * Parameter words: the element count, the pool geometry, whether it is adaptive.
 */
import type { AdaptivePool2dGeometry, Pool2dGeometry, PoolPlanes } from '../../backend.js';
import type { GpuBuffer } from '../buffer.js';
import { gridFor, type GpuRuntime } from '../runtime.js';
import { perElement, perRuntime } from './common.js';
import { isWindowed, POOL_WORDS, poolWords, wordSlots } from './geometry.js';

const SLOTS = wordSlots('pool', ['count', ...POOL_WORDS, 'adaptive']);

const INDEX = `  let C = p[pool_channels]; let H = p[pool_inHeight]; let W = p[pool_inWidth];
  let Ho = p[pool_outHeight]; let Wo = p[pool_outWidth];
  let c = i % C;`;

const ADAPTIVE = `fn startOf(o: u32, outSize: u32, inSize: u32) -> u32 { return (o * inSize) / outSize; }
fn endOf(o: u32, outSize: u32, inSize: u32) -> u32 { return ((o + 1u) * inSize + outSize - 1u) / outSize; }`;

// Output element i = ((n·Ho + oy)·Wo + ox)·C + c.
const OUTPUT_POSITION = `${INDEX}
  let ox = (i / C) % Wo;
  let oy = (i / (C * Wo)) % Ho;
  let n = i / (C * Wo * Ho);`;

// Input element i = ((n·H + h)·W + w)·C + c.
const INPUT_POSITION = `${INDEX}
  let w = (i / C) % W;
  let h = (i / (C * W)) % H;
  let n = i / (C * W * H);`;

const maxPool = perElement(
  'max_pool2d',
  ['x', 'out y', 'out argmax:i32'],
  `${OUTPUT_POSITION}
  var best = 0.0;
  var bestIdx = -1;
  for (var ky = 0u; ky < p[pool_kernelH]; ky++) {
    let iy = i32(oy * p[pool_strideH] + ky * p[pool_dilationH]) - i32(p[pool_padH]);
    if (iy < 0 || iy >= i32(H)) { continue; }
    for (var kx = 0u; kx < p[pool_kernelW]; kx++) {
      let ix = i32(ox * p[pool_strideW] + kx * p[pool_dilationW]) - i32(p[pool_padW]);
      if (ix < 0 || ix >= i32(W)) { continue; }
      let v = x[((n * H + u32(iy)) * W + u32(ix)) * C + c];
      if (bestIdx < 0 || v > best) { best = v; bestIdx = iy * i32(W) + ix; }
    }
  }
  y[i] = best;
  argmax[i] = bestIdx;`,
  SLOTS,
);

const adaptiveMaxPool = perElement(
  'adaptive_max_pool2d',
  ['x', 'out y', 'out argmax:i32'],
  `${OUTPUT_POSITION}
  var best = 0.0;
  var bestIdx = -1;
  for (var iy = startOf(oy, Ho, H); iy < endOf(oy, Ho, H); iy++) {
    for (var ix = startOf(ox, Wo, W); ix < endOf(ox, Wo, W); ix++) {
      let v = x[((n * H + iy) * W + ix) * C + c];
      if (bestIdx < 0 || v > best) { best = v; bestIdx = i32(iy * W + ix); }
    }
  }
  y[i] = best;
  argmax[i] = bestIdx;`,
  `${SLOTS}\n${ADAPTIVE}`,
);

// The output rows [first, last] whose window may contain input row h (windowed or adaptive).
const CANDIDATES = `${ADAPTIVE}
fn candidates(h: u32, inSize: u32, outSize: u32, k: u32, s: u32, pad: u32, d: u32) -> vec2<i32> {
  if (p[pool_adaptive] != 0u) {
    let first = (h * outSize) / inSize;
    let last = min(outSize - 1u, ((h + 1u) * outSize + inSize - 1u) / inSize - 1u);
    return vec2<i32>(i32(first), i32(last));
  }
  let reach = i32(h + pad) - i32((k - 1u) * d);
  var first = 0;
  if (reach > 0) { first = (reach + i32(s) - 1) / i32(s); }
  let last = min(i32(outSize) - 1, i32(h + pad) / i32(s));
  return vec2<i32>(first, last);
}`;

const maxPoolBackward = perElement(
  'max_pool_backward',
  ['dy', 'argmax:i32', 'out dx'],
  `${INPUT_POSITION}
  let rows = candidates(h, H, Ho, p[pool_kernelH], p[pool_strideH], p[pool_padH], p[pool_dilationH]);
  let cols = candidates(w, W, Wo, p[pool_kernelW], p[pool_strideW], p[pool_padW], p[pool_dilationW]);
  let me = i32(h * W + w);
  var s = 0.0;
  for (var oy = rows.x; oy <= rows.y; oy++) {
    for (var ox = cols.x; ox <= cols.y; ox++) {
      let o = ((n * Ho + u32(oy)) * Wo + u32(ox)) * C + c;
      if (argmax[o] == me) { s += dy[o]; }
    }
  }
  dx[i] = s;`,
  `${SLOTS}\n${CANDIDATES}`,
);

const adaptiveAvgPool = perElement(
  'adaptive_avg_pool2d',
  ['x', 'out y'],
  `${OUTPUT_POSITION}
  let y0 = startOf(oy, Ho, H); let y1 = endOf(oy, Ho, H);
  let x0 = startOf(ox, Wo, W); let x1 = endOf(ox, Wo, W);
  var s = 0.0;
  for (var iy = y0; iy < y1; iy++) {
    for (var ix = x0; ix < x1; ix++) { s += x[((n * H + iy) * W + ix) * C + c]; }
  }
  y[i] = s / f32((y1 - y0) * (x1 - x0));`,
  `${SLOTS}\n${ADAPTIVE}`,
);

const adaptiveAvgPoolBackward = perElement(
  'adaptive_avg_pool2d_backward',
  ['dy', 'out dx'],
  `${INPUT_POSITION}
  let rows = candidates(h, H, Ho, 1u, 1u, 0u, 1u);
  let cols = candidates(w, W, Wo, 1u, 1u, 0u, 1u);
  var s = 0.0;
  for (var oy = u32(rows.x); oy <= u32(rows.y); oy++) {
    let y0 = startOf(oy, Ho, H); let y1 = endOf(oy, Ho, H);
    if (h < y0 || h >= y1) { continue; }
    for (var ox = u32(cols.x); ox <= u32(cols.y); ox++) {
      let x0 = startOf(ox, Wo, W); let x1 = endOf(ox, Wo, W);
      if (w < x0 || w >= x1) { continue; }
      s += dy[((n * Ho + oy) * Wo + ox) * C + c] / f32((y1 - y0) * (x1 - x0));
    }
  }
  dx[i] = s;`,
  `${SLOTS}\n${CANDIDATES}`,
);

function words(n: number, g: PoolPlanes | Pool2dGeometry): number[] {
  return [n, ...poolWords(g), isWindowed(g) ? 0 : 1];
}

export const poolKernels = perRuntime((rt: GpuRuntime) => ({
  maxPool2d(x: GpuBuffer, g: Pool2dGeometry, y: GpuBuffer, argmax: GpuBuffer): void {
    rt.dispatch(maxPool, [x.buffer, y.buffer, argmax.buffer], gridFor(y.length), words(y.length, g));
  },
  adaptiveMaxPool2d(x: GpuBuffer, g: AdaptivePool2dGeometry, y: GpuBuffer, argmax: GpuBuffer): void {
    rt.dispatch(adaptiveMaxPool, [x.buffer, y.buffer, argmax.buffer], gridFor(y.length), words(y.length, g));
  },
  maxPoolBackward(dy: GpuBuffer, argmax: GpuBuffer, g: PoolPlanes, dx: GpuBuffer): void {
    rt.dispatch(
      maxPoolBackward,
      [dy.buffer, argmax.buffer, dx.buffer],
      gridFor(dx.length),
      words(dx.length, g),
    );
  },
  adaptiveAvgPool2d(x: GpuBuffer, g: AdaptivePool2dGeometry, y: GpuBuffer): void {
    rt.dispatch(adaptiveAvgPool, [x.buffer, y.buffer], gridFor(y.length), words(y.length, g));
  },
  adaptiveAvgPool2dBackward(dy: GpuBuffer, g: AdaptivePool2dGeometry, dx: GpuBuffer): void {
    rt.dispatch(adaptiveAvgPoolBackward, [dy.buffer, dx.buffer], gridFor(dx.length), words(dx.length, g));
  },
}));
