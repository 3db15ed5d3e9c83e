import { describe, expect, it } from 'vitest';
import { backward, F, Generator, poolStats, SGD, Tensor } from '../../src/index.js';
import { tinyModel } from '../helpers/tiny.js';

const gen = new Generator(11);

describe('storage recycling', () => {
  it('recycles a step’s buffers: after the first step every op output comes from the pool', () => {
    const model = tinyModel();
    const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const x = Tensor.randn([4, 3, 64, 64], { generator: gen });
    const y = Tensor.int64([0, 1, 2, 3]);
    const step = (): void => {
      optimizer.zeroGrad();
      backward(F.crossEntropy(model.forward(x), y));
      optimizer.step();
    };
    step();
    const before = poolStats();
    step();
    step();
    const after = poolStats();
    const hits = after.hits - before.hits;
    const misses = after.misses - before.misses;
    expect(hits).toBeGreaterThan(100);
    // Every activation goes back to the pool once backward is done with it (pool inputs and the
    // residual of a fused batch norm included), so a steady step allocates nothing new.
    expect(misses).toBe(0);
  });

  it('keeps the root, the logits and user tensors valid, and poisons released intermediates', () => {
    const model = tinyModel();
    const x = Tensor.randn([2, 3, 32, 32], { generator: gen });
    let stem: Tensor | null = null;
    model.conv1.registerForwardHook((_m, _i, out) => (stem = out));
    const logits = model.forward(x);
    const loss = F.crossEntropy(logits, Tensor.int64([1, 2]));
    const lossValue = loss.item();
    backward(loss);
    expect(loss.item()).toBe(lossValue);
    expect(logits.toArray().length).toBe(10);
    expect(x.toArray().length).toBe(2 * 3 * 32 * 32);
    // conv1's output was saved by bn1 and released after bn1's backward.
    expect(() => stem!.dataSync()).toThrow(
      'intermediate result saved for backward(), and its storage has been released',
    );
  });

  it('keeps a clone taken before backward', () => {
    const model = tinyModel();
    let kept: Tensor | null = null;
    model.conv1.registerForwardHook((_m, _i, out) => (kept = out.clone()));
    backward(
      F.crossEntropy(model.forward(Tensor.randn([2, 3, 32, 32], { generator: gen })), Tensor.int64([0, 1])),
    );
    expect(kept!.toArray().every(Number.isFinite)).toBe(true);
  });

  it('gives the same gradients as without recycling on repeated steps (no buffer is reused too early)', () => {
    const model = tinyModel();
    const x = Tensor.randn([2, 3, 32, 32], { generator: gen });
    const y = Tensor.int64([3, 4]);
    const grads = (): number[][] => {
      model.zeroGrad();
      backward(F.crossEntropy(model.forward(x), y));
      return model.parameters().map((p) => p.grad!.toArray());
    };
    const first = grads();
    const second = grads();
    const third = grads();
    expect(second).toEqual(first);
    expect(third).toEqual(first);
  });
});

describe('in-place ops', () => {
  it('relu_ and add_ overwrite their input and differentiate like the out-of-place ops', () => {
    const a = Tensor.fromArray([-1, 2, -3, 4]).requiresGrad_();
    const b = Tensor.fromArray([0.5, 0.5, 0.5, 0.5]).requiresGrad_();
    const t = F.scale(a, 1);
    const y = F.relu_(F.add_(t, b));
    expect(y.toArray()).toEqual([0, 2.5, 0, 4.5]);
    expect(t.toArray()).toEqual([0, 2.5, 0, 4.5]);
    backward(F.sum(y));
    expect(a.grad!.toArray()).toEqual([0, 1, 0, 1]);
    expect(b.grad!.toArray()).toEqual([0, 1, 0, 1]);
  });

  it('refuses to overwrite a grad-requiring leaf or a tensor saved for backward', () => {
    const leaf = Tensor.fromArray([1, -1]).requiresGrad_();
    expect(() => F.relu_(leaf)).toThrow(
      'relu_: a leaf tensor that requires grad cannot be modified in place',
    );
    const w = Tensor.randn([2, 1, 1, 1], { generator: gen }).requiresGrad_();
    const x = F.scale(Tensor.randn([1, 1, 2, 2], { generator: gen }).requiresGrad_(), 1);
    F.conv2d(x, w); // conv saves x for its weight gradient
    expect(() => F.relu_(x)).toThrow('relu_: the tensor is saved for backward by an earlier op');
    expect(() => F.add_(x, x)).toThrow('add_: the tensor is saved for backward');
  });
});

describe('inferenceMode', () => {
  it('keeps what it returns, recycles the rest, and reuses the pool on the next call', async () => {
    const { inferenceMode } = await import('../../src/index.js');
    const model = tinyModel().eval();
    const x = Tensor.randn([2, 3, 32, 32], { generator: gen });
    let inner: Tensor | null = null;
    model.conv1.registerForwardHook((_m, _i, out) => (inner = out));
    const first = inferenceMode(() => model.forward(x));
    expect(first.requiresGrad).toBe(false);
    expect(first.toArray().every(Number.isFinite)).toBe(true);
    expect(() => inner!.dataSync()).toThrow('storage has been released');
    const before = poolStats();
    const second = inferenceMode(() => ({ logits: model.forward(x) }));
    const after = poolStats();
    expect(second.logits.toArray()).toEqual(first.toArray());
    expect(after.misses - before.misses).toBe(0);
    expect(after.hits - before.hits).toBeGreaterThan(5);
  });
});
