import { describe, expect, it } from 'vitest';
import { F, Generator, Tensor } from '../../src/index.js';
import { maxAbsDiff } from '../helpers/assert.js';
import { naiveConv2d } from '../helpers/naive.js';
import { testBackends, useBackend } from '../helpers/backends.js';

/** Values in logical (NCHW) order, whatever the backend's memory format. */
const logical = (t: Tensor): Float32Array => Float32Array.from(t.toArray());

const gen = new Generator(99);
const randn = (...shape: number[]): Tensor => Tensor.randn(shape, { generator: gen });

describe.each(testBackends())('conv2d values [$name]', (backend) => {
  useBackend(backend);
  const cases = [
    { n: 2, cin: 6, cout: 9, h: 9, w: 7, k: 3, stride: 1, padding: 1, dilation: 1, groups: 3 },
    { n: 1, cin: 64, cout: 64, h: 5, w: 6, k: 3, stride: 2, padding: 1, dilation: 1, groups: 32 },
    { n: 3, cin: 10, cout: 5, h: 4, w: 4, k: 1, stride: 1, padding: 0, dilation: 1, groups: 5 },
    { n: 1, cin: 3, cout: 7, h: 11, w: 13, k: 7, stride: 2, padding: 3, dilation: 1, groups: 1 },
    { n: 2, cin: 4, cout: 4, h: 8, w: 8, k: 3, stride: 1, padding: 2, dilation: 2, groups: 2 },
  ];
  for (const c of cases) {
    it(`matches the 7-loop definition: ${JSON.stringify(c)}`, () => {
      const x = randn(c.n, c.cin, c.h, c.w);
      const w = randn(c.cout, c.cin / c.groups, c.k, c.k);
      const b = randn(c.cout);
      const y = F.conv2d(x, w, b, c);
      const want = naiveConv2d(x, w, b, c);
      expect(y.shape).toEqual(want.shape);
      expect(maxAbsDiff(logical(y), want.data)).toBeLessThan(1e-4);
    });
  }

  it('gives each group its own weights: a grouped conv is the concatenation of per-group convs', () => {
    const groups = 4;
    const x = randn(2, 8, 5, 5);
    const w = randn(12, 2, 3, 3);
    const y = F.conv2d(x, w, null, { padding: 1, groups });
    for (let g = 0; g < groups; g++) {
      // The g-th slice of channels through the g-th slice of weights, as a plain conv.
      const xg = Tensor.empty([2, 2, 5, 5]);
      for (let n = 0; n < 2; n++)
        xg.dataSync().set(x.dataSync().subarray((n * 8 + g * 2) * 25, (n * 8 + g * 2 + 2) * 25), n * 50);
      const wg = new Tensor(w.dataSync().slice(g * 3 * 18, (g + 1) * 3 * 18), [3, 2, 3, 3], 'float32');
      const yg = F.conv2d(xg, wg, null, { padding: 1 });
      for (let n = 0; n < 2; n++) {
        const got = logical(y).subarray((n * 12 + g * 3) * 25, (n * 12 + g * 3 + 3) * 25);
        expect(maxAbsDiff(got, logical(yg).subarray(n * 75, (n + 1) * 75))).toBeLessThan(1e-5);
      }
    }
    // Changing group 1's weights leaves the other groups' outputs alone.
    const w2 = w.clone();
    for (let i = 3 * 18; i < 6 * 18; i++) w2.dataSync()[i] = w2.dataSync()[i]! + 1;
    const y2 = F.conv2d(x, w2, null, { padding: 1, groups });
    for (let n = 0; n < 2; n++) {
      for (let co = 0; co < 12; co++) {
        const slice = (t: Tensor): Float32Array =>
          logical(t).subarray((n * 12 + co) * 25, (n * 12 + co + 1) * 25);
        const changed = maxAbsDiff(slice(y), slice(y2)) > 0;
        expect(changed, `channel ${co}`).toBe(co >= 3 && co < 6);
      }
    }
  });

  it('names the problem for bad input', () => {
    const x = randn(1, 4, 8, 8);
    expect(() => F.conv2d(x, randn(8, 3, 3, 3))).toThrow(
      'conv2d: given groups=1, weight of size [8, 3, 3, 3] expects input [1, 4, 8, 8] to have 3 channels, but got 4 channels',
    );
    expect(() => F.conv2d(x, randn(6, 1, 3, 3), null, { groups: 4 })).toThrow(
      'conv2d: out_channels (6) must be divisible by groups (4)',
    );
    expect(() => F.conv2d(randn(1, 6, 8, 8), randn(8, 2, 3, 3), null, { groups: 4 })).toThrow(
      'expects input [1, 6, 8, 8] to have 8 channels, but got 6',
    );
    expect(() => F.conv2d(randn(4, 8, 8), randn(8, 4, 3, 3))).toThrow(
      'conv2d: input must be 4-D [N, C, H, W], got shape [4, 8, 8]',
    );
    expect(() => F.conv2d(randn(1, 4, 2, 2), randn(8, 4, 3, 3))).toThrow('too small for kernel 3x3');
    expect(() => F.conv2d(x, randn(8, 4, 3, 3), randn(4))).toThrow(
      'conv2d: bias must have shape [8], got [4]',
    );
    expect(() => F.conv2d(x, randn(8, 4, 3, 3), null, { stride: 0 })).toThrow(
      'conv2d: stride must be an integer >= 1',
    );
  });
});

describe.each(testBackends())('batch_norm [$name]', (backend) => {
  useBackend(backend);
  it('normalises with the biased batch variance and updates running_var with the unbiased one', () => {
    const x = Tensor.fromArray([1, 2, 3, 4, 10, 20, 30, 40], [2, 2, 2, 1]);
    // Channel 0 holds 1, 2, 10, 20; channel 1 holds 3, 4, 30, 40.
    const runningMean = Tensor.zeros([2]);
    const runningVar = Tensor.ones([2]);
    const y = F.batchNorm(x, { runningMean, runningVar, training: true, momentum: 0.1, eps: 1e-5 });
    const c0 = [1, 2, 10, 20];
    const mean0 = 33 / 4;
    const var0 = c0.reduce((s, v) => s + (v - mean0) ** 2, 0) / 4;
    expect(y.toArray()[0]).toBeCloseTo((1 - mean0) / Math.sqrt(var0 + 1e-5), 5);
    expect(runningMean.dataSync()[0]).toBeCloseTo(0.1 * mean0, 5);
    expect(runningVar.dataSync()[0]).toBeCloseTo(0.9 + 0.1 * ((var0 * 4) / 3), 4);
  });

  it('uses the running statistics in eval mode and leaves them alone', () => {
    const runningMean = Tensor.fromArray([1, -1]);
    const runningVar = Tensor.fromArray([4, 0.25]);
    const x = Tensor.fromArray([3, 0], [1, 2, 1, 1]);
    const y = F.batchNorm(x, { runningMean, runningVar, training: false, eps: 0 });
    expect(y.toArray()).toEqual([1, 2]);
    expect(runningMean.toArray()).toEqual([1, -1]);
  });

  it('refuses a single value per channel in train mode, as PyTorch does', () => {
    expect(() =>
      F.batchNorm(randn(1, 3, 1, 1), { runningMean: null, runningVar: null, training: true }),
    ).toThrow('expected more than 1 value per channel when training, got input size [1, 3, 1, 1]');
  });
});

describe.each(testBackends())('pooling [$name]', (backend) => {
  useBackend(backend);
  it('max_pool2d picks window maxima, ignoring padding, with PyTorch output sizes', () => {
    const x = Tensor.fromArray(
      Array.from({ length: 16 }, (_, i) => -i),
      [1, 1, 4, 4],
    );
    const y = F.maxPool2d(x, 3, { stride: 2, padding: 1 });
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expect(y.toArray()).toEqual([-0, -1, -4, -5]);
    expect(F.maxPool2d(randn(1, 1, 5, 5), 2, { ceilMode: true }).shape).toEqual([1, 1, 3, 3]);
    expect(F.maxPool2d(randn(1, 1, 5, 5), 2).shape).toEqual([1, 1, 2, 2]);
    expect(F.maxPool2d(randn(1, 2, 112, 112), 3, { stride: 2, padding: 1 }).shape).toEqual([1, 2, 56, 56]);
  });

  it('adaptive pools use PyTorch windows floor(i*H/o) .. ceil((i+1)*H/o)', () => {
    const x = Tensor.fromArray([1, 2, 3, 4, 5], [1, 1, 1, 5]);
    expect(F.adaptiveAvgPool2d(x, [1, 3]).toArray()).toEqual([1.5, 3, 4.5]);
    expect(F.adaptiveMaxPool2d(x, [1, 3]).toArray()).toEqual([2, 4, 5]);
    expect(F.adaptiveAvgPool2d(randn(2, 3, 7, 7), 1).shape).toEqual([2, 3, 1, 1]);
  });

  it('names bad pooling arguments', () => {
    expect(() => F.maxPool2d(randn(1, 1, 4, 4), 2, { padding: 2 })).toThrow(
      'padding (2, 2) must be at most half the kernel size',
    );
    expect(() => F.adaptiveAvgPool2d(randn(1, 4, 4), 1)).toThrow('adaptive_avg_pool2d: input must be 4-D');
  });
});

describe.each(testBackends())('softmax and cross_entropy [$name]', (backend) => {
  useBackend(backend);
  it('softmax rows sum to 1 and are shift-invariant', () => {
    const x = Tensor.fromArray([1000, 1001, 1002, -5, 0, 5], [2, 3]);
    const y = F.softmax(x, 1).toArray();
    expect(y[0]! + y[1]! + y[2]!).toBeCloseTo(1, 6);
    expect(y[2]).toBeCloseTo(Math.exp(2) / (1 + Math.exp(1) + Math.exp(2)), 6);
  });

  it('cross_entropy equals mean(logsumexp - logit[y]), with label smoothing mixing in the uniform target', () => {
    const logits = Tensor.fromArray([2, 0, -1, 0.5, 0.5, 3], [2, 3]);
    const target = Tensor.int64([0, 2]);
    const lse = (r: number[]): number => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
    const rows = [
      [2, 0, -1],
      [0.5, 0.5, 3],
    ];
    const nll = (lse(rows[0]!) - 2 + lse(rows[1]!) - 3) / 2;
    expect(F.crossEntropy(logits, target).item()).toBeCloseTo(nll, 6);
    const eps = 0.2;
    const smooth = rows.reduce((s, r) => s + r.reduce((a, v) => a + (lse(r) - v), 0) / 3, 0) / 2;
    expect(F.crossEntropy(logits, target, { labelSmoothing: eps }).item()).toBeCloseTo(
      (1 - eps) * nll + eps * smooth,
      6,
    );
  });

  it('names bad targets', () => {
    const logits = randn(2, 3);
    expect(() => F.crossEntropy(logits, Tensor.int64([0, 3]))).toThrow(
      'cross_entropy: target[1] = 3 is out of range for 3 classes',
    );
    expect(() => F.crossEntropy(logits, Tensor.int64([0]))).toThrow(
      'target must have shape [2] for input [2, 3], got [1]',
    );
  });
});

describe.each(testBackends())('linear and shapes [$name]', (backend) => {
  useBackend(backend);
  it('computes x·Wᵀ + b in PyTorch layout', () => {
    const x = Tensor.fromArray([1, 2], [1, 2]);
    const w = Tensor.fromArray([1, 0, 0, 1, 1, 1], [3, 2]);
    expect(F.linear(x, w, Tensor.fromArray([0, 0, 10])).toArray()).toEqual([1, 2, 13]);
    expect(() => F.linear(randn(2, 3), w)).toThrow(
      'linear: input [2, 3] has 3 features but weight [3, 2] expects 2',
    );
  });

  it('reshape infers one dimension and rejects impossible shapes', () => {
    expect(F.reshape(randn(2, 3, 4), [-1, 4]).shape).toEqual([6, 4]);
    expect(F.flatten(randn(2, 3, 4, 5)).shape).toEqual([2, 60]);
    expect(() => F.reshape(randn(2, 3), [4, -1])).toThrow(
      'reshape: shape [4, -1] is invalid for input of size 6',
    );
  });
});
