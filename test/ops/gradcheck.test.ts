import { describe, it } from 'vitest';
import { F, Generator, Tensor } from '../../src/index.js';
import { awayFromZero, distinctValues, gradcheck } from '../helpers/gradcheck.js';
import { testBackends, useBackend } from '../helpers/backends.js';

const gen = new Generator(1234);
const randn = (...shape: number[]): Tensor => Tensor.randn(shape, { generator: gen });

describe.each(testBackends())('gradient checks (finite differences) [$name]', (backend) => {
  useBackend(backend);
  const convCases = [
    {
      name: '3x3 pad 1, groups 1',
      n: 2,
      cin: 3,
      cout: 4,
      h: 5,
      w: 7,
      k: 3,
      stride: 1,
      pad: 1,
      dil: 1,
      groups: 1,
      bias: true,
    },
    {
      name: '3x3 stride 2, odd size, groups 2',
      n: 1,
      cin: 4,
      cout: 6,
      h: 7,
      w: 5,
      k: 3,
      stride: 2,
      pad: 1,
      dil: 1,
      groups: 2,
      bias: false,
    },
    {
      name: '3x3 stride 2, groups 4 (ResNeXt block)',
      n: 2,
      cin: 8,
      cout: 8,
      h: 6,
      w: 6,
      k: 3,
      stride: 2,
      pad: 1,
      dil: 1,
      groups: 4,
      bias: false,
    },
    {
      name: '1x1 pointwise',
      n: 2,
      cin: 5,
      cout: 3,
      h: 4,
      w: 3,
      k: 1,
      stride: 1,
      pad: 0,
      dil: 1,
      groups: 1,
      bias: true,
    },
    {
      name: '1x1 stride 2 projection',
      n: 1,
      cin: 4,
      cout: 6,
      h: 5,
      w: 5,
      k: 1,
      stride: 2,
      pad: 0,
      dil: 1,
      groups: 1,
      bias: false,
    },
    {
      name: '7x7 stride 2 pad 3 stem',
      n: 1,
      cin: 3,
      cout: 2,
      h: 9,
      w: 8,
      k: 7,
      stride: 2,
      pad: 3,
      dil: 1,
      groups: 1,
      bias: true,
    },
    {
      name: 'dilation 2, no padding',
      n: 1,
      cin: 2,
      cout: 2,
      h: 7,
      w: 7,
      k: 3,
      stride: 1,
      pad: 0,
      dil: 2,
      groups: 1,
      bias: true,
    },
    {
      name: 'depthwise (groups = channels)',
      n: 1,
      cin: 3,
      cout: 6,
      h: 5,
      w: 4,
      k: 3,
      stride: 1,
      pad: 1,
      dil: 1,
      groups: 3,
      bias: true,
    },
  ];
  for (const c of convCases) {
    it(`conv2d: ${c.name}`, () => {
      const x = randn(c.n, c.cin, c.h, c.w);
      const weight = randn(c.cout, c.cin / c.groups, c.k, c.k);
      const inputs = c.bias ? [x, weight, randn(c.cout)] : [x, weight];
      gradcheck(
        (xi, wi, bi) =>
          F.conv2d(xi!, wi!, bi ?? null, {
            stride: c.stride,
            padding: c.pad,
            dilation: c.dil,
            groups: c.groups,
          }),
        inputs,
      );
    });
  }

  it('batch_norm in train mode (batch statistics), odd spatial size', () => {
    const x = randn(3, 4, 3, 5);
    const weight = randn(4);
    const bias = randn(4);
    gradcheck(
      (xi, wi, bi) =>
        F.batchNorm(xi!, {
          runningMean: Tensor.zeros([4]),
          runningVar: Tensor.ones([4]),
          weight: wi,
          bias: bi,
          training: true,
        }),
      [x, weight, bias],
    );
  });

  it('batch_norm in eval mode (running statistics)', () => {
    const runningMean = randn(3);
    const runningVar = Tensor.rand([3], { low: 0.5, high: 2, generator: gen });
    gradcheck(
      (xi, wi, bi) => F.batchNorm(xi!, { runningMean, runningVar, weight: wi, bias: bi, training: false }),
      [randn(2, 3, 4, 3), randn(3), randn(3)],
    );
  });

  it('relu', () => {
    gradcheck((x) => F.relu(x!), [awayFromZero([2, 3, 4, 5], gen)]);
  });

  it('add (the residual connection), including an input used twice', () => {
    gradcheck((a, b) => F.add(F.add(a!, b!), a!), [randn(2, 3, 4), randn(2, 3, 4)]);
  });

  it('max_pool2d 3x3 stride 2 pad 1 (the stem pool) on an odd size', () => {
    gradcheck((x) => F.maxPool2d(x!, 3, { stride: 2, padding: 1 }), [distinctValues([2, 2, 7, 9], gen)], {
      h: 1e-3,
    });
  });

  it('max_pool2d 2x2 ceil mode', () => {
    gradcheck((x) => F.maxPool2d(x!, 2, { ceilMode: true }), [distinctValues([1, 2, 5, 5], gen)], {
      h: 1e-3,
    });
  });

  it('adaptive_avg_pool2d to 1x1 and to a size that does not divide the input', () => {
    gradcheck((x) => F.adaptiveAvgPool2d(x!, 1), [randn(2, 3, 5, 4)]);
    gradcheck((x) => F.adaptiveAvgPool2d(x!, [3, 2]), [randn(1, 2, 7, 5)]);
  });

  it('adaptive_max_pool2d with overlapping windows', () => {
    gradcheck((x) => F.adaptiveMaxPool2d(x!, [3, 4]), [distinctValues([1, 2, 7, 5], gen)], { h: 1e-3 });
  });

  it('linear, with and without bias', () => {
    gradcheck((x, w, b) => F.linear(x!, w!, b!), [randn(3, 5), randn(4, 5), randn(4)]);
    gradcheck((x, w) => F.linear(x!, w!), [randn(2, 7), randn(3, 7)]);
  });

  it('flatten and reshape', () => {
    gradcheck((x) => F.flatten(F.reshape(x!, [2, -1, 3]), 1), [randn(2, 4, 3)]);
  });

  it('softmax and log_softmax along a middle axis', () => {
    gradcheck((x) => F.softmax(x!, 1), [randn(2, 5, 3)]);
    gradcheck((x) => F.logSoftmax(x!, -1), [randn(3, 6)]);
  });

  it('cross_entropy: mean, sum, none, and label smoothing', () => {
    const target = Tensor.int64([2, 0, 4]);
    gradcheck((x) => F.crossEntropy(x!, target), [randn(3, 5)]);
    gradcheck((x) => F.crossEntropy(x!, target, { reduction: 'sum', labelSmoothing: 0.1 }), [randn(3, 5)]);
    gradcheck((x) => F.crossEntropy(x!, target, { reduction: 'none', labelSmoothing: 0.3 }), [randn(3, 5)]);
  });

  it('sum, mean and scale', () => {
    gradcheck((x) => F.scale(F.mean(F.scale(x!, 3)), 2), [randn(2, 3)]);
    gradcheck((x) => F.sum(x!), [randn(4)]);
  });

  // ReLU is left out: a weight step moves hundreds of pre-activations, and some cross the kink.
  it('a bottleneck path: conv → BN → grouped conv → BN → add', () => {
    const x = randn(2, 4, 5, 5);
    const w1 = randn(8, 4, 1, 1);
    const w2 = randn(8, 2, 3, 3);
    const bnTrain = (t: Tensor): Tensor =>
      F.batchNorm(t, { runningMean: null, runningVar: null, training: true });
    gradcheck(
      (xi, a, b) => {
        const y = bnTrain(F.conv2d(xi!, a!));
        return F.add(bnTrain(F.conv2d(y, b!, null, { padding: 1, groups: 4 })), F.conv2d(xi!, a!));
      },
      [x, w1, w2],
      { h: 5e-3 },
    );
  });
});
