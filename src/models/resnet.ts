/**
 * One ResNet builder with torchvision's Bottleneck (stride in the 3x3 conv, "ResNet v1.5").
 * ResNeXt is this network with grouped 3x3 convs: width = floor(planes · widthPerGroup / 64) · groups.
 * Attribute names follow torchvision, so state_dict keys are torchvision's
 * (`conv1.weight`, `layer1.0.conv2.weight`, `layer1.0.downsample.1.running_var`, `fc.bias`).
 */
import { isHandedOver, Module } from '../nn/module.js';
import { Conv2d } from '../nn/layers/conv.js';
import { BatchNorm2d } from '../nn/layers/batchnorm.js';
import {
  AdaptiveAvgPool2d,
  AdaptiveMaxPool2d,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
} from '../nn/layers/basic.js';
import { constant_, kaimingNormal_ } from '../nn/init.js';
import { add_ } from '../ops/elementwise.js';
import { flatten } from '../ops/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { formatShape } from '../tensor/shape.js';

export type GlobalPooling = 'avg' | 'max' | null;

export interface ResNetConfig {
  /** Bottleneck blocks per stage, e.g. [3, 4, 6, 3]. */
  layers: readonly number[];
  /** Planes per stage (block output = 4 × planes). Default [64, 128, 256, 512]. */
  planes?: readonly number[];
  /** Channels of the 7x7 stem conv. Default 64. */
  stemWidth?: number;
  /** Groups of the 3x3 convs (the ResNeXt cardinality). Default 1. */
  groups?: number;
  /** Channels per group at planes = 64. Default 64 (plain ResNet). */
  widthPerGroup?: number;
  /** Input image channels. Default 3. */
  inChannels?: number;
  /** Size of the fc layer. Default 1000. */
  numClasses?: number;
  /** Whether to end with the fc classifier. Default true. */
  includeTop?: boolean;
  /** Global pooling before the classifier (or as the output without it); null keeps the feature map. Default 'avg'. */
  pooling?: GlobalPooling;
  /** Stem conv with a bias (the tutorial's variant). Default false. */
  stemBias?: boolean;
  /** BatchNorm after the 1x1 projection shortcut. Default true; the tutorial's variant has none. */
  shortcutNorm?: boolean;
  /**
   * The tutorial's (Keras's) preact option: a stem conv without BN and ReLU, and a BN (`norm`) and
   * ReLU after the last stage instead. Default false.
   */
  preact?: boolean;
  /** Zero the last BN of each block, as torchvision's zero_init_residual. Default false. */
  zeroInitResidual?: boolean;
  /**
   * An inference copy with every BatchNorm folded into the conv before it: those convs get a bias and
   * forward() skips the (unused) BN modules. Built by foldBatchNorm(), not by hand.
   */
  foldedNorm?: boolean;
}

/** torchvision's Bottleneck: 1x1 reduce, 3x3 grouped (carries the stride), 1x1 expand, residual add, ReLU. */
export class Bottleneck extends Module {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  /** BN folded into the convs (see ResNetConfig.foldedNorm). */
  private readonly folded: boolean;
  /** One in-place ReLU module used three times, as torchvision's (torchsummary lists it thrice). */
  readonly relu: ReLU;
  readonly downsample: Sequential | null;

  constructor(
    inplanes: number,
    planes: number,
    options: {
      stride: number;
      groups: number;
      widthPerGroup: number;
      downsample: Sequential | null;
      folded?: boolean;
    },
  ) {
    super();
    const width = Math.floor((planes * options.widthPerGroup) / 64) * options.groups;
    if (width < options.groups) {
      throw new RangeError(
        `Bottleneck: planes ${planes} with widthPerGroup ${options.widthPerGroup} gives fewer channels (${width}) than groups (${options.groups})`,
      );
    }
    const outplanes = planes * Bottleneck.expansion;
    const folded = options.folded ?? false;
    this.folded = folded;
    this.conv1 = this.registerModule('conv1', new Conv2d(inplanes, width, 1, { bias: folded }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width));
    this.conv2 = this.registerModule(
      'conv2',
      new Conv2d(width, width, 3, {
        stride: options.stride,
        padding: 1,
        groups: options.groups,
        bias: folded,
      }),
    );
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(width));
    this.conv3 = this.registerModule('conv3', new Conv2d(width, outplanes, 1, { bias: folded }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(outplanes));
    this.relu = this.registerModule('relu', new ReLU(true));
    this.downsample = options.downsample ? this.registerModule('downsample', options.downsample) : null;
  }

  forward(x: Tensor): Tensor {
    const identity = (): Tensor => (this.downsample ? this.downsample.call(x) : x);
    if (this.fusion) {
      // The same computation with "bn, relu" and "bn, += identity, relu" (or, folded, the conv's
      // bias, identity and relu) each done in one pass over the activation.
      if (this.folded) {
        let out = this.conv1.forwardFused(x, { relu: true });
        out = this.conv2.forwardFused(out, { relu: true });
        // The sum may go into the identity's buffer where nothing else will read it: the
        // downsample's own output, or an input the container handed over (and no hook here sees).
        const residual = identity();
        const owned = residual.storage !== x.storage || isHandedOver(x);
        const intoResidual = owned && !this.hasForwardHooks();
        return this.conv3.forwardFused(out, { residual, relu: true, intoResidual });
      }
      let out = this.bn1.forwardFused(this.conv1.call(x), { relu: true });
      out = this.bn2.forwardFused(this.conv2.call(out), { relu: true });
      return this.bn3.forwardFused(this.conv3.call(out), { residual: identity(), relu: true });
    }
    const bn = (norm: BatchNorm2d, t: Tensor): Tensor => (this.folded ? t : norm.call(t));
    let out = this.relu.call(bn(this.bn1, this.conv1.call(x)));
    out = this.relu.call(bn(this.bn2, this.conv2.call(out)));
    out = bn(this.bn3, this.conv3.call(out));
    // In place, as torchvision's `out += identity`: bn3's output is saved by nobody.
    return this.relu.call(add_(out, identity()));
  }
}

export class ResNet extends Module {
  /** The configuration this network was built from. */
  readonly config: ResNetConfig;
  readonly conv1: Conv2d;
  /** The stem's BN; null with preact. */
  readonly bn1: BatchNorm2d | null;
  readonly relu: ReLU;
  readonly maxpool: MaxPool2d;
  readonly stages: Sequential[];
  /** The BN after the last stage with preact, else null. */
  readonly norm: BatchNorm2d | null;
  readonly pool: Module | null;
  readonly fc: Linear | null;
  readonly inChannels: number;
  readonly numClasses: number | null;
  /** Channels of the last stage's output (2048 for the standard widths). */
  readonly numFeatures: number;

  constructor(config: ResNetConfig) {
    super();
    this.config = { ...config };
    const folded = config.foldedNorm ?? false;
    const planes = config.planes ?? [64, 128, 256, 512];
    const stemWidth = config.stemWidth ?? 64;
    const groups = config.groups ?? 1;
    const widthPerGroup = config.widthPerGroup ?? 64;
    const inChannels = config.inChannels ?? 3;
    const includeTop = config.includeTop ?? true;
    const pooling = config.pooling === undefined ? 'avg' : config.pooling;
    const shortcutNorm = config.shortcutNorm ?? true;
    if (config.layers.length === 0 || config.layers.length !== planes.length) {
      throw new RangeError(
        `ResNet: layers ${formatShape(config.layers)} and planes ${formatShape(planes)} must be non-empty and of equal length`,
      );
    }
    for (const [name, values] of [
      ['layers', config.layers],
      ['planes', planes],
      ['stemWidth', [stemWidth]],
      ['groups', [groups]],
      ['widthPerGroup', [widthPerGroup]],
      ['inChannels', [inChannels]],
    ] as const) {
      if (!values.every((v) => Number.isInteger(v) && v >= 1)) {
        throw new RangeError(`ResNet: ${name} must be positive integers, got ${JSON.stringify(values)}`);
      }
    }
    if (includeTop && pooling === null)
      throw new RangeError('ResNet: includeTop needs a global pooling (avg or max)');
    const numClasses = config.numClasses ?? 1000;
    if (includeTop && (!Number.isInteger(numClasses) || numClasses < 1)) {
      throw new RangeError(`ResNet: numClasses must be a positive integer, got ${numClasses}`);
    }

    this.inChannels = inChannels;
    this.conv1 = this.registerModule(
      'conv1',
      new Conv2d(inChannels, stemWidth, 7, {
        stride: 2,
        padding: 3,
        bias: (config.stemBias ?? false) || folded,
      }),
    );
    const preact = config.preact ?? false;
    this.bn1 = preact ? null : this.registerModule('bn1', new BatchNorm2d(stemWidth));
    this.relu = this.registerModule('relu', new ReLU(true));
    this.maxpool = this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));

    let inplanes = stemWidth;
    this.stages = config.layers.map((blocks, s) => {
      const p = planes[s]!;
      const stride = s === 0 ? 1 : 2;
      const outplanes = p * Bottleneck.expansion;
      let downsample: Sequential | null = null;
      if (stride !== 1 || inplanes !== outplanes) {
        const projection = new Conv2d(inplanes, outplanes, 1, { stride, bias: folded && shortcutNorm });
        downsample =
          shortcutNorm && !folded
            ? new Sequential(projection, new BatchNorm2d(outplanes))
            : new Sequential(projection);
      }
      const stage: Module[] = [
        new Bottleneck(inplanes, p, { stride, groups, widthPerGroup, downsample, folded }),
      ];
      inplanes = outplanes;
      for (let b = 1; b < blocks; b++) {
        stage.push(
          new Bottleneck(inplanes, p, { stride: 1, groups, widthPerGroup, downsample: null, folded }),
        );
      }
      return this.registerModule(`layer${s + 1}`, new Sequential(...stage));
    });
    this.numFeatures = inplanes;
    this.norm = preact ? this.registerModule('norm', new BatchNorm2d(inplanes)) : null;

    this.pool =
      pooling === 'avg'
        ? this.registerModule('avgpool', new AdaptiveAvgPool2d(1))
        : pooling === 'max'
          ? this.registerModule('maxpool_global', new AdaptiveMaxPool2d(1))
          : null;
    this.fc = includeTop ? this.registerModule('fc', new Linear(inplanes, numClasses)) : null;
    this.numClasses = includeTop ? numClasses : null;

    // torchvision's initialisation; Linear keeps PyTorch's default.
    this.apply((m) => {
      if (m instanceof Conv2d) kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
      else if (m instanceof BatchNorm2d) {
        if (m.weight) constant_(m.weight, 1);
        if (m.bias) constant_(m.bias, 0);
      }
    });
    if (config.zeroInitResidual) {
      for (const stage of this.stages) {
        for (const [, block] of stage.namedChildren()) {
          if (block instanceof Bottleneck && block.bn3 instanceof BatchNorm2d && block.bn3.weight)
            constant_(block.bn3.weight, 0);
        }
      }
    }
  }

  /** x [N, inChannels, H, W] → logits [N, classes], pooled features [N, C], or the feature map [N, C, h, w]. */
  forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.inChannels) {
      throw new RangeError(
        `ResNet: expected input [N, ${this.inChannels}, H, W], got shape ${formatShape(x.shape)}`,
      );
    }
    const folded = this.config.foldedNorm ?? false;
    let y: Tensor;
    if (this.bn1 === null) {
      y = this.conv1.call(x);
    } else if (this.fusion) {
      y = folded
        ? this.conv1.forwardFused(x, { relu: true })
        : this.bn1.forwardFused(this.conv1.call(x), { relu: true });
    } else {
      const stem = this.conv1.call(x);
      y = this.relu.call(folded ? stem : this.bn1.call(stem));
    }
    y = this.maxpool.call(y);
    for (const stage of this.stages) y = stage.call(y);
    if (this.norm !== null) {
      y = this.fusion ? this.norm.forwardFused(y, { relu: true }) : this.relu.call(this.norm.call(y));
    }
    if (this.pool === null) return y;
    y = flatten(this.pool.call(y), 1);
    return this.fc ? this.fc.call(y) : y;
  }

  /** Swaps the classifier for a freshly initialised one with `numClasses` outputs (for fine-tuning). */
  replaceHead(numClasses: number): Linear {
    if (this.fc === null) throw new Error('ResNet: this model has no classifier head (includeTop was false)');
    const fc = new Linear(this.numFeatures, numClasses);
    this.replaceModule('fc', fc);
    (this as { fc: Linear | null }).fc = fc;
    (this as { numClasses: number | null }).numClasses = numClasses;
    return fc;
  }
}
