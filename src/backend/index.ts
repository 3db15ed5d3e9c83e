import type { Backend } from './backend.js';
import { nativeBackend, nativeUnavailableReason } from './native/index.js';
import { tsBackend } from './ts/index.js';

export type * from './backend.js';
export { tsBackend };
export {
  nativeBackend,
  nativeInfo,
  nativeUnavailableReason,
  setNativeThreads,
  releaseFreeMemory,
  forcePortableKernels,
  sgemmGflops,
} from './native/index.js';

let current: Backend | null = null;

/**
 * The backend that ops dispatch to. Chosen on first use: native when the addon loads, unless
 * RESNEXT_BACKEND=ts; otherwise the TypeScript kernels, with a one-line notice of why.
 */
export function getBackend(): Backend {
  if (current === null) current = defaultBackend();
  return current;
}

/** Switches the backend for all subsequent ops; returns the previous one. */
export function setBackend(backend: Backend): Backend {
  const previous = getBackend();
  current = backend;
  return previous;
}

/** Selects a backend by name ('native' or 'ts'); 'native' throws with the reason when unavailable. */
export function useBackend(name: 'native' | 'ts'): Backend {
  if (name === 'ts') return setBackend(tsBackend);
  const native = nativeBackend();
  if (!native) throw new Error(`the native backend is unavailable: ${nativeUnavailableReason()}`);
  return setBackend(native);
}

function defaultBackend(): Backend {
  const requested = process.env.RESNEXT_BACKEND;
  if (requested === 'ts') return tsBackend;
  const native = nativeBackend();
  if (native) return native;
  if (requested === 'native') {
    throw new Error(
      `RESNEXT_BACKEND=native, but the native backend is unavailable: ${nativeUnavailableReason()}`,
    );
  }
  process.stderr.write(
    `resnext: native kernels unavailable (${nativeUnavailableReason()}); using the TypeScript kernels\n`,
  );
  return tsBackend;
}
