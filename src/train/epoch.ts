/**
 * One epoch of training (as timm's train_one_epoch) and its validation (validate): the steps,
 * the running loss and accuracy with a progress bar, and the epoch's record.
 */
import { backward } from '../autograd/backward.js';
import type { DataLoader } from '../data/loader.js';
import type { DataParallel } from '../distributed/data-parallel.js';
import type { ResNet } from '../models/resnet.js';
import { crossEntropy } from '../ops/loss.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { LRSchedule } from '../optim/schedule.js';
import { modelDevice } from '../nn/module.js';
import { yieldToEventLoop } from '../util/yield.js';
import { evaluate } from './evaluate.js';
import { ClassificationMetrics } from './metrics.js';
import { EpochProgress } from './progress.js';
import type { EpochRecord } from './report.js';
import type { EpochSums, RunState } from './run-files.js';

export interface EpochContext {
  model: ResNet;
  optimizer: Optimizer<object>;
  schedule: LRSchedule;
  loader: DataLoader;
  classes: readonly string[];
  labelSmoothing: number;
  /** Label of the progress bar, e.g. "epoch 3/10". */
  label: string;
  showProgress: boolean;
  log: (line: string) => void;
  /** Called after every optimizer step; returns true to stop after it (Ctrl-C, a step limit). */
  afterStep: (batch: number, loss: number) => boolean;
  /** The ranks of a data-parallel run (gradients averaged before each step; decisions agreed). */
  parallel?: DataParallel;
}

export type EpochOutcome =
  | { kind: 'finished'; sums: EpochSums; skipped: number }
  | { kind: 'stopped'; sums: EpochSums; skipped: number }
  | { kind: 'nan'; loss: number; batch: number };

/**
 * Trains `epoch` from `state.batch` on (a resumed epoch continues its running sums), advancing
 * state.step and state.batch. Stops early at a non-finite loss, before stepping on it.
 */
export async function trainOneEpoch(
  ctx: EpochContext,
  epoch: number,
  state: RunState,
): Promise<EpochOutcome> {
  ctx.model.train();
  const stepsPerEpoch = ctx.loader.batchesPerEpoch;
  const progress = new EpochProgress(ctx.label, stepsPerEpoch, process.stderr, ctx.showProgress);
  // This rank's sums of the epoch; with several ranks they are added over the ranks at the end, to
  // what a resumed epoch had before (already summed over the ranks).
  const base = state.partial ?? { lossSum: 0, correct: 0, count: 0, seconds: 0 };
  const parallel = ctx.parallel;
  const sums = parallel?.distributed ? { lossSum: 0, correct: 0, count: 0, seconds: base.seconds } : base;
  let skipped = 0;
  let stop = false;
  const device = modelDevice(ctx.model);
  progress.start(state.batch);
  let t0 = performance.now();
  try {
    for await (const batch of ctx.loader.epoch(epoch, state.batch)) {
      skipped += batch.skipped.length;
      for (const s of batch.skipped) ctx.log(`skipped unreadable image ${s.name}: ${s.reason}`);
      if (batch.x.shape[0] === 0) continue;
      ctx.optimizer.zeroGrad();
      const logits = ctx.model.call(batch.x.to(device));
      const loss = crossEntropy(logits, batch.y, { labelSmoothing: ctx.labelSmoothing });
      const localLoss = (await loss.data())[0]!;
      // Every rank sees the mean loss, so that all stop together on a non-finite one.
      const lossValue = parallel ? parallel.mean(localLoss) : localLoss;
      if (!Number.isFinite(lossValue)) return { kind: 'nan', loss: lossValue, batch: batch.index };
      backward(loss);
      parallel?.averageGradients();
      ctx.optimizer.step();
      parallel?.broadcastBuffers();
      state.step++;
      ctx.schedule.apply(state.step);
      const n = batch.y.numel;
      const predictions = new ClassificationMetrics(ctx.classes);
      predictions.update(await logits.cpu(), batch.y, localLoss);
      sums.lossSum += localLoss * n;
      sums.correct += predictions.accuracy * n;
      sums.count += n;
      state.batch = batch.index + 1;
      const now = performance.now();
      sums.seconds += (now - t0) / 1000;
      t0 = now;
      progress.update(state.batch, {
        loss: sums.lossSum / sums.count,
        acc: sums.correct / sums.count,
        rate: sums.count / sums.seconds,
      });
      await yieldToEventLoop();
      stop = ctx.afterStep(batch.index, lossValue);
      if (parallel) stop = parallel.any(stop);
      if (stop) break;
    }
  } finally {
    progress.stop();
  }
  if (parallel?.distributed) {
    const total = parallel.sum(Float64Array.from([sums.lossSum, sums.correct, sums.count]));
    sums.lossSum = base.lossSum + total[0]!;
    sums.correct = base.correct + total[1]!;
    sums.count = base.count + total[2]!;
  }
  const complete = state.batch >= stepsPerEpoch;
  return { kind: stop && !complete ? 'stopped' : 'finished', sums, skipped };
}

/**
 * Validation after a finished epoch: its record, and the metrics (confusion matrix, per class);
 * `stopped` when `shouldStop` ended it early (the record is then incomplete and not to be kept).
 */
export async function validate(
  ctx: Pick<EpochContext, 'model' | 'optimizer' | 'classes'>,
  loader: DataLoader,
  epoch: number,
  sums: EpochSums,
  shouldStop?: () => boolean,
  parallel?: DataParallel,
): Promise<{ record: EpochRecord; metrics: ClassificationMetrics; seconds: number; stopped: boolean }> {
  const start = performance.now();
  const evaluated = await evaluate(ctx.model, loader, ctx.classes, { shouldStop });
  const { metrics } = evaluated;
  // Each rank validated its shard: the metrics of the whole set are the sums over the ranks.
  const stopped = parallel ? parallel.any(evaluated.stopped) : evaluated.stopped;
  if (parallel?.distributed) metrics.reduceWith((v) => parallel.sum(v));
  const record: EpochRecord = {
    epoch,
    trainLoss: sums.lossSum / Math.max(1, sums.count),
    trainAcc: sums.correct / Math.max(1, sums.count),
    valLoss: metrics.loss,
    valAcc: metrics.accuracy,
    valTop5: ctx.classes.length >= 5 ? metrics.top5Accuracy : null,
    lr: ctx.optimizer.paramGroups[0]!.lr,
    seconds: sums.seconds,
    imagesPerSecond: sums.count / Math.max(1e-9, sums.seconds),
  };
  return { record, metrics, seconds: (performance.now() - start) / 1000, stopped };
}
