import type { MemoryFormat } from '../tensor/format.js';

/**
 * The kernel interface every backend implements. Kernels see flat float32 arrays and plain
 * geometry; they know nothing about tensors, autograd or models. Outputs are written into
 * caller-allocated arrays (fully overwritten unless a kernel says it accumulates).
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

/**
 * An elementwise tail fused into a kernel's output, as inference engines fuse them:
 * y = relu?(y + residual?). The residual has the output's shape and memory format.
 */
export interface Epilogue {
  readonly residual?: Float32Array | null;
  readonly relu?: boolean;
}

export interface Backend {
  readonly name: string;
  /** The physical order of 4-D activations that the conv, norm and pool kernels read and write. */
  readonly activationFormat: MemoryFormat;

  // ---- convolution ----
  /** y[N,Cout,Ho,Wo] = epilogue(conv(x[N,Cin,H,W], weight) + bias[Cout]) (bias may be null). */
  conv2d(
    x: Float32Array,
    weight: Float32Array,
    bias: Float32Array | null,
    g: Conv2dGeometry,
    y: Float32Array,
    epilogue?: Epilogue,
  ): void;
  /** dx[N,Cin,H,W] from dy[N,Cout,Ho,Wo] and weight. */
  conv2dBackwardInput(dy: Float32Array, weight: Float32Array, g: Conv2dGeometry, dx: Float32Array): void;
  /** dWeight[Cout,Cin/groups,kh,kw] and dBias[Cout] (when not null) from dy and x. */
  conv2dBackwardWeight(
    dy: Float32Array,
    x: Float32Array,
    g: Conv2dGeometry,
    dWeight: Float32Array,
    dBias: Float32Array | null,
  ): void;

  // ---- batch norm (per channel of NCHW) ----
  /**
   * Training mode: normalises with the batch mean and biased variance.
   * Writes y = epilogue(normalised x), and per channel: mean[C] and invStd[C] = 1/sqrt(var + eps),
   * and the biased var[C]. The normalisation is y = x·scale + shift with scale = gamma·invStd and
   * shift = beta − mean·scale, computed from the float32 mean and invStd (a fused ReLU's backward
   * recomputes the same values).
   */
  batchNormTrain(
    x: Float32Array,
    gamma: Float32Array | null,
    beta: Float32Array | null,
    g: ChannelGeometry,
    eps: number,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    invStd: Float32Array,
    epilogue?: Epilogue,
  ): void;
  /** Eval mode: y = epilogue((x - runningMean) / sqrt(runningVar + eps) * gamma + beta). */
  batchNormEval(
    x: Float32Array,
    gamma: Float32Array | null,
    beta: Float32Array | null,
    runningMean: Float32Array,
    runningVar: Float32Array,
    g: ChannelGeometry,
    eps: number,
    y: Float32Array,
    epilogue?: Epilogue,
  ): void;
  /**
   * Backward of batchNormTrain: dx, and dGamma[C], dBeta[C] when not null. `fusedRelu` (with the
   * forward's beta) when the forward fused a ReLU without a residual: dy counts only where that
   * output was positive, the mask recomputed from x exactly as the forward computed y.
   */
  batchNormBackward(
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array | null,
    mean: Float32Array,
    invStd: Float32Array,
    g: ChannelGeometry,
    dx: Float32Array,
    dGamma: Float32Array | null,
    dBeta: Float32Array | null,
    fusedRelu?: { readonly beta: Float32Array | null },
  ): void;
  /**
   * Backward of batchNormEval (statistics are constants): dx = dy * gamma * invStd,
   * with invStd[C] = 1/sqrt(runningVar + eps); dGamma, dBeta when not null.
   */
  batchNormEvalBackward(
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array | null,
    runningMean: Float32Array,
    invStd: Float32Array,
    g: ChannelGeometry,
    dx: Float32Array,
    dGamma: Float32Array | null,
    dBeta: Float32Array | null,
  ): void;

  // ---- elementwise ----
  relu(x: Float32Array, y: Float32Array): void;
  /** dx = dy where y > 0, else 0 (y is relu's output). */
  reluBackward(dy: Float32Array, y: Float32Array, dx: Float32Array): void;
  /** y = a + b, same length. */
  add(a: Float32Array, b: Float32Array, y: Float32Array): void;

  // ---- pooling ----
  /** Max over each window (padding never wins); argmax[i] is the winner's flat index h*W+w within its input plane. */
  maxPool2d(x: Float32Array, g: Pool2dGeometry, y: Float32Array, argmax: Int32Array): void;
  /** Adaptive max; argmax as for maxPool2d. */
  adaptiveMaxPool2d(x: Float32Array, g: AdaptivePool2dGeometry, y: Float32Array, argmax: Int32Array): void;
  /**
   * Scatter-add of dy (pooled shape) into dx (input shape, zeroed first) at the argmax positions:
   * the backward of both max pools.
   */
  maxPoolBackward(dy: Float32Array, argmax: Int32Array, g: PoolPlanes, dx: Float32Array): void;
  adaptiveAvgPool2d(x: Float32Array, g: AdaptivePool2dGeometry, y: Float32Array): void;
  adaptiveAvgPool2dBackward(dy: Float32Array, g: AdaptivePool2dGeometry, dx: Float32Array): void;

  // ---- linear ----
  /** y[rows,out] = x[rows,in] · weight[out,in]ᵀ + bias[out]. */
  linear(
    x: Float32Array,
    weight: Float32Array,
    bias: Float32Array | null,
    rows: number,
    inFeatures: number,
    outFeatures: number,
    y: Float32Array,
  ): void;
  /** dx (when not null), dWeight, dBias (when not null) from dy[rows,out]. */
  linearBackward(
    dy: Float32Array,
    x: Float32Array,
    weight: Float32Array,
    rows: number,
    inFeatures: number,
    outFeatures: number,
    dx: Float32Array | null,
    dWeight: Float32Array | null,
    dBias: Float32Array | null,
  ): void;

  // ---- softmax and loss ----
  /** Softmax along the middle axis of [outer, dim, inner]. */
  softmax(x: Float32Array, outer: number, dim: number, inner: number, y: Float32Array): void;
  /** dx = y * (dy - sum(dy * y)) along the middle axis. */
  softmaxBackward(
    dy: Float32Array,
    y: Float32Array,
    outer: number,
    dim: number,
    inner: number,
    dx: Float32Array,
  ): void;
  /** Log-softmax along the middle axis of [outer, dim, inner]. */
  logSoftmax(x: Float32Array, outer: number, dim: number, inner: number, y: Float32Array): void;

  // ---- optimizer ----
  /**
   * One SGD update in place, PyTorch's single-tensor semantics with float32 intermediates:
   *   d = grad + weightDecay·param;  buf = first ? d : momentum·buf + (1 − dampening)·d  (when buf);
   *   d = nesterov ? d + momentum·buf : buf  (when buf);  param −= lr·d
   */
  sgdStep(
    param: Float32Array,
    grad: Float32Array,
    momentumBuffer: Float32Array | null,
    options: SgdStepOptions,
  ): void;
}

export interface SgdStepOptions {
  readonly lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  /** The buffer's first step: it is set to d rather than updated. */
  readonly first: boolean;
}
