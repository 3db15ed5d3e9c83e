import { batchNorm, type BatchNormSync } from '../../ops/norm.js';
import type { Tensor } from '../../tensor/tensor.js';
import { formatShape } from '../../tensor/shape.js';
import { Module } from '../module.js';
import { counterTensor, Parameter, stateTensor } from '../parameter.js';

export interface BatchNorm2dConfig {
  eps?: number;
  /** null: cumulative average over all batches seen. */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

/**
 * torch.nn.BatchNorm2d: weight (1) and bias (0) [C]; buffers running_mean (0), running_var (1) [C]
 * and num_batches_tracked (int64 scalar), counting forward passes in train mode.
 */
export class BatchNorm2d extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  /** As in PyTorch, may be changed; null averages over all batches (torch.optim.swa_utils.update_bn sets it so). */
  momentum: number | null;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly numBatchesTracked: Tensor<'int64'> | null;
  /** Set by data-parallel training with --sync-bn: training statistics over every rank's batch. */
  sync: BatchNormSync | null = null;

  constructor(numFeatures: number, config: BatchNorm2dConfig = {}) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) {
      throw new RangeError(`BatchNorm2d: num_features must be a positive integer, got ${numFeatures}`);
    }
    this.numFeatures = numFeatures;
    this.eps = config.eps ?? 1e-5;
    this.momentum = config.momentum === undefined ? 0.1 : config.momentum;
    const affine = config.affine ?? true;
    const track = config.trackRunningStats ?? true;
    this.weight = this.registerParameter(
      'weight',
      affine ? new Parameter(stateTensor([numFeatures], 1)) : null,
    );
    this.bias = this.registerParameter('bias', affine ? new Parameter(stateTensor([numFeatures])) : null);
    this.runningMean = this.registerBuffer('running_mean', track ? stateTensor([numFeatures]) : null);
    this.runningVar = this.registerBuffer('running_var', track ? stateTensor([numFeatures], 1) : null);
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', track ? counterTensor() : null);
  }

  forward(x: Tensor): Tensor {
    return this.forwardFused(x);
  }

  /**
   * relu?(this(x) + residual?) in one pass over the activation: what a block's "bn, (+= identity),
   * relu" computes. Forward hooks are not run: callers fuse only modules without hooks.
   */
  forwardFused(x: Tensor, tail: { residual?: Tensor | null; relu?: boolean } = {}): Tensor {
    if (x.ndim !== 4)
      throw new RangeError(`BatchNorm2d: expected 4D input [N, C, H, W], got shape ${formatShape(x.shape)}`);
    if (x.shape[1] !== this.numFeatures) {
      throw new RangeError(
        `BatchNorm2d: expected ${this.numFeatures} channels, got input ${formatShape(x.shape)}`,
      );
    }
    let factor = this.momentum ?? 0;
    const useBatchStats = this.training || this.runningMean === null;
    if (this.training && this.numBatchesTracked && !x.isMeta) {
      const count = this.numBatchesTracked.dataSync();
      count[0] = count[0]! + 1n;
      if (this.momentum === null) factor = 1 / Number(count[0]);
    }
    return batchNorm(x, {
      runningMean: this.runningMean,
      runningVar: this.runningVar,
      weight: this.weight,
      bias: this.bias,
      training: useBatchStats,
      momentum: factor,
      eps: this.eps,
      residual: tail.residual ?? null,
      relu: tail.relu ?? false,
      sync: this.training ? this.sync : null,
    });
  }
}
