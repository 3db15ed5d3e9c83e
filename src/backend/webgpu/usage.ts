/**
 * WebGPU's flag values (fixed by the specification), so that modules need no GPU globals at load:
 * Node's `webgpu` package defines GPUBufferUsage and friends only once it is set up.
 */
export const BufferUsage = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  STORAGE: 0x0080,
} as const;

export const MapMode = { READ: 0x0001 } as const;
