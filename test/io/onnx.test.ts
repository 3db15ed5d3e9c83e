import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { createModel, inferenceMode, Tensor, type ResNet } from '../../src/index.js';
import { exportOnnx, type OnnxExportOptions } from '../../src/io/onnx.js';
import { BatchNorm2d } from '../../src/nn/layers/batchnorm.js';
import { Generator } from '../../src/tensor/rng.js';
import type { ResNetConfig } from '../../src/models/resnet.js';

/** Running statistics and affine parameters away from their initial 0/1, so that BN matters. */
function randomizeNorms(model: ResNet, seed: number): ResNet {
  const rng = new Generator(seed);
  model.apply((m) => {
    if (!(m instanceof BatchNorm2d)) return;
    for (const [t, lo, hi] of [
      [m.runningMean, -0.5, 0.5],
      [m.runningVar, 0.5, 2],
      [m.weight, 0.5, 1.5],
      [m.bias, -0.2, 0.2],
    ] as const) {
      if (!t) continue;
      const d = t.dataSync() as Float32Array;
      for (let i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * rng.uniform();
    }
  });
  return model.eval();
}

/** Max |ours - ONNX Runtime's| and the bound 1e-4 · max(1, max |ours|). */
async function compare(
  model: ResNet,
  size: number,
  batch: number,
  options: OnnxExportOptions = {},
): Promise<{ diff: number; bound: number; dims: readonly number[] }> {
  const x = Tensor.randn([batch, model.inChannels, size, size]);
  const ours = inferenceMode(() => model.forward(x));
  const expected = ours.toArray();
  const bytes = exportOnnx(model, { inputShape: [model.inChannels, size, size], ...options });
  const session = await ort.InferenceSession.create(bytes);
  const feeds = { input: new ort.Tensor('float32', Float32Array.from(x.toArray()), x.shape) };
  const result = await session.run(feeds);
  const out = result[session.outputNames[0]!]!;
  expect(out.dims).toEqual(ours.shape);
  const got = out.data as Float32Array;
  let diff = 0;
  let peak = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - expected[i]!));
    peak = Math.max(peak, Math.abs(expected[i]!));
  }
  return { diff, bound: 1e-4 * Math.max(1, peak), dims: out.dims };
}

const tiny = (overrides: Partial<ResNetConfig> = {}): ResNet =>
  randomizeNorms(createModel('resnext_tiny', { numClasses: 5, ...overrides }), 1);

describe('ONNX export, run by ONNX Runtime', () => {
  const variants: [string, () => ResNet, OnnxExportOptions][] = [
    ['tiny', () => tiny(), {}],
    ['tiny, batch norm folded', () => tiny(), { foldBatchNorm: true }],
    ['tiny, max pooling', () => tiny({ pooling: 'max' }), {}],
    ['tiny, no classifier', () => tiny({ includeTop: false }), {}],
    ['tiny, feature map', () => tiny({ includeTop: false, pooling: null }), {}],
    ['tiny, preact', () => tiny({ preact: true }), {}],
    ['tiny, preact folded', () => tiny({ preact: true }), { foldBatchNorm: true }],
    [
      'tiny, 8 groups, stem bias, shortcut without BN',
      () => tiny({ groups: 8, stemBias: true, shortcutNorm: false }),
      {},
    ],
    [
      'tutorial network',
      () => randomizeNorms(createModel('resnext50_32x4d_tutorial'), 2),
      { foldBatchNorm: true },
    ],
  ];
  for (const [name, build, options] of variants) {
    it(`${name}: the same outputs to 1e-4`, async () => {
      const model = build();
      const { diff, bound } = await compare(model, 64, 3, options);
      expect(diff).toBeLessThanOrEqual(bound);
    });
  }

  it('resnext50_32x4d at 224 with a dynamic batch: the same logits to 1e-4', async () => {
    const model = randomizeNorms(createModel('resnext50_32x4d'), 3);
    for (const batch of [1, 2]) {
      const { diff, bound, dims } = await compare(model, 224, batch);
      expect(dims).toEqual([batch, 1000]);
      expect(diff).toBeLessThanOrEqual(bound);
    }
  });

  it('writes opset 17, a dynamic batch and the metadata', async () => {
    const bytes = exportOnnx(tiny(), { metadata: { classes: '["a","b","c","d","e"]' } });
    const session = await ort.InferenceSession.create(bytes);
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['logits']);
    const meta = session.inputMetadata[0] as { shape?: (number | string)[] };
    expect(meta.shape).toEqual(['batch', 3, 224, 224]);
  });
});
