/** What a training run is asked to do (TrainConfig), its defaults, and the checks on it. */
import { MAX_INPUT_SIDE } from '../data/limits.js';
import { getModelInfo } from '../models/registry.js';
import type { ScheduleName } from '../optim/schedule.js';

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
  /** Data-parallel runs: batch-norm statistics over the whole global batch (SyncBatchNorm). */
  syncBn?: boolean;
}

/**
 * What a resumed run may change: where it runs (threads, loader workers) and, for the constant and
 * step schedules, how long (epochs, to extend it). Every other setting is the run's own.
 */
export interface ResumeOverrides {
  epochs?: number;
  threads?: number;
  workers?: number;
}

export const RESUME_OVERRIDABLE: readonly (keyof ResumeOverrides)[] = ['epochs', 'threads', 'workers'];

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
  stepEpochs: 30,
  gamma: 0.1,
  labelSmoothing: 0,
  seed: 0,
  freezeBackbone: false,
  workers: 1,
  strict: false,
};

/** Throws a RangeError naming the TrainConfig field at fault. */
export function checkConfig(c: TrainConfig): void {
  getModelInfo(c.arch);
  const positive: [string, number][] = [
    ['epochs', c.epochs],
    ['batchSize', c.batchSize],
  ];
  for (const [field, v] of positive)
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${field} must be a positive integer, got ${v}`);
  if (
    c.imageSize !== undefined &&
    !(Number.isInteger(c.imageSize) && c.imageSize >= 1 && c.imageSize <= MAX_INPUT_SIDE)
  )
    throw new RangeError(`imageSize must be an integer from 1 to ${MAX_INPUT_SIDE}, got ${c.imageSize}`);
  if (!(c.lr > 0)) throw new RangeError(`lr must be positive, got ${c.lr}`);
  if (!(c.valSplit > 0 && c.valSplit < 1))
    throw new RangeError(`valSplit must be between 0 and 1, got ${c.valSplit}`);
  if (!(c.labelSmoothing >= 0 && c.labelSmoothing < 1))
    throw new RangeError(`labelSmoothing must be in [0, 1), got ${c.labelSmoothing}`);
  if (!(c.warmupEpochs >= 0 && c.warmupEpochs < c.epochs)) {
    throw new RangeError(
      `warmupEpochs must be at least 0 and less than epochs (${c.epochs}), got ${c.warmupEpochs}`,
    );
  }
  if (c.nesterov && c.optimizer !== 'sgd') throw new RangeError('nesterov applies to the sgd optimizer only');
}

type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | readonly string[];

/** The type of every TrainConfig field; `required` ones must be present in a saved config.json. */
const FIELDS: Record<keyof TrainConfig, { kind: FieldKind; required?: boolean }> = {
  data: { kind: 'string', required: true },
  dataDir: { kind: 'string' },
  valData: { kind: 'string' },
  valSplit: { kind: 'number', required: true },
  arch: { kind: 'string', required: true },
  classes: { kind: 'integer' },
  imageSize: { kind: 'integer' },
  epochs: { kind: 'integer', required: true },
  batchSize: { kind: 'integer', required: true },
  optimizer: { kind: ['sgd', 'adam', 'adamw'], required: true },
  lr: { kind: 'number', required: true },
  momentum: { kind: 'number', required: true },
  nesterov: { kind: 'boolean', required: true },
  weightDecay: { kind: 'number', required: true },
  scheduler: { kind: ['constant', 'step', 'cosine', 'onecycle'], required: true },
  warmupEpochs: { kind: 'number', required: true },
  stepEpochs: { kind: 'integer' },
  gamma: { kind: 'number' },
  labelSmoothing: { kind: 'number', required: true },
  seed: { kind: 'integer', required: true },
  threads: { kind: 'integer' },
  out: { kind: 'string', required: true },
  subset: { kind: 'integer' },
  valSubset: { kind: 'integer' },
  weights: { kind: 'string' },
  freezeBackbone: { kind: 'boolean', required: true },
  workers: { kind: 'integer', required: true },
  strict: { kind: 'boolean', required: true },
  augment: { kind: ['none', 'flip', 'crop-flip'] },
  syncBn: { kind: 'boolean' },
};

function fits(kind: FieldKind, v: unknown): boolean {
  if (Array.isArray(kind)) return typeof v === 'string' && kind.includes(v);
  if (kind === 'integer') return typeof v === 'number' && Number.isInteger(v);
  if (kind === 'number') return typeof v === 'number' && Number.isFinite(v);
  return typeof v === kind;
}

/** A saved run's settings from `text` (the contents of `file`), every field checked; errors name the file and field. */
export function parseTrainConfig(text: string, file: string): TrainConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${file}: expected a JSON object of training settings`);
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(key in FIELDS)) throw new Error(`${file}: unknown field "${key}"`);
  }
  for (const [key, { kind, required }] of Object.entries(FIELDS)) {
    const v = record[key];
    if (v === undefined || v === null) {
      if (required) throw new Error(`${file}: field "${key}" is missing`);
      continue;
    }
    if (!fits(kind, v)) {
      const want = Array.isArray(kind) ? `one of ${kind.join(', ')}` : `a ${kind}`;
      throw new Error(`${file}: field "${key}" must be ${want}, got ${JSON.stringify(v)}`);
    }
  }
  const config = record as unknown as TrainConfig;
  try {
    checkConfig(config);
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  return config;
}
