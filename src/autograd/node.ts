import type { Tensor } from '../tensor/tensor.js';
import type { Storage } from '../tensor/storage.js';
import { isGradEnabled } from './grad-mode.js';

/**
 * Computes the gradients of an op's inputs from the gradient of its (single) output.
 * Returns one entry per recorded input, null where that input needs no gradient.
 */
export type BackwardFn = (gradOutput: Tensor) => readonly (Tensor | null)[];

/**
 * One recorded op in the graph. After backward() runs it, `inputs`, `backward` and `saved` are
 * cleared: the closure held the op's saved activations, so dropping it releases them, and storage
 * that no other node still needs goes back to the pool.
 */
export interface GradNode {
  readonly op: string;
  inputs: readonly (Tensor | null)[];
  backward: BackwardFn | null;
  /** Storage of the activations the backward closure reads (counted in Storage.savedBy). */
  saved: readonly Storage[];
}

/**
 * Records `output = op(inputs)` when grad mode is on and any input requires grad.
 * `makeBackward` is only called when recording, so forward-only runs save nothing.
 * `saved` lists the activations (inputs or output) that the backward closure reads, so that their
 * storage is kept until this node has run and can be recycled afterwards; an op may also list an
 * input it consumes without reading it back (a pool's input), so that it is recycled rather than
 * left to the garbage collector.
 * Inputs that need no gradient are stored as null and get null from the backward fn.
 */
export function record(
  op: string,
  output: Tensor,
  inputs: readonly (Tensor | null | undefined)[],
  makeBackward: () => BackwardFn,
  saved: readonly Tensor[] = [],
): Tensor {
  if (!isGradEnabled()) return output;
  const tracked = inputs.map((t) => (t && t.requiresGrad ? t : null));
  if (tracked.every((t) => t === null)) return output;
  const storages = saved.map((t) => t.storage as Storage);
  for (const s of storages) s.savedBy++;
  output.requiresGrad = true;
  output.gradFn = { op, inputs: tracked, backward: makeBackward(), saved: storages };
  return output;
}

/** Whether an op with these inputs will be recorded (so it must save what backward needs). */
export function needsGrad(...inputs: readonly (Tensor | null | undefined)[]): boolean {
  return isGradEnabled() && inputs.some((t) => t !== null && t !== undefined && t.requiresGrad);
}
