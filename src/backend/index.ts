import type { Backend } from './backend.js';
import { tsBackend } from './ts/index.js';

export type * from './backend.js';
export { tsBackend };

let current: Backend = tsBackend;

/** The backend that ops dispatch to. */
export function getBackend(): Backend {
  return current;
}

/** Switches the backend for all subsequent ops; returns the previous one. */
export function setBackend(backend: Backend): Backend {
  const previous = current;
  current = backend;
  return previous;
}
