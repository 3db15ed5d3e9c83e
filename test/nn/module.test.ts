import { describe, expect, it } from 'vitest';
import { F, nn, noGrad, onMetaDevice, SGD, Tensor, type DType } from '../../src/index.js';
import { expectClose } from '../helpers/assert.js';

class Block extends nn.Module {
  readonly conv = this.registerModule('conv', new nn.Conv2d(2, 4, 3, { padding: 1, bias: false }));
  readonly bn = this.registerModule('bn', new nn.BatchNorm2d(4));
  readonly head = this.registerModule('head', new nn.Sequential(new nn.Flatten(), new nn.Linear(4 * 9, 3)));

  forward(x: Tensor): Tensor {
    return this.head.call(F.relu(this.bn.call(this.conv.call(x))));
  }
}

describe('Module', () => {
  it("names parameters and buffers with PyTorch's dotted names, in PyTorch's state_dict order", () => {
    const m = new Block();
    expect([...m.stateDict().keys()]).toEqual([
      'conv.weight',
      'bn.weight',
      'bn.bias',
      'bn.running_mean',
      'bn.running_var',
      'bn.num_batches_tracked',
      'head.1.weight',
      'head.1.bias',
    ]);
    expect(m.namedParameters().map(([n]) => n)).toEqual([
      'conv.weight',
      'bn.weight',
      'bn.bias',
      'head.1.weight',
      'head.1.bias',
    ]);
    expect(m.stateDict().get('bn.num_batches_tracked')!.dtype).toBe('int64');
  });

  it('counts train-mode forward passes in num_batches_tracked, and eval uses running stats', () => {
    const m = new Block();
    const x = Tensor.randn([2, 2, 3, 3]);
    m.forward(x);
    m.forward(x);
    expect(Number(m.bn.numBatchesTracked!.dataSync()[0])).toBe(2);
    m.eval();
    expect(m.bn.training).toBe(false);
    const before = m.bn.runningMean!.clone();
    noGrad(() => m.forward(x));
    expect(Number(m.bn.numBatchesTracked!.dataSync()[0])).toBe(2);
    expect(m.bn.runningMean!.toArray()).toEqual(before.toArray());
  });

  it('uses a cumulative average when momentum is null', () => {
    const bn = new nn.BatchNorm2d(1, { momentum: null });
    bn.forward(Tensor.fromArray([1, 3], [2, 1, 1, 1]));
    bn.forward(Tensor.fromArray([5, 7], [2, 1, 1, 1]));
    expect(bn.runningMean!.dataSync()[0]).toBeCloseTo(4, 6);
  });

  it('round-trips a state dict and loads in place', () => {
    const a = new Block();
    const b = new Block();
    const weight = b.conv.weight;
    b.loadStateDict(a.stateDict());
    expect(b.conv.weight).toBe(weight);
    expect(b.conv.weight.toArray()).toEqual(a.conv.weight.toArray());
  });

  it('lists missing, unexpected and mis-shaped keys by name', () => {
    const m = new Block();
    const state = new Map<string, Tensor<DType>>(m.stateDict());
    state.delete('bn.running_var');
    state.set('extra.weight', Tensor.zeros([1]));
    state.set('head.1.weight', Tensor.zeros([5, 36]));
    let message = '';
    try {
      m.loadStateDict(state);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('Error(s) in loading state_dict for Block');
    expect(message).toContain('Missing key(s) in state_dict: "bn.running_var"');
    expect(message).toContain('Unexpected key(s) in state_dict: "extra.weight"');
    expect(message).toContain(
      'size mismatch for head.1.weight: copying a param with shape [5, 36] from checkpoint, the shape in current model is [3, 36]',
    );
  });

  it('reports missing and unexpected keys without failing when not strict, but never accepts a wrong shape', () => {
    const m = new Block();
    const state = new Map<string, Tensor<DType>>([
      ['conv.weight', Tensor.ones([4, 2, 3, 3])],
      ['other', Tensor.ones([1])],
    ]);
    const result = m.loadStateDict(state, { strict: false });
    expect(result.unexpectedKeys).toEqual(['other']);
    expect(result.missingKeys).toContain('bn.weight');
    expect(m.conv.weight.dataSync()[0]).toBe(1);
    expect(() =>
      m.loadStateDict(new Map([['conv.weight', Tensor.ones([4, 2, 1, 1])]]), { strict: false }),
    ).toThrow('size mismatch for conv.weight');
  });

  it('runs forward hooks and removes them', () => {
    const m = new Block();
    const seen: string[] = [];
    const handle = m.bn.registerForwardHook((mod, _i, out) =>
      seen.push(`${mod.typeName}:${out.shape.join('x')}`),
    );
    m.forward(Tensor.randn([2, 2, 3, 3]));
    handle.remove();
    m.forward(Tensor.randn([2, 2, 3, 3]));
    expect(seen).toEqual(['BatchNorm2d:2x4x3x3']);
  });

  it('builds shape-only models on the meta device', () => {
    const m = onMetaDevice(() => new Block());
    expect(m.conv.weight.isMeta).toBe(true);
    expect(m.parameterCount()).toBe(4 * 2 * 9 + 8 + 36 * 3 + 3);
    const y = m.forward(Tensor.meta([5, 2, 3, 3]));
    expect(y.shape).toEqual([5, 3]);
    expect(y.isMeta).toBe(true);
  });

  it('freezeForInference: same outputs, no gradients, and copy_, loadStateDict and optimizers refuse it', () => {
    const m = new Block().eval();
    const x = Tensor.randn([2, 2, 3, 3]);
    const before = m.forward(x);
    const state = m.stateDict();
    expect(m.freezeForInference()).toBe(m);
    expect(m.parameters().every((p) => !p.requiresGrad && p.storage.constant)).toBe(true);
    expect(m.bn.runningMean!.storage.constant).toBe(true);
    // equal to rounding: a backend may run constant weights through another kernel
    expectClose(m.forward(x), before, 'frozen', { rtol: 1e-6, floor: 1 });
    expect(() => m.conv.weight.copy_(Tensor.zeros([4, 2, 3, 3]))).toThrow(
      /constant \(Module.freezeForInference\)/,
    );
    expect(() => m.loadStateDict(state)).toThrow(/constant/);
    expect(() => new SGD(m.parameters(), { lr: 0.1 })).toThrow(/a parameter is constant/);
    // A copy is free to change: the flag belongs to the frozen storage only.
    const copy = new Block();
    copy.loadStateDict(state);
    expect(copy.parameters().some((p) => p.storage.constant)).toBe(false);
  });

  it('freezes parameters and clears gradients', () => {
    const m = new Block();
    m.requiresGrad_(false);
    expect(m.parameterCount({ trainableOnly: true })).toBe(0);
    m.head.requiresGrad_(true);
    expect(m.parameterCount({ trainableOnly: true })).toBe(36 * 3 + 3);
  });

  it('rejects bad layer arguments with their names', () => {
    expect(() => new nn.Conv2d(6, 8, 3, { groups: 4 })).toThrow(
      'Conv2d: in_channels (6) must be divisible by groups (4)',
    );
    expect(() => new nn.Conv2d(8, 6, 3, { groups: 4 })).toThrow(
      'Conv2d: out_channels (6) must be divisible by groups (4)',
    );
    expect(() => new nn.BatchNorm2d(0)).toThrow('num_features must be a positive integer');
    expect(() => new nn.BatchNorm2d(3).forward(Tensor.zeros([2, 4, 2, 2]))).toThrow(
      'BatchNorm2d: expected 3 channels, got input [2, 4, 2, 2]',
    );
  });
});

describe('initialisation', () => {
  it("follows PyTorch's defaults for Linear and Conv2d: U(±1/sqrt(fan_in))", () => {
    const lin = new nn.Linear(400, 300);
    const bound = 1 / Math.sqrt(400);
    const w = lin.weight.toArray();
    expect(Math.max(...w)).toBeLessThanOrEqual(bound);
    expect(Math.min(...w)).toBeGreaterThanOrEqual(-bound);
    expect(Math.max(...w)).toBeGreaterThan(bound * 0.99);
    const b = lin.bias!.toArray();
    expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual(bound);
  });

  it('kaiming_normal fan_out has std sqrt(2 / fan_out)', () => {
    const t = Tensor.empty([256, 64, 3, 3]);
    nn.init.kaimingNormal_(t, { mode: 'fan_out', nonlinearity: 'relu' });
    const v = t.toArray();
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
    expect(std).toBeCloseTo(Math.sqrt(2 / (256 * 9)), 3);
    expect(Math.abs(mean)).toBeLessThan(1e-3);
  });
});
