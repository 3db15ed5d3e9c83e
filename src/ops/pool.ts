import { record } from '../autograd/node.js';
import {
  backendFor,
  type AdaptivePool2dGeometry,
  type KernelBuffer,
  type Pool2dGeometry,
} from '../backend/index.js';
import { Tensor } from '../tensor/tensor.js';
import { formatShape } from '../tensor/shape.js';
import { anyMeta, expectFloat, expectRank, pair, type IntPair } from './check.js';
import { toFormat } from './format.js';

export interface MaxPool2dOptions {
  /** Defaults to kernelSize, as in PyTorch. */
  stride?: IntPair;
  padding?: IntPair;
  dilation?: IntPair;
  ceilMode?: boolean;
}

/** PyTorch's pooling output size, including ceil mode's rule that the last window must start inside the input. */
function poolOutputSize(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = size + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + p) out--;
  return out;
}

/** Max pooling over [N, C, H, W], as torch.nn.functional.max_pool2d. */
export function maxPool2d(input: Tensor, kernelSize: IntPair, options: MaxPool2dOptions = {}): Tensor {
  const op = 'max_pool2d';
  const backend = backendFor(op, input);
  expectFloat(op, 'input', input);
  expectRank(op, 'input', input, 4, '[N, C, H, W]');
  const x = toFormat(input, backend.activationFormat);
  const [kh, kw] = pair(op, 'kernel_size', kernelSize, 1);
  const [sh, sw] = pair(op, 'stride', options.stride ?? kernelSize, 1);
  const [ph, pw] = pair(op, 'padding', options.padding ?? 0, 0);
  const [dh, dw] = pair(op, 'dilation', options.dilation ?? 1, 1);
  if (ph * 2 > kh || pw * 2 > kw) {
    throw new RangeError(`${op}: padding (${ph}, ${pw}) must be at most half the kernel size (${kh}, ${kw})`);
  }
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const ceil = options.ceilMode ?? false;
  const Ho = poolOutputSize(H, kh, sh, ph, dh, ceil);
  const Wo = poolOutputSize(W, kw, sw, pw, dw, ceil);
  if (Ho < 1 || Wo < 1) {
    throw new RangeError(
      `${op}: input ${formatShape(x.shape)} is too small for kernel ${kh}x${kw}: output would be ${Ho}x${Wo}`,
    );
  }
  const outShape = [N, C, Ho, Wo];
  if (anyMeta(x)) return Tensor.meta(outShape, 'float32', x.format);
  const g: Pool2dGeometry = {
    batch: N,
    channels: C,
    inHeight: H,
    inWidth: W,
    outHeight: Ho,
    outWidth: Wo,
    kernelH: kh,
    kernelW: kw,
    strideH: sh,
    strideW: sw,
    padH: ph,
    padW: pw,
    dilationH: dh,
    dilationW: dw,
  };
  const y = Tensor.output(outShape, x.format, x.device);
  const winners = Tensor.output([y.numel], 'nchw', x.device);
  const argmax = backend.indices(winners.handle);
  backend.maxPool2d(x.handle, g, y.handle, argmax);
  return recordPool(op, x, y, (dy, dx) => backend.maxPoolBackward(dy, argmax, g, dx), winners);
}

/**
 * Records a pooling op whose backward writes dx from dy (and the max pools' winning `indices`). x is
 * listed as saved although the backward never reads it, so that its storage is recycled once this
 * node has run.
 */
function recordPool(
  op: string,
  x: Tensor,
  y: Tensor,
  backwardInto: (dy: KernelBuffer, dx: KernelBuffer) => void,
  indices?: Tensor,
): Tensor {
  return record(
    op,
    y,
    [x],
    () => (dy) => {
      const dx = Tensor.output(x.shape, x.format, x.device);
      backwardInto(dy.handle, dx.handle);
      return [dx];
    },
    [x, ...(indices ? [indices] : [])],
  );
}

function adaptiveGeometry(op: string, x: Tensor, outputSize: IntPair): AdaptivePool2dGeometry {
  expectFloat(op, 'input', x);
  expectRank(op, 'input', x, 4, '[N, C, H, W]');
  const [oh, ow] = pair(op, 'output_size', outputSize, 1);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  if (H < 1 || W < 1) throw new RangeError(`${op}: input ${formatShape(x.shape)} has an empty spatial size`);
  return { batch: N, channels: C, inHeight: H, inWidth: W, outHeight: oh, outWidth: ow };
}

/** Adaptive average pooling to outputSize, as torch.nn.functional.adaptive_avg_pool2d. */
export function adaptiveAvgPool2d(input: Tensor, outputSize: IntPair): Tensor {
  const op = 'adaptive_avg_pool2d';
  const backend = backendFor(op, input);
  const x = input.ndim === 4 ? toFormat(input, backend.activationFormat) : input;
  const g = adaptiveGeometry(op, x, outputSize);
  const outShape = [g.batch, g.channels, g.outHeight, g.outWidth];
  if (anyMeta(x)) return Tensor.meta(outShape, 'float32', x.format);
  const y = Tensor.output(outShape, x.format, x.device);
  backend.adaptiveAvgPool2d(x.handle, g, y.handle);
  return recordPool(op, x, y, (dy, dx) => backend.adaptiveAvgPool2dBackward(dy, g, dx));
}

/** Adaptive max pooling to outputSize, as torch.nn.functional.adaptive_max_pool2d. */
export function adaptiveMaxPool2d(input: Tensor, outputSize: IntPair): Tensor {
  const op = 'adaptive_max_pool2d';
  const backend = backendFor(op, input);
  const x = input.ndim === 4 ? toFormat(input, backend.activationFormat) : input;
  const g = adaptiveGeometry(op, x, outputSize);
  const outShape = [g.batch, g.channels, g.outHeight, g.outWidth];
  if (anyMeta(x)) return Tensor.meta(outShape, 'float32', x.format);
  const y = Tensor.output(outShape, x.format, x.device);
  const winners = Tensor.output([y.numel], 'nchw', x.device);
  const argmax = backend.indices(winners.handle);
  backend.adaptiveMaxPool2d(x.handle, g, y.handle, argmax);
  return recordPool(op, x, y, (dy, dx) => backend.maxPoolBackward(dy, argmax, g, dx), winners);
}
