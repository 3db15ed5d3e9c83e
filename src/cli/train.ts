import { Command, Option } from 'commander';
import { listModels } from '../models/registry.js';
import {
  DEFAULT_TRAIN_CONFIG,
  RESUME_OVERRIDABLE,
  resumeTraining,
  train,
  type ResumeOverrides,
  type TrainConfig,
} from '../train/trainer.js';
import { isBuiltin } from '../train/data-setup.js';
import { MAX_INPUT_SIDE } from '../data/limits.js';
import { fraction, nonNegative, positiveInt, positiveNumber } from './args.js';
import { backendOption, deviceFor, type BackendFlag } from './backend.js';
import { joinWorld, launchedRank } from '../distributed/world.js';

/** Commander's parsed options: TrainConfig's fields, plus the few that only the command has. */
type TrainFlags = Omit<TrainConfig, 'data' | 'out' | 'resume'> & {
  data?: string;
  out?: string;
  /** The run directory to continue. */
  resume?: string;
  summary: boolean;
  backend?: BackendFlag;
  progress: boolean;
};

function defaultOut(data: string, arch: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const name = isBuiltin(data)
    ? data
    : data
        .replace(/[/\\]+$/, '')
        .split(/[/\\]/)
        .pop() || 'data';
  return `runs/${name}-${arch}-${stamp}`;
}

/** Options that only say how to run, not what: given with --resume, they apply. */
const RUN_ONLY = new Set(['resume', 'summary', 'backend', 'progress']);

/**
 * The settings a resumed run may change, from the flags given on the command line; any other flag
 * is refused, since the run continues with the settings in its config.json.
 */
function resumeOverrides(command: Command, flags: TrainFlags): ResumeOverrides {
  const given = command.options
    .map((o) => o.attributeName())
    .filter((name) => command.getOptionValueSource(name) === 'cli' && !RUN_ONLY.has(name));
  const refused = given.filter((name) => !(RESUME_OVERRIDABLE as readonly string[]).includes(name));
  if (refused.length) {
    const names = refused.map((name) => command.options.find((o) => o.attributeName() === name)!.long);
    throw new Error(
      `${names.join(', ')} cannot be given with --resume: the run continues with the settings in its config.json ` +
        '(only --epochs, --threads and --workers may change)',
    );
  }
  const overrides: ResumeOverrides = {};
  for (const name of given as (keyof ResumeOverrides)[]) overrides[name] = flags[name];
  return overrides;
}

export function trainCommand(): Command {
  const d = DEFAULT_TRAIN_CONFIG;
  return new Command('train')
    .description('train a model on an image folder or a built-in dataset, keeping the best epoch')
    .option(
      '-d, --data <dir|fashion-mnist|mnist>',
      'an image folder (one sub-folder per class) or a built-in dataset',
    )
    .option(
      '--data-dir <dir>',
      "folder of the IDX files for fashion-mnist or mnist (default: Debian's dataset-fashion-mnist)",
    )
    .option('--val-data <dir>', 'a separate validation folder (instead of --val-split)')
    .option(
      '--val-split <fraction>',
      'stratified validation share of an image folder',
      fraction('--val-split'),
      d.valSplit,
    )
    .addOption(new Option('-a, --arch <name>', 'architecture').choices(listModels()).default(d.arch))
    .option(
      '-c, --classes <n>',
      'number of classes (inferred from the data; given, it is checked)',
      positiveInt('--classes'),
    )
    .option(
      '--image-size <px>',
      `input size, at most ${MAX_INPUT_SIDE} (default 224 for folders, 32 for built-in datasets)`,
      positiveInt('--image-size', MAX_INPUT_SIDE),
    )
    .option('-e, --epochs <n>', 'epochs', positiveInt('--epochs'), d.epochs)
    .option('-b, --batch-size <n>', 'batch size', positiveInt('--batch-size'), d.batchSize)
    .addOption(
      new Option('--optimizer <name>', 'optimizer').choices(['sgd', 'adam', 'adamw']).default(d.optimizer),
    )
    .option('--lr <rate>', 'learning rate (the peak for onecycle)', positiveNumber('--lr'), d.lr)
    .option('--momentum <m>', 'SGD momentum', nonNegative('--momentum'), d.momentum)
    .option('--nesterov', 'Nesterov momentum (SGD)', d.nesterov)
    .option('--weight-decay <wd>', 'weight decay', nonNegative('--weight-decay'), d.weightDecay)
    .addOption(
      new Option('--scheduler <name>', 'learning-rate schedule')
        .choices(['constant', 'step', 'cosine', 'onecycle'])
        .default(d.scheduler),
    )
    .option(
      '--warmup-epochs <n>',
      'linear warm-up (onecycle: the rising share of the cycle)',
      nonNegative('--warmup-epochs'),
      d.warmupEpochs,
    )
    .option(
      '--label-smoothing <eps>',
      'cross-entropy label smoothing',
      nonNegative('--label-smoothing'),
      d.labelSmoothing,
    )
    .option(
      '--step-epochs <n>',
      'step schedule: epochs between decays',
      positiveInt('--step-epochs'),
      d.stepEpochs,
    )
    .option('--gamma <g>', 'step schedule: decay factor', positiveNumber('--gamma'), d.gamma)
    .option(
      '--seed <n>',
      'seed of the initialisation, the split, the order and the augmentation',
      nonNegative('--seed'),
      d.seed,
    )
    .option(
      '--threads <n>',
      'native kernel threads (default: all cores, or $RESNEXT_THREADS)',
      positiveInt('--threads'),
    )
    .option('-o, --out <dir>', 'run directory (default runs/<data>-<arch>-<time>)')
    .option(
      '--resume <dir>',
      'continue the run in <dir> exactly where it stopped, with its own settings (only --epochs, --threads and --workers may be given)',
    )
    .option('--subset <n>', 'train on a stratified subset of n images', positiveInt('--subset'))
    .option('--val-subset <n>', 'validate on a stratified subset of n images', positiveInt('--val-subset'))
    .option(
      '--weights <file>',
      'start from these weights (safetensors; a different class count gets a new head)',
    )
    .option('--freeze-backbone', 'train only the classifier head', d.freezeBackbone)
    .option(
      '--sync-bn',
      'under mpirun: batch-norm statistics over the global batch (as SyncBatchNorm), not per rank',
    )
    .option(
      '--workers <n>',
      'data loader worker threads (0: decode on the main thread)',
      nonNegative('--workers'),
      d.workers,
    )
    .option(
      '--strict',
      'fail on an unreadable image (instead of skipping it) or on --weights holding NaN or infinite values',
      d.strict,
    )
    .addOption(
      new Option('--augment <kind>', 'training augmentation for image folders').choices([
        'none',
        'flip',
        'crop-flip',
      ]),
    )
    .option('--summary', 'print the model summary first', false)
    .addOption(backendOption())
    .option('--no-progress', 'no progress bar (periodic lines only)')
    .action(async (flags: TrainFlags, command: Command) => {
      const { data, out, resume, summary, backend, progress, ...settings } = flags;
      const device = await deviceFor(backend);
      const { notice } = joinWorld();
      if (notice) {
        if (launchedRank() !== 0) return;
        console.error(`resnext: ${notice}`);
      }
      const hooks = { printSummary: summary, progress, device };
      let result;
      if (resume !== undefined) {
        result = await resumeTraining(resume, resumeOverrides(command, flags), hooks);
      } else {
        if (!data)
          throw new Error(
            '--data is required (an image folder, fashion-mnist or mnist), or --resume <run dir>',
          );
        const config: TrainConfig = {
          ...DEFAULT_TRAIN_CONFIG,
          ...settings,
          data,
          out: out ?? defaultOut(data, settings.arch),
        };
        result = await train(config, hooks);
      }
      if (result.status === 'nan') process.exitCode = 2;
      if (result.status === 'interrupted') {
        process.stdout.write(`Continue with: resnext train --resume ${resume ?? result.runDir}\n`);
        process.exitCode = 130;
      }
    });
}
