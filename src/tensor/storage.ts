/**
 * Where float32 storage comes from. The default is a fresh (zeroed) Float32Array; a native backend
 * installs a pooled allocator so that a training step reuses the buffers of the previous one.
 * Contract: the array has exactly `length` elements; its contents are unspecified.
 */
export type Float32Allocator = (length: number) => Float32Array;

const fresh: Float32Allocator = (length) => new Float32Array(length);
let current: Float32Allocator = fresh;

export function allocateFloat32(length: number): Float32Array {
  return current(length);
}

/** Installs an allocator (null restores the default); returns the previous one. */
export function setFloat32Allocator(allocator: Float32Allocator | null): Float32Allocator {
  const previous = current;
  current = allocator ?? fresh;
  return previous;
}
