/**
 * Every op's forward and backward on the WebGPU backend against the TypeScript reference kernels:
 * the same seeded inputs on both devices, outputs and the gradients of every input compared at
 * |diff| ≤ 1e-4 · max|reference| (float32 sums in a different order).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backward,
  F,
  Generator,
  setBackend,
  Tensor,
  tsBackend,
  type Backend,
  type Device,
  type DType,
} from '../../src/index.js';
import { webGpu } from '../helpers/webgpu.js';

const context = await webGpu();
const RTOL = 1e-4;

interface Run {
  outputs: Tensor<DType>[];
  grads: (Tensor | null)[];
}

/** Runs `op` on `device` with fresh seeded leaves of `shapes` and backward from a seeded gradient. */
async function run(
  device: Device,
  shapes: readonly (readonly number[])[],
  op: (inputs: Tensor[]) => Tensor[],
  seed: number,
  differentiate: boolean,
): Promise<{ outputs: Float32Array[]; grads: (Float32Array | null)[] }> {
  const gen = new Generator(seed);
  const leaves = shapes.map((s) => {
    const t = Tensor.randn([...s], { generator: gen }).to(device);
    return differentiate ? t.requiresGrad_() : t;
  });
  const outputs = op(leaves);
  const result: Run = { outputs, grads: [] };
  if (differentiate) {
    for (const y of outputs) {
      if (!y.requiresGrad) continue;
      const g = Tensor.randn([...y.shape], { generator: gen })
        .toFormat(y.format)
        .to(device);
      backward(y, g);
    }
    result.grads = leaves.map((l) => l.grad);
  }
  return {
    outputs: await Promise.all(
      result.outputs.map(async (t) => Float32Array.from(await t.toFormat('nchw').data(), Number)),
    ),
    grads: await Promise.all(
      result.grads.map(async (g) => (g ? ((await g.toFormat('nchw').data()) as Float32Array) : null)),
    ),
  };
}

function expectNear(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    const d = Math.abs(actual[i]! - expected[i]!);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
  }
  expect(diff, `${what}: max |diff| ${diff} vs ${RTOL} x ${scale}`).toBeLessThanOrEqual(
    RTOL * Math.max(scale, 1e-3),
  );
}

async function compare(
  shapes: readonly (readonly number[])[],
  op: (inputs: Tensor[]) => Tensor[],
  options: { differentiate?: boolean; seed?: number } = {},
): Promise<void> {
  const differentiate = options.differentiate ?? true;
  const seed = options.seed ?? 7;
  const reference = await run('cpu', shapes, op, seed, differentiate);
  const gpu = await run('webgpu', shapes, op, seed, differentiate);
  reference.outputs.forEach((o, i) => expectNear(gpu.outputs[i]!, o, `output ${i}`));
  reference.grads.forEach((g, i) => {
    if (g) expectNear(gpu.grads[i]!, g, `gradient of input ${i}`);
    else expect(gpu.grads[i]).toBeNull();
  });
}

describe.skipIf(!context)('webgpu ops against the reference kernels', () => {
  let previous: Backend;
  beforeAll(() => {
    previous = setBackend(tsBackend);
  });
  afterAll(() => {
    setBackend(previous);
  });

  it('reports its adapter', () => {
    expect(context!.adapter.vendor.length + context!.adapter.description.length).toBeGreaterThan(0);
  });

  const convCases = [
    { name: '3x3 pad 1', n: 2, cin: 3, cout: 8, h: 9, w: 7, k: 3, stride: 1, pad: 1, dil: 1, groups: 1 },
    {
      name: '3x3 stride 2 groups 2',
      n: 1,
      cin: 4,
      cout: 6,
      h: 9,
      w: 8,
      k: 3,
      stride: 2,
      pad: 1,
      dil: 1,
      groups: 2,
    },
    {
      name: 'ResNeXt 3x3, 8 groups of 4',
      n: 2,
      cin: 32,
      cout: 32,
      h: 6,
      w: 6,
      k: 3,
      stride: 1,
      pad: 1,
      dil: 1,
      groups: 8,
    },
    {
      name: '3x3 groups of 32 channels',
      n: 1,
      cin: 64,
      cout: 64,
      h: 5,
      w: 5,
      k: 3,
      stride: 2,
      pad: 1,
      dil: 1,
      groups: 2,
    },
    {
      name: '1x1 stride 2 downsample',
      n: 2,
      cin: 16,
      cout: 72,
      h: 8,
      w: 8,
      k: 1,
      stride: 2,
      pad: 0,
      dil: 1,
      groups: 1,
    },
    {
      name: '7x7 stride 2 stem',
      n: 1,
      cin: 3,
      cout: 16,
      h: 20,
      w: 18,
      k: 7,
      stride: 2,
      pad: 3,
      dil: 1,
      groups: 1,
    },
    { name: 'dilated 3x3', n: 1, cin: 4, cout: 4, h: 9, w: 9, k: 3, stride: 1, pad: 2, dil: 2, groups: 1 },
    {
      name: 'many pixels (split backward)',
      n: 2,
      cin: 8,
      cout: 8,
      h: 48,
      w: 48,
      k: 3,
      stride: 1,
      pad: 1,
      dil: 1,
      groups: 2,
    },
  ];
  for (const c of convCases) {
    it(`conv2d ${c.name}: output, input, weight and bias gradients`, async () => {
      await compare([[c.n, c.cin, c.h, c.w], [c.cout, c.cin / c.groups, c.k, c.k], [c.cout]], ([x, w, b]) => [
        F.conv2d(x!, w!, b!, { stride: c.stride, padding: c.pad, dilation: c.dil, groups: c.groups }),
      ]);
    });
  }

  it('conv2d with a fused residual and ReLU (inference)', async () => {
    await compare(
      [
        [2, 8, 6, 6],
        [8, 2, 3, 3],
        [2, 8, 6, 6],
      ],
      ([x, w, r]) => [F.conv2d(x!, w!, null, { padding: 1, groups: 4, residual: r!, relu: true })],
      { differentiate: false },
    );
  });

  it('batch norm in training: output, gradients and running statistics', async () => {
    await compare([[4, 6, 5, 3], [6], [6]], ([x, w, b]) => {
      const runningMean = Tensor.full([6], 0.5, x!.device);
      const runningVar = Tensor.full([6], 2, x!.device);
      const y = F.batchNorm(x!, {
        weight: w!,
        bias: b!,
        runningMean,
        runningVar,
        training: true,
        momentum: 0.2,
      });
      return [y, runningMean, runningVar];
    });
  });

  it('batch norm in training with a fused ReLU, and with a residual', async () => {
    await compare([[3, 5, 4, 4], [5], [5], [3, 5, 4, 4]], ([x, w, b, r]) => [
      F.batchNorm(x!, {
        weight: w!,
        bias: b!,
        runningMean: null,
        runningVar: null,
        training: true,
        relu: true,
      }),
      F.batchNorm(x!, {
        weight: w!,
        bias: b!,
        runningMean: null,
        runningVar: null,
        training: true,
        residual: r!,
        relu: true,
      }),
    ]);
  });

  it('batch norm in eval mode, with gradients', async () => {
    await compare([[2, 7, 3, 3], [7], [7], [7]], ([x, w, b, m]) => {
      const runningVar = Tensor.full([7], 1.5, x!.device);
      return [
        F.batchNorm(x!, { weight: w!, bias: b!, runningMean: m!.detach(), runningVar, training: false }),
      ];
    });
  });

  it('max pooling 3x3 stride 2 pad 1, and adaptive max and average pooling', async () => {
    await compare([[2, 3, 9, 11]], ([x]) => [
      F.maxPool2d(x!, 3, { stride: 2, padding: 1 }),
      F.adaptiveMaxPool2d(x!, [2, 3]),
      F.adaptiveAvgPool2d(x!, [4, 3]),
      F.adaptiveAvgPool2d(x!, 1),
    ]);
  });

  it('linear with bias', async () => {
    await compare([[5, 37], [70, 37], [70]], ([x, w, b]) => [F.linear(x!, w!, b!)]);
  });

  it('softmax, log-softmax, relu, add, sum, mean and scale', async () => {
    await compare(
      [
        [4, 10],
        [3, 4, 5],
        [3, 4, 5],
      ],
      ([x, a, b]) => [
        F.softmax(x!, 1),
        F.logSoftmax(x!, -1),
        F.softmax(a!, 1),
        F.relu(a!),
        F.add(a!, b!),
        F.sum(b!),
        F.mean(a!),
        F.scale(b!, -0.75),
      ],
    );
  });

  for (const reduction of ['mean', 'sum', 'none'] as const) {
    it(`cross-entropy (${reduction}, label smoothing 0.1)`, async () => {
      const target = Tensor.int64([3, 0, 9, 4, 4, 1]);
      await compare([[6, 10]], ([x]) => [F.crossEntropy(x!, target, { reduction, labelSmoothing: 0.1 })]);
    });
  }
});
