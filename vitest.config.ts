import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Full-size parity runs ResNeXt-50 on the reference kernels: minutes, not seconds, on 2 cores.
    testTimeout: 900_000,
    hookTimeout: 900_000,
    reporters: ['default'],
    // Memory tests call global.gc() to check that a training step releases its activations.
    execArgv: ['--expose-gc'],
  },
});
