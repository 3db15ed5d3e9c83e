import { afterAll, beforeAll } from 'vitest';
import { setBackend, tsBackend, type Backend } from '../../src/index.js';
import { nhwcTestBackend } from './nhwc-backend.js';

/** Backends the parity and op tests run on: the reference one, the NHWC plumbing check, and native when built. */
export function testBackends(options: { includeNhwcAdapter?: boolean } = {}): Backend[] {
  const list: Backend[] = [tsBackend];
  if (options.includeNhwcAdapter ?? true) list.push(nhwcTestBackend);
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
