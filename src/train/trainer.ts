/**
 * The training loop behind `resnext train`: data, model, optimizer and schedule from a TrainConfig;
 * per-epoch training with a progress bar and validation; best/last checkpoints, history and a report
 * in the run directory; exact resume; a clean stop on NaN loss or Ctrl-C with the last good
 * checkpoint intact.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { backward } from '../autograd/backward.js';
import { getBackend, setNativeThreads } from '../backend/index.js';
import { DataLoader } from '../data/loader.js';
import { writeFileAtomic } from '../io/atomic.js';
import { createModel, getModelInfo } from '../models/registry.js';
import type { ResNet } from '../models/resnet.js';
import { crossEntropy } from '../ops/loss.js';
import { Adam, AdamW } from '../optim/adam.js';
import type { Optimizer } from '../optim/optimizer.js';
import { LRSchedule, type ScheduleName } from '../optim/schedule.js';
import { SGD } from '../optim/sgd.js';
import { summarize } from '../summary.js';
import { manualSeed } from '../tensor/rng.js';
import { loadCheckpoint, saveCheckpoint, type ModelMeta } from './checkpoint.js';
import { prepareData, type PreparedData } from './data-setup.js';
import { evaluate } from './evaluate.js';
import { ClassificationMetrics } from './metrics.js';
import { loadPretrained } from './model-setup.js';
import { EpochProgress } from './progress.js';
import { writeReport, type EpochRecord } from './report.js';

export type OptimizerName = 'sgd' | 'adam' | 'adamw';

export interface TrainConfig {
  data: string;
  dataDir?: string;
  valData?: string;
  valSplit: number;
  arch: string;
  /** Checked against the data when given. */
  classes?: number;
  imageSize?: number;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerName;
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  scheduler: ScheduleName;
  warmupEpochs: number;
  /** step schedule: epochs between decays (default 30) and the factor (default 0.1). */
  stepEpochs?: number;
  gamma?: number;
  labelSmoothing: number;
  seed: number;
  threads?: number;
  out: string;
  subset?: number;
  valSubset?: number;
  weights?: string;
  freezeBackbone: boolean;
  workers: number;
  strict: boolean;
  augment?: 'none' | 'flip' | 'crop-flip';
  /** Continue the run in `out` (its saved settings apply; only epochs, threads and workers may change). */
  resume?: boolean;
}

/** The tutorial's defaults for a user with an image folder. */
export const DEFAULT_TRAIN_CONFIG: Omit<TrainConfig, 'data' | 'out'> = {
  valSplit: 0.2,
  arch: 'resnext50_32x4d',
  epochs: 10,
  batchSize: 32,
  optimizer: 'adam',
  lr: 1e-4,
  momentum: 0.9,
  nesterov: false,
  weightDecay: 0,
  scheduler: 'constant',
  warmupEpochs: 0,
  labelSmoothing: 0,
  seed: 0,
  freezeBackbone: false,
  workers: 1,
  strict: false,
};

/** Where a run is: the next epoch and batch to train, and what it has seen so far. */
interface RunState {
  epoch: number;
  batch: number;
  step: number;
  history: EpochRecord[];
  best: { epoch: number; valAcc: number; matrix: number[][] } | null;
  /** Running sums of the epoch in progress (for an exact mid-epoch resume). */
  partial: { lossSum: number; correct: number; count: number; seconds: number } | null;
}

export interface TrainHooks {
  log?: (line: string) => void;
  /** Called after every optimizer step with the batch's loss. */
  onStep?: (epoch: number, batch: number, loss: number) => void;
  /** Show the progress bar (default: when stderr is a terminal; otherwise periodic lines). */
  progress?: boolean;
  printSummary?: boolean;
  /** Stop as Ctrl-C would, after this many optimizer steps (tests). */
  stopAfterSteps?: number;
  /** Sees the model once it is built (tests, custom logging). */
  onModel?: (model: ResNet) => void;
}

export interface TrainResult {
  runDir: string;
  status: 'completed' | 'interrupted' | 'nan';
  history: EpochRecord[];
  best: { epoch: number; valAcc: number } | null;
  classes: readonly string[];
  message: string;
}

function optimizerFor(config: TrainConfig, model: ResNet): Optimizer<{ momentum?: number; beta1?: number }> {
  const params = model.parameters().filter((p) => p.requiresGrad);
  if (params.length === 0) throw new Error('no trainable parameters (is everything frozen?)');
  switch (config.optimizer) {
    case 'sgd':
      return new SGD(params, {
        lr: config.lr,
        momentum: config.momentum,
        nesterov: config.nesterov,
        weightDecay: config.weightDecay,
      });
    case 'adam':
      return new Adam(params, { lr: config.lr, weightDecay: config.weightDecay });
    case 'adamw':
      return new AdamW(params, { lr: config.lr, weightDecay: config.weightDecay });
  }
}

function checkConfig(c: TrainConfig): void {
  getModelInfo(c.arch);
  const positive: [string, number][] = [
    ['--epochs', c.epochs],
    ['--batch-size', c.batchSize],
  ];
  for (const [flag, v] of positive)
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${flag} must be a positive integer, got ${v}`);
  if (!(c.lr > 0)) throw new RangeError(`--lr must be positive, got ${c.lr}`);
  if (!(c.valSplit > 0 && c.valSplit < 1))
    throw new RangeError(`--val-split must be between 0 and 1, got ${c.valSplit}`);
  if (!(c.labelSmoothing >= 0 && c.labelSmoothing < 1))
    throw new RangeError(`--label-smoothing must be in [0, 1), got ${c.labelSmoothing}`);
  if (!(c.warmupEpochs >= 0 && c.warmupEpochs < c.epochs)) {
    throw new RangeError(
      `--warmup-epochs must be at least 0 and less than --epochs (${c.epochs}), got ${c.warmupEpochs}`,
    );
  }
  if (c.nesterov && c.optimizer !== 'sgd') throw new RangeError('--nesterov applies to --optimizer sgd only');
}

const fmtPct = (v: number | null): string =>
  v === null || Number.isNaN(v) ? '-' : `${(v * 100).toFixed(2)}%`;

export async function train(input: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const log = hooks.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const runDir = resolve(input.out);
  let config = input;
  let resumed: Awaited<ReturnType<typeof loadCheckpoint>> | null = null;
  const lastPath = join(runDir, 'last.safetensors');
  if (input.resume) {
    if (!existsSync(join(runDir, 'config.json')) || !existsSync(lastPath)) {
      throw new Error(
        `--resume ${input.out}: no run to continue there (needs config.json and last.safetensors)`,
      );
    }
    // The run's own settings, except how long to train and how many threads.
    const saved = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf-8')) as TrainConfig;
    config = {
      ...saved,
      epochs: input.epochs,
      out: input.out,
      threads: input.threads ?? saved.threads,
      workers: input.workers,
      resume: true,
    };
    resumed = await loadCheckpoint(lastPath);
  } else if (existsSync(lastPath)) {
    throw new Error(
      `${input.out} already holds a run (last.safetensors); continue it with --resume ${input.out} or choose another --out`,
    );
  }
  checkConfig(config);
  mkdirSync(runDir, { recursive: true });
  if (config.threads) setNativeThreads(config.threads);
  manualSeed(config.seed);

  const data: PreparedData = await prepareData({ ...config, strict: config.strict });
  for (const s of data.skipped) log(`skipped unreadable image ${s.file}: ${s.reason}`);
  if (data.skipped.length)
    log(`${data.skipped.length} unreadable image(s) skipped (use --strict to fail instead)`);
  if (config.classes !== undefined && config.classes !== data.classes.length) {
    throw new Error(
      `--classes ${config.classes} does not match the data, which has ${data.classes.length} classes`,
    );
  }

  const model = createModel(config.arch, { numClasses: data.classes.length });
  if (config.weights && !resumed) {
    const { headReplaced, from } = await loadPretrained(model, config.weights);
    log(
      `loaded weights from ${config.weights}${headReplaced ? `; new ${data.classes.length}-class head${from ? ` (was ${from})` : ''}` : ''}`,
    );
  }
  if (config.freezeBackbone) {
    model.requiresGrad_(false);
    model.fc!.requiresGrad_(true);
  }
  const optimizer = optimizerFor(config, model);
  hooks.onModel?.(model);
  let state: RunState = { epoch: 0, batch: 0, step: 0, history: [], best: null, partial: null };
  if (resumed) {
    model.loadStateDict(resumed.model);
    optimizer.loadStateTensors(resumed.optimizer);
    state = resumed.extra.run as RunState;
    log(`resuming ${runDir} at epoch ${state.epoch + 1}, batch ${state.batch} (step ${state.step})`);
  }

  const loaderOptions = {
    mean: data.mean,
    std: data.std,
    outputShape: data.inputShape,
    workers: config.workers,
    strict: config.strict,
  };
  const trainLoader = new DataLoader(data.train, {
    ...loaderOptions,
    transforms: data.trainTransforms,
    batchSize: config.batchSize,
    shuffle: true,
    seed: config.seed,
    // As PyTorch's default, keep the last partial batch, unless it would hold a single image (batch norm
    // cannot train on one value per channel).
    dropLast: data.train.length % config.batchSize === 1,
  });
  const valLoader = new DataLoader(data.val, {
    ...loaderOptions,
    transforms: data.evalTransforms,
    batchSize: Math.max(config.batchSize, 64),
    shuffle: false,
    seed: config.seed,
  });
  const stepsPerEpoch = trainLoader.batchesPerEpoch;
  const schedule = new LRSchedule(optimizer, {
    name: config.scheduler,
    totalSteps: config.epochs * stepsPerEpoch,
    stepsPerEpoch,
    warmupSteps: config.scheduler === 'onecycle' ? 0 : Math.round(config.warmupEpochs * stepsPerEpoch),
    pctStart:
      config.scheduler === 'onecycle' && config.warmupEpochs > 0
        ? config.warmupEpochs / config.epochs
        : undefined,
    stepEpochs: config.stepEpochs,
    gamma: config.gamma,
  });
  schedule.apply(state.step);

  const meta: ModelMeta = {
    arch: config.arch,
    classes: [...data.classes],
    inputShape: data.inputShape,
    mean: data.mean,
    std: data.std,
    evalTransforms: data.evalTransforms,
  };
  await writeFileAtomic(
    join(runDir, 'config.json'),
    `${JSON.stringify({ ...config, out: input.out, resume: undefined }, null, 2)}\n`,
  );

  const report = summarize(model, data.inputShape);
  if (hooks.printSummary) log(report.text);
  log(
    `${config.arch}: ${report.totalParams.toLocaleString('en-US')} parameters (${report.trainableParams.toLocaleString('en-US')} trainable), ` +
      `${data.classes.length} classes, input ${data.inputShape.join('x')}; backend ${getBackend().name}`,
  );
  log(
    `data: ${data.train.length} training images, ${data.val.length} validation images (${data.valDescription}); ` +
      `${stepsPerEpoch} batches of ${config.batchSize} per epoch; ${trainLoader.workerCount} loader worker(s)`,
  );
  log(
    `optimizer ${config.optimizer} lr ${config.lr}, schedule ${config.scheduler}, ${config.epochs} epoch${config.epochs === 1 ? '' : 's'}`,
  );

  let interrupted = false;
  const onSigint = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSigint);

  const settings = { ...config, out: input.out, backend: getBackend().name, parameters: report.totalParams };
  const saveLast = async (): Promise<void> => {
    await saveCheckpoint(lastPath, model.stateDict(), meta, {
      optimizer: optimizer.stateTensors(),
      extra: { run: state },
    });
  };
  const writeHistory = async (): Promise<void> => {
    await writeFileAtomic(join(runDir, 'history.json'), `${JSON.stringify(state.history, null, 2)}\n`);
    const header = 'epoch,train_loss,train_acc,val_loss,val_acc,val_top5,lr,seconds,images_per_second';
    const rows = state.history.map((h) =>
      [
        h.epoch,
        h.trainLoss,
        h.trainAcc,
        h.valLoss,
        h.valAcc,
        h.valTop5 ?? '',
        h.lr,
        h.seconds,
        h.imagesPerSecond,
      ].join(','),
    );
    await writeFileAtomic(join(runDir, 'history.csv'), `${[header, ...rows].join('\n')}\n`);
  };
  const writeRunReport = async (classReportMetrics: ClassificationMetrics | null): Promise<void> => {
    const matrix = state.best?.matrix ?? data.classes.map(() => data.classes.map(() => 0));
    const m = classReportMetrics ?? new ClassificationMetrics(data.classes);
    if (!classReportMetrics) m.matrix.forEach((row, i) => row.splice(0, row.length, ...matrix[i]!));
    await writeReport(runDir, {
      title: `${config.arch} on ${config.data}`,
      settings,
      history: state.history,
      classes: data.classes,
      matrix,
      perClass: m.perClass(),
      best: state.best ? { epoch: state.best.epoch, valAcc: state.best.valAcc } : null,
    });
  };

  let status: TrainResult['status'] = 'completed';
  let message = '';
  let steps = 0;
  try {
    for (let epoch = state.epoch; epoch < config.epochs; epoch++) {
      model.train();
      const progress = new EpochProgress(
        `epoch ${epoch + 1}/${config.epochs}`,
        stepsPerEpoch,
        process.stderr,
        hooks.progress ?? true,
      );
      const partial = state.partial ?? { lossSum: 0, correct: 0, count: 0, seconds: 0 };
      progress.start(state.batch);
      let t0 = performance.now();
      let skippedThisEpoch = 0;
      for await (const batch of trainLoader.epoch(epoch, state.batch)) {
        skippedThisEpoch += batch.skipped.length;
        for (const s of batch.skipped) log(`skipped unreadable image ${s.name}: ${s.reason}`);
        if (batch.x.shape[0] === 0) continue;
        optimizer.zeroGrad();
        const logits = model.call(batch.x);
        const loss = crossEntropy(logits, batch.y, { labelSmoothing: config.labelSmoothing });
        const lossValue = loss.item();
        if (!Number.isFinite(lossValue)) {
          status = 'nan';
          message =
            `loss became ${lossValue} at epoch ${epoch + 1}, batch ${batch.index + 1}; training stopped. ` +
            (existsSync(lastPath)
              ? `The last good checkpoint is ${lastPath}.`
              : 'No checkpoint had been written yet.') +
            ' Try a lower --lr.';
          break;
        }
        backward(loss);
        optimizer.step();
        state.step++;
        steps++;
        schedule.apply(state.step);
        const n = batch.y.numel;
        const predictions = new ClassificationMetrics(data.classes);
        predictions.update(logits, batch.y, lossValue);
        partial.lossSum += lossValue * n;
        partial.correct += predictions.accuracy * n;
        partial.count += n;
        state.batch = batch.index + 1;
        hooks.onStep?.(epoch, batch.index, lossValue);
        const now = performance.now();
        partial.seconds += (now - t0) / 1000;
        t0 = now;
        progress.update(state.batch, {
          loss: partial.lossSum / partial.count,
          acc: partial.correct / partial.count,
          rate: partial.count / partial.seconds,
        });
        if (hooks.stopAfterSteps !== undefined && steps >= hooks.stopAfterSteps) interrupted = true;
        if (interrupted) break;
      }
      progress.stop();
      if (status === 'nan') break;
      if (interrupted && state.batch < stepsPerEpoch) {
        state.epoch = epoch;
        state.partial = partial;
        await saveLast();
        status = 'interrupted';
        message = `interrupted at epoch ${epoch + 1}, batch ${state.batch}; checkpoint saved to ${lastPath}. Continue with: resnext train --resume ${input.out}`;
        break;
      }
      const trainSeconds = partial.seconds;
      const evalStart = performance.now();
      const { metrics } = await evaluate(model, valLoader, data.classes);
      const record: EpochRecord = {
        epoch: epoch + 1,
        trainLoss: partial.lossSum / Math.max(1, partial.count),
        trainAcc: partial.correct / Math.max(1, partial.count),
        valLoss: metrics.loss,
        valAcc: metrics.accuracy,
        valTop5: data.classes.length >= 5 ? metrics.top5Accuracy : null,
        lr: optimizer.paramGroups[0]!.lr,
        seconds: trainSeconds,
        imagesPerSecond: partial.count / Math.max(1e-9, trainSeconds),
      };
      state.history.push(record);
      state.epoch = epoch + 1;
      state.batch = 0;
      state.partial = null;
      const improved = state.best === null || record.valAcc > state.best.valAcc;
      if (improved) {
        state.best = {
          epoch: record.epoch,
          valAcc: record.valAcc,
          matrix: metrics.matrix.map((r) => [...r]),
        };
        await saveCheckpoint(join(runDir, 'best.safetensors'), model.stateDict(), meta, {
          extra: { epoch: record.epoch, valAcc: record.valAcc },
        });
      }
      await saveLast();
      await writeHistory();
      await writeRunReport(improved ? metrics : null);
      log(
        `epoch ${record.epoch}/${config.epochs}: train loss ${record.trainLoss.toFixed(4)} top-1 ${fmtPct(record.trainAcc)} | ` +
          `val loss ${record.valLoss.toFixed(4)} top-1 ${fmtPct(record.valAcc)}` +
          (record.valTop5 !== null ? ` top-5 ${fmtPct(record.valTop5)}` : '') +
          ` | lr ${record.lr.toPrecision(3)} | ${record.seconds.toFixed(1)} s (${record.imagesPerSecond.toFixed(1)} img/s, eval ${((performance.now() - evalStart) / 1000).toFixed(1)} s)` +
          (improved ? ' | best so far' : '') +
          (skippedThisEpoch ? ` | ${skippedThisEpoch} image(s) skipped` : ''),
      );
      if (interrupted) {
        status = 'interrupted';
        message = `interrupted after epoch ${record.epoch}; checkpoint saved to ${lastPath}. Continue with: resnext train --resume ${input.out}`;
        break;
      }
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    await trainLoader.close();
    await valLoader.close();
  }
  if (status === 'completed') {
    message = state.best
      ? `done: best validation top-1 ${fmtPct(state.best.valAcc)} at epoch ${state.best.epoch}; report: ${join(runDir, 'report.html')}`
      : 'done';
  }
  log(message);
  return {
    runDir,
    status,
    history: state.history,
    best: state.best ? { epoch: state.best.epoch, valAcc: state.best.valAcc } : null,
    classes: data.classes,
    message,
  };
}
