import { record } from '../autograd/node.js';
import { getBackend } from '../backend/index.js';
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
  for (let i = 0; i < N; i++) {
    const v = Number(target.data[i]!);
    if (v < 0 || v >= C) throw new RangeError(`${op}: target[${i}] = ${v} is out of range for ${C} classes`);
    labels[i] = v;
  }
  const logProbs = new Float32Array(N * C);
  getBackend().logSoftmax(logits.data, N, C, 1, logProbs);
  const perSample = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const row = i * C;
    let all = 0;
    for (let c = 0; c < C; c++) all += logProbs[row + c]!;
    perSample[i] = -(1 - eps) * logProbs[row + labels[i]!]! - (eps / C) * all;
  }
  let out: Tensor;
  if (reduction === 'none') out = Tensor.fromArray(perSample, [N]);
  else {
    const total = perSample.reduce((a, b) => a + b, 0);
    out = Tensor.scalar(reduction === 'mean' ? total / N : total);
  }
  return record(op, out, [logits], () => (dy) => {
    // d loss_i / d x_i = softmax(x_i) - target distribution.
    const dx = Tensor.output(logits.shape);
    const d = dx.data;
    for (let i = 0; i < N; i++) {
      const scaleI =
        reduction === 'none' ? dy.data[i]! : reduction === 'mean' ? dy.data[0]! / N : dy.data[0]!;
      const row = i * C;
      for (let c = 0; c < C; c++) {
        const q = (c === labels[i] ? 1 - eps : 0) + eps / C;
        d[row + c] = (Math.exp(logProbs[row + c]!) - q) * scaleI;
      }
    }
    return [dx];
  });
}
