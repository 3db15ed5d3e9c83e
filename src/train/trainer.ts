/**
 * The training loop behind `resnext train`, in the parts timm's train.py has: set-up (run folder,
 * data, model, optimizer, schedule), one epoch (epoch.ts), validation, checkpoints and reports
 * (run-files.ts); exact resume; a clean stop on a non-finite loss or Ctrl-C with the last good
 * checkpoint intact.
 */
import { getBackend, releaseFreeMemory, setNativeThreads } from '../backend/index.js';
import { DataLoader } from '../data/loader.js';
import { DataParallel } from '../distributed/data-parallel.js';
import { joinWorld, type World } from '../distributed/world.js';
import { createModel } from '../models/registry.js';
import type { ResNet } from '../models/resnet.js';
import { Adam, AdamW } from '../optim/adam.js';
import type { Optimizer } from '../optim/optimizer.js';
import { LRSchedule } from '../optim/schedule.js';
import { SGD } from '../optim/sgd.js';
import { summarize } from '../summary.js';
import { manualSeed } from '../tensor/rng.js';
import { firstNonFinite, hostCopies, type ModelMeta } from './checkpoint.js';
import type { Device } from '../tensor/device.js';
import { checkConfig, type ResumeOverrides, type TrainConfig } from './config.js';
import { prepareData, type PreparedData } from './data-setup.js';
import { trainOneEpoch, validate, type EpochContext } from './epoch.js';
import { loadPretrained } from './model-setup.js';
import { parseRunState } from './meta.js';
import type { EpochRecord } from './report.js';
import { formatPercent } from './metrics.js';
import { freshRunState, RunFiles, type RunState } from './run-files.js';

export {
  DEFAULT_TRAIN_CONFIG,
  RESUME_OVERRIDABLE,
  type OptimizerName,
  type ResumeOverrides,
  type TrainConfig,
} from './config.js';

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
  /** Where the model trains: 'cpu' (the default) or 'webgpu' once initialised (initNodeWebGpu()). */
  device?: Device;
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

type Resumed = Awaited<ReturnType<RunFiles['readLast']>>;

/** The saved run in `files` with `overrides` applied; refuses an override that would change the run. */
async function openResumed(
  files: RunFiles,
  overrides: ResumeOverrides,
): Promise<{ config: TrainConfig; resumed: Resumed }> {
  if (!files.hasRun()) {
    throw new Error(`resume: ${files.out} holds no run to continue (needs config.json and last.safetensors)`);
  }
  const saved = files.readConfig();
  const resumed = await files.readLast();
  const state = parseRunState(resumed.extra.run, files.lastPath);
  const epochs = overrides.epochs ?? saved.epochs;
  if (epochs !== saved.epochs) {
    if (saved.scheduler === 'cosine' || saved.scheduler === 'onecycle') {
      throw new RangeError(
        `resume: epochs cannot change from ${saved.epochs} to ${epochs}: the run's ${saved.scheduler} schedule is laid over its ${saved.epochs} epochs`,
      );
    }
    if (epochs < state.epoch) {
      throw new RangeError(`resume: epochs ${epochs} is fewer than the ${state.epoch} the run has trained`);
    }
  }
  const config: TrainConfig = {
    ...saved,
    epochs,
    out: files.out,
    threads: overrides.threads ?? saved.threads,
    workers: overrides.workers ?? saved.workers,
  };
  return { config, resumed };
}

function loaders(
  config: TrainConfig,
  data: PreparedData,
  world: World,
): { train: DataLoader; val: DataLoader } {
  const { rank, size } = world;
  const trainSamples = size > 1 ? Math.ceil(data.train.length / size) : data.train.length;
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
      dropLast: trainSamples % config.batchSize === 1,
      shard: { rank, size, pad: true },
    }),
    val: new DataLoader(data.val, {
      ...common,
      transforms: data.evalTransforms,
      batchSize: Math.max(config.batchSize, 64),
      shuffle: false,
      shard: { rank, size, pad: false },
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

/** Why the model's state cannot be saved (a NaN or infinite parameter, buffer or optimizer state), or null. */
async function nonFiniteState(model: ResNet, optimizer: Optimizer<object>): Promise<string | null> {
  return (
    firstNonFinite(await hostCopies(model.stateDict())) ??
    firstNonFinite(await hostCopies(optimizer.stateTensors()), 'optimizer state ')
  );
}

/** Starts a run in `config.out`, which must not hold one already. */
export async function train(config: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const files = new RunFiles(config.out);
  const { world } = joinWorld();
  const release = lockFor(files, world, hooks);
  try {
    if (files.hasCheckpoint()) {
      throw new Error(
        `${config.out} already holds a run (last.safetensors); continue it with resumeTraining (resnext train --resume), or choose another out folder`,
      );
    }
    return await run(files, config, null, hooks, world);
  } finally {
    release();
  }
}

/** Continues the run saved in `out` exactly where it stopped, with its own settings but for `overrides`. */
export async function resumeTraining(
  out: string,
  overrides: ResumeOverrides = {},
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  const files = new RunFiles(out);
  const { world } = joinWorld();
  const release = lockFor(files, world, hooks);
  try {
    const { config, resumed } = await openResumed(files, overrides);
    return await run(files, config, resumed, hooks, world);
  } finally {
    release();
  }
}

function logFor(hooks: TrainHooks, world?: World): (line: string) => void {
  if (world && world.rank !== 0) return () => undefined;
  return hooks.log ?? ((line: string) => process.stdout.write(`${line}\n`));
}

/** Rank 0 alone writes the run folder, so it alone locks it. */
function lockFor(files: RunFiles, world: World, hooks: TrainHooks): () => void {
  return world.rank === 0 ? files.lock(logFor(hooks)) : () => undefined;
}

/** Everything a run holds once it is set up. */
interface Run {
  files: RunFiles;
  config: TrainConfig;
  hooks: TrainHooks;
  log: (line: string) => void;
  /** Whether this process writes the run folder (rank 0). */
  writer: boolean;
  parallel: DataParallel;
  data: PreparedData;
  model: ResNet;
  optimizer: Optimizer<{ momentum?: number; beta1?: number }>;
  schedule: LRSchedule;
  trainLoader: DataLoader;
  valLoader: DataLoader;
  meta: ModelMeta;
  state: RunState;
  /** Settings shown in the report. */
  settings: Record<string, unknown>;
}

/** Data, model (with pretrained or resumed weights), optimizer, loaders and schedule of a run. */
async function setUp(
  files: RunFiles,
  config: TrainConfig,
  resumed: Resumed | null,
  hooks: TrainHooks,
  world: World,
): Promise<Run> {
  const log = logFor(hooks, world);
  const writer = world.rank === 0;
  checkConfig(config);
  if (writer)
    for (const name of files.removeStaleTemps()) log(`removed ${name}, left by an interrupted write`);
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
    const { headReplaced, from } = await loadPretrained(model, config.weights, {
      strict: config.strict,
      warn: log,
    });
    log(
      `loaded weights from ${config.weights}${headReplaced ? `; new ${data.classes.length}-class head${from ? ` (was ${from})` : ''}` : ''}`,
    );
  }
  if (config.freezeBackbone) {
    model.requiresGrad_(false);
    model.fc!.requiresGrad_(true);
  }
  const device = hooks.device ?? 'cpu';
  if (device !== 'cpu') {
    if (world.size > 1) throw new Error(`data-parallel training runs on the cpu, not on ${device}`);
    if (config.syncBn) throw new Error(`synchronised batch norm runs on the cpu, not on ${device}`);
    model.to(device);
  }
  const optimizer = optimizerFor(config, model);
  hooks.onModel?.(model);
  let state: RunState = { ...freshRunState(), ...(world.size > 1 ? { ranks: world.size } : {}) };
  if (resumed) {
    model.loadStateDict(resumed.model);
    optimizer.loadStateTensors(resumed.optimizer);
    state = parseRunState(resumed.extra.run, files.lastPath);
    const ranks = state.ranks ?? 1;
    if (ranks !== world.size)
      throw new Error(
        `resume: ${files.lastPath} was trained on ${ranks} rank${ranks === 1 ? '' : 's'}, this job has ${world.size}: ` +
          `the data order, the batch per step and the schedule depend on it (resume with ${ranks === 1 ? 'a single process' : `mpirun -np ${ranks}`})`,
      );
    log(`resuming ${files.dir} at epoch ${state.epoch + 1}, batch ${state.batch} (step ${state.step})`);
  }
  const parallel = new DataParallel(world, model);
  parallel.broadcastState(optimizer);
  if (config.syncBn) parallel.synchroniseBatchNorm();
  const { train: trainLoader, val: valLoader } = loaders(config, data, world);
  const schedule = scheduleFor(config, optimizer, trainLoader.batchesPerEpoch);
  schedule.apply(state.step);
  const meta: ModelMeta = {
    arch: config.arch,
    classes: [...data.classes],
    inputShape: data.inputShape,
    mean: data.mean,
    std: data.std,
    evalTransforms: data.evalTransforms,
  };
  if (writer) await files.writeConfig(config);

  const report = summarize(model, data.inputShape);
  if (hooks.printSummary) log(report.text);
  log(
    `${config.arch}: ${report.totalParams.toLocaleString('en-US')} parameters (${report.trainableParams.toLocaleString('en-US')} trainable), ` +
      `${data.classes.length} classes, input ${data.inputShape.join('x')}; backend ${device === 'cpu' ? getBackend().name : device}`,
  );
  log(
    `data: ${data.train.length} training images, ${data.val.length} validation images (${data.valDescription}); ` +
      `${trainLoader.batchesPerEpoch} batch${trainLoader.batchesPerEpoch === 1 ? '' : 'es'} of ${config.batchSize} per epoch; ${trainLoader.workerCount} loader worker(s)`,
  );
  log(
    `optimizer ${config.optimizer} lr ${config.lr}, schedule ${config.scheduler}, ${config.epochs} epoch${config.epochs === 1 ? '' : 's'}`,
  );
  if (world.size > 1)
    log(
      `data-parallel: ${world.size} ranks (${world.library}), batch ${config.batchSize} per rank (${config.batchSize * world.size} in all), gradients averaged by allreduce, batch norm ${config.syncBn ? 'synchronised over the ranks' : 'per rank'}; rank 0 writes the run`,
    );
  const settings = {
    ...config,
    backend: device === 'cpu' ? getBackend().name : device,
    parameters: report.totalParams,
    ...(world.size > 1 ? { ranks: world.size } : {}),
  };
  return {
    files,
    config,
    hooks,
    log,
    writer,
    parallel,
    data,
    model,
    optimizer,
    schedule,
    trainLoader,
    valLoader,
    meta,
    state,
    settings,
  };
}

/** How an epoch ended: on to the next, or the run stops with this status and message. */
type EpochEnd = { stop: false } | { stop: true; status: TrainResult['status']; message: string };

/** Ctrl-C and the hooks' step limit, as the epoch sees them. */
interface StopControl {
  /** Called once per optimizer step (counts it); true stops after it. */
  afterStep(): boolean;
  /** Whether a stop was asked for (validation polls it between batches). */
  requested(): boolean;
}

/**
 * Trains and validates one epoch, then saves: best.safetensors when it improved, last.safetensors,
 * the history and the report. Nothing non-finite is ever saved, so last.safetensors stays good.
 */
async function runEpoch(r: Run, epoch: number, stop: StopControl): Promise<EpochEnd> {
  const { files, config, model, optimizer, state } = r;
  const ctx: EpochContext = {
    model,
    optimizer,
    schedule: r.schedule,
    loader: r.trainLoader,
    classes: r.data.classes,
    labelSmoothing: config.labelSmoothing,
    label: `epoch ${epoch + 1}/${config.epochs}`,
    showProgress: r.writer && (r.hooks.progress ?? true),
    log: r.log,
    parallel: r.parallel,
    afterStep: (batch, loss) => {
      r.hooks.onStep?.(epoch, batch, loss);
      return stop.afterStep();
    },
  };
  const nonFinite = (what: string): EpochEnd => ({
    stop: true,
    status: 'nan',
    message:
      `${what}; training stopped. ` +
      (files.hasCheckpoint()
        ? `The last good checkpoint is ${files.lastPath}.`
        : 'No checkpoint had been written yet.') +
      ' Try a lower learning rate.',
  });
  const outcome = await trainOneEpoch(ctx, epoch, state);
  if (outcome.kind === 'nan')
    return nonFinite(`loss became ${outcome.loss} at epoch ${epoch + 1}, batch ${outcome.batch + 1}`);
  const bad = await nonFiniteState(model, optimizer);
  if (bad)
    return nonFinite(`${bad} holds NaN or infinite values at epoch ${epoch + 1}, batch ${state.batch}`);
  if (outcome.kind === 'stopped') {
    state.epoch = epoch;
    state.partial = outcome.sums;
    if (r.writer) await files.saveLast(model, r.meta, optimizer, state);
    const message = `interrupted at epoch ${epoch + 1}, batch ${state.batch}; checkpoint saved to ${files.lastPath}.`;
    return { stop: true, status: 'interrupted', message };
  }
  const validation = await validate(
    ctx,
    r.valLoader,
    epoch + 1,
    outcome.sums,
    () => stop.requested(),
    r.parallel,
  );
  if (validation.stopped) {
    // The epoch's training is complete: a resume starts with its validation.
    state.epoch = epoch;
    state.partial = outcome.sums;
    if (r.writer) await files.saveLast(model, r.meta, optimizer, state);
    const message = `interrupted while validating epoch ${epoch + 1}; checkpoint saved to ${files.lastPath}.`;
    return { stop: true, status: 'interrupted', message };
  }
  const { record, metrics, seconds } = validation;
  if (!Number.isFinite(record.valLoss))
    return nonFinite(`validation loss became ${record.valLoss} after epoch ${epoch + 1}`);
  state.history.push(record);
  state.epoch = epoch + 1;
  state.batch = 0;
  state.partial = null;
  const improved = state.best === null || record.valAcc > state.best.valAcc;
  if (improved) {
    state.best = {
      epoch: record.epoch,
      valAcc: record.valAcc,
      matrix: metrics.matrix.map((row) => [...row]),
    };
    if (r.writer) await files.saveBest(model, r.meta, record);
  }
  if (r.writer) {
    await files.saveLast(model, r.meta, optimizer, state);
    await files.writeHistory(state.history);
    await files.writeReport(
      `${config.arch} on ${config.data}`,
      r.settings,
      r.data.classes,
      state,
      improved ? metrics : null,
    );
  }
  const allreduce = r.parallel.takeAllreduceStats();
  r.log(
    epochLine(record, config.epochs, seconds, improved, outcome.skipped) +
      (r.parallel.distributed
        ? ` | allreduce ${allreduce.seconds.toFixed(1)} s, ${(allreduce.bytes / 2 ** 20 / Math.max(1, r.trainLoader.batchesPerEpoch)).toFixed(1)} MB/step`
        : ''),
  );
  releaseFreeMemory();
  return { stop: false };
}

async function run(
  files: RunFiles,
  config: TrainConfig,
  resumed: Resumed | null,
  hooks: TrainHooks,
  world: World,
): Promise<TrainResult> {
  const r = await setUp(files, config, resumed, hooks, world);
  const { state } = r;
  // Ctrl-C (or the hooks' step limit) stops the run after the current step, with a checkpoint.
  let interrupted = false;
  const onSigint = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSigint);
  let steps = 0;
  const stop: StopControl = {
    afterStep: () => {
      steps++;
      if (hooks.stopAfterSteps !== undefined && steps >= hooks.stopAfterSteps) interrupted = true;
      return interrupted;
    },
    requested: () => interrupted,
  };
  let status: TrainResult['status'] = 'completed';
  let message = '';
  try {
    for (let epoch = state.epoch; epoch < config.epochs; epoch++) {
      const end = await runEpoch(r, epoch, stop);
      if (end.stop) {
        ({ status, message } = end);
        break;
      }
      if (r.parallel.any(interrupted)) {
        status = 'interrupted';
        message = `interrupted after epoch ${epoch + 1}; checkpoint saved to ${files.lastPath}.`;
        break;
      }
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    await r.trainLoader.close();
    await r.valLoader.close();
  }
  if (status === 'completed') {
    message = state.best
      ? `done: best validation top-1 ${formatPercent(state.best.valAcc)} at epoch ${state.best.epoch}; report: ${files.reportPath}`
      : 'done';
  }
  r.log(message);
  return {
    runDir: files.dir,
    status,
    history: state.history,
    best: state.best ? { epoch: state.best.epoch, valAcc: state.best.valAcc } : null,
    classes: r.data.classes,
    message,
  };
}
