/** safetensors files: reading (checked as in safetensors-format.ts) and atomic writing. */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic.js';
import {
  parseSafetensors,
  SafetensorsError,
  serializeSafetensors,
  type SafetensorsContent,
  type SerializeOptions,
} from './safetensors-format.js';

export * from './safetensors-format.js';

export function loadSafetensorsSync(path: string): SafetensorsContent {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new SafetensorsError(
      path,
      `cannot read file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  return parseSafetensors(bytes, path);
}

export async function loadSafetensors(path: string): Promise<SafetensorsContent> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new SafetensorsError(
      path,
      `cannot read file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  return parseSafetensors(bytes, path);
}

/** Writes tensors to `path` atomically (temp file + rename). */
export async function saveSafetensors(
  path: string,
  tensors: ReadonlyMap<string, Tensor<DType>>,
  options: SerializeOptions = {},
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, options));
}
