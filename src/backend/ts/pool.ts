/** Reference pooling over NCHW planes. argmax holds the flat index of the winner within its input plane. */
import type { AdaptivePool2dGeometry, Pool2dGeometry, PoolPlanes } from '../backend.js';

export function maxPool2d(x: Float32Array, g: Pool2dGeometry, y: Float32Array, argmax: Int32Array): void {
  const { inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo } = g;
  const planes = g.batch * g.channels;
  for (let pl = 0; pl < planes; pl++) {
    const xo = pl * H * W;
    const yo = pl * Ho * Wo;
    for (let oy = 0; oy < Ho; oy++) {
      for (let ox = 0; ox < Wo; ox++) {
        let best = -Infinity;
        let bestIdx = -1;
        for (let ky = 0; ky < g.kernelH; ky++) {
          const iy = oy * g.strideH - g.padH + ky * g.dilationH;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < g.kernelW; kx++) {
            const ix = ox * g.strideW - g.padW + kx * g.dilationW;
            if (ix < 0 || ix >= W) continue;
            const v = x[xo + iy * W + ix]!;
            // First maximum wins, and NaN propagates, as in PyTorch.
            if (v > best || Number.isNaN(v) || bestIdx < 0) {
              best = v;
              bestIdx = iy * W + ix;
              if (Number.isNaN(v)) break;
            }
          }
        }
        y[yo + oy * Wo + ox] = best;
        argmax[yo + oy * Wo + ox] = bestIdx;
      }
    }
  }
}

function windowStart(i: number, outSize: number, inSize: number): number {
  return Math.floor((i * inSize) / outSize);
}

function windowEnd(i: number, outSize: number, inSize: number): number {
  return Math.ceil(((i + 1) * inSize) / outSize);
}

export function adaptiveMaxPool2d(
  x: Float32Array,
  g: AdaptivePool2dGeometry,
  y: Float32Array,
  argmax: Int32Array,
): void {
  const { inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo } = g;
  const planes = g.batch * g.channels;
  for (let pl = 0; pl < planes; pl++) {
    const xo = pl * H * W;
    const yo = pl * Ho * Wo;
    for (let oy = 0; oy < Ho; oy++) {
      const y0 = windowStart(oy, Ho, H);
      const y1 = windowEnd(oy, Ho, H);
      for (let ox = 0; ox < Wo; ox++) {
        const x0 = windowStart(ox, Wo, W);
        const x1 = windowEnd(ox, Wo, W);
        let best = -Infinity;
        let bestIdx = -1;
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) {
            const v = x[xo + iy * W + ix]!;
            if (v > best || Number.isNaN(v) || bestIdx < 0) {
              best = v;
              bestIdx = iy * W + ix;
            }
          }
        }
        y[yo + oy * Wo + ox] = best;
        argmax[yo + oy * Wo + ox] = bestIdx;
      }
    }
  }
}

export function maxPoolBackward(dy: Float32Array, argmax: Int32Array, g: PoolPlanes, dx: Float32Array): void {
  const planes = g.batch * g.channels;
  const outPlane = g.outHeight * g.outWidth;
  const inPlane = g.inHeight * g.inWidth;
  dx.fill(0);
  for (let pl = 0; pl < planes; pl++) {
    const yo = pl * outPlane;
    const xo = pl * inPlane;
    for (let i = 0; i < outPlane; i++) {
      const at = xo + argmax[yo + i]!;
      dx[at] = dx[at]! + dy[yo + i]!;
    }
  }
}

export function adaptiveAvgPool2d(x: Float32Array, g: AdaptivePool2dGeometry, y: Float32Array): void {
  const { inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo } = g;
  const planes = g.batch * g.channels;
  for (let pl = 0; pl < planes; pl++) {
    const xo = pl * H * W;
    const yo = pl * Ho * Wo;
    for (let oy = 0; oy < Ho; oy++) {
      const y0 = windowStart(oy, Ho, H);
      const y1 = windowEnd(oy, Ho, H);
      for (let ox = 0; ox < Wo; ox++) {
        const x0 = windowStart(ox, Wo, W);
        const x1 = windowEnd(ox, Wo, W);
        let s = 0;
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) s += x[xo + iy * W + ix]!;
        }
        y[yo + oy * Wo + ox] = s / ((y1 - y0) * (x1 - x0));
      }
    }
  }
}

export function adaptiveAvgPool2dBackward(
  dy: Float32Array,
  g: AdaptivePool2dGeometry,
  dx: Float32Array,
): void {
  const { inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo } = g;
  const planes = g.batch * g.channels;
  dx.fill(0);
  for (let pl = 0; pl < planes; pl++) {
    const xo = pl * H * W;
    const yo = pl * Ho * Wo;
    for (let oy = 0; oy < Ho; oy++) {
      const y0 = windowStart(oy, Ho, H);
      const y1 = windowEnd(oy, Ho, H);
      for (let ox = 0; ox < Wo; ox++) {
        const x0 = windowStart(ox, Wo, W);
        const x1 = windowEnd(ox, Wo, W);
        const share = dy[yo + oy * Wo + ox]! / ((y1 - y0) * (x1 - x0));
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) dx[xo + iy * W + ix] = dx[xo + iy * W + ix]! + share;
        }
      }
    }
  }
}
