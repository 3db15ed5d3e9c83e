/**
 * A torchsummary-style table: trace one forward pass with shape-only (meta) tensors, record each
 * module's output shape and weight+bias count through forward hooks, and print torchsummary's layout.
 * As torchsummary: Sequential containers and the model itself get no row, a module called k times
 * gets k rows, params are counted from `weight` and `bias` only, MB = bytes / 1024².
 */
import { noGrad } from './autograd/grad-mode.js';
import { Module } from './nn/module.js';
import { Sequential } from './nn/layers/basic.js';
import { Conv2d } from './nn/layers/conv.js';
import { Linear } from './nn/layers/basic.js';
import { Tensor } from './tensor/tensor.js';
import { formatShape, numel } from './tensor/shape.js';

export interface SummaryRow {
  /** `Conv2d-1`: type name and 1-based call order. */
  readonly layer: string;
  /** Output shape with the batch dimension as `batchSize` (-1 by default). */
  readonly outputShape: readonly number[];
  readonly params: number;
  readonly trainable: boolean;
}

export interface SummaryReport {
  readonly rows: readonly SummaryRow[];
  readonly totalParams: number;
  readonly trainableParams: number;
  readonly nonTrainableParams: number;
  readonly inputSizeMB: number;
  readonly forwardBackwardSizeMB: number;
  readonly paramsSizeMB: number;
  readonly totalSizeMB: number;
  /** Multiply-accumulates of one forward pass per image, from Conv2d and Linear layers. */
  readonly macsPerImage: number;
  readonly text: string;
}

const RULE = '-'.repeat(64);
const DOUBLE_RULE = '='.repeat(64);

function hasTensor(module: Module, key: 'weight' | 'bias'): Tensor | null {
  const value = (module as unknown as Record<string, unknown>)[key];
  return value instanceof Tensor ? value : null;
}

/** Traces `model` on an input of `inputSize` ([C, H, W]) and builds the table. The model is not run for real. */
export function summarize(
  model: Module,
  inputSize: readonly number[],
  options: { batchSize?: number } = {},
): SummaryReport {
  const batchSize = options.batchSize ?? -1;
  if (inputSize.length === 0 || !inputSize.every((d) => Number.isInteger(d) && d > 0)) {
    throw new RangeError(
      `summary: input size must be positive integers such as [3, 224, 224], got ${formatShape(inputSize)}`,
    );
  }
  const rows: SummaryRow[] = [];
  let macs = 0;
  const handles = model
    .namedModules()
    .filter(([, m]) => m !== model && !(m instanceof Sequential))
    .map(([, m]) =>
      m.registerForwardHook((module, _input, output) => {
        const weight = hasTensor(module, 'weight');
        const bias = hasTensor(module, 'bias');
        const params = (weight?.numel ?? 0) + (bias?.numel ?? 0);
        const perImage = numel(output.shape.slice(1));
        if (module instanceof Conv2d) {
          macs +=
            perImage * (module.inChannels / module.groups) * module.kernelSize[0] * module.kernelSize[1];
        } else if (module instanceof Linear) {
          macs += perImage * module.inFeatures;
        }
        rows.push({
          layer: `${module.typeName}-${rows.length + 1}`,
          outputShape: [batchSize, ...output.shape.slice(1)],
          params,
          trainable: weight?.requiresGrad ?? false,
        });
      }),
    );
  // Unfused, so that every module is called (and listed) as in torchvision.
  const fusion = model.fusion;
  model.setFusion(false);
  try {
    // torchsummary runs a batch of 2 so that BatchNorm works in train mode; meta tensors make it free.
    noGrad(() => model.call(Tensor.meta([2, ...inputSize])));
  } finally {
    for (const h of handles) h.remove();
    model.setFusion(fusion);
  }

  const totalParams = rows.reduce((n, r) => n + r.params, 0);
  const trainableParams = rows.reduce((n, r) => n + (r.trainable ? r.params : 0), 0);
  const totalOutput = rows.reduce((n, r) => n + numel(r.outputShape), 0);
  const MB = 1024 ** 2;
  const inputSizeMB = Math.abs((numel(inputSize) * batchSize * 4) / MB);
  const forwardBackwardSizeMB = Math.abs((2 * totalOutput * 4) / MB);
  const paramsSizeMB = Math.abs((totalParams * 4) / MB);
  const totalSizeMB = paramsSizeMB + forwardBackwardSizeMB + inputSizeMB;

  const count = (n: number): string => n.toLocaleString('en-US');
  const lines = [
    RULE,
    `${'Layer (type)'.padStart(20)}  ${'Output Shape'.padStart(25)} ${'Param #'.padStart(15)}`,
    DOUBLE_RULE,
    ...rows.map(
      (r) =>
        `${r.layer.padStart(20)}  ${`[${r.outputShape.join(', ')}]`.padStart(25)} ${count(r.params).padStart(15)}`,
    ),
    DOUBLE_RULE,
    `Total params: ${count(totalParams)}`,
    `Trainable params: ${count(trainableParams)}`,
    `Non-trainable params: ${count(totalParams - trainableParams)}`,
    RULE,
    `Input size (MB): ${inputSizeMB.toFixed(2)}`,
    `Forward/backward pass size (MB): ${forwardBackwardSizeMB.toFixed(2)}`,
    `Params size (MB): ${paramsSizeMB.toFixed(2)}`,
    `Estimated Total Size (MB): ${totalSizeMB.toFixed(2)}`,
    RULE,
  ];
  return {
    rows,
    totalParams,
    trainableParams,
    nonTrainableParams: totalParams - trainableParams,
    inputSizeMB,
    forwardBackwardSizeMB,
    paramsSizeMB,
    totalSizeMB,
    macsPerImage: macs,
    text: lines.join('\n'),
  };
}

/** Prints the torchsummary table to stdout (or `log`) and returns the report. */
export function summary(
  model: Module,
  inputSize: readonly number[],
  options: { batchSize?: number; log?: (text: string) => void } = {},
): SummaryReport {
  const report = summarize(model, inputSize, options);
  (options.log ?? console.log)(report.text);
  return report;
}
