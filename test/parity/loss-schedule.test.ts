import { describe, expect, it } from 'vitest';
import { Adam, backward, F, LRSchedule, Parameter, SGD, Tensor, type DType } from '../../src/index.js';
import { expectClose } from '../helpers/assert.js';
import { fixtureSeed, loadFixture, manifest, type ScheduleCase } from '../helpers/fixtures.js';
import { seededInput, seededLabels } from '../helpers/seeded.js';
import { testBackends, useBackend } from '../helpers/backends.js';

const STATE_RTOL = 1e-4;

describe.each(testBackends())('cross-entropy with label smoothing, as PyTorch [$name backend]', (backend) => {
  useBackend(backend);
  const c = manifest().cases.cross_entropy;
  it.each(c.label_smoothing)('matches loss, per-sample losses and gradient at smoothing %s', (eps) => {
    const expected = loadFixture('cross_entropy');
    const key = `smoothing_${Number.isInteger(eps) ? eps.toFixed(1) : eps}`;
    const seed = fixtureSeed();
    const logitsData = seededInput(seed, 'cross_entropy.logits', [c.batch, c.classes]);
    const y = seededLabels(seed, 'cross_entropy.y', c.batch, c.classes);
    const logits = new Parameter(F.scale(logitsData, 3));
    const loss = F.crossEntropy(logits, y, { labelSmoothing: eps });
    const want = expected.get(`${key}.loss`)!;
    expectClose(loss, new Tensor(want.dataSync() as Float32Array, [], 'float32'), `${key}.loss`, {
      rtol: STATE_RTOL,
      floor: 1,
    });
    backward(loss);
    expectClose(logits.grad!, expected.get(`${key}.grad`)!, `${key}.grad`, { rtol: STATE_RTOL, floor: 1 });
    const perSample = F.crossEntropy(F.scale(logitsData, 3), y, { labelSmoothing: eps, reduction: 'none' });
    expectClose(perSample, expected.get(`${key}.loss_none`)!, `${key}.loss_none`, {
      rtol: STATE_RTOL,
      floor: 1,
    });
  });
});

function scheduleFor(spec: ScheduleCase, steps: number): { schedule: LRSchedule; momentum: () => number } {
  const p = [new Parameter(Tensor.zeros([1]))];
  const optimizer =
    spec.optimizer === 'sgd'
      ? new SGD(p, { lr: spec.lr, momentum: spec.momentum })
      : new Adam(p, { lr: spec.lr });
  const group = optimizer.paramGroups[0]!;
  const hyper = group.hyper as { momentum?: number; beta1?: number };
  const schedule = new LRSchedule(optimizer, {
    name: spec.name,
    totalSteps: steps,
    stepsPerEpoch: spec.steps_per_epoch ?? steps,
    warmupSteps: spec.warmup_steps ?? 0,
    pctStart: spec.pct_start,
    stepEpochs: spec.step_epochs,
    gamma: spec.gamma,
  });
  return { schedule, momentum: () => hyper.momentum ?? hyper.beta1! };
}

describe("learning-rate schedules, as PyTorch's schedulers stepped once per batch", () => {
  const { steps, schedules } = manifest().cases.schedules;
  it.each(Object.entries(schedules))('%s: lr (and momentum) at every step', (key, spec) => {
    const expected = loadFixture('schedules');
    const { schedule, momentum } = scheduleFor(spec, steps);
    const lrs: number[] = [];
    const momenta: number[] = [];
    for (let step = 0; step < steps; step++) {
      schedule.apply(step);
      lrs.push(schedule.optimizer.paramGroups[0]!.lr);
      momenta.push(momentum());
    }
    // The fixture holds PyTorch's float64 values rounded to float32: compare to float32 precision.
    const close = (got: number[], want: Tensor<DType>, what: string): void => {
      const w = want.toArray();
      expect(w.length, what).toBe(steps);
      const worst = Math.max(...got.map((g, i) => Math.abs(g - w[i]!) / Math.max(Math.abs(w[i]!), 1e-12)));
      expect(worst, `${key}.${what}: worst relative difference`).toBeLessThanOrEqual(1e-6);
    };
    close(lrs, expected.get(`${key}.lr`)!, 'lr');
    const wantMomentum = expected.get(`${key}.momentum`);
    if (wantMomentum) close(momenta, wantMomentum, 'momentum');
  });
});
