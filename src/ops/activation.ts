import { record } from '../autograd/node.js';
import { backendFor } from '../backend/index.js';
import type { AxisGeometry } from '../backend/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { normalizeDim, numel } from '../tensor/shape.js';
import { anyMeta, checkInPlace, expectFloat } from './check.js';
import { add } from './elementwise.js';
import { toFormat } from './format.js';

export function relu(x: Tensor): Tensor {
  expectFloat('relu', 'input', x);
  if (anyMeta(x)) return Tensor.meta(x.shape, 'float32', x.format);
  const backend = backendFor('relu', x);
  const y = Tensor.output(x.shape, x.format, x.device);
  backend.relu(x.handle, y.handle);
  return record(
    'relu',
    y,
    [x],
    () => (dy) => {
      const dx = Tensor.output(x.shape, x.format, x.device);
      backend.reluBackward(dy.handle, y.handle, dx.handle);
      return [dx];
    },
    [y],
  );
}

/**
 * relu?(x + residual?) as separate recorded ops: what a fused tail (conv2d's, batchNorm's) computes,
 * for the cases that need its gradient through the plain ops.
 */
export function composeTail(x: Tensor, tail: { residual: Tensor | null; relu: boolean }): Tensor {
  const sum = tail.residual ? add(x, tail.residual) : x;
  return tail.relu ? relu(sum) : sum;
}

/** [outer, dim, inner] view of a shape around one axis. */
function splitAt(shape: readonly number[], dim: number): AxisGeometry {
  const outer = numel(shape.slice(0, dim));
  const inner = numel(shape.slice(dim + 1));
  return { outer, dim: shape[dim]!, inner };
}

export function softmax(input: Tensor, dim = -1): Tensor {
  const x = toFormat(input, 'nchw');
  expectFloat('softmax', 'input', x);
  const d = normalizeDim(dim, x.ndim);
  if (anyMeta(x)) return Tensor.meta(x.shape);
  const g = splitAt(x.shape, d);
  const backend = backendFor('softmax', x);
  const y = Tensor.output(x.shape, 'nchw', x.device);
  backend.softmax(x.handle, g, y.handle);
  return record(
    'softmax',
    y,
    [x],
    () => (dy) => {
      const dx = Tensor.output(x.shape, 'nchw', x.device);
      backend.softmaxBackward(dy.handle, y.handle, g, dx.handle);
      return [dx];
    },
    [y],
  );
}

export function logSoftmax(input: Tensor, dim = -1): Tensor {
  const x = toFormat(input, 'nchw');
  expectFloat('log_softmax', 'input', x);
  const d = normalizeDim(dim, x.ndim);
  if (anyMeta(x)) return Tensor.meta(x.shape);
  const g = splitAt(x.shape, d);
  const backend = backendFor('log_softmax', x);
  const y = Tensor.output(x.shape, 'nchw', x.device);
  backend.logSoftmax(x.handle, g, y.handle);
  return record(
    'log_softmax',
    y,
    [x],
    () => (dy) => {
      const dx = Tensor.output(x.shape, 'nchw', x.device);
      backend.logSoftmaxBackward(dy.handle, y.handle, g, dx.handle);
      return [dx];
    },
    [y],
  );
}

/**
 * In-place ReLU (torch.relu_, nn.ReLU(inplace=True)): overwrites x and returns it as a new node.
 * Saves no extra buffer; refused when x is a grad-requiring leaf or saved by an earlier op.
 */
export function relu_(x: Tensor): Tensor {
  expectFloat('relu_', 'input', x);
  if (anyMeta(x)) return Tensor.meta(x.shape, 'float32', x.format);
  checkInPlace('relu_', x);
  const backend = backendFor('relu_', x);
  backend.relu(x.handle, x.handle);
  const y = Tensor.view(x, x.shape, x.format);
  return record(
    'relu_',
    y,
    [x],
    () => (dy) => {
      const dx = Tensor.output(x.shape, x.format, x.device);
      backend.reluBackward(dy.handle, y.handle, dx.handle);
      return [dx];
    },
    [y],
  );
}
