/**
 * Reference 2-D convolution, NCHW, weights [Cout, Cin/groups, kh, kw], via im2col and gemmABt.
 * Per image n and group g, with Cin_g = Cin/groups, Cout_g = Cout/groups, Kc = Cin_g*kh*kw, P = Ho*Wo:
 *   forward          y_g[Cout_g, P]  = W_g[Cout_g, Kc] · rows[P, Kc]ᵀ          (rows = im2row of x_g)
 *   backward input   cols[Kc, P]     = W_gᵀ[Kc, Cout_g] · dy_gᵀ[P, Cout_g]ᵀ     then col2im into dx_g
 *   backward weight  dW_g[Cout_g, Kc] += dy_g[Cout_g, P] · cols[Kc, P]ᵀ        (cols = im2col of x_g)
 * A 1×1, stride-1, unpadded conv uses x_g itself as cols. Every group has its own weight slice.
 */
import type { Conv2dGeometry, Epilogue } from '../backend.js';
import { applyEpilogue } from './elementwise.js';
import { gemmABt, transpose } from './gemm.js';

function isPointwise(g: Conv2dGeometry): boolean {
  return (
    g.kernelH === 1 && g.kernelW === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0
  );
}

/** rows[p, (c, ky, kx)] = x[c, oy*sh - ph + ky*dh, ox*sw - pw + kx*dw] (0 outside), for channels c0..c0+channels. */
function im2row(
  x: Float32Array,
  xOff: number,
  channels: number,
  g: Conv2dGeometry,
  rows: Float32Array,
): void {
  const { inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo, kernelH: kh, kernelW: kw } = g;
  const Kc = channels * kh * kw;
  for (let oy = 0; oy < Ho; oy++) {
    for (let ox = 0; ox < Wo; ox++) {
      let r = (oy * Wo + ox) * Kc;
      for (let c = 0; c < channels; c++) {
        const plane = xOff + c * H * W;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * g.strideH - g.padH + ky * g.dilationH;
          const rowOk = iy >= 0 && iy < H;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * g.strideW - g.padW + kx * g.dilationW;
            rows[r++] = rowOk && ix >= 0 && ix < W ? x[plane + iy * W + ix]! : 0;
          }
        }
      }
    }
  }
}

/** cols[(c, ky, kx), p]: the transpose of im2row's layout. */
function im2col(
  x: Float32Array,
  xOff: number,
  channels: number,
  g: Conv2dGeometry,
  cols: Float32Array,
): void {
  const { inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo, kernelH: kh, kernelW: kw } = g;
  const P = Ho * Wo;
  let row = 0;
  for (let c = 0; c < channels; c++) {
    const plane = xOff + c * H * W;
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++, row++) {
        const out = row * P;
        for (let oy = 0; oy < Ho; oy++) {
          const iy = oy * g.strideH - g.padH + ky * g.dilationH;
          const o = out + oy * Wo;
          if (iy < 0 || iy >= H) {
            cols.fill(0, o, o + Wo);
            continue;
          }
          const src = plane + iy * W;
          for (let ox = 0; ox < Wo; ox++) {
            const ix = ox * g.strideW - g.padW + kx * g.dilationW;
            cols[o + ox] = ix >= 0 && ix < W ? x[src + ix]! : 0;
          }
        }
      }
    }
  }
}

/** dx[c, iy, ix] += cols[(c, ky, kx), p]: the adjoint of im2col. */
function col2im(
  cols: Float32Array,
  channels: number,
  g: Conv2dGeometry,
  dx: Float32Array,
  dxOff: number,
): void {
  const { inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo, kernelH: kh, kernelW: kw } = g;
  const P = Ho * Wo;
  let row = 0;
  for (let c = 0; c < channels; c++) {
    const plane = dxOff + c * H * W;
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++, row++) {
        const src = row * P;
        for (let oy = 0; oy < Ho; oy++) {
          const iy = oy * g.strideH - g.padH + ky * g.dilationH;
          if (iy < 0 || iy >= H) continue;
          const dst = plane + iy * W;
          const s = src + oy * Wo;
          for (let ox = 0; ox < Wo; ox++) {
            const ix = ox * g.strideW - g.padW + kx * g.dilationW;
            if (ix >= 0 && ix < W) dx[dst + ix] = dx[dst + ix]! + cols[s + ox]!;
          }
        }
      }
    }
  }
}

export function conv2d(
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  g: Conv2dGeometry,
  y: Float32Array,
  epilogue?: Epilogue,
): void {
  const cinG = g.inChannels / g.groups;
  const coutG = g.outChannels / g.groups;
  const Kc = cinG * g.kernelH * g.kernelW;
  const P = g.outHeight * g.outWidth;
  const inPlane = g.inHeight * g.inWidth;
  const rows = new Float32Array(P * Kc);
  const pointwise = isPointwise(g);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      const xOff = (n * g.inChannels + grp * cinG) * inPlane;
      if (pointwise) transpose(x, xOff, cinG, P, P, rows);
      else im2row(x, xOff, cinG, g, rows);
      const yOff = (n * g.outChannels + grp * coutG) * P;
      gemmABt(coutG, P, Kc, weight, grp * coutG * Kc, Kc, rows, 0, Kc, y, yOff, P, false);
    }
    if (bias) {
      for (let co = 0; co < g.outChannels; co++) {
        const o = (n * g.outChannels + co) * P;
        const b = bias[co]!;
        for (let p = 0; p < P; p++) y[o + p] = y[o + p]! + b;
      }
    }
  }
  applyEpilogue(y, epilogue);
}

export function conv2dBackwardInput(
  dy: Float32Array,
  weight: Float32Array,
  g: Conv2dGeometry,
  dx: Float32Array,
): void {
  const cinG = g.inChannels / g.groups;
  const coutG = g.outChannels / g.groups;
  const Kc = cinG * g.kernelH * g.kernelW;
  const P = g.outHeight * g.outWidth;
  const inPlane = g.inHeight * g.inWidth;
  const pointwise = isPointwise(g);
  dx.fill(0);
  // Wᵀ per group, [Kc, Cout_g], packed once.
  const weightT = new Float32Array(g.groups * Kc * coutG);
  for (let grp = 0; grp < g.groups; grp++) {
    transpose(weight, grp * coutG * Kc, coutG, Kc, Kc, weightT.subarray(grp * Kc * coutG));
  }
  const dyT = new Float32Array(P * coutG);
  const cols = pointwise ? null : new Float32Array(Kc * P);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      transpose(dy, (n * g.outChannels + grp * coutG) * P, coutG, P, P, dyT);
      const dxOff = (n * g.inChannels + grp * cinG) * inPlane;
      if (cols === null) {
        gemmABt(Kc, P, coutG, weightT, grp * Kc * coutG, coutG, dyT, 0, coutG, dx, dxOff, P, false);
      } else {
        gemmABt(Kc, P, coutG, weightT, grp * Kc * coutG, coutG, dyT, 0, coutG, cols, 0, P, false);
        col2im(cols, cinG, g, dx, dxOff);
      }
    }
  }
}

export function conv2dBackwardWeight(
  dy: Float32Array,
  x: Float32Array,
  g: Conv2dGeometry,
  dWeight: Float32Array,
  dBias: Float32Array | null,
): void {
  const cinG = g.inChannels / g.groups;
  const coutG = g.outChannels / g.groups;
  const Kc = cinG * g.kernelH * g.kernelW;
  const P = g.outHeight * g.outWidth;
  const inPlane = g.inHeight * g.inWidth;
  const pointwise = isPointwise(g);
  const cols = pointwise ? null : new Float32Array(Kc * P);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      const xOff = (n * g.inChannels + grp * cinG) * inPlane;
      const dyOff = (n * g.outChannels + grp * coutG) * P;
      const wOff = grp * coutG * Kc;
      if (cols === null) {
        gemmABt(coutG, Kc, P, dy, dyOff, P, x, xOff, P, dWeight, wOff, Kc, n > 0);
      } else {
        im2col(x, xOff, cinG, g, cols);
        gemmABt(coutG, Kc, P, dy, dyOff, P, cols, 0, P, dWeight, wOff, Kc, n > 0);
      }
    }
  }
  if (dBias) {
    for (let co = 0; co < g.outChannels; co++) {
      let s = 0;
      for (let n = 0; n < g.batch; n++) {
        const o = (n * g.outChannels + co) * P;
        for (let p = 0; p < P; p++) s += dy[o + p]!;
      }
      dBias[co] = s;
    }
  }
}
