import { needsGrad, record } from '../autograd/node.js';
import { getBackend, type ChannelGeometry } from '../backend/index.js';
import { Tensor } from '../tensor/tensor.js';
import { formatShape, numel } from '../tensor/shape.js';
import { composeTail } from './activation.js';
import { anyMeta, expectFloat, tailResidual } from './check.js';
import { toFormat } from './format.js';

export interface BatchNormOptions {
  runningMean: Tensor | null;
  runningVar: Tensor | null;
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Train mode normalises with batch statistics and updates the running ones; eval mode uses the running ones. */
  training: boolean;
  /** Weight of the new batch in the running averages (PyTorch's momentum, 0.1 by default). */
  momentum?: number;
  eps?: number;
  /**
   * Fused tail, as inference engines fuse it: y = relu?(batch_norm(x) + residual?), one pass over
   * the activation instead of three. Equal to composing relu and add by hand.
   */
  residual?: Tensor | null;
  relu?: boolean;
  /**
   * Training only: statistics over the batches of every rank of a data-parallel run (SyncBatchNorm);
   * `sum` adds a vector over the ranks.
   */
  sync?: BatchNormSync | null;
}

export interface BatchNormSync {
  sum(values: Float64Array): Float64Array;
}

/**
 * Batch normalisation over the channel axis of [N, C, ...], as torch.nn.functional.batch_norm.
 * Training: normalises with the biased batch variance; updates runningMean and runningVar (with the
 * unbiased variance) in place: running = (1 - momentum) * running + momentum * batch.
 */
export function batchNorm(input: Tensor, options: BatchNormOptions): Tensor {
  const op = 'batch_norm';
  const backend = getBackend();
  // Kernels see 4-D activations in the backend's format, anything else as contiguous.
  const x = toFormat(input, input.ndim === 4 ? backend.activationFormat : 'nchw');
  expectFloat(op, 'input', x);
  if (x.ndim < 2) throw new RangeError(`${op}: input must be [N, C, ...], got shape ${formatShape(x.shape)}`);
  const { runningMean, runningVar, training, momentum = 0.1, eps = 1e-5 } = options;
  const weight = options.weight ?? null;
  const bias = options.bias ?? null;
  const relu = options.relu ?? false;
  const residual = tailResidual(op, options.residual, x.shape, x.format, "input's");
  const N = x.shape[0]!;
  const C = x.shape[1]!;
  const spatial = numel(x.shape.slice(2));
  for (const [name, t] of [
    ['weight', weight],
    ['bias', bias],
    ['running_mean', runningMean],
    ['running_var', runningVar],
  ] as const) {
    if (t !== null && (t.ndim !== 1 || t.shape[0] !== C)) {
      throw new RangeError(
        `${op}: ${name} must have shape [${C}] for input ${formatShape(x.shape)}, got ${formatShape(t.shape)}`,
      );
    }
  }
  if (!training && (runningMean === null || runningVar === null)) {
    throw new Error(`${op}: eval mode needs running_mean and running_var`);
  }
  if (training && N * spatial <= 1) {
    throw new RangeError(
      `${op}: expected more than 1 value per channel when training, got input size ${formatShape(x.shape)}`,
    );
  }
  if (anyMeta(x, weight, bias, residual)) return Tensor.meta(x.shape, 'float32', x.format);
  const g: ChannelGeometry = { batch: N, channels: C, spatial };
  const gamma = weight ? weight.data : null;
  const beta = bias ? bias.data : null;
  const epilogue = { residual: residual ? residual.data : null, relu };

  if (!training && (relu || residual) && needsGrad(x, weight, bias, residual)) {
    // Eval mode with gradients (rare: frozen statistics while fine-tuning): the plain composition.
    return composeTail(batchNorm(x, { ...options, residual: null, relu: false }), { residual, relu });
  }
  if (training && options.sync) {
    if (!gamma) throw new Error(`${op}: synchronised batch norm needs the affine weight and bias`);
    return syncBatchNormTrain(x, options, { g, gamma, beta, epilogue, residual, relu, eps, momentum });
  }
  const y = Tensor.output(x.shape, x.format);

  if (training) {
    const mean = new Float32Array(C);
    const variance = new Float32Array(C);
    const invStd = new Float32Array(C);
    backend.batchNormTrain(x.data, gamma, beta, g, eps, y.data, mean, variance, invStd, epilogue);
    updateRunningStats(runningMean, runningVar, mean, variance, N * spatial, momentum);
    // A fused ReLU alone: the backward recomputes its mask from x. With a residual the mask comes
    // from y, and the gradient of the sum is that of the residual too.
    const maskFromOutput = relu && residual !== null;
    return record(
      op,
      y,
      [x, weight, bias, residual],
      () => (dy) => {
        const dSum = maskFromOutput ? reluGrad(dy, y) : dy;
        const dx = Tensor.output(x.shape, x.format);
        const dGamma = weight ? Tensor.output(weight.shape) : null;
        const dBeta = bias ? Tensor.output(bias.shape) : null;
        backend.batchNormBackward(
          dSum.data,
          x.data,
          gamma,
          mean,
          invStd,
          g,
          dx.data,
          dGamma?.data ?? null,
          dBeta?.data ?? null,
          relu && !residual ? { beta } : undefined,
        );
        return [x.requiresGrad ? dx : null, dGamma, dBeta, residual?.requiresGrad ? dSum : null];
      },
      // The residual is read by nobody here; listed so that its storage is recycled once this ran.
      [x, ...(maskFromOutput ? [y] : []), ...(residual ? [residual] : [])],
    );
  }

  const rm = runningMean!.data;
  const rv = runningVar!.data;
  backend.batchNormEval(x.data, gamma, beta, rm, rv, g, eps, y.data, epilogue);
  if (!needsGrad(x, weight, bias)) return y;
  // Statistics are constants in eval mode; keep copies so later running-stat updates cannot change them.
  const meanCopy = rm.slice();
  const invStd = Float32Array.from(rv, (v) => 1 / Math.sqrt(v + eps));
  return record(
    op,
    y,
    [x, weight, bias],
    () => (dy) => {
      const dx = Tensor.output(x.shape, x.format);
      const dGamma = weight ? Tensor.output(weight.shape) : null;
      const dBeta = bias ? Tensor.output(bias.shape) : null;
      backend.batchNormEvalBackward(
        dy.data,
        x.data,
        gamma,
        meanCopy,
        invStd,
        g,
        dx.data,
        dGamma?.data ?? null,
        dBeta?.data ?? null,
      );
      return [x.requiresGrad ? dx : null, dGamma, dBeta];
    },
    [x],
  );
}

/** running = (1 − momentum)·running + momentum·batch, with the unbiased variance of `count` values. */
function updateRunningStats(
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  mean: Float32Array,
  variance: Float32Array,
  count: number,
  momentum: number,
): void {
  if (!runningMean || !runningVar) return;
  const rm = runningMean.data;
  const rv = runningVar.data;
  for (let c = 0; c < mean.length; c++) {
    rm[c] = (1 - momentum) * rm[c]! + momentum * mean[c]!;
    rv[c] = (1 - momentum) * rv[c]! + momentum * ((variance[c]! * count) / (count - 1));
  }
}

/** dy where the ReLU's output y is positive, else 0. */
function reluGrad(dy: Tensor, y: Tensor): Tensor {
  const out = Tensor.output(y.shape, y.format);
  getBackend().reluBackward(dy.data, y.data, out.data);
  return out;
}

/**
 * Training-mode batch norm with the statistics of the global batch (PyTorch's SyncBatchNorm). Each
 * rank's mean and biased variance (from the train kernel) are combined, weighted by count, into the
 * global ones, which normalise through the eval kernel (keeping the fused tail). Backward: the train
 * kernel's backward with the global statistics gives this rank's sums Σdy and Σdy·x̂ (dBeta, dGamma)
 * and a dx made with them; the sums are added over the ranks, and dx is corrected by the per-channel
 * affine function of x that the difference between local and global sums makes:
 *   dx = γ·invStd·(dy − ΣGdy/M − x̂·ΣGdy·x̂/M), M the global count.
 * dGamma and dBeta stay this rank's sums: the gradient averaging of data parallelism completes them.
 */
function syncBatchNormTrain(
  x: Tensor,
  options: BatchNormOptions,
  k: {
    g: ChannelGeometry;
    gamma: Float32Array;
    beta: Float32Array | null;
    epilogue: { residual: Float32Array | null; relu: boolean };
    residual: Tensor | null;
    relu: boolean;
    eps: number;
    momentum: number;
  },
): Tensor {
  const backend = getBackend();
  const { g, gamma, beta, eps, relu, residual } = k;
  const sync = options.sync!;
  const C = g.channels;
  const M = g.batch * g.spatial;
  const y = Tensor.output(x.shape, x.format);
  const localMean = new Float32Array(C);
  const localVar = new Float32Array(C);
  backend.batchNormTrain(x.data, gamma, beta, g, eps, y.data, localMean, localVar, new Float32Array(C));
  // [count, Σx, Σx²] per channel over the ranks, in float64.
  const moments = new Float64Array(1 + 2 * C);
  moments[0] = M;
  for (let c = 0; c < C; c++) {
    moments[1 + c] = M * localMean[c]!;
    moments[1 + C + c] = M * (localVar[c]! + localMean[c]! * localMean[c]!);
  }
  sync.sum(moments);
  const total = moments[0]!;
  const mean = new Float32Array(C);
  const variance = new Float32Array(C);
  const invStd = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const m = moments[1 + c]! / total;
    mean[c] = m;
    variance[c] = Math.max(0, moments[1 + C + c]! / total - m * m);
    invStd[c] = 1 / Math.sqrt(variance[c]! + eps);
  }
  backend.batchNormEval(x.data, gamma, beta, mean, variance, g, eps, y.data, k.epilogue);
  updateRunningStats(options.runningMean, options.runningVar, mean, variance, total, k.momentum);
  const weight = options.weight!;
  const bias = options.bias ?? null;
  return record(
    'sync_batch_norm',
    y,
    [x, weight, bias, residual],
    () => (dy) => {
      // A fused ReLU's mask from the output (y > 0 exactly where the sum before it was).
      const dSum = relu ? reluGrad(dy, y) : dy;
      const local = Tensor.output(x.shape, x.format);
      const dGamma = Tensor.output(weight.shape);
      const dBeta = Tensor.output([C]);
      backend.batchNormBackward(
        dSum.data,
        x.data,
        gamma,
        mean,
        invStd,
        g,
        local.data,
        dGamma.data,
        dBeta.data,
      );
      const sums = new Float64Array(2 * C);
      for (let c = 0; c < C; c++) {
        sums[c] = dGamma.data[c]!;
        sums[C + c] = dBeta.data[c]!;
      }
      sync.sum(sums);
      // dx = local + (x − mean)·a + b per channel: the eval kernel with variance 1 and eps 0.
      const a = new Float32Array(C);
      const b = new Float32Array(C);
      for (let c = 0; c < C; c++) {
        const s = gamma[c]! * invStd[c]!;
        a[c] = s * invStd[c]! * (dGamma.data[c]! / M - sums[c]! / total);
        b[c] = s * (dBeta.data[c]! / M - sums[C + c]! / total);
      }
      const dx = Tensor.output(x.shape, x.format);
      backend.batchNormEval(x.data, a, b, mean, new Float32Array(C).fill(1), g, 0, dx.data, {
        residual: local.data,
        relu: false,
      });
      return [x.requiresGrad ? dx : null, dGamma, bias ? dBeta : null, residual?.requiresGrad ? dSum : null];
    },
    [x, y, ...(residual ? [residual] : [])],
  );
}
