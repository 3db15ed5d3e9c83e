import { describe, expect, it } from 'vitest';
import { Adam, AdamW, LRSchedule, Parameter, SGD, Tensor } from '../../src/index.js';

const param = (values: number[]): Parameter => new Parameter(Tensor.fromArray(values));

describe('Adam and AdamW', () => {
  it('follow PyTorch: bias-corrected moments, L2 (Adam) or decoupled (AdamW) weight decay', () => {
    const a = param([1]);
    const adam = new Adam([a], { lr: 0.1 });
    a.grad = Tensor.fromArray([1]);
    adam.step();
    expect(a.dataSync()[0]).toBeCloseTo(0.9, 6);
    a.grad = Tensor.fromArray([0.5]);
    adam.step();
    const m = 0.9 * 0.1 + 0.1 * 0.5;
    const v = 0.999 * 0.001 + 0.001 * 0.25;
    const expected = 0.9 - (0.1 / (1 - 0.9 ** 2)) * (m / (Math.sqrt(v) / Math.sqrt(1 - 0.999 ** 2) + 1e-8));
    expect(a.dataSync()[0]).toBeCloseTo(expected, 6);

    const b = param([1]);
    const l2 = new Adam([b], { lr: 0.1, weightDecay: 0.1 });
    b.grad = Tensor.fromArray([1]);
    l2.step();
    expect(b.dataSync()[0]).toBeCloseTo(0.9, 6);

    const c = param([1]);
    const decoupled = new AdamW([c], { lr: 0.1, weightDecay: 0.1 });
    c.grad = Tensor.fromArray([1]);
    decoupled.step();
    expect(c.dataSync()[0]).toBeCloseTo(0.89, 6);
  });

  it('saves and restores its moments for an exact resume', () => {
    const run = (split: boolean): number[] => {
      const p = param([1, -2]);
      let opt = new AdamW([p], { lr: 0.05 });
      for (let i = 0; i < 5; i++) {
        if (split && i === 3) {
          const state = opt.stateTensors();
          opt = new AdamW([p], { lr: 0.05 });
          opt.loadStateTensors(state);
        }
        p.grad = Tensor.fromArray([p.dataSync()[0]! * 2, p.dataSync()[1]!]);
        opt.step();
      }
      return p.toArray();
    };
    expect(run(true)).toEqual(run(false));
    expect(() => new Adam([param([1])], { betas: [1, 0.9] })).toThrow('invalid beta parameter at index 0: 1');
  });
});

describe('learning-rate schedules', () => {
  it('one-cycle matches PyTorch OneCycleLR (cos, div 25, final div 1e4, momentum 0.95 → 0.85 → 0.95)', () => {
    const opt = new SGD([param([0])], { lr: 0.05, momentum: 0.9, nesterov: true });
    const s = new LRSchedule(opt, {
      name: 'onecycle',
      totalSteps: 100,
      stepsPerEpoch: 10,
      pctStart: 0.15,
    });
    const lr = (step: number): number => {
      s.apply(step);
      return opt.paramGroups[0]!.lr;
    };
    const momentum = (): number => opt.paramGroups[0]!.hyper.momentum;
    expect(lr(0)).toBeCloseTo(0.002, 9);
    expect(momentum()).toBeCloseTo(0.95, 9);
    // PyTorch's first phase ends at pct_start·total − 1 = 14.
    expect(lr(14)).toBeCloseTo(0.05, 9);
    expect(momentum()).toBeCloseTo(0.85, 9);
    expect(lr(7)).toBeCloseTo(0.05 + ((0.002 - 0.05) / 2) * (1 + Math.cos(Math.PI * 0.5)), 9);
    expect(lr(99)).toBeCloseTo(0.002 / 1e4, 12);
    expect(momentum()).toBeCloseTo(0.95, 9);
    expect(lr(50)).toBeCloseTo(2e-7 + ((0.05 - 2e-7) / 2) * (1 + Math.cos((Math.PI * 36) / 85)), 9);
  });

  it('cosine and step schedules with linear warm-up', () => {
    const at = (s: LRSchedule, step: number): number => {
      s.apply(step);
      return s.optimizer.paramGroups[0]!.lr;
    };
    const cosine = new LRSchedule(new SGD([param([0])], { lr: 1 }), {
      name: 'cosine',
      totalSteps: 20,
      stepsPerEpoch: 5,
      warmupSteps: 4,
    });
    expect(at(cosine, 0)).toBeCloseTo(0.25, 9);
    expect(at(cosine, 3)).toBeCloseTo(1, 9);
    expect(at(cosine, 4)).toBeCloseTo(1, 9);
    expect(at(cosine, 12)).toBeCloseTo(0.5, 9);
    const step = new LRSchedule(new SGD([param([0])], { lr: 1 }), {
      name: 'step',
      totalSteps: 100,
      stepsPerEpoch: 10,
      stepEpochs: 3,
      gamma: 0.1,
    });
    expect(at(step, 29)).toBeCloseTo(1, 9);
    expect(at(step, 30)).toBeCloseTo(0.1, 9);
    expect(at(step, 60)).toBeCloseTo(0.01, 9);
    expect(
      () =>
        new LRSchedule(new SGD([param([0])], { lr: 1 }), {
          name: 'onecycle',
          totalSteps: 3,
          stepsPerEpoch: 1,
          pctStart: 0.1,
        }),
    ).toThrow('onecycle needs 0 < pctStart < 1 with at least one step on each side');
  });
});
