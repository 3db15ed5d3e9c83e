import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensorsSync, type DType, type Tensor } from '../../src/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The PyTorch fixture directory: $RESNEXT_FIXTURES, else ../shared/fixtures next to the repository. */
export function fixturesDir(): string {
  const dir = process.env.RESNEXT_FIXTURES ?? resolve(repoRoot, '../shared/fixtures');
  if (!existsSync(dir)) {
    throw new Error(
      `PyTorch fixtures not found at ${dir}: set RESNEXT_FIXTURES to the directory that holds tiny/ and resnext50/`,
    );
  }
  return dir;
}

export function loadFixture(...path: string[]): Map<string, Tensor<DType>> {
  return loadSafetensorsSync(join(fixturesDir(), ...path)).tensors;
}

export function fixturePath(...path: string[]): string {
  return join(fixturesDir(), ...path);
}
