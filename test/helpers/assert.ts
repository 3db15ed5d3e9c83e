import { expect } from 'vitest';
import { formatShape, type DType, type Tensor } from '../../src/index.js';

export function maxAbs(values: ArrayLike<number | bigint>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(Number(values[i])));
  return m;
}

export function maxAbsDiff(a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(Number(a[i]) - Number(b[i]));
    if (Number.isNaN(d)) return Infinity;
    m = Math.max(m, d);
  }
  return m;
}

/** |actual - expected| ≤ rtol · max(floor, max|expected|), elementwise max, with shapes equal. */
export function expectClose(
  actual: Tensor<DType>,
  expected: Tensor<DType>,
  what: string,
  options: { rtol: number; floor?: number },
): void {
  expect(formatShape(actual.shape), `${what}: shape`).toBe(formatShape(expected.shape));
  const scale = Math.max(options.floor ?? 0, maxAbs(expected.dataSync()));
  const diff = maxAbsDiff(actual.dataSync(), expected.dataSync());
  expect(diff, `${what}: max |diff| ${diff} vs tolerance ${options.rtol * scale}`).toBeLessThanOrEqual(
    options.rtol * scale,
  );
}
