// Fully connected layer through GEMM, PyTorch's weight layout [out, in].
// Compiled once per ISA variant (variants/*.cc, dispatch.cc).
#include <cstring>

#include "gemm.h"
#include "kernels.h"
#include "variant.h"

RX_VARIANT_BEGIN

void linear_forward(const float* x, const float* w, const float* b, index_t rows, int in, int out, float* y) {
  if (b) {
    for (index_t r = 0; r < rows; ++r) std::memcpy(y + r * out, b, sizeof(float) * out);
  }
  sgemm('N', 'T', rows, out, in, 1.f, x, in, w, in, b ? 1.f : 0.f, y, out);
}

// dx[R,I] = dy·W;  dW[O,I] = dyᵀ·x;  db[O] = Σ_r dy
void linear_backward(const float* dy, const float* x, const float* w, index_t rows, int in, int out, float* dx,
                     float* dw, float* db) {
  if (dx) sgemm('N', 'N', rows, in, out, 1.f, dy, out, w, in, 0.f, dx, in);
  if (dw) sgemm('T', 'N', out, in, rows, 1.f, dy, out, x, in, 0.f, dw, in);
  if (db) {
    for (int o = 0; o < out; ++o) {
      double s = 0;
      for (index_t r = 0; r < rows; ++r) s += dy[r * out + o];
      db[o] = static_cast<float>(s);
    }
  }
}

RX_VARIANT_END
