// Convolution entry points: choose the algorithm for a shape and add or reduce the bias.
//   forward, groups = 1     oneDNN's convolution primitive (conv_dnnl.cc), bias and residual fused,
//                           unless it declines (maps too small to repay reordering changing weights)
//   1x1, or groups = 1      GEMM (conv_gemm.cc): the backward passes and the declined forwards
//   grouped k×k             direct kernels (conv_grouped.cc); in the AVX-512 variant oneDNN's
//                           primitives where they measured faster (conv_dnnl.cc: the inference
//                           forward at stride 1, backward-weights with 16 or more per group); in
//                           the AVX2 variant its backward-weights with 32 or more per group
//   k×k backward-weights    in the AVX-512 variant oneDNN's primitive (conv_dnnl.cc), grouped or not
// Compiled once per ISA variant (variants/*.cc, dispatch.cc).
#include <omp.h>

#include <vector>

#include "kernels.h"
#include "variant.h"

RX_VARIANT_BEGIN

namespace {
bool use_gemm(const ConvGeom& g) { return g.pointwise() || g.groups == 1; }

// oneDNN's AVX-512 kernels beat our 16-lane grouped ones and im2col + GEMM on some shapes. In the
// AVX2 variant (also what RESNEXT_ISA=avx2 selects) ours were as fast as oneDNN's AVX2 grouped
// kernels or faster but for backward-weights with 32 or more channels per group.
#if defined(RX_VARIANT_LANES) && RX_VARIANT_LANES == 16
constexpr DnnlBackwardWeights kDnnlBackwardWeights = DnnlBackwardWeights::avx512;
#elif defined(RX_VARIANT_LANES) && RX_VARIANT_LANES == 8
constexpr DnnlBackwardWeights kDnnlBackwardWeights = DnnlBackwardWeights::avx2_grouped;
#else
constexpr DnnlBackwardWeights kDnnlBackwardWeights = DnnlBackwardWeights::none;
#endif
// The grouped inference forward goes to oneDNN in the AVX-512 variant only.
constexpr bool kAvx512DnnlPaths = kDnnlBackwardWeights == DnnlBackwardWeights::avx512;
}  // namespace

void conv2d_forward(const float* x, const float* w, const float* bias, const ConvGeom& g, float* y,
                    const Epilogue& epilogue, PackedWeights* packed) {
  const float* res = epilogue.residual;
  const bool relu = epilogue.relu;
  std::vector<float> kept_residual;  // y is the residual's buffer and a kernel below overwrites it first
  if (conv_dnnl_forward(x, w, bias, g, res, y, packed, kAvx512DnnlPaths)) {
    // Bias and residual are in; the ReLU stays ours: oneDNN's (a max with 0) turns NaN into 0, where
    // torch.relu lets it through.
    bias = nullptr;
    res = nullptr;
  } else {
    if (res && res == y) {
      kept_residual.assign(res, res + static_cast<index_t>(g.N) * g.Ho * g.Wo * g.K);
      res = kept_residual.data();
    }
    if (use_gemm(g)) conv_gemm_forward(x, w, g, y);
    else conv_grouped_forward(x, w, g, y, packed);
  }
  if (!bias && !res && !relu) return;
  // One pass for the rest of the tail: y = relu?(y + bias? + residual?).
  const index_t P = static_cast<index_t>(g.N) * g.Ho * g.Wo;
#pragma omp parallel for schedule(static)
  for (index_t p = 0; p < P; ++p) {
    float* yp = y + p * g.K;
    const float* rp = res ? res + p * g.K : nullptr;
    if (bias) {
#pragma omp simd
      for (int k = 0; k < g.K; ++k) yp[k] += bias[k];
    }
    if (rp) {
#pragma omp simd
      for (int k = 0; k < g.K; ++k) yp[k] += rp[k];
    }
    if (relu) {
#pragma omp simd
      for (int k = 0; k < g.K; ++k) yp[k] = yp[k] <= 0.f ? 0.f : yp[k];
    }
  }
}

void conv2d_backward_input(const float* dy, const float* w, const ConvGeom& g, float* dx) {
  if (use_gemm(g)) conv_gemm_backward_input(dy, w, g, dx);
  else conv_grouped_backward_input(dy, w, g, dx);
}

void conv2d_backward_weight(const float* dy, const float* x, const ConvGeom& g, float* dw, float* dbias) {
  const bool done = !g.pointwise() && conv_dnnl_backward_weights(dy, x, g, dw, kDnnlBackwardWeights);
  if (!done && use_gemm(g)) conv_gemm_backward_weight(dy, x, g, dw);
  else if (!done) conv_grouped_backward_weight(dy, x, g, dw);
  if (dbias) {
    const index_t P = static_cast<index_t>(g.N) * g.Ho * g.Wo;
    std::vector<double> sum(g.K, 0.0);
    for (index_t p = 0; p < P; ++p)
      for (int k = 0; k < g.K; ++k) sum[k] += dy[p * g.K + k];
    for (int k = 0; k < g.K; ++k) dbias[k] = static_cast<float>(sum[k]);
  }
}

RX_VARIANT_END
