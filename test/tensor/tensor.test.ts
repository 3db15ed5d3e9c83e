import { describe, expect, it } from 'vitest';
import { Generator, manualSeed, Tensor, defaultGenerator } from '../../src/index.js';

describe('Tensor', () => {
  it('creates contiguous tensors and checks data length against the shape', () => {
    const t = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(t.numel).toBe(6);
    expect(t.size(-1)).toBe(3);
    expect(() => Tensor.fromArray([1, 2, 3], [2, 2])).toThrow(
      'tensor data has 3 elements but shape [2, 2] needs 4',
    );
    expect(() => Tensor.zeros([2, -1])).toThrow('shape [2, -1] must contain non-negative integers');
    expect(() => t.item()).toThrow('item() needs a one-element tensor, got shape [2, 3]');
    expect(() => t.size(2)).toThrow('dimension 2 is out of range for shape [2, 3]');
  });

  it('holds int64 labels', () => {
    const y = Tensor.int64([0, 3, 9]);
    expect(y.dtype).toBe('int64');
    expect(y.toArray()).toEqual([0, 3, 9]);
    expect(() => Tensor.int64([1.5])).toThrow('int64 value 1.5 is not an integer');
    expect(() => y.requiresGrad_()).toThrow('only float32 tensors can require gradients');
  });

  it('copies with conversion and checks shapes', () => {
    const a = Tensor.zeros([2]);
    a.copy_(Tensor.int64([3, 4]));
    expect(a.toArray()).toEqual([3, 4]);
    expect(() => a.copy_(Tensor.zeros([3]))).toThrow('copy_: shape [3] does not match [2]');
  });

  it('meta tensors have a shape but no data', () => {
    const m = Tensor.meta([2, 3]);
    expect(m.isMeta).toBe(true);
    expect(m.numel).toBe(6);
    expect(() => m.toArray()).toThrow('meta tensor');
  });
});

describe('Generator', () => {
  it('is reproducible for a seed and differs across seeds', () => {
    const a = new Generator(42);
    const b = new Generator(42);
    const c = new Generator(43);
    const xs = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(xs);
  });

  it('saves and restores its state exactly, including a pending normal', () => {
    const g = new Generator(7);
    g.normal();
    const state = g.getState();
    const next = [g.normal(), g.uniform(), g.normal()];
    g.setState(state);
    expect([g.normal(), g.uniform(), g.normal()]).toEqual(next);
  });

  it('draws N(0, 1) and U[0, 1) with the right moments', () => {
    const g = new Generator(1);
    const n = 100_000;
    let s = 0;
    let s2 = 0;
    let u = 0;
    for (let i = 0; i < n; i++) {
      const v = g.normal();
      s += v;
      s2 += v * v;
      u += g.uniform();
    }
    expect(Math.abs(s / n)).toBeLessThan(0.01);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.02);
    expect(Math.abs(u / n - 0.5)).toBeLessThan(0.005);
  });

  it('manualSeed resets the default generator', () => {
    manualSeed(3);
    const first = Tensor.randn([4]).toArray();
    manualSeed(3);
    expect(Tensor.randn([4]).toArray()).toEqual(first);
    expect(defaultGenerator).toBeInstanceOf(Generator);
  });
});
