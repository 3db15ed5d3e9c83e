/**
 * The WebGPU parity checks, free of Node and of the test runner so that the same code runs in
 * vitest (Node, Dawn) and in a real browser (test/web/webgpu.test.ts): each check returns its
 * comparisons, which the caller asserts.
 *   op cases   every op's forward and backward, the same seeded inputs on the reference kernels
 *              ('cpu' on the ts backend) and on 'webgpu', |diff| ≤ 1e-4 · max|reference|
 *   tiny       the tiny ResNeXt against the PyTorch fixtures: eval and train logits, loss, every
 *              gradient, and the losses and whole state after each optimizer case's steps
 */
import {
  backward,
  createModel,
  F,
  Generator,
  noGrad,
  setBackend,
  Tensor,
  tsBackend,
  type Device,
  type DType,
} from '../../src/browser.js';
import { makeOptimizer, type OptimizerSettings } from '../helpers/optimizers.js';
import { fillSeeded, seededInput, seededLabels } from '../helpers/seeded.js';

export interface Comparison {
  what: string;
  diff: number;
  tolerance: number;
}

export interface OpCase {
  name: string;
  shapes: readonly (readonly number[])[];
  op: (inputs: Tensor[]) => Tensor[];
  differentiate?: boolean;
}

const OP_RTOL = 1e-4;

function conv(name: string, [n, cin, cout, h, w, k, stride, pad, dil, groups]: readonly number[]): OpCase {
  return {
    name: `conv2d ${name}: output, input, weight and bias gradients`,
    shapes: [[n!, cin!, h!, w!], [cout!, cin! / groups!, k!, k!], [cout!]],
    op: ([x, wt, b]) => [F.conv2d(x!, wt!, b!, { stride, padding: pad, dilation: dil, groups })],
  };
}

export const opCases: OpCase[] = [
  //                          n cin cout  h   w  k  s  p  d  groups
  conv('3x3 pad 1', [2, 3, 8, 9, 7, 3, 1, 1, 1, 1]),
  conv('3x3 stride 2 groups 2', [1, 4, 6, 9, 8, 3, 2, 1, 1, 2]),
  conv('ResNeXt 3x3, 8 groups of 4', [2, 32, 32, 6, 6, 3, 1, 1, 1, 8]),
  conv('3x3 groups of 32 channels', [1, 64, 64, 5, 5, 3, 2, 1, 1, 2]),
  conv('1x1 stride 2 downsample', [2, 16, 72, 8, 8, 1, 2, 0, 1, 1]),
  conv('7x7 stride 2 stem', [1, 3, 16, 20, 18, 7, 2, 3, 1, 1]),
  conv('dilated 3x3', [1, 4, 4, 9, 9, 3, 1, 2, 2, 1]),
  conv('many pixels (split backward)', [2, 8, 8, 48, 48, 3, 1, 1, 1, 2]),
  {
    name: 'conv2d with a fused residual and ReLU (inference)',
    shapes: [
      [2, 8, 6, 6],
      [8, 2, 3, 3],
      [2, 8, 6, 6],
    ],
    op: ([x, w, r]) => [F.conv2d(x!, w!, null, { padding: 1, groups: 4, residual: r!, relu: true })],
    differentiate: false,
  },
  {
    name: 'batch norm in training: output, gradients and running statistics',
    shapes: [[4, 6, 5, 3], [6], [6]],
    op: ([x, w, b]) => {
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
    },
  },
  {
    name: 'batch norm in training with a fused ReLU, and with a residual',
    shapes: [[3, 5, 4, 4], [5], [5], [3, 5, 4, 4]],
    op: ([x, w, b, r]) => [
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
    ],
  },
  {
    name: 'batch norm in eval mode, with gradients',
    shapes: [[2, 7, 3, 3], [7], [7], [7]],
    op: ([x, w, b, m]) => {
      const runningVar = Tensor.full([7], 1.5, x!.device);
      return [
        F.batchNorm(x!, { weight: w!, bias: b!, runningMean: m!.detach(), runningVar, training: false }),
      ];
    },
  },
  {
    name: 'max pooling 3x3 stride 2 pad 1, and adaptive max and average pooling',
    shapes: [[2, 3, 9, 11]],
    op: ([x]) => [
      F.maxPool2d(x!, 3, { stride: 2, padding: 1 }),
      F.adaptiveMaxPool2d(x!, [2, 3]),
      F.adaptiveAvgPool2d(x!, [4, 3]),
      F.adaptiveAvgPool2d(x!, 1),
    ],
  },
  {
    name: 'linear with bias',
    shapes: [[5, 37], [70, 37], [70]],
    op: ([x, w, b]) => [F.linear(x!, w!, b!)],
  },
  {
    name: 'softmax, log-softmax, relu, add, sum, mean and scale',
    shapes: [
      [4, 10],
      [3, 4, 5],
      [3, 4, 5],
    ],
    op: ([x, a, b]) => [
      F.softmax(x!, 1),
      F.logSoftmax(x!, -1),
      F.softmax(a!, 1),
      F.relu(a!),
      F.add(a!, b!),
      F.sum(b!),
      F.mean(a!),
      F.scale(b!, -0.75),
    ],
  },
  ...(['mean', 'sum', 'none'] as const).map((reduction): OpCase => ({
    name: `cross-entropy (${reduction}, label smoothing 0.1)`,
    shapes: [[6, 10]],
    op: ([x]) => [F.crossEntropy(x!, Tensor.int64([3, 0, 9, 4, 4, 1]), { reduction, labelSmoothing: 0.1 })],
  })),
];

/** Runs `c` on `device` with seeded leaves, and backward from seeded gradients; values read back. */
async function runOnDevice(c: OpCase, device: Device, seed: number): Promise<(Float32Array | null)[]> {
  const differentiate = c.differentiate ?? true;
  const gen = new Generator(seed);
  const leaves = c.shapes.map((s) => {
    const t = Tensor.randn([...s], { generator: gen }).to(device);
    return differentiate ? t.requiresGrad_() : t;
  });
  const outputs = c.op(leaves);
  if (differentiate) {
    for (const y of outputs) {
      if (!y.requiresGrad) continue;
      backward(
        y,
        Tensor.randn([...y.shape], { generator: gen })
          .toFormat(y.format)
          .to(device),
      );
    }
  }
  const read = async (t: Tensor<DType> | null): Promise<Float32Array | null> =>
    t ? Float32Array.from(await t.toFormat('nchw').data(), Number) : null;
  return Promise.all([...outputs, ...(differentiate ? leaves.map((l) => l.grad) : [])].map(read));
}

/** max |actual − expected| against rtol · max(floor, max|expected|), as the other backends' parity tests. */
function closeness(
  what: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  floor: number,
): Comparison {
  if (actual.length !== expected.length) return { what: `${what} (length)`, diff: Infinity, tolerance: 0 };
  let scale = floor;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    const d = Math.abs(actual[i]! - expected[i]!);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
  }
  return { what, diff, tolerance: rtol * scale };
}

function compareArrays(what: string, actual: Float32Array | null, expected: Float32Array | null): Comparison {
  if (!actual || !expected) {
    return { what: `${what} (present)`, diff: !actual && !expected ? 0 : Infinity, tolerance: 0 };
  }
  return closeness(what, actual, expected, OP_RTOL, 1e-3);
}

/** One op case: the reference kernels on the cpu against webgpu, outputs then input gradients. */
export async function compareOpCase(c: OpCase, seed = 7): Promise<Comparison[]> {
  const previous = setBackend(tsBackend);
  try {
    const reference = await runOnDevice(c, 'cpu', seed);
    const gpu = await runOnDevice(c, 'webgpu', seed);
    const outputs = reference.length - ((c.differentiate ?? true) ? c.shapes.length : 0);
    return reference.map((r, i) =>
      compareArrays(i < outputs ? `output ${i}` : `gradient of input ${i - outputs}`, gpu[i]!, r),
    );
  } finally {
    setBackend(previous);
  }
}

export interface TinyCase {
  seed: number;
  batch: number;
  draw: number;
  image_size: number;
  classes: number;
  optimizers: Record<string, OptimizerSettings>;
}

const STATE_RTOL = 1e-4;
const GRAD_RTOL = 1e-3;

/** As the other backends' parity tests: |diff| ≤ rtol · max(floor, max|expected|). */
function against(
  what: string,
  actual: Tensor<DType>,
  expected: Tensor<DType> | undefined,
  rtol: number,
  floor = 0,
): Comparison {
  if (!expected) return { what: `${what} (missing)`, diff: Infinity, tolerance: 0 };
  return closeness(what, actual.toArray(), expected.toArray(), rtol, floor);
}

function tinyModel(c: TinyCase) {
  return fillSeeded(createModel('resnext_tiny', { numClasses: 5 }), c.seed);
}

function tinyBatch(c: TinyCase): { x: Tensor; y: Tensor<'int64'> } {
  return {
    x: seededInput(c.seed, `tiny.x.${c.draw}`, [c.batch, 3, c.image_size, c.image_size]).to('webgpu'),
    y: seededLabels(c.seed, `tiny.y.${c.draw}`, c.batch, c.classes),
  };
}

/** Eval and train logits, the loss and every parameter gradient of the tiny network on webgpu. */
export async function tinyForwardBackward(
  c: TinyCase,
  expected: Map<string, Tensor<DType>>,
): Promise<Comparison[]> {
  const { x, y } = tinyBatch(c);
  const out: Comparison[] = [];
  const evalModel = tinyModel(c).eval().to('webgpu');
  const evalLogits = await noGrad(() => evalModel.forward(x)).cpu();
  out.push(against('logits_eval', evalLogits, expected.get('logits_eval'), STATE_RTOL, 1));
  const model = tinyModel(c).train().to('webgpu');
  const logits = model.forward(x);
  out.push(against('logits_train', await logits.cpu(), expected.get('logits_train'), STATE_RTOL, 1));
  const loss = F.crossEntropy(logits, y);
  out.push(against('loss_train', await loss.cpu(), expected.get('loss_train'), STATE_RTOL, 1));
  backward(loss);
  await model.cpu();
  for (const [name, p] of model.namedParameters()) {
    out.push(
      p.grad
        ? against(`grad.${name}`, p.grad, expected.get(`grad.${name}`), GRAD_RTOL)
        : { what: `grad.${name} (none)`, diff: Infinity, tolerance: 0 },
    );
  }
  return out;
}

/** The losses and every state-dict entry after the steps of one optimizer case, on webgpu. */
export async function tinyOptimizerSteps(
  c: TinyCase,
  key: string,
  expected: Map<string, Tensor<DType>>,
): Promise<Comparison[]> {
  const settings = c.optimizers[key]!;
  const { x, y } = tinyBatch(c);
  const model = tinyModel(c).train().to('webgpu');
  const optimizer = makeOptimizer(model.parameters(), settings);
  const losses: Tensor[] = [];
  for (let step = 0; step < settings.steps; step++) {
    optimizer.zeroGrad();
    const loss = F.crossEntropy(model.forward(x), y);
    losses.push(loss.clone());
    backward(loss);
    optimizer.step();
  }
  const values = await Promise.all(losses.map(async (l) => (await l.data())[0]!));
  const out = [
    against(`${key}.losses`, Tensor.fromArray(values), expected.get(`${key}.losses`), STATE_RTOL, 1),
  ];
  await model.cpu();
  for (const [name, got] of model.stateDict()) {
    out.push(against(`${key}.state.${name}`, got, expected.get(`${key}.state.${name}`), STATE_RTOL, 1));
  }
  return out;
}
