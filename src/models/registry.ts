/**
 * Named architectures, as timm's registry: each entry is a ResNet config plus the metadata a user
 * needs around it (input size, normalisation). Presets are thin functions over the one builder.
 */
import { ResNet, type ResNetConfig } from './resnet.js';

export interface ModelInfo {
  readonly name: string;
  readonly description: string;
  readonly config: ResNetConfig;
  /** [channels, height, width] the weights were designed for. */
  readonly inputSize: readonly [number, number, number];
  /** Per-channel normalisation of the input (ImageNet's). */
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

/** ImageNet's per-channel normalisation, which every preset's weights expect. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
const IMAGENET = { inputSize: [3, 224, 224], mean: IMAGENET_MEAN, std: IMAGENET_STD } as const;

const registry = new Map<string, ModelInfo>();

function register(name: string, description: string, config: ResNetConfig): void {
  registry.set(name, { name, description, config, ...IMAGENET });
}

register('resnet50', 'ResNet-50 (torchvision resnet50, Bottleneck v1.5)', { layers: [3, 4, 6, 3] });
register('resnext50_32x4d', 'ResNeXt-50 32x4d (Xie et al. 2017; torchvision resnext50_32x4d)', {
  layers: [3, 4, 6, 3],
  groups: 32,
  widthPerGroup: 4,
});
register('resnext101_32x8d', 'ResNeXt-101 32x8d (torchvision resnext101_32x8d)', {
  layers: [3, 4, 23, 3],
  groups: 32,
  widthPerGroup: 8,
});
register('resnext101_64x4d', 'ResNeXt-101 64x4d (torchvision resnext101_64x4d)', {
  layers: [3, 4, 23, 3],
  groups: 64,
  widthPerGroup: 4,
});
register(
  'resnext50_32x4d_tutorial',
  "The PyTorch tutorial's ResNeXt-50 32x4d: stem conv with bias, 1x1 projection shortcut without BN, 2 classes",
  { layers: [3, 4, 6, 3], groups: 32, widthPerGroup: 4, stemBias: true, shortcutNorm: false, numClasses: 2 },
);

register(
  'resnext_tiny',
  'A tiny ResNeXt (stem 16, planes 8-64, blocks 1-2-1-1, 4 groups): the PyTorch fixture network, for tests and quick experiments',
  { layers: [1, 2, 1, 1], planes: [8, 16, 32, 64], stemWidth: 16, groups: 4, widthPerGroup: 32 },
);

export function listModels(): string[] {
  return [...registry.keys()];
}

export function getModelInfo(name: string): ModelInfo {
  const info = registry.get(name);
  if (!info) {
    throw new RangeError(`unknown architecture "${name}"; available: ${listModels().join(', ')}`);
  }
  return info;
}

/** Builds a registered architecture; `overrides` replace any config field (numClasses, pooling, planes, ...). */
export function createModel(name: string, overrides: Partial<ResNetConfig> = {}): ResNet {
  const info = getModelInfo(name);
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return new ResNet({ ...info.config, ...defined });
}

export const resnet50 = (overrides?: Partial<ResNetConfig>): ResNet => createModel('resnet50', overrides);
export const resnext50_32x4d = (overrides?: Partial<ResNetConfig>): ResNet =>
  createModel('resnext50_32x4d', overrides);
export const resnext101_32x8d = (overrides?: Partial<ResNetConfig>): ResNet =>
  createModel('resnext101_32x8d', overrides);
export const resnext101_64x4d = (overrides?: Partial<ResNetConfig>): ResNet =>
  createModel('resnext101_64x4d', overrides);
export const resnext50_32x4d_tutorial = (overrides?: Partial<ResNetConfig>): ResNet =>
  createModel('resnext50_32x4d_tutorial', overrides);
