/**
 * Learning-rate (and momentum) schedules, stepped once per optimizer step, as PyTorch's
 * LRScheduler is when called per batch. Each sets the groups' lr from the step count, so a resumed
 * run only needs the step number.
 */
import type { Optimizer } from './optimizer.js';

export type ScheduleName = 'constant' | 'step' | 'cosine' | 'onecycle';

export interface ScheduleOptions {
  name: ScheduleName;
  /** Optimizer steps in the whole run. */
  totalSteps: number;
  stepsPerEpoch: number;
  /** Linear warm-up from 0 over these steps (step, cosine, constant). */
  warmupSteps?: number;
  /** onecycle: the fraction of steps spent rising (PyTorch's pct_start, default 0.3). */
  pctStart?: number;
  /** step: multiply by gamma every stepEpochs epochs (default 30, 0.1 as StepLR's common use). */
  stepEpochs?: number;
  gamma?: number;
  /** onecycle: PyTorch's defaults otherwise. */
  divFactor?: number;
  finalDivFactor?: number;
  baseMomentum?: number;
  maxMomentum?: number;
  cycleMomentum?: boolean;
}

/** What an optimizer's momentum is called: SGD's momentum or Adam's beta1. */
interface MomentumHyper {
  momentum?: number;
  beta1?: number;
}

function cosineAnneal(start: number, end: number, pct: number): number {
  return end + ((start - end) / 2) * (1 + Math.cos(Math.PI * pct));
}

export class LRSchedule {
  readonly baseLrs: number[];

  constructor(
    readonly optimizer: Optimizer<MomentumHyper>,
    readonly options: ScheduleOptions,
  ) {
    if (!Number.isInteger(options.totalSteps) || options.totalSteps < 1) {
      throw new RangeError(`schedule: totalSteps must be a positive integer, got ${options.totalSteps}`);
    }
    if (options.name === 'onecycle') {
      const pct = options.pctStart ?? 0.3;
      if (
        !(pct > 0 && pct < 1) ||
        pct * options.totalSteps - 1 <= 0 ||
        pct * options.totalSteps >= options.totalSteps
      ) {
        throw new RangeError(
          `schedule: onecycle needs 0 < pctStart < 1 with at least one step on each side, got ${pct} of ${options.totalSteps} steps`,
        );
      }
    }
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.apply(0);
  }

  /** Learning rate factor (or, for onecycle, the lr itself relative to max) at optimizer step `step`. */
  lrAt(step: number, baseLr: number): number {
    const o = this.options;
    const warmup = o.warmupSteps ?? 0;
    if (o.name === 'onecycle') {
      const initial = baseLr / (o.divFactor ?? 25);
      const min = initial / (o.finalDivFactor ?? 1e4);
      const [upEnd, end] = this.oneCyclePhases();
      if (step <= upEnd) return cosineAnneal(initial, baseLr, step / upEnd);
      return cosineAnneal(baseLr, min, (step - upEnd) / (end - upEnd));
    }
    if (warmup > 0 && step < warmup) return (baseLr * (step + 1)) / warmup;
    switch (o.name) {
      case 'constant':
        return baseLr;
      case 'step': {
        const epoch = Math.floor(step / o.stepsPerEpoch);
        return baseLr * (o.gamma ?? 0.1) ** Math.floor(epoch / (o.stepEpochs ?? 30));
      }
      case 'cosine': {
        const span = Math.max(1, o.totalSteps - warmup);
        return cosineAnneal(baseLr, 0, Math.min(1, (step - warmup) / span));
      }
    }
  }

  /** One-cycle momentum at `step` (max → base while the lr rises, back to max as it falls). */
  momentumAt(step: number): number | null {
    const o = this.options;
    if (o.name !== 'onecycle' || o.cycleMomentum === false) return null;
    const base = o.baseMomentum ?? 0.85;
    const max = o.maxMomentum ?? 0.95;
    const [upEnd, end] = this.oneCyclePhases();
    if (step <= upEnd) return cosineAnneal(max, base, step / upEnd);
    return cosineAnneal(base, max, (step - upEnd) / (end - upEnd));
  }

  /** PyTorch's phase ends: pct_start·total − 1 (a float) and total − 1. */
  private oneCyclePhases(): [number, number] {
    const pct = this.options.pctStart ?? 0.3;
    return [pct * this.options.totalSteps - 1, this.options.totalSteps - 1];
  }

  /** Sets every group's lr (and momentum) for optimizer step `step` (0-based). */
  apply(step: number): void {
    const momentum = this.momentumAt(step);
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = this.lrAt(step, this.baseLrs[i]!);
      if (momentum !== null) {
        if (g.hyper.momentum !== undefined) g.hyper.momentum = momentum;
        else if (g.hyper.beta1 !== undefined) g.hyper.beta1 = momentum;
      }
    });
  }
}
