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

/** Whether both formats order this shape's elements identically (C = 1 or H·W = 1). */
export function formatsAgree(shape: readonly number[]): boolean {
  return shape.length !== 4 || shape[1] === 1 || shape[2]! * shape[3]! === 1;
}
