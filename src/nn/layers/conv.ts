import { conv2d } from '../../ops/conv.js';
import { pair, type IntPair } from '../../ops/check.js';
import type { Tensor } from '../../tensor/tensor.js';
import { defaultLayerInit_ } from '../init.js';
import { Module } from '../module.js';
import { Parameter, stateTensor } from '../parameter.js';

export interface Conv2dConfig {
  stride?: IntPair;
  padding?: IntPair;
  dilation?: IntPair;
  groups?: number;
  bias?: boolean;
}

/** torch.nn.Conv2d: weight [out, in/groups, kh, kw], optional bias [out]; PyTorch's default init. */
export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(inChannels: number, outChannels: number, kernelSize: IntPair, config: Conv2dConfig = {}) {
    super();
    const op = 'Conv2d';
    const groups = config.groups ?? 1;
    for (const [name, v] of [
      ['in_channels', inChannels],
      ['out_channels', outChannels],
      ['groups', groups],
    ] as const) {
      if (!Number.isInteger(v) || v < 1)
        throw new RangeError(`${op}: ${name} must be a positive integer, got ${v}`);
    }
    if (inChannels % groups !== 0)
      throw new RangeError(`${op}: in_channels (${inChannels}) must be divisible by groups (${groups})`);
    if (outChannels % groups !== 0)
      throw new RangeError(`${op}: out_channels (${outChannels}) must be divisible by groups (${groups})`);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = pair(op, 'kernel_size', kernelSize, 1);
    this.stride = pair(op, 'stride', config.stride ?? 1, 1);
    this.padding = pair(op, 'padding', config.padding ?? 0, 0);
    this.dilation = pair(op, 'dilation', config.dilation ?? 1, 1);
    this.groups = groups;
    this.weight = this.registerParameter(
      'weight',
      new Parameter(stateTensor([outChannels, inChannels / groups, ...this.kernelSize])),
    );
    this.bias = this.registerParameter(
      'bias',
      config.bias === false ? null : new Parameter(stateTensor([outChannels])),
    );
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return this.forwardFused(x);
  }

  /**
   * relu?(this(x) + residual?) with the tail fused into the convolution's output pass (inference
   * engines' conv + add + ReLU). Forward hooks are not run: callers fuse only modules without hooks.
   */
  forwardFused(
    x: Tensor,
    tail: { residual?: Tensor | null; relu?: boolean; intoResidual?: boolean } = {},
  ): Tensor {
    return conv2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
      residual: tail.residual ?? null,
      relu: tail.relu ?? false,
      intoResidual: tail.intoResidual ?? false,
    });
  }
}
