// Shared definitions of the native kernels. Activations are NHWC (channels fastest), float32;
// geometry is always given in logical [N, C, H, W] terms, as in src/backend/backend.ts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace rx {

using index_t = std::int64_t;

// Convolution geometry: x [N, H, W, C] → y [N, Ho, Wo, K]; weight [K, C/groups, kh, kw] (PyTorch).
struct ConvGeom {
  int N, C, H, W;      // input
  int K, Ho, Wo;       // output channels and size
  int kh, kw, sh, sw, ph, pw, dh, dw;
  int groups;
  int cpg() const { return C / groups; }  // input channels per group
  int kpg() const { return K / groups; }  // output channels per group
  bool pointwise() const { return kh == 1 && kw == 1 && ph == 0 && pw == 0; }
};

// An elementwise tail fused into a kernel's output, as inference engines fuse them:
// y = relu?(y + residual?), the residual laid out as y (NHWC, same shape).
struct Epilogue {
  const float* residual = nullptr;
  bool relu = false;
};

// Pooling geometry over NHWC planes; for adaptive pools the window fields are unused.
struct PoolGeom {
  int N, C, H, W, Ho, Wo;
  int kh, kw, sh, sw, ph, pw, dh, dw;
};

inline void check(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

// Adaptive pooling window along one axis: [start, end).
inline int window_start(int i, int out, int in) { return static_cast<int>((static_cast<index_t>(i) * in) / out); }
inline int window_end(int i, int out, int in) {
  return static_cast<int>(((static_cast<index_t>(i) + 1) * in + out - 1) / out);
}

}  // namespace rx
