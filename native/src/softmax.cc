// Softmax and log-softmax along the middle axis of [outer, dim, inner], max-shifted, double accumulation.
// Compiled once per ISA variant (variants/*.cc, dispatch.cc).
#include <cmath>

#include "kernels.h"
#include "variant.h"

RX_VARIANT_BEGIN

void softmax_forward(const float* x, index_t outer, int dim, index_t inner, bool log, float* y) {
#pragma omp parallel for collapse(2) schedule(static) if (outer * inner > 64)
  for (index_t o = 0; o < outer; ++o) {
    for (index_t i = 0; i < inner; ++i) {
      const float* xs = x + o * dim * inner + i;
      float* ys = y + o * dim * inner + i;
      double mx = -INFINITY;
      for (int d = 0; d < dim; ++d) mx = std::fmax(mx, xs[d * inner]);
      double sum = 0;
      for (int d = 0; d < dim; ++d) sum += std::exp(xs[d * inner] - mx);
      if (log) {
        const double logz = mx + std::log(sum);
        for (int d = 0; d < dim; ++d) ys[d * inner] = static_cast<float>(xs[d * inner] - logz);
      } else {
        for (int d = 0; d < dim; ++d) ys[d * inner] = static_cast<float>(std::exp(xs[d * inner] - mx) / sum);
      }
    }
  }
}

void softmax_backward(const float* dy, const float* y, index_t outer, int dim, index_t inner, float* dx) {
#pragma omp parallel for collapse(2) schedule(static) if (outer * inner > 64)
  for (index_t o = 0; o < outer; ++o) {
    for (index_t i = 0; i < inner; ++i) {
      const index_t base = o * dim * inner + i;
      double dot = 0;
      for (int d = 0; d < dim; ++d) dot += static_cast<double>(dy[base + d * inner]) * y[base + d * inner];
      for (int d = 0; d < dim; ++d) {
        const index_t at = base + d * inner;
        dx[at] = static_cast<float>(y[at] * (dy[at] - dot));
      }
    }
  }
}

RX_VARIANT_END
