import { describe, expect, it } from 'vitest';
import { data } from '../../src/index.js';

/** A pixel dataset with `n` 8x8 grey images whose pixels encode their index. */
function pixels(n: number, classes = 4): data.PixelDataset {
  const buf = new SharedArrayBuffer(n * 64);
  const bytes = new Uint8Array(buf);
  for (let i = 0; i < n; i++) bytes.fill(i % 256, i * 64, (i + 1) * 64);
  return new data.PixelDataset(
    'test',
    Array.from({ length: classes }, (_, c) => `c${c}`),
    buf,
    n,
    8,
    8,
    Array.from({ length: n }, (_, i) => i % classes),
  );
}

const options = (workers: number): data.LoaderOptions => ({
  batchSize: 8,
  shuffle: true,
  seed: 5,
  workers,
  transforms: [
    { type: 'randomCrop', size: 8, padding: 2 },
    { type: 'randomHorizontalFlip' },
    { type: 'grayToRgb' },
  ],
  mean: [0.5],
  std: [0.25],
  outputShape: [3, 8, 8],
});

async function collect(
  loader: data.DataLoader,
  epoch: number,
  start = 0,
): Promise<{ x: number[]; y: number[] }[]> {
  const out: { x: number[]; y: number[] }[] = [];
  for await (const b of loader.epoch(epoch, start)) out.push({ x: b.x.toArray(), y: b.y.toArray() });
  return out;
}

describe('DataLoader', () => {
  it('batches every sample once per epoch, shuffled per epoch', async () => {
    const loader = new data.DataLoader(pixels(30), options(0));
    expect(loader.batchesPerEpoch).toBe(4);
    const e0 = loader.epochBatches(0).flat();
    expect([...e0].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(loader.epochBatches(1).flat()).not.toEqual(e0);
    expect(loader.epochBatches(0).flat()).toEqual(e0);
    const batches = await collect(loader, 0);
    expect(batches.map((b) => b.y.length)).toEqual([8, 8, 8, 6]);
  });

  it('gives identical batches with and without worker threads, and when resumed mid-epoch', async () => {
    const ds = pixels(40);
    const inline = new data.DataLoader(ds, options(0));
    const threaded = new data.DataLoader(ds, options(2));
    try {
      expect(threaded.workerCount).toBe(2);
      const a = await collect(inline, 3);
      const b = await collect(threaded, 3);
      expect(b).toEqual(a);
      expect(await collect(threaded, 3, 2)).toEqual(a.slice(2));
    } finally {
      await threaded.close();
    }
  });

  it('stratified splits and subsets are seeded and keep class proportions', () => {
    const ds = pixels(100, 4);
    const [rest, held] = data.stratifiedSplit(ds, 0.2, 1);
    expect(held.length).toBe(20);
    expect(rest.length).toBe(80);
    const perClass = [0, 1, 2, 3].map((c) => held.filter((i) => ds.labelOf(i) === c).length);
    expect(perClass).toEqual([5, 5, 5, 5]);
    expect(data.stratifiedSplit(ds, 0.2, 1)).toEqual([rest, held]);
    expect(data.stratifiedSplit(ds, 0.2, 2)[1]).not.toEqual(held);
    expect(data.stratifiedSubset(ds, 12, 0).length).toBe(12);
    expect(() => data.stratifiedSplit(ds, 1.5, 0)).toThrow('split fraction must be in (0, 1)');
  });
});
