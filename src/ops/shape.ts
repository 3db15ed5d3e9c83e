import { record } from '../autograd/node.js';
import { Tensor } from '../tensor/tensor.js';
import { formatShape, normalizeDim, numel } from '../tensor/shape.js';
import { expectFloat } from './check.js';
import { toFormat } from './format.js';

/** Same data, new shape (one dimension may be -1 and is inferred). Shares storage with x. */
export function reshape(input: Tensor, shape: readonly number[]): Tensor {
  // Reshaping is defined on the contiguous order (a relabel, not a copy, when the formats agree).
  const x = toFormat(input, 'nchw');
  expectFloat('reshape', 'input', x);
  const target = [...shape];
  const infer = target.indexOf(-1);
  if (infer >= 0) {
    if (target.indexOf(-1, infer + 1) >= 0)
      throw new RangeError(`reshape: only one dimension can be -1 in ${formatShape(shape)}`);
    const known = target.reduce((a, d, i) => (i === infer ? a : a * d), 1);
    if (known === 0 || x.numel % known !== 0) {
      throw new RangeError(`reshape: shape ${formatShape(shape)} is invalid for input of size ${x.numel}`);
    }
    target[infer] = x.numel / known;
  }
  if (numel(target) !== x.numel) {
    throw new RangeError(`reshape: shape ${formatShape(shape)} is invalid for input of size ${x.numel}`);
  }
  if (x.isMeta) return Tensor.meta(target);
  const y = Tensor.view(x, target);
  return record('reshape', y, [x], () => (dy) => [Tensor.view(dy, x.shape)]);
}

/** Flattens dims startDim..endDim into one, as torch.flatten. */
export function flatten(x: Tensor, startDim = 1, endDim = -1): Tensor {
  const s = normalizeDim(startDim, Math.max(x.ndim, 1));
  const e = normalizeDim(endDim, Math.max(x.ndim, 1));
  if (s > e) throw new RangeError(`flatten: start_dim ${startDim} comes after end_dim ${endDim}`);
  const merged = numel(x.shape.slice(s, e + 1));
  return reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}
