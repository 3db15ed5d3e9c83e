import { record } from '../autograd/node.js';
import { backendFor } from '../backend/index.js';
import { Tensor } from '../tensor/tensor.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { anyMeta, checkInPlace, expectFloat } from './check.js';
import { toFormat } from './format.js';

/** a + b for tensors of the same shape (the residual connection). */
export function add(a: Tensor, other: Tensor): Tensor {
  const b = toFormat(other, a.format);
  expectFloat('add', 'a', a);
  expectFloat('add', 'b', b);
  if (!sameShape(a.shape, b.shape)) {
    throw new RangeError(`add: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} differ`);
  }
  if (anyMeta(a, b)) return Tensor.meta(a.shape, 'float32', a.format);
  const backend = backendFor('add', a, b);
  const y = Tensor.output(a.shape, a.format, a.device);
  backend.add(a.handle, b.handle, y.handle);
  return record('add', y, [a, b], () => (dy) => [dy, dy]);
}

/** Sum of all elements, as a 0-d tensor. */
export function sum(x: Tensor): Tensor {
  expectFloat('sum', 'input', x);
  if (anyMeta(x)) return Tensor.meta([]);
  return reduceAll('sum', x, 1);
}

/** Mean of all elements, as a 0-d tensor. */
export function mean(x: Tensor): Tensor {
  expectFloat('mean', 'input', x);
  if (anyMeta(x)) return Tensor.meta([]);
  return reduceAll('mean', x, x.numel);
}

/** Σx / divisor as a 0-d tensor on x's device; the gradient is dy / divisor everywhere. */
function reduceAll(op: 'sum' | 'mean', x: Tensor, divisor: number): Tensor {
  const backend = backendFor(op, x);
  const y = Tensor.output([], 'nchw', x.device);
  backend.sum(x.handle, divisor, y.handle);
  return record(op, y, [x], () => (dy) => {
    const dx = Tensor.output(x.shape, x.format, x.device);
    backend.broadcastScalar(dy.handle, divisor, dx.handle);
    return [dx];
  });
}

/** x * factor for a number factor. */
export function scale(x: Tensor, factor: number): Tensor {
  expectFloat('scale', 'input', x);
  if (anyMeta(x)) return Tensor.meta(x.shape, 'float32', x.format);
  const backend = backendFor('scale', x);
  const y = Tensor.output(x.shape, x.format, x.device);
  backend.scale(x.handle, factor, y.handle);
  return record('scale', y, [x], () => (dy) => {
    const dx = Tensor.output(x.shape, x.format, x.device);
    backend.scale(dy.handle, factor, dx.handle);
    return [dx];
  });
}

/** In-place a += b (torchvision's `out += identity`): no new buffer; refused where it would corrupt a gradient. */
export function add_(a: Tensor, other: Tensor): Tensor {
  expectFloat('add_', 'a', a);
  expectFloat('add_', 'b', other);
  if (!sameShape(a.shape, other.shape)) {
    throw new RangeError(`add_: shapes ${formatShape(a.shape)} and ${formatShape(other.shape)} differ`);
  }
  if (anyMeta(a, other)) return Tensor.meta(a.shape, 'float32', a.format);
  checkInPlace('add_', a);
  const b = toFormat(other, a.format);
  backendFor('add_', a, b).add(a.handle, b.handle, a.handle);
  const y = Tensor.view(a, a.shape, a.format);
  return record('add_', y, [a, b], () => (dy) => [dy, dy]);
}
