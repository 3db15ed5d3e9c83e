/**
 * The training loop behind `resnext train`, in the parts timm's train.py has: set-up (run folder,
 * data, model, optimizer, schedule), one epoch (epoch.ts), validation, checkpoints and reports
 * (run-files.ts); exact resume; a clean stop on a non-finite loss or Ctrl-C with the last good
 * checkpoint intact.
 */
import { getBackend, setNativeThreads } from '../backend/index.js';
import { DataLoader } from '../data/loader.js';
import { createModel } from '../models/registry.js';
import type { ResNet } from '../models/resnet.js';
import { Adam, AdamW } from '../optim/adam.js';
import type { Optimizer } from '../optim/optimizer.js';
import { LRSchedule } from '../optim/schedule.js';
import { SGD } from '../optim/sgd.js';
import { summarize } from '../summary.js';
import { manualSeed } from '../tensor/rng.js';
import type { ModelMeta } from './checkpoint.js';
import { checkConfig, type TrainConfig } from './config.js';
import { prepareData, type PreparedData } from './data-setup.js';
import { trainOneEpoch, validate, type EpochContext } from './epoch.js';
import { loadPretrained } from './model-setup.js';
import type { EpochRecord } from './report.js';
import { formatPercent } from './metrics.js';
import { freshRunState, RunFiles, type RunState } from './run-files.js';

export { DEFAULT_TRAIN_CONFIG, type OptimizerName, type TrainConfig } from './config.js';

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

/** The run's settings: `input`, or for a resumed run its saved ones with epochs, threads and workers from `input`. */
async function openRun(
  input: TrainConfig,
  files: RunFiles,
): Promise<{ config: TrainConfig; resumed: Awaited<ReturnType<RunFiles['readLast']>> | null }> {
  if (input.resume) {
    if (!files.hasRun()) {
      throw new Error(
        `resume: ${input.out} holds no run to continue (needs config.json and last.safetensors)`,
      );
    }
    const saved = files.readConfig();
    const config = {
      ...saved,
      epochs: input.epochs,
      out: input.out,
      threads: input.threads ?? saved.threads,
      workers: input.workers,
      resume: true,
    };
    return { config, resumed: await files.readLast() };
  }
  if (files.hasCheckpoint()) {
    throw new Error(
      `${input.out} already holds a run (last.safetensors); continue it with resume, or choose another out folder`,
    );
  }
  return { config: input, resumed: null };
}

function loaders(config: TrainConfig, data: PreparedData): { train: DataLoader; val: DataLoader } {
  const common = {
    mean: data.mean,
    std: data.std,
    outputShape: data.inputShape,
    workers: config.workers,
    strict: config.strict,
    seed: config.seed,
  };
  return {
    train: new DataLoader(data.train, {
      ...common,
      transforms: data.trainTransforms,
      batchSize: config.batchSize,
      shuffle: true,
      // As PyTorch's default, keep the last partial batch, unless it would hold a single image (batch
      // norm cannot train on one value per channel).
      dropLast: data.train.length % config.batchSize === 1,
    }),
    val: new DataLoader(data.val, {
      ...common,
      transforms: data.evalTransforms,
      batchSize: Math.max(config.batchSize, 64),
      shuffle: false,
    }),
  };
}

function scheduleFor(config: TrainConfig, optimizer: Optimizer<object>, stepsPerEpoch: number): LRSchedule {
  return new LRSchedule(optimizer as Optimizer<{ momentum?: number; beta1?: number }>, {
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
}

function epochLine(
  record: EpochRecord,
  epochs: number,
  evalSeconds: number,
  improved: boolean,
  skipped: number,
): string {
  return (
    `epoch ${record.epoch}/${epochs}: train loss ${record.trainLoss.toFixed(4)} top-1 ${formatPercent(record.trainAcc)} | ` +
    `val loss ${record.valLoss.toFixed(4)} top-1 ${formatPercent(record.valAcc)}` +
    (record.valTop5 !== null ? ` top-5 ${formatPercent(record.valTop5)}` : '') +
    ` | lr ${record.lr.toPrecision(3)} | ${record.seconds.toFixed(1)} s (${record.imagesPerSecond.toFixed(1)} img/s, eval ${evalSeconds.toFixed(1)} s)` +
    (improved ? ' | best so far' : '') +
    (skipped ? ` | ${skipped} image(s) skipped` : '')
  );
}

export async function train(input: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const log = hooks.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const files = new RunFiles(input.out);
  const { config, resumed } = await openRun(input, files);
  checkConfig(config);
  if (config.threads) setNativeThreads(config.threads);
  manualSeed(config.seed);

  const data = await prepareData({ ...config, strict: config.strict });
  for (const s of data.skipped) log(`skipped unreadable image ${s.file}: ${s.reason}`);
  if (data.skipped.length)
    log(`${data.skipped.length} unreadable image(s) skipped (strict: true fails instead)`);
  if (config.classes !== undefined && config.classes !== data.classes.length) {
    throw new Error(
      `classes ${config.classes} does not match the data, which has ${data.classes.length} classes`,
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
  let state: RunState = freshRunState();
  if (resumed) {
    model.loadStateDict(resumed.model);
    optimizer.loadStateTensors(resumed.optimizer);
    state = resumed.extra.run as RunState;
    log(`resuming ${files.dir} at epoch ${state.epoch + 1}, batch ${state.batch} (step ${state.step})`);
  }
  const { train: trainLoader, val: valLoader } = loaders(config, data);
  const stepsPerEpoch = trainLoader.batchesPerEpoch;
  const schedule = scheduleFor(config, optimizer, stepsPerEpoch);
  schedule.apply(state.step);

  const meta: ModelMeta = {
    arch: config.arch,
    classes: [...data.classes],
    inputShape: data.inputShape,
    mean: data.mean,
    std: data.std,
    evalTransforms: data.evalTransforms,
  };
  await files.writeConfig(config);

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
  const title = `${config.arch} on ${config.data}`;

  let status: TrainResult['status'] = 'completed';
  let message = '';
  let steps = 0;
  try {
    for (let epoch = state.epoch; epoch < config.epochs; epoch++) {
      const ctx: EpochContext = {
        model,
        optimizer,
        schedule,
        loader: trainLoader,
        classes: data.classes,
        labelSmoothing: config.labelSmoothing,
        label: `epoch ${epoch + 1}/${config.epochs}`,
        showProgress: hooks.progress ?? true,
        log,
        afterStep: (batch, loss) => {
          steps++;
          hooks.onStep?.(epoch, batch, loss);
          if (hooks.stopAfterSteps !== undefined && steps >= hooks.stopAfterSteps) interrupted = true;
          return interrupted;
        },
      };
      const outcome = await trainOneEpoch(ctx, epoch, state);
      if (outcome.kind === 'nan') {
        status = 'nan';
        message =
          `loss became ${outcome.loss} at epoch ${epoch + 1}, batch ${outcome.batch + 1}; training stopped. ` +
          (files.hasCheckpoint()
            ? `The last good checkpoint is ${files.lastPath}.`
            : 'No checkpoint had been written yet.') +
          ' Try a lower learning rate.';
        break;
      }
      if (outcome.kind === 'stopped') {
        state.epoch = epoch;
        state.partial = outcome.sums;
        await files.saveLast(model, meta, optimizer, state);
        status = 'interrupted';
        message = `interrupted at epoch ${epoch + 1}, batch ${state.batch}; checkpoint saved to ${files.lastPath}.`;
        break;
      }
      const { record, metrics, seconds } = await validate(ctx, valLoader, epoch + 1, outcome.sums);
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
        await files.saveBest(model, meta, record);
      }
      await files.saveLast(model, meta, optimizer, state);
      await files.writeHistory(state.history);
      await files.writeReport(title, settings, data.classes, state, improved ? metrics : null);
      log(epochLine(record, config.epochs, seconds, improved, outcome.skipped));
      if (interrupted) {
        status = 'interrupted';
        message = `interrupted after epoch ${record.epoch}; checkpoint saved to ${files.lastPath}.`;
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
      ? `done: best validation top-1 ${formatPercent(state.best.valAcc)} at epoch ${state.best.epoch}; report: ${files.reportPath}`
      : 'done';
  }
  log(message);
  return {
    runDir: files.dir,
    status,
    history: state.history,
    best: state.best ? { epoch: state.best.epoch, valAcc: state.best.valAcc } : null,
    classes: data.classes,
    message,
  };
}
