import { record } from '../autograd/node.js';
import { backendFor } from '../backend/index.js';
import { Tensor } from '../tensor/tensor.js';
import { formatShape } from '../tensor/shape.js';
import { anyMeta, expectFloat, expectRank } from './check.js';

/** y = x · weightᵀ + bias, as torch.nn.functional.linear. x [N, in], weight [out, in], bias [out] → [N, out]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const op = 'linear';
  expectFloat(op, 'input', x);
  expectFloat(op, 'weight', weight);
  expectRank(op, 'input', x, 2, '[N, in_features]');
  expectRank(op, 'weight', weight, 2, '[out_features, in_features]');
  const [rows, inFeatures] = x.shape as [number, number];
  const [outFeatures, weightIn] = weight.shape as [number, number];
  if (inFeatures !== weightIn) {
    throw new RangeError(
      `${op}: input ${formatShape(x.shape)} has ${inFeatures} features but weight ${formatShape(weight.shape)} expects ${weightIn}`,
    );
  }
  if (bias !== null) {
    expectFloat(op, 'bias', bias);
    if (bias.ndim !== 1 || bias.shape[0] !== outFeatures) {
      throw new RangeError(`${op}: bias must have shape [${outFeatures}], got ${formatShape(bias.shape)}`);
    }
  }
  const outShape = [rows, outFeatures];
  if (anyMeta(x, weight, bias)) return Tensor.meta(outShape);
  const backend = backendFor('linear', x, weight, bias);
  const y = Tensor.output(outShape, 'nchw', x.device);
  const g = { rows, inFeatures, outFeatures };
  backend.linear(x.handle, weight.handle, bias ? bias.handle : null, g, y.handle);
  return record(
    op,
    y,
    [x, weight, bias],
    () => (dy) => {
      const dx = x.requiresGrad ? Tensor.output(x.shape, 'nchw', x.device) : null;
      const dw = weight.requiresGrad ? Tensor.output(weight.shape, 'nchw', x.device) : null;
      const db = bias?.requiresGrad ? Tensor.output(bias.shape, 'nchw', x.device) : null;
      backend.linearBackward(
        dy.handle,
        x.handle,
        weight.handle,
        g,
        dx?.handle ?? null,
        dw?.handle ?? null,
        db?.handle ?? null,
      );
      return [dx, dw, db];
    },
    [x],
  );
}
