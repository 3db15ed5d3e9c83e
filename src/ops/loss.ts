import { record } from '../autograd/node.js';
import { backendFor } from '../backend/index.js';
import { Tensor } from '../tensor/tensor.js';
import { formatShape } from '../tensor/shape.js';
import { anyMeta, expectFloat, expectRank } from './check.js';

export interface CrossEntropyOptions {
  /** ε in [0, 1]: the target becomes (1 - ε)·onehot + ε/C, as in PyTorch. */
  labelSmoothing?: number;
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Cross-entropy of logits [N, C] against class indices [N] (int64), as torch.nn.functional.cross_entropy:
 * loss_i = (1 - ε)·(logsumexp(x_i) - x_i[y_i]) + ε·mean_c(logsumexp(x_i) - x_i[c]).
 * The target stays on the cpu (its range is checked there); the logits may be on any device.
 */
export function crossEntropy(
  logits: Tensor,
  target: Tensor<'int64'>,
  options: CrossEntropyOptions = {},
): Tensor {
  const op = 'cross_entropy';
  expectFloat(op, 'input', logits);
  expectRank(op, 'input', logits, 2, '[N, classes]');
  if (target.dtype !== 'int64')
    throw new TypeError(`${op}: target must be int64 class indices, got ${target.dtype}`);
  const [N, C] = logits.shape as [number, number];
  if (target.ndim !== 1 || target.shape[0] !== N) {
    throw new RangeError(
      `${op}: target must have shape [${N}] for input ${formatShape(logits.shape)}, got ${formatShape(target.shape)}`,
    );
  }
  const eps = options.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) throw new RangeError(`${op}: label_smoothing must be in [0, 1], got ${eps}`);
  const reduction = options.reduction ?? 'mean';
  const outShape = reduction === 'none' ? [N] : [];
  if (anyMeta(logits)) return Tensor.meta(outShape);

  const labels = new Int32Array(N);
  const targets = target.dataSync();
  for (let i = 0; i < N; i++) {
    const v = Number(targets[i]!);
    if (v < 0 || v >= C) throw new RangeError(`${op}: target[${i}] = ${v} is out of range for ${C} classes`);
    labels[i] = v;
  }
  const backend = backendFor(op, logits);
  const device = logits.device;
  const labelStorage = Tensor.output([N], 'nchw', device);
  const labelBuffer = backend.indices(labelStorage.handle, labels);
  const logProbs = Tensor.output([N, C], 'nchw', device);
  backend.logSoftmax(logits.handle, { outer: N, dim: C, inner: 1 }, logProbs.handle);
  const g = { rows: N, classes: C, labelSmoothing: eps, reduction };
  const out = Tensor.output(outShape, 'nchw', device);
  backend.crossEntropy(logProbs.handle, labelBuffer, g, out.handle);
  return record(
    op,
    out,
    [logits],
    () => (dy) => {
      const dx = Tensor.output(logits.shape, 'nchw', device);
      backend.crossEntropyBackward(logProbs.handle, labelBuffer, g, dy.handle, dx.handle);
      return [dx];
    },
    [logProbs, labelStorage],
  );
}
