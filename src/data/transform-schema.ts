/**
 * The schema of a transform pipeline as stored in weight files (TransformSpec[]): every field's type
 * and range, so that a hostile or damaged file fails with the field named instead of misbehaving.
 */
import { z } from 'zod';
import { MAX_INPUT_SIDE } from './limits.js';
import type { TransformSpec } from './transforms.js';

const side = z.int().min(1).max(MAX_INPUT_SIDE);
const size = z.union([side, z.tuple([side, side])]);
const range = (lo: number, hi: number) =>
  z.tuple([z.number().min(lo).max(hi), z.number().min(lo).max(hi)]).refine(([a, b]) => a <= b, {
    message: 'the first bound must not exceed the second',
  });

export const transformSpecSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('resize'), size }),
  z.strictObject({ type: z.literal('centerCrop'), size }),
  z.strictObject({
    type: z.literal('randomResizedCrop'),
    size,
    scale: range(Number.MIN_VALUE, 1).optional(),
    ratio: range(Number.MIN_VALUE, 1e3).optional(),
  }),
  z.strictObject({
    type: z.literal('randomCrop'),
    size,
    padding: z.int().min(0).max(MAX_INPUT_SIDE).optional(),
  }),
  z.strictObject({ type: z.literal('pad'), padding: z.int().min(0).max(MAX_INPUT_SIDE) }),
  z.strictObject({ type: z.literal('randomHorizontalFlip'), p: z.number().min(0).max(1).optional() }),
  z.strictObject({ type: z.literal('grayToRgb') }),
]) satisfies z.ZodType<TransformSpec>;
