import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createModel, loadPretrained, loadTrainedModel, saveCheckpoint } from '../../src/index.js';
import type { ModelMeta } from '../../src/train/checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'meta-'));
const good: ModelMeta = {
  arch: 'resnext_tiny',
  classes: ['a', 'b', 'c'],
  inputShape: [3, 32, 32],
  mean: [0.5, 0.5, 0.5],
  std: [0.25, 0.25, 0.25],
  evalTransforms: [{ type: 'resize', size: [32, 32] }],
};

/** A weights file of resnext_tiny (3 classes) with `meta` as its "model" metadata. */
async function weightsWith(name: string, meta: unknown): Promise<string> {
  const path = join(dir, `${name}.safetensors`);
  const model = createModel('resnext_tiny', { numClasses: 3 });
  await saveCheckpoint(path, model.stateDict(), meta as ModelMeta);
  return path;
}

describe('weight-file metadata', () => {
  it('loads a file whose metadata is sound', async () => {
    const { meta } = await loadTrainedModel(await weightsWith('good', good));
    expect(meta).toEqual(good);
  });

  it('refuses hostile metadata, naming the file, the field and the value', async () => {
    const cases: [string, Partial<Record<keyof ModelMeta, unknown>>, string][] = [
      [
        'transform',
        { evalTransforms: [{ type: 'blur' }] },
        'field evalTransforms[0].type: invalid discriminator value. Expected',
      ],
      [
        'transform-field',
        { evalTransforms: [{ type: 'resize', size: [32, 32], mode: 'nearest' }] },
        'field evalTransforms[0]: unrecognized key: "mode"',
      ],
      [
        'huge',
        { inputShape: [3, 100000, 100000] },
        'field inputShape[1]: too big: expected number to be <=2048 (got 100000)',
      ],
      ['zero-std', { std: [0, 0, 0] }, 'field std[0]: too small: expected number to be >0 (got 0)'],
      ['two-means', { mean: [0.5, 0.5] }, 'field mean: needs 1 or 3 values'],
      ['grey', { inputShape: [1, 32, 32] }, 'field inputShape[0]: invalid input: expected 3 (got 1)'],
      ['arch', { arch: 'resnext9000' }, 'field arch: unknown architecture; known: resnet50,'],
      ['classes', { classes: [] }, 'field classes: too small: expected array to have >=1 items'],
    ];
    for (const [name, change, message] of cases) {
      const path = await weightsWith(name, { ...good, ...change });
      await expect(loadTrainedModel(path), name).rejects.toThrow(`${path}: metadata "model", ${message}`);
    }
  });

  it('refuses integer data where the model has float parameters', async () => {
    const path = await weightsWith('int', good);
    const bytes = readFileSync(path);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = bytes.subarray(8, 8 + headerLength).toString('utf-8');
    const patched = header.replace('"conv1.weight":{"dtype":"F32"', '"conv1.weight":{"dtype":"I32"');
    expect(patched).not.toBe(header);
    bytes.write(patched, 8, 'utf-8');
    writeFileSync(path, bytes);
    await expect(loadTrainedModel(path)).rejects.toThrow(
      `${path}: tensor "conv1.weight" is stored as I32, but the model's tensor is floating point (F32, F16, BF16, F64)`,
    );
    await expect(loadPretrained(createModel('resnext_tiny', { numClasses: 3 }), path)).rejects.toThrow(
      `weights file ${path}: Error(s) in loading state_dict for ResNet:\n\tdtype mismatch for conv1.weight: the checkpoint holds integers, the model's tensor is float32`,
    );
  });
});
