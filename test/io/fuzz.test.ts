/**
 * Fuzzing the readers of untrusted files with seeded random edits: the safetensors parser (header
 * bytes), the weight-file metadata validator (JSON fields), whole weight files through
 * loadTrainedModel, and the image decoder (truncated and garbled files). Each case must end in a
 * valid load or a clean error that names the file; any other exception fails the test.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createModel,
  data,
  loadTrainedModel,
  parseSafetensors,
  SafetensorsError,
  saveCheckpoint,
  serializeSafetensors,
  Tensor,
  type DType,
} from '../../src/index.js';
import { buildTransform } from '../../src/data/transforms.js';
import { parseModelMeta, parseRunState, type ModelMeta } from '../../src/train/meta.js';
import { Generator } from '../../src/tensor/rng.js';
import { writeImage } from '../helpers/image-folder.js';

const dir = mkdtempSync(join(tmpdir(), 'fuzz-'));
const meta: ModelMeta = {
  arch: 'resnext_tiny',
  classes: ['a', 'b', 'c'],
  inputShape: [3, 32, 32],
  mean: [0.5, 0.5, 0.5],
  std: [0.25, 0.25, 0.25],
  evalTransforms: [
    { type: 'resize', size: 36 },
    { type: 'centerCrop', size: [32, 32] },
  ],
};

/** Random edits of `bytes` in [from, to): overwrite, insert, delete a run, or truncate. */
function mutate(bytes: Uint8Array, rng: Generator, from = 0, to = bytes.length): Uint8Array {
  const out = Array.from(bytes);
  const edits = 1 + rng.randint(4);
  for (let e = 0; e < edits; e++) {
    const at = from + rng.randint(Math.max(1, Math.min(to, out.length) - from));
    const kind = rng.randint(5);
    if (kind === 0) out[at] = rng.randint(256);
    else if (kind === 1) out[at] = ' {}[]",:0123456789-.eE'.charCodeAt(rng.randint(22));
    else if (kind === 2)
      out.splice(at, 0, ...Array.from({ length: 1 + rng.randint(8) }, () => rng.randint(256)));
    else if (kind === 3) out.splice(at, 1 + rng.randint(16));
    else out.length = at;
  }
  return Uint8Array.from(out);
}

/** A clean error: the expected class, its message naming the source. */
function expectClean(error: unknown, source: string, kind: new (...args: never[]) => Error = Error): void {
  expect(error).toBeInstanceOf(kind);
  expect((error as Error).message.startsWith(`${source}: `), (error as Error).message).toBe(true);
}

describe('fuzzing', () => {
  it('the safetensors parser: 3,000 edited headers give a valid file or a SafetensorsError naming it', () => {
    const tensors = new Map<string, Tensor<DType>>([
      ['conv.weight', Tensor.randn([4, 3, 3, 3])],
      ['bn.num_batches_tracked', Tensor.int64([7n], [])],
      ['fc.bias', Tensor.fromArray([1, 2, 3])],
    ]);
    const base = serializeSafetensors(tensors, { metadata: { model: JSON.stringify(meta) } });
    const headerEnd = 8 + Number(new DataView(base.buffer).getBigUint64(0, true));
    const rng = new Generator(1);
    let valid = 0;
    for (let i = 0; i < 3000; i++) {
      // Mostly the header's JSON, sometimes its length field or the data.
      const region = rng.randint(10);
      const bytes =
        region === 0
          ? mutate(base, rng, 0, 8)
          : region === 1
            ? mutate(base, rng, headerEnd)
            : mutate(base, rng, 8, headerEnd);
      try {
        const parsed = parseSafetensors(bytes, `case-${i}`);
        for (const t of parsed.tensors.values()) expect(t.dataSync().length).toBe(t.numel);
        valid++;
      } catch (e) {
        expectClean(e, `case-${i}`, SafetensorsError);
      }
    }
    expect(valid).toBeGreaterThan(0);
  });

  it('the metadata validator: 3,000 edited fields give a usable description or an error naming the field', () => {
    const rng = new Generator(2);
    const values: unknown[] = [
      null,
      true,
      0,
      -1,
      1e308,
      0.5,
      2049,
      '',
      'x',
      'resize',
      [],
      [0],
      [3, 32, 32],
      [1, 2, 3, 4],
      {},
      { type: 'resize' },
      { type: 'resize', size: -3 },
      { type: 'pad', padding: 1e9 },
      { type: 'randomResizedCrop', size: 8, scale: [1, 0.5] },
      [{ type: 'grayToRgb', extra: 1 }],
      { __proto__: { type: 'resize' } },
    ];
    const pick = (): unknown => structuredClone(values[rng.randint(values.length)]);
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const m = structuredClone(meta) as unknown as Record<string, unknown>;
      const keys = Object.keys(m);
      const key = keys[rng.randint(keys.length)]!;
      const field = m[key];
      if (Array.isArray(field) && field.length && rng.uniform() < 0.5) {
        const at = rng.randint(field.length);
        const item: unknown = field[at];
        if (typeof item === 'object' && item !== null && rng.uniform() < 0.5) {
          const inner = item as Record<string, unknown>;
          const names = Object.keys(inner);
          inner[names[rng.randint(names.length)]!] = pick();
        } else field[at] = pick();
      } else if (rng.uniform() < 0.1) delete m[key];
      else m[key] = pick();
      try {
        const checked = parseModelMeta(m, `meta-${i}`);
        // Accepted: the pipeline builds and runs on a small image.
        const image = { width: 8, height: 8, channels: 3 as const, data: new Float32Array(192) };
        const out = buildTransform(checked.evalTransforms)(image, new Generator(0));
        expect(out.data.length).toBe(out.width * out.height * out.channels);
        accepted++;
      } catch (e) {
        expectClean(e, `meta-${i}`);
        expect((e as Error).message).toMatch(/^meta-\d+: metadata "model"(, field [\w.[\]]+)?: /);
      }
    }
    expect(accepted).toBeGreaterThan(0);
    expect(() => parseRunState({ epoch: -1 }, 'last')).toThrow(
      'last: metadata "run", field epoch: too small',
    );
  });

  it('whole weight files: 150 edited files load or fail with an error naming the file', async () => {
    const path = join(dir, 'tiny.safetensors');
    await saveCheckpoint(path, createModel('resnext_tiny', { numClasses: 3 }).stateDict(), meta);
    const base = readFileSync(path);
    const headerEnd = 8 + Number(base.readBigUInt64LE(0));
    const rng = new Generator(3);
    const target = join(dir, 'edited.safetensors');
    for (let i = 0; i < 150; i++) {
      writeFileSync(target, mutate(base, rng, 8, headerEnd));
      try {
        const { model } = await loadTrainedModel(target, { strict: true });
        expect(model.fc!.weight.shape).toEqual([3, 256]);
      } catch (e) {
        expectClean(e, target);
      }
    }
  });

  it('the image decoder: 500 truncated or garbled files decode to valid images or fail naming the file', async () => {
    const formats = ['jpeg', 'png', 'webp', 'gif', 'bmp'] as const;
    const originals = await Promise.all(
      formats.map(async (format) => {
        const path = join(dir, `original.${format}`);
        await writeImage(path, format, [120, 60, 200], 16);
        return readFileSync(path);
      }),
    );
    const rng = new Generator(4);
    let decoded = 0;
    for (let i = 0; i < 500; i++) {
      const k = rng.randint(formats.length);
      const path = join(dir, `case-${i}.${formats[k] === 'jpeg' ? 'jpg' : formats[k]}`);
      const original = originals[k]!;
      writeFileSync(
        path,
        i % 10 === 0
          ? Buffer.from(Array.from({ length: rng.randint(200) }, () => rng.randint(256)))
          : mutate(original, rng),
      );
      try {
        const img = await data.decodeImage(path);
        expect(img.width * img.height * 3).toBe(img.data.length);
        expect(img.data.every((v) => v >= 0 && v <= 1)).toBe(true);
        decoded++;
      } catch (e) {
        expectClean(e, path, data.ImageDecodeError);
      }
    }
    expect(decoded).toBeGreaterThan(0);
  });
});
