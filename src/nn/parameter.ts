import { Tensor } from '../tensor/tensor.js';
import type { Shape } from '../tensor/shape.js';

/** A trainable tensor owned by a Module: a float32 leaf that requires grad (unless frozen). */
export class Parameter extends Tensor {
  constructor(tensor: Tensor, requiresGrad = true) {
    super(tensor.storage, tensor.shape, 'float32', { isMeta: tensor.isMeta, format: tensor.format });
    this.requiresGrad = requiresGrad;
  }
}

let metaDepth = 0;

/**
 * Builds modules whose parameters and buffers are shape-only meta tensors, like
 * `with torch.device("meta")`: no memory, no initialisation. summary() traces such models instantly.
 */
export function onMetaDevice<T>(build: () => T): T {
  metaDepth++;
  try {
    return build();
  } finally {
    metaDepth--;
  }
}

/** A float32 tensor for a module's state: real (filled with `fill`) or meta inside onMetaDevice(). */
export function stateTensor(shape: Shape, fill = 0): Tensor {
  return metaDepth > 0 ? Tensor.meta(shape) : Tensor.full(shape, fill);
}

/** An int64 scalar buffer (num_batches_tracked): real or meta as stateTensor. */
export function counterTensor(): Tensor<'int64'> {
  return metaDepth > 0 ? Tensor.meta([], 'int64') : Tensor.zerosInt64([]);
}
