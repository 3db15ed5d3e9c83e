import { record } from '../autograd/node.js';
import { getBackend } from '../backend/index.js';
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
  const y = Tensor.output(a.shape, a.format);
  getBackend().add(a.data, b.data, y.data);
  return record('add', y, [a, b], () => (dy) => [dy, dy]);
}

/** Sum of all elements, as a 0-d tensor. */
export function sum(x: Tensor): Tensor {
  expectFloat('sum', 'input', x);
  if (anyMeta(x)) return Tensor.meta([]);
  let s = 0;
  for (const v of x.data) s += v;
  return record('sum', Tensor.scalar(s), [x], () => (dy) => [
    Tensor.full(x.shape, dy.data[0]!).toFormat(x.format),
  ]);
}

/** Mean of all elements, as a 0-d tensor. */
export function mean(x: Tensor): Tensor {
  expectFloat('mean', 'input', x);
  if (anyMeta(x)) return Tensor.meta([]);
  const n = x.numel;
  let s = 0;
  for (const v of x.data) s += v;
  return record('mean', Tensor.scalar(s / n), [x], () => (dy) => [
    Tensor.full(x.shape, dy.data[0]! / n).toFormat(x.format),
  ]);
}

/** x * factor for a number factor. */
export function scale(x: Tensor, factor: number): Tensor {
  expectFloat('scale', 'input', x);
  if (anyMeta(x)) return Tensor.meta(x.shape, 'float32', x.format);
  const y = Tensor.output(x.shape, x.format);
  const xd = x.data;
  const yd = y.data;
  for (let i = 0; i < xd.length; i++) yd[i] = xd[i]! * factor;
  return record('scale', y, [x], () => (dy) => {
    const dx = Tensor.output(x.shape, x.format);
    for (let i = 0; i < dx.data.length; i++) dx.data[i] = dy.data[i]! * factor;
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
  getBackend().add(a.data, b.data, a.data);
  const y = Tensor.view(a, a.shape, a.format);
  return record('add_', y, [a, b], () => (dy) => [dy, dy]);
}
