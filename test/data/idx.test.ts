import { existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { data } from '../../src/index.js';

function idx(shape: number[], values: number[]): Uint8Array {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = 0x08;
  header[3] = shape.length;
  shape.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(values)]);
}

describe('IDX reader', () => {
  it('reads plain and gzipped IDX files', () => {
    const plain = idx([2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    for (const bytes of [plain, gzipSync(plain)]) {
      const a = data.parseIdx(bytes);
      expect(a.shape).toEqual([2, 2, 3]);
      expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    }
  });

  it('rejects bad magic numbers, other element types and wrong sizes, naming the file', () => {
    expect(() => data.parseIdx(Buffer.from([1, 2, 3, 4]), 'x.idx')).toThrow(
      'x.idx: not an IDX file (bad magic number)',
    );
    expect(() => data.parseIdx(Buffer.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]), 'f.idx')).toThrow(
      'unsupported IDX element type 0xd',
    );
    expect(() => data.parseIdx(idx([3], [1, 2]), 'short.idx')).toThrow(
      'short.idx: IDX shape [3] needs 3 bytes of data, the file has 2',
    );
    expect(() => data.parseIdx(Buffer.from([0x1f, 0x8b, 1, 2, 3]), 'z.gz')).toThrow(
      'z.gz: corrupt gzip data',
    );
  });

  // CI installs Debian's dataset-fashion-mnist; the test fails (not skips) if it is missing there.
  it('reads the real Fashion-MNIST files from the Debian package', () => {
    const dir = data.DEFAULT_FASHION_MNIST_DIR;
    expect(existsSync(dir), `${dir} (apt-get install dataset-fashion-mnist)`).toBe(true);
    const train = data.loadIdxDataset('fashion-mnist', dir, 'train');
    const test = data.loadIdxDataset('fashion-mnist', dir, 'test');
    expect([train.length, train.height, train.width]).toEqual([60000, 28, 28]);
    expect(test.length).toBe(10000);
    expect(train.classes[9]).toBe('Ankle boot');
    // Every class has 6,000 training images.
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < train.length; i++) counts[train.labelOf(i)]!++;
    expect(counts).toEqual(new Array<number>(10).fill(6000));
    // The first training image is an ankle boot, as in every copy of the dataset.
    expect(train.labelOf(0)).toBe(9);
    expect(() => data.loadIdxDataset('fashion-mnist', '/nonexistent', 'train')).toThrow(
      'apt-get install dataset-fashion-mnist, or pass --data-dir',
    );
  });
});
