import { relu, relu_ } from '../../ops/activation.js';
import { pair, type IntPair } from '../../ops/check.js';
import { linear } from '../../ops/linear.js';
import { adaptiveAvgPool2d, adaptiveMaxPool2d, maxPool2d } from '../../ops/pool.js';
import { flatten } from '../../ops/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { defaultLayerInit_ } from '../init.js';
import { handOver, Module } from '../module.js';
import { Parameter, stateTensor } from '../parameter.js';

/** torch.nn.ReLU; with inplace = true it overwrites its input (as torchvision's ResNet does) and allocates nothing. */
export class ReLU extends Module {
  constructor(readonly inplace = false) {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.inplace ? relu_(x) : relu(x);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }
}

export class MaxPool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly ceilMode: boolean;

  constructor(
    kernelSize: IntPair,
    options: { stride?: IntPair; padding?: IntPair; dilation?: IntPair; ceilMode?: boolean } = {},
  ) {
    super();
    this.kernelSize = pair('MaxPool2d', 'kernel_size', kernelSize, 1);
    this.stride = pair('MaxPool2d', 'stride', options.stride ?? kernelSize, 1);
    this.padding = pair('MaxPool2d', 'padding', options.padding ?? 0, 0);
    this.dilation = pair('MaxPool2d', 'dilation', options.dilation ?? 1, 1);
    this.ceilMode = options.ceilMode ?? false;
  }

  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      ceilMode: this.ceilMode,
    });
  }
}

export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: [number, number];

  constructor(outputSize: IntPair) {
    super();
    this.outputSize = pair('AdaptiveAvgPool2d', 'output_size', outputSize, 1);
  }

  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }
}

export class AdaptiveMaxPool2d extends Module {
  readonly outputSize: [number, number];

  constructor(outputSize: IntPair) {
    super();
    this.outputSize = pair('AdaptiveMaxPool2d', 'output_size', outputSize, 1);
  }

  forward(x: Tensor): Tensor {
    return adaptiveMaxPool2d(x, this.outputSize);
  }
}

/** torch.nn.Linear: weight [out, in], bias [out]; PyTorch's default init. */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean } = {},
  ) {
    super();
    for (const [name, v] of [
      ['in_features', inFeatures],
      ['out_features', outFeatures],
    ] as const) {
      if (!Number.isInteger(v) || v < 1)
        throw new RangeError(`Linear: ${name} must be a positive integer, got ${v}`);
    }
    this.weight = this.registerParameter('weight', new Parameter(stateTensor([outFeatures, inFeatures])));
    this.bias = this.registerParameter(
      'bias',
      options.bias === false ? null : new Parameter(stateTensor([outFeatures])),
    );
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/** Runs children in order; they are named "0", "1", ... as in torch.nn.Sequential. */
export class Sequential extends Module {
  private readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.registerModule(String(i), m));
  }

  get length(): number {
    return this.layers.length;
  }

  at(index: number): Module {
    const m = this.layers[index < 0 ? index + this.layers.length : index];
    if (!m)
      throw new RangeError(`Sequential index ${index} is out of range for ${this.layers.length} layers`);
    return m;
  }

  forward(x: Tensor): Tensor {
    let y = x;
    this.layers.forEach((layer, i) => {
      const input = y;
      y = layer.call(y);
      // The next layer alone reads it, unless a hook saw it or it is (a view of) this layer's input
      // or the caller's (an Identity, a reshape).
      const own = y.storage !== input.storage && y.storage !== x.storage;
      if (i < this.layers.length - 1 && own && !layer.hasForwardHooks()) handOver(y);
    });
    return y;
  }
}
