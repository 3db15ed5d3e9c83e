import type { Device } from '../tensor/device.js';
import type { MemoryFormat } from '../tensor/format.js';

/**
 * The kernel interface every backend implements. Kernels see flat float32 buffers (`F`: a
 * Float32Array on the cpu backends, a device buffer on others; `I` likewise for int32 indices)
 * and plain geometry; they know nothing about tensors, autograd or models. Outputs are written
 * into caller-allocated buffers (fully overwritten unless a kernel says it accumulates).
 *
 * This is the one declaration of the kernels: each op family's geometry is a typed descriptor,
 * and every backend implements these methods as they are (the C++ addon's `kernels` take the same
 * arguments and read descriptors by field name; the WGSL kernels' parameter words are named after
 * the descriptors' fields).
 *
 * Layouts (row-major, contiguous):
 *   activations  `activationFormat`: NCHW [batch, channels, height, width] or NHWC [batch, height,
 *                width, channels]; geometry is always given in logical (N, C, H, W) terms
 *   conv weight  [outChannels, inChannels / groups, kernelH, kernelW]
 *   linear       x [rows, inFeatures], weight [outFeatures, inFeatures] (PyTorch's layout)
 */

export interface Conv2dGeometry {
  readonly batch: number;
  readonly inChannels: number;
  readonly inHeight: number;
  readonly inWidth: number;
  readonly outChannels: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly kernelH: number;
  readonly kernelW: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padH: number;
  readonly padW: number;
  readonly dilationH: number;
  readonly dilationW: number;
  /** inChannels and outChannels are both multiples of groups; each group has its own weights. */
  readonly groups: number;
}

/** Pooling planes: [batch, channels] planes of inHeight x inWidth pooled to outHeight x outWidth. */
export interface PoolPlanes {
  readonly batch: number;
  readonly channels: number;
  readonly inHeight: number;
  readonly inWidth: number;
  readonly outHeight: number;
  readonly outWidth: number;
}

/** Windowed pooling: windows of kernel, stride, padding and dilation. */
export interface Pool2dGeometry extends PoolPlanes {
  readonly kernelH: number;
  readonly kernelW: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padH: number;
  readonly padW: number;
  readonly dilationH: number;
  readonly dilationW: number;
}

/** Adaptive pooling: output cell (i, j) covers rows floor(i*H/oh) .. ceil((i+1)*H/oh)-1, likewise columns. */
export type AdaptivePool2dGeometry = PoolPlanes;

/** Per-channel statistics over batch × spatial (spatial = H*W) values, in the activation format. */
export interface ChannelGeometry {
  readonly batch: number;
  readonly channels: number;
  readonly spatial: number;
}

/** A linear layer's sizes: x [rows, inFeatures], weight [outFeatures, inFeatures], y [rows, outFeatures]. */
export interface LinearGeometry {
  readonly rows: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** A reduction axis: the middle axis of a contiguous [outer, dim, inner] buffer. */
export interface AxisGeometry {
  readonly outer: number;
  readonly dim: number;
  readonly inner: number;
}

/** Cross-entropy over log-probabilities [rows, classes]. */
export interface CrossEntropyGeometry {
  readonly rows: number;
  readonly classes: number;
  readonly labelSmoothing: number;
  readonly reduction: LossReduction;
}

/**
 * An elementwise tail fused into a kernel's output, as inference engines fuse them:
 * y = relu?(y + residual?). The residual has the output's shape and memory format.
 */
export interface Epilogue<F = Float32Array> {
  readonly residual?: F | null;
  readonly relu?: boolean;
}

/**
 * What a convolution's caller promises about its weight: `constant`, that the values never change
 * while the array lives (Module.freezeForInference), so the backend may keep a repacked copy.
 */
export interface WeightUse {
  readonly constant?: boolean;
}

export interface Backend<F = Float32Array, I = Int32Array> {
  readonly name: string;
  /** Where this backend's buffers live: host arrays for 'cpu' backends, device buffers otherwise. */
  readonly device: Device;
  /** The physical order of 4-D activations that the conv, norm and pool kernels read and write. */
  readonly activationFormat: MemoryFormat;
  /**
   * conv2d takes `y` being `epilogue.residual` itself, the result replacing the residual (which then
   * costs no separate output buffer or pass over it). Backends without it are never given that.
   */
  readonly conv2dIntoResidual?: boolean;

  // ---- convolution ----
  /** y[N,Cout,Ho,Wo] = epilogue(conv(x[N,Cin,H,W], weight) + bias[Cout]) (bias may be null). */
  conv2d(
    x: F,
    weight: F,
    bias: F | null,
    g: Conv2dGeometry,
    y: F,
    epilogue?: Epilogue<F>,
    weightUse?: WeightUse,
  ): void;
  /** dx[N,Cin,H,W] from dy[N,Cout,Ho,Wo] and weight. */
  conv2dBackwardInput(dy: F, weight: F, g: Conv2dGeometry, dx: F): void;
  /** dWeight[Cout,Cin/groups,kh,kw] and dBias[Cout] (when not null) from dy and x. */
  conv2dBackwardWeight(dy: F, x: F, g: Conv2dGeometry, dWeight: F, dBias: F | null): void;

  // ---- batch norm (per channel of NCHW) ----
  /**
   * Training mode: normalises with the batch mean and biased variance.
   * Writes y = epilogue(normalised x), and per channel: mean[C] and invStd[C] = 1/sqrt(var + eps),
   * and the biased var[C]. The normalisation is y = x·scale + shift with scale = gamma·invStd and
   * shift = beta − mean·scale, computed from the float32 mean and invStd (a fused ReLU's backward
   * recomputes the same values).
   */
  batchNormTrain(
    x: F,
    gamma: F | null,
    beta: F | null,
    g: ChannelGeometry,
    eps: number,
    y: F,
    mean: F,
    variance: F,
    invStd: F,
    epilogue?: Epilogue<F>,
  ): void;
  /** Eval mode: y = epilogue((x - runningMean) / sqrt(runningVar + eps) * gamma + beta). */
  batchNormEval(
    x: F,
    gamma: F | null,
    beta: F | null,
    runningMean: F,
    runningVar: F,
    g: ChannelGeometry,
    eps: number,
    y: F,
    epilogue?: Epilogue<F>,
  ): void;
  /**
   * Backward of batchNormTrain: dx, and dGamma[C], dBeta[C] when not null. `fusedRelu` (with the
   * forward's beta) when the forward fused a ReLU without a residual: dy counts only where that
   * output was positive, the mask recomputed from x exactly as the forward computed y.
   */
  batchNormBackward(
    dy: F,
    x: F,
    gamma: F | null,
    mean: F,
    invStd: F,
    g: ChannelGeometry,
    dx: F,
    dGamma: F | null,
    dBeta: F | null,
    fusedRelu?: { readonly beta: F | null },
  ): void;
  /**
   * Backward of batchNormEval (statistics are constants): dx = dy * gamma * invStd,
   * with invStd[C] = 1/sqrt(runningVar + eps); dGamma, dBeta when not null.
   */
  batchNormEvalBackward(
    dy: F,
    x: F,
    gamma: F | null,
    runningMean: F,
    invStd: F,
    g: ChannelGeometry,
    dx: F,
    dGamma: F | null,
    dBeta: F | null,
  ): void;

  // ---- elementwise ----
  relu(x: F, y: F): void;
  /** dx = dy where y > 0, else 0 (y is relu's output). */
  reluBackward(dy: F, y: F, dx: F): void;
  /** y = a + b, same length. */
  add(a: F, b: F, y: F): void;

  // ---- pooling ----
  /** Max over each window (padding never wins); argmax[i] is the winner's flat index h*W+w within its input plane. */
  maxPool2d(x: F, g: Pool2dGeometry, y: F, argmax: I): void;
  /** Adaptive max; argmax as for maxPool2d. */
  adaptiveMaxPool2d(x: F, g: AdaptivePool2dGeometry, y: F, argmax: I): void;
  /**
   * Scatter-add of dy (pooled shape) into dx (input shape, zeroed first) at the argmax positions:
   * the backward of both max pools.
   */
  maxPoolBackward(dy: F, argmax: I, g: PoolPlanes, dx: F): void;
  adaptiveAvgPool2d(x: F, g: AdaptivePool2dGeometry, y: F): void;
  adaptiveAvgPool2dBackward(dy: F, g: AdaptivePool2dGeometry, dx: F): void;

  // ---- linear ----
  /** y[rows,out] = x[rows,in] · weight[out,in]ᵀ + bias[out]. */
  linear(x: F, weight: F, bias: F | null, g: LinearGeometry, y: F): void;
  /** dx, dWeight, dBias (each when not null) from dy[rows,out]. */
  linearBackward(
    dy: F,
    x: F,
    weight: F,
    g: LinearGeometry,
    dx: F | null,
    dWeight: F | null,
    dBias: F | null,
  ): void;

  // ---- softmax and loss ----
  /** Softmax along the middle axis of [outer, dim, inner]. */
  softmax(x: F, g: AxisGeometry, y: F): void;
  /** dx = y * (dy - sum(dy * y)) along the middle axis. */
  softmaxBackward(dy: F, y: F, g: AxisGeometry, dx: F): void;
  /** Log-softmax along the middle axis of [outer, dim, inner]. */
  logSoftmax(x: F, g: AxisGeometry, y: F): void;
  /** dx = dy − exp(y)·Σ dy along the middle axis (y is logSoftmax's output). */
  logSoftmaxBackward(dy: F, y: F, g: AxisGeometry, dx: F): void;
  /**
   * Cross-entropy from log-probabilities [rows, classes] and labels [rows] (all in range):
   * loss_i = −(1 − ε)·logp_i[label_i] − (ε / classes)·Σ_c logp_i[c]; `loss` gets the per-row
   * losses [rows] ('none'), their sum or their mean [1]. Host backends accumulate in float64.
   */
  crossEntropy(logProbs: F, labels: I, g: CrossEntropyGeometry, loss: F): void;
  /** dx = (exp(logp) − target distribution) · (dLoss_i for 'none', dLoss/rows for 'mean', dLoss for 'sum'). */
  crossEntropyBackward(logProbs: F, labels: I, g: CrossEntropyGeometry, dLoss: F, dx: F): void;

  // ---- whole-buffer arithmetic ----
  /** y[0] = Σ x / divisor (host backends accumulate in float64). */
  sum(x: F, divisor: number, y: F): void;
  /** y[i] = s[0] / divisor for every i: the backward of sum and mean. */
  broadcastScalar(s: F, divisor: number, y: F): void;
  /** y[i] = x[i] · factor. */
  scale(x: F, factor: number, y: F): void;

  // ---- indices ----
  /**
   * A float32 buffer's memory as int32 indices of the same length (argmax of the max pools,
   * cross-entropy labels), filled with `values` when given: indices live in op-output storage, so
   * they are recycled with it.
   */
  indices(buffer: F, values?: Int32Array): I;

  // ---- batch-norm statistics ----
  /**
   * running = (1 − momentum)·running + momentum·batch per channel, the variance made unbiased
   * (× count / (count − 1)); host backends compute in float64 and round once.
   */
  updateRunningStats(
    runningMean: F,
    runningVar: F,
    mean: F,
    variance: F,
    count: number,
    momentum: number,
  ): void;
  /** invStd[c] = 1 / sqrt(variance[c] + eps). */
  invStd(variance: F, eps: number, invStd: F): void;
  /** A copy of `x` into y (same length). */
  copy(x: F, y: F): void;

  // ---- optimizer ----
  /**
   * One SGD update in place, PyTorch's single-tensor semantics with float32 intermediates:
   *   d = grad + weightDecay·param;  buf = first ? d : momentum·buf + (1 − dampening)·d  (when buf);
   *   d = nesterov ? d + momentum·buf : buf  (when buf);  param −= lr·d
   */
  sgdStep(param: F, grad: F, momentumBuffer: F | null, options: SgdStepOptions): void;
  adamStep(param: F, grad: F, expAvg: F, expAvgSq: F, options: AdamStepOptions): void;
}

/**
 * One Adam/AdamW update in place, PyTorch's single-tensor semantics with float32 intermediates:
 *   decoupled: param ·= 1 − lr·weightDecay;  else g += weightDecay·param;
 *   m += (1 − β1)(g − m);  v = β2·v + (1 − β2)·g²;
 *   param −= (lr / (1 − β1^step)) · m / (sqrt(v) / sqrt(1 − β2^step) + eps)
 */
export interface AdamStepOptions {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly decoupled: boolean;
  /** 1 on the first update. */
  readonly step: number;
}

/** The kernels of a backend (everything but its descriptive fields). */
export type KernelName = Exclude<keyof Backend, 'name' | 'device' | 'activationFormat'>;

export type LossReduction = 'mean' | 'sum' | 'none';

export interface SgdStepOptions {
  readonly lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  /** The buffer's first step: it is set to d rather than updated. */
  readonly first: boolean;
}
