import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  loadSafetensors,
  loadSafetensorsSync,
  parseSafetensors,
  saveSafetensors,
  serializeSafetensors,
  Tensor,
  type DType,
} from '../../src/index.js';
import { fixturePath } from '../helpers/fixtures.js';

/** Builds a file from a header object and raw data bytes, with an optional lying header length. */
function build(header: unknown, data: Uint8Array, headerLength?: bigint): Uint8Array {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32 = (...values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);

describe('safetensors', () => {
  it('round-trips float32 and int64 tensors with metadata, in order', () => {
    const tensors = new Map<string, Tensor<DType>>([
      ['conv1.weight', Tensor.randn([4, 3, 3, 3])],
      ['bn1.num_batches_tracked', Tensor.int64([12345678901234n], [])],
      ['fc.bias', Tensor.fromArray([1.5, -2, 3e-30])],
    ]);
    const bytes = serializeSafetensors(tensors, { metadata: { classes: '["cat","dog"]' } });
    expect((8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))) % 8).toBe(0);
    const back = parseSafetensors(bytes);
    expect([...back.tensors.keys()]).toEqual([...tensors.keys()]);
    expect(back.metadata).toEqual({ classes: '["cat","dog"]' });
    expect(back.tensors.get('conv1.weight')!.toArray()).toEqual(tensors.get('conv1.weight')!.toArray());
    const count = back.tensors.get('bn1.num_batches_tracked')!;
    expect(count.dtype).toBe('int64');
    expect(count.shape).toEqual([]);
    expect(count.dataSync()[0]).toBe(12345678901234n);
  });

  it('writes and reads F16 and BF16 with correct rounding', () => {
    const values = [1, -2, 65504, 1 / 3, 5.960464477539063e-8, 0, Infinity];
    const t = new Map([['x', Tensor.fromArray(values)]]);
    const half = parseSafetensors(serializeSafetensors(t, { floatDtype: 'F16' })).tensors.get('x')!;
    expect(half.toArray()).toEqual([1, -2, 65504, 0.333251953125, 5.960464477539063e-8, 0, Infinity]);
    const bf = parseSafetensors(serializeSafetensors(t, { floatDtype: 'BF16' })).tensors.get('x')!;
    expect(bf.toArray().slice(0, 4)).toEqual([1, -2, 65536, 0.333984375]);
  });

  it('reads F16 bit patterns written by another tool', () => {
    const data = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555]).buffer);
    const t = parseSafetensors(
      build({ h: { dtype: 'F16', shape: [5], data_offsets: [0, 10] } }, data),
    ).tensors.get('h')!;
    expect(t.toArray()).toEqual([1, -2, 65504, 2 ** -24, 0.333251953125]);
  });

  it('writes atomically and reads from disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    const path = join(dir, 'w.safetensors');
    await saveSafetensors(path, new Map([['a', Tensor.ones([2, 2])]]));
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
    expect((await loadSafetensors(path)).tensors.get('a')!.toArray()).toEqual([1, 1, 1, 1]);
  });

  it('reads files written by PyTorch (safetensors.torch.save_file): F32, I64, and F64 as float32', () => {
    const tiny = loadSafetensorsSync(fixturePath('tiny.safetensors')).tensors;
    expect(tiny.get('seeded.conv1.weight')!.shape).toEqual([16, 3, 7, 7]);
    expect(tiny.get('seeded.y')!.dtype).toBe('int64');
    expect(tiny.get('sgd.state.bn1.num_batches_tracked')!.toArray()).toEqual([3]);
    const schedules = loadSafetensorsSync(fixturePath('schedules.safetensors')).tensors;
    expect(schedules.get('cosine.lr')!.dtype).toBe('float32');
    expect(schedules.get('cosine.lr')!.toArray()[0]).toBe(Math.fround(0.1));
  });

  describe('treats files as hostile', () => {
    const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    const cases: [string, Uint8Array, string][] = [
      ['too short', new Uint8Array(5), 'file is 5 bytes, too short for the 8-byte header length'],
      [
        'huge header length',
        build(ok, f32(1, 2), 2n ** 40n),
        'header length 1099511627776 exceeds the 100000000-byte limit',
      ],
      [
        'header past the end',
        build(ok, f32(1, 2), 1000n),
        'header length 1000 runs past the end of the file',
      ],
      ['invalid JSON', build('{"a": ', new Uint8Array(0)), 'header is not valid JSON'],
      ['not an object', build('[1, 2]', new Uint8Array(0)), 'header is not a JSON object'],
      [
        'unknown dtype',
        build({ a: { dtype: 'F8_E5M2', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)),
        'tensor "a" has unsupported dtype "F8_E5M2"',
      ],
      [
        'negative dim',
        build({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)),
        'tensor "a" has an invalid shape [-1]',
      ],
      [
        'bad offsets',
        build({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, f32(1)),
        'tensor "a" has invalid data_offsets [4,0]',
      ],
      [
        'size mismatch',
        build({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(1, 2)),
        'tensor "a" (F32, shape [3]) needs 12 bytes but data_offsets [0, 8] span 8',
      ],
      [
        'truncated data',
        build({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32(1, 2)),
        'tensor "a" data_offsets [0, 16] run past the end of the data (8 bytes): truncated?',
      ],
      [
        'overlap',
        build(
          {
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
          },
          f32(1, 2),
        ),
        'tensors "a" and "b" overlap in the data',
      ],
      [
        'gap',
        build({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(1, 2)),
        'data bytes 0..4 belong to no tensor',
      ],
      [
        'trailing bytes',
        build({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(1, 2)),
        'data has 4 trailing bytes that belong to no tensor',
      ],
      [
        'bad metadata',
        build({ __metadata__: { a: 1 } }, new Uint8Array(0)),
        '__metadata__ value for "a" must be a string',
      ],
      ['entry not an object', build({ a: 3 }, new Uint8Array(0)), 'entry "a" is not an object'],
    ];
    for (const [name, bytes, message] of cases) {
      it(`rejects ${name}`, () => {
        expect(() => parseSafetensors(bytes, 'bad.safetensors')).toThrow(`bad.safetensors: ${message}`);
      });
    }

    it('accepts the well-formed control case', () => {
      expect(
        parseSafetensors(build(ok, f32(1, 2)))
          .tensors.get('a')!
          .toArray(),
      ).toEqual([1, 2]);
    });

    it('names the file when it cannot be read, or is cut short on disk', () => {
      const dir = mkdtempSync(join(tmpdir(), 'st-'));
      expect(() => loadSafetensorsSync(join(dir, 'missing.safetensors'))).toThrow(
        /missing\.safetensors: cannot read file \(ENOENT\)/,
      );
      const full = readFileSync(fixturePath('cross_entropy.safetensors'));
      const cut = join(dir, 'cut.safetensors');
      writeFileSync(cut, full.subarray(0, full.length - 100));
      expect(() => loadSafetensorsSync(cut)).toThrow(
        /cut\.safetensors: tensor "[\w.]+" data_offsets .* run past the end of the data/,
      );
    });
  });
});
