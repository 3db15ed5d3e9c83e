import { describe, expect, it } from 'vitest';
import { Parameter, SGD, Tensor } from '../../src/index.js';

const param = (values: number[]): Parameter => new Parameter(Tensor.fromArray(values));
const setGrad = (p: Parameter, values: number[]): void => {
  p.grad = Tensor.fromArray(values);
};

describe('SGD', () => {
  it('plain: p -= lr * grad', () => {
    const p = param([1, 2]);
    const opt = new SGD([p], { lr: 0.5 });
    setGrad(p, [2, -4]);
    opt.step();
    expect(p.toArray()).toEqual([0, 4]);
  });

  it("momentum and weight decay follow PyTorch's update (first step sets the buffer)", () => {
    const p = param([1]);
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    setGrad(p, [1]);
    opt.step(); // d = 1 + 0.01 = 1.01; buf = 1.01; p = 1 - 0.101
    expect(p.dataSync()[0]).toBeCloseTo(0.899, 6);
    setGrad(p, [1]);
    opt.step(); // d = 1 + 0.00899; buf = 0.9 * 1.01 + 1.00899; p -= 0.1 * buf
    expect(p.dataSync()[0]).toBeCloseTo(0.899 - 0.1 * (0.909 + 1.00899), 6);
  });

  it('nesterov uses d + momentum * buf', () => {
    const p = param([0]);
    const opt = new SGD([p], { lr: 1, momentum: 0.5, nesterov: true });
    setGrad(p, [1]);
    opt.step(); // buf = 1; d = 1 + 0.5
    expect(p.dataSync()[0]).toBeCloseTo(-1.5, 6);
    setGrad(p, [1]);
    opt.step(); // buf = 0.5 + 1 = 1.5; d = 1 + 0.75
    expect(p.dataSync()[0]).toBeCloseTo(-3.25, 6);
  });

  it('dampening scales the new gradient after the first step', () => {
    const p = param([0]);
    const opt = new SGD([p], { lr: 1, momentum: 0.5, dampening: 0.5 });
    setGrad(p, [1]);
    opt.step();
    setGrad(p, [1]);
    opt.step(); // buf = 0.5 * 1 + 0.5 * 1 = 1
    expect(p.dataSync()[0]).toBeCloseTo(-2, 6);
  });

  it('skips parameters without a gradient and supports groups with their own lr', () => {
    const a = param([1]);
    const b = param([1]);
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 1 }], { lr: 0.1 });
    setGrad(b, [1]);
    opt.step();
    expect(a.dataSync()[0]).toBe(1);
    expect(b.dataSync()[0]).toBe(0);
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.1, 1]);
  });

  it('saves and restores momentum buffers for an exact resume', () => {
    const run = (resumeAfter: number | null): number[] => {
      const p = param([1, -1]);
      let opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
      for (let i = 0; i < 4; i++) {
        if (i === resumeAfter) {
          const state = opt.stateTensors();
          opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
          opt.loadStateTensors(state);
        }
        setGrad(p, [p.dataSync()[0]!, 2 * p.dataSync()[1]!]);
        opt.step();
      }
      return p.toArray();
    };
    expect(run(2)).toEqual(run(null));
  });

  it('rejects invalid settings', () => {
    expect(() => new SGD([param([1])], { lr: 0.1, nesterov: true })).toThrow(
      'nesterov momentum requires a momentum',
    );
    expect(() => new SGD([param([1])], { lr: -1 })).toThrow('invalid learning rate: -1');
    expect(() => new SGD([], { lr: 1 })).toThrow('empty parameter list');
    const p = param([1]);
    expect(() => new SGD([p, p], { lr: 1 })).toThrow('a parameter group contains the same parameter twice');
    expect(() => new SGD([{ params: [p] }, { params: [p] }], { lr: 1 })).toThrow(
      'more than one parameter group',
    );
    const opt = new SGD([p], { lr: 1, momentum: 0.9 });
    expect(() => opt.loadStateTensors(new Map([['state.0.momentum_buffer', Tensor.zeros([3])]]))).toThrow(
      '"state.0.momentum_buffer" has shape [3] but the parameter has [1]',
    );
  });
});
