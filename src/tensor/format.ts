/**
 * Memory formats of 4-D activations. The logical shape is always [N, C, H, W] (PyTorch's);
 * the physical order is either
 *   nchw  [N][C][H][W]   (contiguous, the default and the reference kernels' layout)
 *   nhwc  [N][H][W][C]   (PyTorch's channels_last: channels fastest, the native kernels' layout)
 */
export type MemoryFormat = 'nchw' | 'nhwc';

/** dst[n][h][w][c] = src[n][c][h][w]. */
export function nchwToNhwc(
  src: Float32Array,
  N: number,
  C: number,
  H: number,
  W: number,
  dst: Float32Array,
): void {
  const plane = H * W;
  for (let n = 0; n < N; n++) {
    const s0 = n * C * plane;
    for (let c = 0; c < C; c++) {
      const s = s0 + c * plane;
      let d = s0 + c;
      for (let p = 0; p < plane; p++, d += C) dst[d] = src[s + p]!;
    }
  }
}

/** dst[n][c][h][w] = src[n][h][w][c]. */
export function nhwcToNchw(
  src: Float32Array,
  N: number,
  C: number,
  H: number,
  W: number,
  dst: Float32Array,
): void {
  const plane = H * W;
  for (let n = 0; n < N; n++) {
    const s0 = n * C * plane;
    for (let c = 0; c < C; c++) {
      const d = s0 + c * plane;
      let s = s0 + c;
      for (let p = 0; p < plane; p++, s += C) dst[d + p] = src[s]!;
    }
  }
}

/** Converts host arrays of a 4-D shape [N, C, H, W] to NHWC (toNhwc) or back to NCHW. */
export type HostFormatConverter = (
  src: Float32Array,
  shape: readonly [number, number, number, number],
  toNhwc: boolean,
  dst: Float32Array,
) => void;

let installed: HostFormatConverter | null = null;

/**
 * Installs another converter for host arrays (the native addon's, when it loads); it must give the
 * same permutation of the values. Every host conversion goes through it (a traced inference records
 * them there). Returns the previous one (null: the loops above).
 */
export function setHostFormatConverter(converter: HostFormatConverter | null): HostFormatConverter | null {
  const previous = installed;
  installed = converter;
  return previous;
}

/** The loops above as a HostFormatConverter. */
export const convertWithLoops: HostFormatConverter = (src, [N, C, H, W], toNhwc, dst) =>
  (toNhwc ? nchwToNhwc : nhwcToNchw)(src, N, C, H, W, dst);

/** Host arrays to NHWC (toNhwc) or NCHW, through the installed converter. */
export function convertHostFormat(
  src: Float32Array,
  shape: readonly [number, number, number, number],
  toNhwc: boolean,
  dst: Float32Array,
): void {
  (installed ?? convertWithLoops)(src, shape, toNhwc, dst);
}

/** Whether both formats order this shape's elements identically (C = 1 or H·W = 1). */
export function formatsAgree(shape: readonly number[]): boolean {
  return shape.length !== 4 || shape[1] === 1 || shape[2]! * shape[3]! === 1;
}
