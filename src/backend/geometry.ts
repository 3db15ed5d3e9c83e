/**
 * Geometry as the flat integer words the compiled kernels read (the C++ addon's Int32Arrays, the
 * WGSL kernels' parameter slots): one order, stated once.
 *   convolution  [batch, inChannels, inHeight, inWidth, outChannels, outHeight, outWidth,
 *                 kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW, groups]
 *   pooling      [batch, channels, inHeight, inWidth, outHeight, outWidth,
 *                 kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW]
 *                (a 1x1 window of stride 1 for adaptive pooling, whose windows follow from the sizes)
 */
import type { Conv2dGeometry, Pool2dGeometry, PoolPlanes } from './backend.js';

export function convGeometryWords(g: Conv2dGeometry): number[] {
  return [
    g.batch,
    g.inChannels,
    g.inHeight,
    g.inWidth,
    g.outChannels,
    g.outHeight,
    g.outWidth,
    g.kernelH,
    g.kernelW,
    g.strideH,
    g.strideW,
    g.padH,
    g.padW,
    g.dilationH,
    g.dilationW,
    g.groups,
  ];
}

/** Whether pooling geometry has windows (max_pool2d) rather than adaptive cells. */
export function isWindowed(g: PoolPlanes | Pool2dGeometry): g is Pool2dGeometry {
  return 'kernelH' in g;
}

export function poolGeometryWords(g: PoolPlanes | Pool2dGeometry): number[] {
  const w = isWindowed(g) ? g : null;
  return [
    g.batch,
    g.channels,
    g.inHeight,
    g.inWidth,
    g.outHeight,
    g.outWidth,
    w?.kernelH ?? 1,
    w?.kernelW ?? 1,
    w?.strideH ?? 1,
    w?.strideW ?? 1,
    w?.padH ?? 0,
    w?.padW ?? 0,
    w?.dilationH ?? 1,
    w?.dilationW ?? 1,
  ];
}
