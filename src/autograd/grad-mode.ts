import { collectStorage, type Storage } from '../tensor/storage.js';
import { Tensor } from '../tensor/tensor.js';

/** Whether ops record themselves for backward(). Off inside noGrad(), like torch.no_grad(). */
let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn with recording off, restoring the previous mode afterwards (also on throw). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * Inference, like torch.inference_mode(): runs fn without recording and, when it returns, recycles
 * every intermediate buffer it allocated except those of the tensors it returns (a Tensor, or an
 * array or object of them). A repeated forward pass then allocates nothing new. Intermediates
 * captured inside (by hooks) are invalid afterwards; clone() them to keep them.
 */
export function inferenceMode<T>(fn: () => T): T {
  return collectStorage(
    () => noGrad(fn),
    (result) => {
      const found: Storage[] = [];
      const visit = (v: unknown): void => {
        if (v instanceof Tensor) found.push(v.storage as Storage);
        else if (Array.isArray(v)) v.forEach(visit);
        else if (v !== null && typeof v === 'object') Object.values(v).forEach(visit);
      };
      visit(result);
      return found;
    },
  );
}

/** Turns recording on or off; returns the previous mode. Prefer noGrad() for scoped use. */
export function setGradEnabled(enabled: boolean): boolean {
  const previous = gradEnabled;
  gradEnabled = enabled;
  return previous;
}
