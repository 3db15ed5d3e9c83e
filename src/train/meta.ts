/**
 * The JSON metadata of our weight files, with its schema: the model's description ("model": what
 * eval and predict need) and a resumable checkpoint's position ("run"). Files are untrusted input:
 * every field is checked, and errors name the file, the field and the value.
 */
import { z } from 'zod';
import { MAX_INPUT_SIDE } from '../data/limits.js';
import { transformSpecSchema } from '../data/transform-schema.js';
import type { TransformSpec } from '../data/transforms.js';
import { listModels } from '../models/registry.js';
import { parseWith } from '../util/schema.js';
import type { EpochRecord } from './report.js';
import type { RunState } from './run-files.js';

/** The `format` metadata of a checkpoint file. */
export const CHECKPOINT_FORMAT = 'resnext-checkpoint-1';

/** What a weights file carries besides tensors, so that eval and predict need no other input. */
export interface ModelMeta {
  arch: string;
  classes: string[];
  /** [C, H, W] of the model input. */
  inputShape: [number, number, number];
  mean: number[];
  std: number[];
  /** The evaluation-time transforms (before normalisation). */
  evalTransforms: TransformSpec[];
}

const side = z.int().min(1).max(MAX_INPUT_SIDE);
/** One value for all channels, or one per channel. */
const perChannel = (value: z.ZodNumber) => z.array(value).min(1).max(3);

export const modelMetaSchema = z
  .object({
    arch: z.string().refine((a) => listModels().includes(a), {
      message: `unknown architecture; known: ${listModels().join(', ')}`,
    }),
    classes: z.array(z.string().min(1)).min(1).max(100_000),
    // The stem convolution takes RGB.
    inputShape: z.tuple([z.literal(3), side, side]),
    mean: perChannel(z.number()),
    std: perChannel(z.number().positive()),
    evalTransforms: z.array(transformSpecSchema).max(64),
  })
  .refine((m) => m.mean.length === 1 || m.mean.length === 3, {
    path: ['mean'],
    message: 'needs 1 or 3 values',
  })
  .refine((m) => m.std.length === 1 || m.std.length === 3, {
    path: ['std'],
    message: 'needs 1 or 3 values',
  }) satisfies z.ZodType<ModelMeta>;

const count = z.int().min(0);
const finite = z.number();
const epochRecordSchema = z.object({
  epoch: count,
  trainLoss: finite,
  trainAcc: finite,
  valLoss: finite,
  valAcc: finite,
  valTop5: finite.nullable(),
  lr: finite,
  seconds: finite,
  imagesPerSecond: finite,
}) satisfies z.ZodType<EpochRecord>;

export const runStateSchema = z.object({
  epoch: count,
  batch: count,
  step: count,
  history: z.array(epochRecordSchema),
  best: z.object({ epoch: count, valAcc: finite, matrix: z.array(z.array(count)) }).nullable(),
  partial: z.object({ lossSum: finite, correct: finite, count: finite, seconds: finite }).nullable(),
  ranks: z.number().int().min(1).optional(),
}) satisfies z.ZodType<RunState>;

/** The "model" metadata of `file`, checked. */
export function parseModelMeta(value: unknown, file: string): ModelMeta {
  return parseWith(modelMetaSchema, value, file, 'metadata "model"');
}

/** The "run" metadata of a resumable checkpoint `file`, checked. */
export function parseRunState(value: unknown, file: string): RunState {
  return parseWith(runStateSchema, value, file, 'metadata "run"');
}
