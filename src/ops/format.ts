import { record } from '../autograd/node.js';
import type { MemoryFormat } from '../tensor/format.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * The same values in another memory format (a physical transpose; the logical shape is unchanged),
 * as PyTorch's x.contiguous(memory_format=...). Differentiable: the gradient is converted back.
 */
export function toFormat(x: Tensor, format: MemoryFormat): Tensor {
  if (x.format === format) return x;
  const from = x.format;
  const y = x.toFormat(format);
  return record('to_format', y.detach(), [x], () => (dy) => [dy.toFormat(from)]);
}
