// Row-major single-precision GEMM: C = alpha·op(A)·op(B) + beta·C, op = transpose when 'T'.
// Backed by oneDNN's dnnl_sgemm (OpenMP, the same runtime as our kernels), which measured faster
// than OpenBLAS here for the tall-skinny shapes of NHWC convolutions (see README).
#pragma once

namespace rx {

void sgemm(char transa, char transb, long M, long N, long K, float alpha, const float* A, long lda,
           const float* B, long ldb, float beta, float* C, long ldc);

}  // namespace rx
