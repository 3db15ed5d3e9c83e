/** Element types a Tensor can hold: float32 for values, int64 for labels and counters. */
export type DType = 'float32' | 'int64';

/** The typed array that backs each dtype (contiguous, row-major). */
export type StorageOf<D extends DType> = D extends 'float32' ? Float32Array : BigInt64Array;

export function allocate<D extends DType>(dtype: D, length: number): StorageOf<D> {
  return (dtype === 'float32' ? new Float32Array(length) : new BigInt64Array(length)) as StorageOf<D>;
}

export function bytesPerElement(dtype: DType): number {
  return dtype === 'float32' ? 4 : 8;
}
