import { describe, expect, it } from 'vitest';
import {
  Bottleneck,
  createModel,
  getModelInfo,
  listModels,
  noGrad,
  nn,
  onMetaDevice,
  ResNet,
  resnext50_32x4d,
  Tensor,
} from '../../src/index.js';

const meta = (name: string, overrides = {}): ResNet => onMetaDevice(() => createModel(name, overrides));

describe('ResNet / ResNeXt family', () => {
  it('has the torchvision parameter counts', () => {
    expect(meta('resnext50_32x4d').parameterCount()).toBe(25_028_904);
    expect(meta('resnext101_32x8d').parameterCount()).toBe(88_791_336);
    expect(meta('resnext101_64x4d').parameterCount()).toBe(83_455_272);
    expect(meta('resnet50').parameterCount()).toBe(25_557_032);
    expect(meta('resnext50_32x4d_tutorial').parameterCount()).toBe(22_976_386);
    expect(meta('resnext50_32x4d_tutorial', { numClasses: 2 }).parameterCount()).toBe(22_976_386);
    expect(meta('resnext_tiny', { numClasses: 5 }).parameterCount()).toBe(170_965);
  });

  it("uses torchvision's state_dict keys", () => {
    const keys = [...meta('resnext50_32x4d').stateDict().keys()];
    expect(keys.length).toBe(320);
    expect(keys.slice(0, 6)).toEqual([
      'conv1.weight',
      'bn1.weight',
      'bn1.bias',
      'bn1.running_mean',
      'bn1.running_var',
      'bn1.num_batches_tracked',
    ]);
    for (const key of [
      'layer1.0.conv2.weight',
      'layer1.0.downsample.1.bias',
      'layer3.5.bn3.running_var',
      'layer4.2.conv3.weight',
      'fc.weight',
      'fc.bias',
    ]) {
      expect(keys).toContain(key);
    }
    expect(keys.at(-1)).toBe('fc.bias');
  });

  it('builds the grouped 3x3 convs with independent weights per group', () => {
    const m = meta('resnext50_32x4d');
    const block = m.stages[0]!.at(0) as Bottleneck;
    expect(block.conv2.groups).toBe(32);
    expect(block.conv2.weight.shape).toEqual([128, 4, 3, 3]);
    expect((m.stages[3]!.at(0) as Bottleneck).conv2.weight.shape).toEqual([1024, 32, 3, 3]);
    expect((m.stages[1]!.at(0) as Bottleneck).conv2.stride).toEqual([2, 2]);
    expect((m.stages[1]!.at(0) as Bottleneck).conv1.stride).toEqual([1, 1]);
  });

  it("builds the tutorial's variant: stem bias, projection shortcut without BN", () => {
    const keys = [...meta('resnext50_32x4d_tutorial').stateDict().keys()];
    expect(keys).toContain('conv1.bias');
    expect(keys).toContain('layer1.0.downsample.0.weight');
    expect(keys.some((k) => k.startsWith('layer1.0.downsample.1'))).toBe(false);
    expect(meta('resnext50_32x4d_tutorial').fc!.outFeatures).toBe(2);
  });

  it('fuses by its own setting, whatever hooks are attached; unfused, every module call is seen', () => {
    const model = createModel('resnext_tiny', { numClasses: 5 });
    const block = model.stages[0]!.at(0) as Bottleneck;
    const seen: string[] = [];
    for (const [name, m] of [
      ['conv1', block.conv1],
      ['bn1', block.bn1],
      ['relu', block.relu],
    ] as const) {
      m.registerForwardHook(() => seen.push(name));
    }
    const x = Tensor.randn([2, 3, 32, 32]);
    noGrad(() => model.forward(x));
    // Fused: the convolution is called, its batch norm and ReLU run inside the fused pass.
    expect(seen).toEqual(['conv1']);
    seen.length = 0;
    noGrad(() => model.setFusion(false).forward(x));
    expect(seen).toEqual(['conv1', 'bn1', 'relu', 'relu', 'relu']);
    expect(model.namedModules().every(([, m]) => !m.fusion)).toBe(true);
  });

  it('supports numClasses, includeTop and pooling', () => {
    const x = Tensor.meta([2, 3, 224, 224]);
    expect(meta('resnext50_32x4d', { numClasses: 7 }).forward(x).shape).toEqual([2, 7]);
    expect(meta('resnext50_32x4d', { includeTop: false }).forward(x).shape).toEqual([2, 2048]);
    expect(meta('resnext50_32x4d', { includeTop: false, pooling: 'max' }).forward(x).shape).toEqual([
      2, 2048,
    ]);
    expect(meta('resnext50_32x4d', { includeTop: false, pooling: null }).forward(x).shape).toEqual([
      2, 2048, 7, 7,
    ]);
    expect(() => meta('resnext50_32x4d', { pooling: null })).toThrow('includeTop needs a global pooling');
  });

  it('builds custom stems and stage widths (the tiny fixture network)', () => {
    const m = new ResNet({
      layers: [1, 2, 1, 1],
      planes: [8, 16, 32, 64],
      stemWidth: 16,
      groups: 4,
      widthPerGroup: 32,
      numClasses: 5,
    });
    expect(m.parameterCount()).toBe(170_965);
    expect((m.stages[0]!.at(0) as Bottleneck).conv2.weight.shape).toEqual([16, 4, 3, 3]);
    expect(noGrad(() => m.eval().forward(Tensor.randn([1, 3, 64, 64]))).shape).toEqual([1, 5]);
  });

  it('initialises as torchvision: kaiming fan_out convs, BN weight 1 and bias 0', () => {
    const m = resnext50_32x4d({ numClasses: 10 });
    const w = m.conv1.weight.toArray();
    const std = Math.sqrt(w.reduce((a, b) => a + b * b, 0) / w.length);
    expect(std).toBeCloseTo(Math.sqrt(2 / (64 * 49)), 2);
    expect(m.bn1!.weight!.toArray().every((v) => v === 1)).toBe(true);
    expect(m.bn1!.bias!.toArray().every((v) => v === 0)).toBe(true);
    const zeroInit = onMetaDevice(() => createModel('resnext50_32x4d', { zeroInitResidual: false }));
    expect(zeroInit).toBeInstanceOf(ResNet);
  });

  it('replaces the head for fine-tuning', () => {
    const m = new ResNet({ layers: [1, 1], planes: [4, 8], stemWidth: 8, numClasses: 10 });
    const fc = m.replaceHead(3);
    expect(m.fc).toBe(fc);
    expect([...m.stateDict().keys()].at(-2)).toBe('fc.weight');
    expect(m.stateDict().get('fc.weight')!.shape).toEqual([3, 32]);
  });

  it('names bad inputs and configurations', () => {
    expect(() => createModel('resnext51')).toThrow(
      'unknown architecture "resnext51"; available: resnet50, resnext50_32x4d',
    );
    const m = meta('resnext50_32x4d');
    expect(() => m.forward(Tensor.meta([1, 1, 224, 224]))).toThrow(
      'ResNet: expected input [N, 3, H, W], got shape [1, 1, 224, 224]',
    );
    expect(() => m.forward(Tensor.meta([3, 224, 224]))).toThrow('expected input [N, 3, H, W]');
    expect(() => new ResNet({ layers: [1, 1], planes: [4] })).toThrow(
      'must be non-empty and of equal length',
    );
    expect(() => new ResNet({ layers: [1], planes: [1], groups: 8, widthPerGroup: 4 })).toThrow(
      'fewer channels (0) than groups (8)',
    );
    expect(() => m.forward(Tensor.meta([1, 3, 16, 16]))).toThrow(
      'batch_norm: expected more than 1 value per channel when training, got input size [1, 512, 1, 1]',
    );
  });

  it('registers metadata for every preset', () => {
    for (const name of listModels()) {
      const info = getModelInfo(name);
      expect(info.inputSize).toEqual([3, 224, 224]);
      expect(info.mean).toEqual([0.485, 0.456, 0.406]);
    }
    expect(nn.Conv2d).toBeDefined();
  });
});

describe('foldBatchNorm', () => {
  it('gives the eval-mode outputs of the original, without batch norm layers', async () => {
    const { foldBatchNorm, inferenceMode, nn: layers, Generator: Gen } = await import('../../src/index.js');
    for (const name of ['resnext_tiny', 'resnext50_32x4d_tutorial'] as const) {
      const model = createModel(name, { numClasses: 4 });
      // Non-trivial statistics, so that folding has something to fold.
      const gen = new Gen(3);
      for (const [, m] of model.namedModules()) {
        if (m instanceof layers.BatchNorm2d) {
          m.runningMean!.dataSync().forEach((_, i, a) => (a[i] = gen.normal() * 0.1));
          m.runningVar!.dataSync().forEach((_, i, a) => (a[i] = 0.5 + gen.uniform()));
          m.weight!.dataSync().forEach((_, i, a) => (a[i] = 0.5 + gen.uniform()));
          m.bias!.dataSync().forEach((_, i, a) => (a[i] = gen.normal() * 0.1));
        }
      }
      model.eval();
      const folded = foldBatchNorm(model);
      // No batch norm runs in the folded copy.
      const calls: string[] = [];
      for (const [n, m] of folded.namedModules())
        if (m instanceof layers.BatchNorm2d) m.registerForwardHook(() => calls.push(n));
      const x = Tensor.randn([2, 3, 48, 40], { generator: gen });
      const want = inferenceMode(() => model.forward(x).toArray());
      const got = inferenceMode(() => folded.forward(x).toArray());
      const scale = Math.max(...want.map(Math.abs));
      const diff = Math.max(...want.map((v, i) => Math.abs(v - got[i]!)));
      expect(diff, name).toBeLessThan(1e-4 * Math.max(1, scale));
      expect(calls).toEqual([]);
    }
  });
});
