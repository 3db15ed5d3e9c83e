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

/** Turns recording on or off; returns the previous mode. Prefer noGrad() for scoped use. */
export function setGradEnabled(enabled: boolean): boolean {
  const previous = gradEnabled;
  gradEnabled = enabled;
  return previous;
}
