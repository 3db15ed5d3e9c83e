/** Shape helpers: shapes are arrays of non-negative integers, row-major (last dim fastest). */
export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkShape(shape: Shape, what = 'shape'): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(`${what} ${formatShape(shape)} must contain non-negative integers`);
    }
  }
}

/** Normalises a possibly negative dimension index against a rank, PyTorch style. */
export function normalizeDim(dim: number, rank: number): number {
  const d = dim < 0 ? dim + rank : dim;
  if (!Number.isInteger(d) || d < 0 || d >= rank) {
    throw new RangeError(`dimension ${dim} is out of range for a tensor of rank ${rank}`);
  }
  return d;
}
