#include "gemm.h"

#include <oneapi/dnnl/dnnl.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"

namespace rx {

namespace {

// dnnl_sgemm's 'N', 'N' path ran 1.3-2.4x slower on some shapes when B was not 32-byte aligned.
// In a 1x1 backward-input GEMM B is the weight array, and Float32Arrays of 128 KiB and more start
// 16 bytes into a page, so most weights were. With M ≥ kMinRowsToAlign rows the copy is small next
// to the product (0-4% on the 224x224 shapes that were not slow): such a B is copied to an aligned
// buffer first, one per thread and kept, so that a training step does not map fresh pages for it.
constexpr long kMinRowsToAlign = 128;

const float* aligned_copy(const float* B, long floats) {
  thread_local std::vector<float> buffer;
  constexpr std::size_t kPad = 64 / sizeof(float);
  if (buffer.size() < static_cast<std::size_t>(floats) + kPad) buffer.resize(static_cast<std::size_t>(floats) + kPad);
  float* p = buffer.data();
  p += (kPad - reinterpret_cast<std::uintptr_t>(p) / sizeof(float) % kPad) % kPad;
  std::memcpy(p, B, static_cast<std::size_t>(floats) * sizeof(float));
  return p;
}

}  // namespace

void sgemm(char transa, char transb, long M, long N, long K, float alpha, const float* A, long lda,
           const float* B, long ldb, float beta, float* C, long ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (long i = 0; i < M; ++i)
      for (long j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
    return;
  }
  if (transa == 'N' && transb == 'N' && M >= kMinRowsToAlign && reinterpret_cast<std::uintptr_t>(B) % 32 != 0)
    B = aligned_copy(B, (K - 1) * ldb + N);
  const dnnl_status_t status = dnnl_sgemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  check(status == dnnl_success, "dnnl_sgemm failed with status " + std::to_string(static_cast<int>(status)));
}

}  // namespace rx
