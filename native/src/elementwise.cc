// ReLU and add over flat arrays (layout-agnostic), forward and backward.
// Compiled once per ISA variant (variants/*.cc, dispatch.cc).
#include <omp.h>

#include "kernels.h"
#include "variant.h"

RX_VARIANT_BEGIN

namespace {
constexpr index_t kParallelMin = 1 << 15;  // below this, thread start-up costs more than it saves
}

void relu_forward(const float* x, index_t n, float* y) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (index_t i = 0; i < n; ++i) y[i] = x[i] <= 0.f ? 0.f : x[i];  // NaN passes, as torch.relu
}

void relu_backward(const float* dy, const float* y, index_t n, float* dx) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (index_t i = 0; i < n; ++i) {
    const float d = dy[i];  // loaded unconditionally, so the select vectorises
    dx[i] = y[i] <= 0.f ? 0.f : d;
  }
}

void add_forward(const float* a, const float* b, index_t n, float* y) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (index_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

RX_VARIANT_END
