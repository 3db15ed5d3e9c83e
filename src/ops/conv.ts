import { needsGrad, record } from '../autograd/node.js';
import { backendFor, type Conv2dGeometry, type WeightUse } from '../backend/index.js';
import { Tensor } from '../tensor/tensor.js';
import { formatShape } from '../tensor/shape.js';
import { composeTail } from './activation.js';
import { anyMeta, expectFloat, expectRank, pair, tailResidual, type IntPair } from './check.js';
import { toFormat } from './format.js';

export interface Conv2dOptions {
  stride?: IntPair;
  padding?: IntPair;
  dilation?: IntPair;
  /** Channels split into this many independent groups, each with its own weights. */
  groups?: number;
  /**
   * Fused tail, as inference engines fuse it: y = relu?(conv + bias + residual?) in one pass over
   * the output. Equal to composing add and relu by hand (which is what happens when gradients are needed).
   */
  residual?: Tensor | null;
  relu?: boolean;
  /**
   * The caller gives the residual up: the result may be written over its storage instead of a fresh
   * output (and returned on that storage), which saves a buffer and a pass over memory. Taken only
   * where the backend supports it and nothing needs the residual: no gradient is recorded and no
   * autograd node saved it. The residual must not be read again either way.
   */
  intoResidual?: boolean;
}

/**
 * Whether a residual given up by the caller can take the output (laid out as `output`, here the
 * input): a temporary of an op (not an array the user passed in, nor a constant), on the same device,
 * that no autograd node keeps for its backward.
 */
function overwritable(
  given: boolean | undefined,
  residual: Tensor | null,
  output: Tensor,
  backend: { readonly conv2dIntoResidual?: boolean },
): residual is Tensor {
  if (!given || !residual || !backend.conv2dIntoResidual) return false;
  if (residual.device !== output.device || residual.format !== output.format) return false;
  const s = residual.storage;
  return s.recyclable && !s.constant && !s.pinned && s.savedBy === 0;
}

/** Output size of a convolution or pooling window along one axis (floor mode). */
export function convOutputSize(
  size: number,
  kernel: number,
  stride: number,
  pad: number,
  dilation: number,
): number {
  return Math.floor((size + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
}

const CONSTANT_WEIGHT: WeightUse = { constant: true };

/**
 * 2-D convolution, as torch.nn.functional.conv2d.
 * x [N, Cin, H, W], weight [Cout, Cin/groups, kh, kw], bias [Cout] → [N, Cout, Ho, Wo].
 */
export function conv2d(
  input: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: Conv2dOptions = {},
): Tensor {
  const op = 'conv2d';
  const backend = backendFor(op, input, weight, bias);
  expectFloat(op, 'input', input);
  expectFloat(op, 'weight', weight);
  expectRank(op, 'input', input, 4, '[N, C, H, W]');
  const x = toFormat(input, backend.activationFormat);
  expectRank(op, 'weight', weight, 4, '[out_channels, in_channels/groups, kH, kW]');
  const [strideH, strideW] = pair(op, 'stride', options.stride ?? 1, 1);
  const [padH, padW] = pair(op, 'padding', options.padding ?? 0, 0);
  const [dilationH, dilationW] = pair(op, 'dilation', options.dilation ?? 1, 1);
  const groups = options.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1)
    throw new RangeError(`${op}: groups must be a positive integer, got ${groups}`);
  const [N, Cin, H, W] = x.shape as [number, number, number, number];
  const [Cout, cinPerGroup, kh, kw] = weight.shape as [number, number, number, number];
  if (Cout % groups !== 0) {
    throw new RangeError(`${op}: out_channels (${Cout}) must be divisible by groups (${groups})`);
  }
  if (Cin !== cinPerGroup * groups) {
    throw new RangeError(
      `${op}: given groups=${groups}, weight of size ${formatShape(weight.shape)} expects input ${formatShape(x.shape)} ` +
        `to have ${cinPerGroup * groups} channels, but got ${Cin} channels`,
    );
  }
  if (bias !== null) {
    expectFloat(op, 'bias', bias);
    if (bias.ndim !== 1 || bias.shape[0] !== Cout) {
      throw new RangeError(`${op}: bias must have shape [${Cout}], got ${formatShape(bias.shape)}`);
    }
  }
  const Ho = convOutputSize(H, kh, strideH, padH, dilationH);
  const Wo = convOutputSize(W, kw, strideW, padW, dilationW);
  if (Ho < 1 || Wo < 1) {
    throw new RangeError(
      `${op}: input ${formatShape(x.shape)} is too small for kernel ${kh}x${kw} with padding ${padH},${padW}, ` +
        `dilation ${dilationH},${dilationW}: output would be ${Ho}x${Wo}`,
    );
  }
  const outShape = [N, Cout, Ho, Wo];
  const relu = options.relu ?? false;
  const residual = tailResidual(op, options.residual, outShape, x.format, "output's");
  if (anyMeta(x, weight, bias, residual)) return Tensor.meta(outShape, 'float32', x.format);
  if ((relu || residual) && needsGrad(x, weight, bias, residual)) {
    return composeTail(conv2d(x, weight, bias, { ...options, residual: null, relu: false }), {
      residual,
      relu,
    });
  }

  const g: Conv2dGeometry = {
    batch: N,
    inChannels: Cin,
    inHeight: H,
    inWidth: W,
    outChannels: Cout,
    outHeight: Ho,
    outWidth: Wo,
    kernelH: kh,
    kernelW: kw,
    strideH,
    strideW,
    padH,
    padW,
    dilationH,
    dilationW,
    groups,
  };
  const y = overwritable(options.intoResidual, residual, x, backend)
    ? new Tensor(residual.storage, outShape, 'float32', { format: x.format })
    : Tensor.output(outShape, x.format, x.device);
  backend.conv2d(
    x.handle,
    weight.handle,
    bias ? bias.handle : null,
    g,
    y.handle,
    { residual: residual ? residual.handle : null, relu },
    weight.storage.constant ? CONSTANT_WEIGHT : undefined,
  );
  return record(
    op,
    y,
    [x, weight, bias],
    () => (dy) => {
      const dx = x.requiresGrad ? Tensor.output(x.shape, x.format, x.device) : null;
      if (dx) backend.conv2dBackwardInput(dy.handle, weight.handle, g, dx.handle);
      let dw: Tensor | null = null;
      let db: Tensor | null = null;
      if (weight.requiresGrad || bias?.requiresGrad) {
        dw = Tensor.output(weight.shape, 'nchw', x.device);
        db = bias ? Tensor.output(bias.shape, 'nchw', x.device) : null;
        backend.conv2dBackwardWeight(dy.handle, x.handle, g, dw.handle, db ? db.handle : null);
      }
      return [dx, weight.requiresGrad ? dw : null, db];
    },
    [x],
  );
}
