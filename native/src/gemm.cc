#include "gemm.h"

#include <oneapi/dnnl/dnnl.h>

#include <string>

#include "common.h"

namespace rx {

void sgemm(char transa, char transb, long M, long N, long K, float alpha, const float* A, long lda,
           const float* B, long ldb, float beta, float* C, long ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (long i = 0; i < M; ++i)
      for (long j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
    return;
  }
  const dnnl_status_t status = dnnl_sgemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  check(status == dnnl_success, "dnnl_sgemm failed with status " + std::to_string(static_cast<int>(status)));
}

}  // namespace rx
