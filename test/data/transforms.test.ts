import { describe, expect, it } from 'vitest';
import { data, Generator } from '../../src/index.js';

const t = data.transforms;
const image = (
  w: number,
  h: number,
  c: 1 | 3,
  f: (x: number, y: number, k: number) => number,
): data.RawImage => {
  const d = new Float32Array(w * h * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) d[(y * w + x) * c + k] = f(x, y, k);
  return { width: w, height: h, channels: c, data: d };
};

describe('transforms', () => {
  it('resize keeps constants constant and averages when shrinking', () => {
    const flat = t.resizeTo(
      image(10, 6, 3, () => 0.5),
      3,
      5,
    );
    expect(flat.data.every((v) => Math.abs(v - 0.5) < 1e-6)).toBe(true);
    const stripes = t.resizeTo(
      image(8, 1, 1, (x) => x % 2),
      1,
      4,
    );
    // Away from the edges (where the filter is renormalised, as PIL does) stripes average to grey.
    expect(Array.from(stripes.data.subarray(1, 3)).every((v) => Math.abs(v - 0.5) < 1e-6)).toBe(true);
    expect(
      t.resize(
        image(20, 10, 1, () => 0),
        5,
      ),
    ).toMatchObject({ width: 10, height: 5 });
  });

  it('center crop, pad and random crop with padding', () => {
    const img = image(4, 4, 1, (x, y) => y * 4 + x);
    expect(Array.from(t.centerCrop(img, 2).data)).toEqual([5, 6, 9, 10]);
    const padded = t.pad(img, 1);
    expect([padded.width, padded.height]).toEqual([6, 6]);
    expect(padded.data[0]).toBe(0);
    expect(padded.data[7]).toBe(0); // (1,1) in the padded image is (0,0) of the original
    const a = t.randomCrop(img, 4, new Generator(3), 2);
    const b = t.randomCrop(img, 4, new Generator(3), 2);
    expect(a.data).toEqual(b.data);
    expect(() => t.randomCrop(img, 9, new Generator(1), 2)).toThrow(
      'crop 9x9 is larger than the padded image 8x8',
    );
  });

  it('flip, gray to RGB, random resized crop size, and normalisation', () => {
    const img = image(3, 1, 1, (x) => x);
    expect(Array.from(t.horizontalFlip(img).data)).toEqual([2, 1, 0]);
    const rgb = t.grayToRgb(img);
    expect(Array.from(rgb.data)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);
    const big = image(50, 40, 3, (x, y) => (x + y) / 90);
    for (let seed = 0; seed < 5; seed++) {
      const out = t.randomResizedCrop(big, 16, new Generator(seed));
      expect([out.width, out.height, out.channels]).toEqual([16, 16, 3]);
    }
    const out = new Float32Array(9);
    t.toTensorInto(rgb, [1, 0, 0], [1, 2, 4], out, 0);
    expect(Array.from(out)).toEqual([-1, 0, 1, 0, 0.5, 1, 0, 0.25, 0.5]);
  });

  it('builds a pipeline from its description, reproducibly per seed', () => {
    const pipeline = t.buildTransform([
      { type: 'pad', padding: 2 },
      { type: 'randomCrop', size: 32, padding: 4 },
      { type: 'randomHorizontalFlip' },
      { type: 'grayToRgb' },
    ]);
    const img = image(28, 28, 1, (x, y) => (x * y) / 729);
    const a = pipeline(img, new Generator(9));
    expect([a.width, a.height, a.channels]).toEqual([32, 32, 3]);
    expect(pipeline(img, new Generator(9)).data).toEqual(a.data);
    expect(pipeline(img, new Generator(10)).data).not.toEqual(a.data);
  });
});
