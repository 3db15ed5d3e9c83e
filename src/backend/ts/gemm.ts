/**
 * The one matrix-product kernel of the reference backend, in "dot" form:
 *
 *   C[i, j] (+)= Σ_k A[i, k] · B[j, k]        A: M×K, B: N×K, C: M×N, all row-major
 *
 * Both operands are read along contiguous rows of K, so the inner loop is a pair of unit-stride
 * streams; a 4×4 block of C is kept in (double precision) locals. Other transposes are served by
 * packing an operand with transpose() first: O(MK) or O(NK) copies next to O(MNK) work.
 */
export function gemmABt(
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  aOff: number,
  lda: number,
  B: Float32Array,
  bOff: number,
  ldb: number,
  C: Float32Array,
  cOff: number,
  ldc: number,
  accumulate: boolean,
): void {
  const M4 = M - (M % 4);
  const N4 = N - (N % 4);
  for (let i = 0; i < M4; i += 4) {
    const a0 = aOff + i * lda;
    const a1 = a0 + lda;
    const a2 = a1 + lda;
    const a3 = a2 + lda;
    for (let j = 0; j < N4; j += 4) {
      const b0 = bOff + j * ldb;
      const b1 = b0 + ldb;
      const b2 = b1 + ldb;
      const b3 = b2 + ldb;
      let c00 = 0,
        c01 = 0,
        c02 = 0,
        c03 = 0;
      let c10 = 0,
        c11 = 0,
        c12 = 0,
        c13 = 0;
      let c20 = 0,
        c21 = 0,
        c22 = 0,
        c23 = 0;
      let c30 = 0,
        c31 = 0,
        c32 = 0,
        c33 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = A[a0 + k]!;
        const x1 = A[a1 + k]!;
        const x2 = A[a2 + k]!;
        const x3 = A[a3 + k]!;
        const y0 = B[b0 + k]!;
        const y1 = B[b1 + k]!;
        const y2 = B[b2 + k]!;
        const y3 = B[b3 + k]!;
        c00 += x0 * y0;
        c01 += x0 * y1;
        c02 += x0 * y2;
        c03 += x0 * y3;
        c10 += x1 * y0;
        c11 += x1 * y1;
        c12 += x1 * y2;
        c13 += x1 * y3;
        c20 += x2 * y0;
        c21 += x2 * y1;
        c22 += x2 * y2;
        c23 += x2 * y3;
        c30 += x3 * y0;
        c31 += x3 * y1;
        c32 += x3 * y2;
        c33 += x3 * y3;
      }
      store4(C, cOff + i * ldc + j, c00, c01, c02, c03, accumulate);
      store4(C, cOff + (i + 1) * ldc + j, c10, c11, c12, c13, accumulate);
      store4(C, cOff + (i + 2) * ldc + j, c20, c21, c22, c23, accumulate);
      store4(C, cOff + (i + 3) * ldc + j, c30, c31, c32, c33, accumulate);
    }
    for (let j = N4; j < N; j++) {
      for (let r = 0; r < 4; r++)
        dotInto(A, a0 + r * lda, B, bOff + j * ldb, K, C, cOff + (i + r) * ldc + j, accumulate);
    }
  }
  for (let i = M4; i < M; i++) {
    for (let j = 0; j < N; j++) {
      dotInto(A, aOff + i * lda, B, bOff + j * ldb, K, C, cOff + i * ldc + j, accumulate);
    }
  }
}

function store4(
  C: Float32Array,
  o: number,
  v0: number,
  v1: number,
  v2: number,
  v3: number,
  accumulate: boolean,
): void {
  if (accumulate) {
    C[o] = C[o]! + v0;
    C[o + 1] = C[o + 1]! + v1;
    C[o + 2] = C[o + 2]! + v2;
    C[o + 3] = C[o + 3]! + v3;
  } else {
    C[o] = v0;
    C[o + 1] = v1;
    C[o + 2] = v2;
    C[o + 3] = v3;
  }
}

function dotInto(
  A: Float32Array,
  a: number,
  B: Float32Array,
  b: number,
  K: number,
  C: Float32Array,
  o: number,
  accumulate: boolean,
): void {
  let s = 0;
  for (let k = 0; k < K; k++) s += A[a + k]! * B[b + k]!;
  C[o] = accumulate ? C[o]! + s : s;
}

/** dst[c, r] = src[r, c] for a rows×cols block starting at srcOff with row stride ld. */
export function transpose(
  src: Float32Array,
  srcOff: number,
  rows: number,
  cols: number,
  ld: number,
  dst: Float32Array,
): Float32Array {
  const tile = 32;
  for (let r0 = 0; r0 < rows; r0 += tile) {
    const r1 = Math.min(rows, r0 + tile);
    for (let c0 = 0; c0 < cols; c0 += tile) {
      const c1 = Math.min(cols, c0 + tile);
      for (let r = r0; r < r1; r++) {
        const s = srcOff + r * ld;
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[s + c]!;
      }
    }
  }
  return dst;
}
