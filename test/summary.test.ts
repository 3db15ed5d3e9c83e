import { describe, expect, it } from 'vitest';
import { createModel, onMetaDevice, resnext50_32x4d, summarize, summary } from '../src/index.js';
import { tinyModel } from './helpers/tiny.js';

describe('summary (torchsummary format)', () => {
  const report = summarize(
    onMetaDevice(() => createModel('resnext50_32x4d')),
    [3, 224, 224],
  );
  const lines = report.text.split('\n');

  it('prints the header, rows and totals as torchsummary does', () => {
    expect(lines.slice(0, 5)).toEqual([
      '----------------------------------------------------------------',
      '        Layer (type)               Output Shape         Param #',
      '================================================================',
      '            Conv2d-1         [-1, 64, 112, 112]           9,408',
      '       BatchNorm2d-2         [-1, 64, 112, 112]             128',
    ]);
    expect(lines).toContain('            Conv2d-8          [-1, 128, 56, 56]           4,608');
    expect(lines).toContain('       Bottleneck-16          [-1, 256, 56, 56]               0');
    expect(lines).toContain('AdaptiveAvgPool2d-173           [-1, 2048, 1, 1]               0');
    expect(lines).toContain('          Linear-174                 [-1, 1000]       2,049,000');
    expect(lines.slice(-10)).toEqual(
      [
        '================================================================',
        'Total params: 25,028,904',
        'Trainable params: 25,028,904',
        'Non-trainable params: 0',
        '----------------------------------------------------------------',
        'Input size (MB): 0.57',
        'Forward/backward pass size (MB): 361.78',
        'Params size (MB): 95.48',
        'Estimated Total Size (MB): 457.83',
        '----------------------------------------------------------------',
      ].slice(-11),
    );
    expect(report.rows.length).toBe(174);
  });

  it('lists the shared ReLU of a Bottleneck once per call, and no Sequential or model row', () => {
    const names = report.rows.slice(0, 16).map((r) => r.layer.split('-')[0]);
    expect(names).toEqual([
      'Conv2d', 'BatchNorm2d', 'ReLU', 'MaxPool2d',
      'Conv2d', 'BatchNorm2d', 'ReLU', 'Conv2d', 'BatchNorm2d', 'ReLU', 'Conv2d', 'BatchNorm2d',
      'Conv2d', 'BatchNorm2d', 'ReLU', 'Bottleneck',
    ]); // prettier-ignore
    expect(report.rows.some((r) => r.layer.startsWith('Sequential') || r.layer.startsWith('ResNet'))).toBe(
      false,
    );
  });

  it('counts the forward multiply-accumulates (4.23 GMACs for ResNeXt-50 at 224)', () => {
    expect(report.macsPerImage / 1e9).toBeCloseTo(4.23, 2);
  });

  it('counts frozen parameters as non-trainable', () => {
    const m = onMetaDevice(() => resnext50_32x4d({ numClasses: 2 }));
    m.requiresGrad_(false);
    m.fc!.requiresGrad_(true);
    const r = summarize(m, [3, 224, 224]);
    expect(r.trainableParams).toBe(2048 * 2 + 2);
    expect(r.nonTrainableParams).toBe(r.totalParams - 4098);
  });

  it('traces without side effects on a real model', () => {
    const m = tinyModel();
    const before = m.bn1!.runningMean!.toArray();
    let printed = '';
    const r = summary(m, [3, 64, 64], { log: (t) => (printed = t) });
    expect(printed).toBe(r.text);
    expect(r.totalParams).toBe(170_965);
    expect(m.bn1!.runningMean!.toArray()).toEqual(before);
    expect(Number(m.bn1!.numBatchesTracked!.dataSync()[0])).toBe(0);
  });

  it('shows a fixed batch size when asked and rejects bad input sizes', () => {
    const m = onMetaDevice(() => createModel('resnet50'));
    expect(summarize(m, [3, 64, 64], { batchSize: 8 }).rows[0]!.outputShape).toEqual([8, 64, 32, 32]);
    expect(() => summarize(m, [3, 0, 64])).toThrow('summary: input size must be positive integers');
    expect(() => summarize(m, [1, 64, 64])).toThrow('expected input [N, 3, H, W], got shape [2, 1, 64, 64]');
  });
});
