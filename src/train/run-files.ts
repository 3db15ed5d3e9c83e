/**
 * The files of a run directory, as timm's CheckpointSaver and its summary writer keep them: the
 * settings (config.json), last.safetensors (weights, optimizer state and the run's position, for an
 * exact resume), best.safetensors (by validation top-1), history.json/.csv and the report. Every file
 * is written atomically.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { removeStaleTempFiles, writeFileAtomic } from '../io/atomic.js';
import { FolderLock } from '../io/lock.js';
import type { ResNet } from '../models/resnet.js';
import type { Optimizer } from '../optim/optimizer.js';
import { loadCheckpoint, saveCheckpoint, type ModelMeta } from './checkpoint.js';
import { parseTrainConfig, type TrainConfig } from './config.js';
import { ClassificationMetrics } from './metrics.js';
import { writeReport, type EpochRecord } from './report.js';

/** Running sums of an epoch in progress. */
export interface EpochSums {
  lossSum: number;
  correct: number;
  count: number;
  seconds: number;
}

/** Where a run is: the next epoch and batch to train, and what it has seen so far. */
export interface RunState {
  epoch: number;
  batch: number;
  step: number;
  history: EpochRecord[];
  best: { epoch: number; valAcc: number; matrix: number[][] } | null;
  /** Running sums of the epoch in progress (for an exact mid-epoch resume). */
  partial: EpochSums | null;
  /** The ranks of a data-parallel run (absent: one process). */
  ranks?: number;
}

export function freshRunState(): RunState {
  return { epoch: 0, batch: 0, step: 0, history: [], best: null, partial: null };
}

export class RunFiles {
  readonly dir: string;
  readonly lastPath: string;

  /** `out` as the user named it (messages repeat it); files go to its resolved path. */
  constructor(readonly out: string) {
    this.dir = resolve(out);
    this.lastPath = join(this.dir, 'last.safetensors');
  }

  /**
   * Makes the folder if needed and takes its lock, so that no other run writes here meanwhile; a lock
   * left by a killed run is broken and `log` told. Returns the release (which also removes a folder
   * this call made, if nothing was written to it).
   */
  lock(log: (line: string) => void): () => void {
    const existed = existsSync(this.dir);
    mkdirSync(this.dir, { recursive: true });
    const lock = FolderLock.acquire(this.dir, 'training run', (stale) =>
      log(`removed the lock of pid ${stale.pid} (${stale.since}), which is no longer running`),
    );
    return () => {
      lock.release();
      if (!existed && readdirSync(this.dir).length === 0) rmdirSync(this.dir);
    };
  }

  /** Whether a run was saved here (its settings and last checkpoint). */
  hasRun(): boolean {
    return existsSync(join(this.dir, 'config.json')) && existsSync(this.lastPath);
  }

  hasCheckpoint(): boolean {
    return existsSync(this.lastPath);
  }

  /** The saved settings, checked field by field (errors name config.json and the field). */
  readConfig(): TrainConfig {
    const path = join(this.dir, 'config.json');
    return parseTrainConfig(readFileSync(path, 'utf-8'), path);
  }

  /** Removes what a killed atomic write left behind; returns the names. */
  removeStaleTemps(): string[] {
    return removeStaleTempFiles(this.dir);
  }

  readLast(): ReturnType<typeof loadCheckpoint> {
    return loadCheckpoint(this.lastPath);
  }

  async writeConfig(config: TrainConfig): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    await writeFileAtomic(
      join(this.dir, 'config.json'),
      `${JSON.stringify({ ...config, out: this.out }, null, 2)}\n`,
    );
  }

  async saveLast(
    model: ResNet,
    meta: ModelMeta,
    optimizer: Optimizer<object>,
    state: RunState,
  ): Promise<void> {
    await saveCheckpoint(this.lastPath, model.stateDict(), meta, {
      optimizer: optimizer.stateTensors(),
      extra: { run: state },
    });
  }

  async saveBest(model: ResNet, meta: ModelMeta, record: EpochRecord): Promise<void> {
    await saveCheckpoint(join(this.dir, 'best.safetensors'), model.stateDict(), meta, {
      extra: { epoch: record.epoch, valAcc: record.valAcc },
    });
  }

  async writeHistory(history: readonly EpochRecord[]): Promise<void> {
    await writeFileAtomic(join(this.dir, 'history.json'), `${JSON.stringify(history, null, 2)}\n`);
    const header = 'epoch,train_loss,train_acc,val_loss,val_acc,val_top5,lr,seconds,images_per_second';
    const rows = history.map((h) =>
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
    await writeFileAtomic(join(this.dir, 'history.csv'), `${[header, ...rows].join('\n')}\n`);
  }

  /** report.html with the curves, and the per-class table of the best epoch (`bestMetrics` when it is this one). */
  async writeReport(
    title: string,
    settings: Record<string, unknown>,
    classes: readonly string[],
    state: RunState,
    bestMetrics: ClassificationMetrics | null,
  ): Promise<void> {
    const matrix = state.best?.matrix ?? classes.map(() => classes.map(() => 0));
    const m = bestMetrics ?? new ClassificationMetrics(classes);
    if (!bestMetrics) m.matrix.forEach((row, i) => row.splice(0, row.length, ...matrix[i]!));
    await writeReport(this.dir, {
      title,
      settings,
      history: state.history,
      classes,
      matrix,
      perClass: m.perClass(),
      best: state.best ? { epoch: state.best.epoch, valAcc: state.best.valAcc } : null,
    });
  }

  get reportPath(): string {
    return join(this.dir, 'report.html');
  }
}
