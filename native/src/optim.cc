// SGD update in place (PyTorch's single-tensor semantics; see src/backend/backend.ts sgdStep).
// Compiled once per ISA variant (variants/*.cc, dispatch.cc).
#include "kernels.h"
#include "variant.h"

RX_VARIANT_BEGIN

void sgd_step(float* param, const float* grad, float* buf, index_t n, const SgdOptions& o) {
  const float lr = static_cast<float>(o.lr), m = static_cast<float>(o.momentum),
              damp = 1.f - static_cast<float>(o.dampening), wd = static_cast<float>(o.weight_decay);
#pragma omp parallel for simd schedule(static) if (n > (1 << 15))
  for (index_t i = 0; i < n; ++i) {
    float d = wd != 0.f ? grad[i] + wd * param[i] : grad[i];
    if (buf) {
      const float b = o.first ? d : m * buf[i] + damp * d;
      buf[i] = b;
      d = o.nesterov ? d + m * b : b;
    }
    param[i] -= lr * d;
  }
}

RX_VARIANT_END
