import { afterAll, beforeAll } from 'vitest';
import { nativeBackend, setBackend, tsBackend, type Backend } from '../../src/index.js';
import { nhwcTestBackend } from './nhwc-backend.js';

/**
 * Backends the parity and op tests run on: the reference one, the NHWC plumbing check, and native
 * when built. RESNEXT_REQUIRE_NATIVE=1 (set by CI) makes a missing addon a failure, not a skip.
 */
export function testBackends(options: { includeNhwcAdapter?: boolean } = {}): Backend[] {
  const list: Backend[] = [tsBackend];
  if (options.includeNhwcAdapter ?? true) list.push(nhwcTestBackend);
  const native = nativeBackend();
  if (native) list.push(native);
  else if (process.env.RESNEXT_REQUIRE_NATIVE === '1') {
    throw new Error('RESNEXT_REQUIRE_NATIVE=1 but the native addon is not built or does not load');
  }
  return list;
}

/** Makes `backend` current for the enclosing describe block. */
export function useBackend(backend: Backend): void {
  let previous: Backend;
  beforeAll(() => {
    previous = setBackend(backend);
  });
  afterAll(() => {
    setBackend(previous);
  });
}
