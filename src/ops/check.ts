/** Input validation shared by ops: every failure names the op, the argument and the shapes involved. */
import type { Tensor } from '../tensor/tensor.js';
import type { DType } from '../tensor/dtype.js';
import type { MemoryFormat } from '../tensor/format.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { toFormat } from './format.js';

export function expectFloat(op: string, name: string, t: Tensor<DType>): asserts t is Tensor {
  if (t.dtype !== 'float32') throw new TypeError(`${op}: ${name} must be float32, got ${t.dtype}`);
}

export function expectRank(op: string, name: string, t: Tensor<DType>, rank: number, layout: string): void {
  if (t.ndim !== rank) {
    throw new RangeError(`${op}: ${name} must be ${rank}-D ${layout}, got shape ${formatShape(t.shape)}`);
  }
}

/**
 * A fused tail's residual in the op's memory format, checked to be float32 with the shape it is
 * added to (`whose`: the op's "input's" or "output's" shape); null when there is none.
 */
export function tailResidual(
  op: string,
  residual: Tensor<DType> | null | undefined,
  shape: readonly number[],
  format: MemoryFormat,
  whose: "input's" | "output's",
): Tensor | null {
  if (!residual) return null;
  expectFloat(op, 'residual', residual);
  if (!sameShape(residual.shape, shape)) {
    throw new RangeError(
      `${op}: residual must have the ${whose} shape ${formatShape(shape)}, got ${formatShape(residual.shape)}`,
    );
  }
  return toFormat(residual, format);
}

export type IntPair = number | readonly [number, number];

/** Expands an int-or-pair argument and checks it is an integer of at least `min`. */
export function pair(op: string, name: string, value: IntPair, min: number): [number, number] {
  const p: [number, number] = typeof value === 'number' ? [value, value] : [value[0], value[1]];
  for (const v of p) {
    if (!Number.isInteger(v) || v < min) {
      throw new RangeError(
        `${op}: ${name} must be an integer >= ${min} (or a pair of them), got ${JSON.stringify(value)}`,
      );
    }
  }
  return p;
}

/** True when the op should only propagate shapes (summary tracing). */
export function anyMeta(...tensors: readonly (Tensor<DType> | null | undefined)[]): boolean {
  return tensors.some((t) => t?.isMeta === true);
}

/**
 * Refuses in-place writes that would corrupt a gradient: into a leaf that requires grad, or into
 * storage that an earlier op saved for its backward pass.
 */
export function checkInPlace(op: string, t: Tensor<DType>): void {
  if (t.requiresGrad && t.isLeaf) {
    throw new Error(`${op}: a leaf tensor that requires grad cannot be modified in place`);
  }
  if (t.storage.savedBy > 0) {
    throw new Error(
      `${op}: the tensor is saved for backward by an earlier op, so it cannot be modified in place; use the out-of-place op`,
    );
  }
}
