/**
 * ONNX export of the ResNet family: a standard graph (opset 17, IR version 8) of the network as its
 * forward() computes it in eval mode, NCHW float32, with a dynamic batch dimension:
 *   input [batch, C, H, W] → Conv, BatchNormalization (or folded into the convs), Relu, Add, MaxPool,
 *   GlobalAveragePool / GlobalMaxPool, Flatten, Gemm → logits [batch, classes]
 *   (pooled features [batch, C] without the classifier, the feature map [batch, C, h, w] without pooling).
 * Weights are initializers named by their state_dict keys. Encoded with onnx-proto (protobufjs code
 * generated from the official onnx.proto).
 */
import onnxProto from 'onnx-proto';
import { foldBatchNorm } from '../models/fold.js';
import { Bottleneck, type ResNet } from '../models/resnet.js';
import { BatchNorm2d } from '../nn/layers/batchnorm.js';
import type { Conv2d } from '../nn/layers/conv.js';
import { AdaptiveMaxPool2d, type Sequential } from '../nn/layers/basic.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';

const { onnx } = onnxProto;

export const ONNX_OPSET = 17;
const IR_VERSION = 8;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

export interface OnnxExportOptions {
  /** [C, H, W] of the input; H and W are written into the graph's input shape. Default [C, 224, 224]. */
  inputShape?: readonly [number, number, number];
  /** Fold every batch norm into the conv before it (fewer nodes, the same outputs to rounding). */
  foldBatchNorm?: boolean;
  /** Key-value pairs stored as the model's metadata_props (class names, normalisation, ...). */
  metadata?: Readonly<Record<string, string>>;
  /** The graph's name. Default "resnet". */
  name?: string;
}

/** Collects nodes and initializers; names values uniquely. */
class GraphBuilder {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private counter = 0;

  /** A float32 tensor as an initializer named `name`; returns the name. */
  weight(name: string, tensor: Tensor): string {
    const data = (tensor.format === 'nchw' ? tensor : tensor.toFormat('nchw')).dataSync() as Float32Array;
    this.initializers.push({
      name,
      dataType: FLOAT,
      dims: [...tensor.shape],
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return name;
  }

  /** A node of `opType` on `inputs`; returns its one output's name. */
  node(
    opType: string,
    inputs: string[],
    attributes: onnxProto.onnx.IAttributeProto[] = [],
    name = '',
  ): string {
    const output = `${name || opType.toLowerCase()}_${this.counter++}`;
    this.nodes.push({ opType, input: inputs, output: [output], name: output, attribute: attributes });
    return output;
  }
}

const ints = (name: string, values: readonly number[]): onnxProto.onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.INTS,
  ints: [...values],
});
const int = (name: string, value: number): onnxProto.onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.INT,
  i: value,
});
const float = (name: string, value: number): onnxProto.onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.FLOAT,
  f: value,
});

function conv(g: GraphBuilder, x: string, c: Conv2d, key: string): string {
  const inputs = [x, g.weight(`${key}.weight`, c.weight)];
  if (c.bias) inputs.push(g.weight(`${key}.bias`, c.bias));
  const [ph, pw] = c.padding;
  return g.node(
    'Conv',
    inputs,
    [
      ints('kernel_shape', c.kernelSize),
      ints('strides', c.stride),
      ints('pads', [ph, pw, ph, pw]),
      ints('dilations', c.dilation),
      int('group', c.groups),
    ],
    key,
  );
}

function batchNorm(g: GraphBuilder, x: string, bn: BatchNorm2d, key: string): string {
  if (!bn.runningMean || !bn.runningVar)
    throw new Error(`ONNX export: ${key} has no running statistics (trackRunningStats false)`);
  const filled = (value: number): Tensor => {
    const t = bn.runningMean!.clone();
    t.dataSync().fill(value);
    return t;
  };
  return g.node(
    'BatchNormalization',
    [
      x,
      g.weight(`${key}.weight`, bn.weight ?? filled(1)),
      g.weight(`${key}.bias`, bn.bias ?? filled(0)),
      g.weight(`${key}.running_mean`, bn.runningMean),
      g.weight(`${key}.running_var`, bn.runningVar),
    ],
    [float('epsilon', bn.eps)],
    key,
  );
}

/** conv, then its batch norm unless the network is folded. */
function convNorm(
  g: GraphBuilder,
  x: string,
  c: Conv2d,
  bn: BatchNorm2d | null,
  folded: boolean,
  key: string,
  bnKey: string,
): string {
  const y = conv(g, x, c, key);
  return bn && !folded ? batchNorm(g, y, bn, bnKey) : y;
}

function bottleneck(g: GraphBuilder, x: string, b: Bottleneck, folded: boolean, key: string): string {
  let y = g.node('Relu', [convNorm(g, x, b.conv1, b.bn1, folded, `${key}.conv1`, `${key}.bn1`)]);
  y = g.node('Relu', [convNorm(g, y, b.conv2, b.bn2, folded, `${key}.conv2`, `${key}.bn2`)]);
  y = convNorm(g, y, b.conv3, b.bn3, folded, `${key}.conv3`, `${key}.bn3`);
  let identity = x;
  if (b.downsample) {
    const [projection, norm] = children(b.downsample);
    identity = conv(g, x, projection as Conv2d, `${key}.downsample.0`);
    if (norm instanceof BatchNorm2d && !folded)
      identity = batchNorm(g, identity, norm, `${key}.downsample.1`);
  }
  return g.node('Relu', [g.node('Add', [y, identity])], [], `${key}.add`);
}

function children(s: Sequential): Module[] {
  return s.namedChildren().map(([, m]) => m);
}

/** The graph of `model` as forward() runs it in eval mode; returns the output's name. */
function buildGraph(g: GraphBuilder, model: ResNet, input: string): string {
  const folded = model.config.foldedNorm ?? false;
  let y = conv(g, input, model.conv1, 'conv1');
  if (model.bn1 !== null) {
    if (!folded) y = batchNorm(g, y, model.bn1, 'bn1');
    y = g.node('Relu', [y]);
  }
  const mp = model.maxpool;
  const [ph, pw] = mp.padding;
  y = g.node(
    'MaxPool',
    [y],
    [
      ints('kernel_shape', mp.kernelSize),
      ints('strides', mp.stride),
      ints('pads', [ph, pw, ph, pw]),
      ints('dilations', mp.dilation),
      int('ceil_mode', mp.ceilMode ? 1 : 0),
    ],
    'maxpool',
  );
  model.stages.forEach((stage, s) => {
    children(stage).forEach((block, b) => {
      y = bottleneck(g, y, block as Bottleneck, folded, `layer${s + 1}.${b}`);
    });
  });
  if (model.norm !== null) y = g.node('Relu', [batchNorm(g, y, model.norm, 'norm')]);
  if (model.pool === null) return y;
  y = g.node(model.pool instanceof AdaptiveMaxPool2d ? 'GlobalMaxPool' : 'GlobalAveragePool', [y]);
  y = g.node('Flatten', [y], [int('axis', 1)]);
  if (!model.fc) return y;
  const inputs = [y, g.weight('fc.weight', model.fc.weight)];
  if (model.fc.bias) inputs.push(g.weight('fc.bias', model.fc.bias));
  return g.node('Gemm', inputs, [int('transB', 1)], 'fc');
}

type Dim = number | string;
function valueInfo(name: string, dims: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** The output's dims: logits, pooled features or the feature map (whose size the runtime infers). */
function outputDims(model: ResNet): Dim[] {
  if (model.pool === null) return ['batch', model.numFeatures, 'height', 'width'];
  return ['batch', model.fc ? model.fc.outFeatures : model.numFeatures];
}

/** The ONNX model of `model` (eval-mode semantics) as protobuf bytes. */
export function exportOnnx(model: ResNet, options: OnnxExportOptions = {}): Uint8Array {
  const net = options.foldBatchNorm ? foldBatchNorm(model.eval()) : model;
  const [, H, W] = options.inputShape ?? [model.inChannels, 224, 224];
  const g = new GraphBuilder();
  buildGraph(g, net, 'input');
  // The last node's output is the graph's output.
  const outputName = model.fc ? 'logits' : 'features';
  g.nodes[g.nodes.length - 1]!.output = [outputName];
  const proto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'resnext',
    graph: {
      name: options.name ?? 'resnet',
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo('input', ['batch', model.inChannels, H, W])],
      output: [valueInfo(outputName, outputDims(model))],
    },
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(proto).finish();
}
