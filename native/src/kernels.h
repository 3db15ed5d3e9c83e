// Kernel entry points. Activations NHWC; weights in PyTorch layouts; all arrays contiguous float32.
// Every output is fully overwritten unless noted.
#pragma once

#include <cstdint>

#include "common.h"

namespace rx {

// ---- convolution (conv.cc dispatches to conv_dnnl.cc, conv_gemm.cc or conv_grouped.cc) ----
void conv2d_forward(const float* x, const float* w, const float* bias, const ConvGeom& g, float* y,
                    const Epilogue& epilogue = {});
void conv2d_backward_input(const float* dy, const float* w, const ConvGeom& g, float* dx);
void conv2d_backward_weight(const float* dy, const float* x, const ConvGeom& g, float* dw, float* dbias);

// Dense (groups = 1 per call) convolution through GEMM: 1x1 directly, others via im2col.
void conv_gemm_forward(const float* x, const float* w, const ConvGeom& g, float* y);
void conv_gemm_backward_input(const float* dy, const float* w, const ConvGeom& g, float* dx);
void conv_gemm_backward_weight(const float* dy, const float* x, const ConvGeom& g, float* dw);

// Ungrouped 1x1 forward through oneDNN's convolution primitive (conv_dnnl.cc), bias and ReLU fused.
// Returns false, having written nothing, for other shapes, maps too small to gain, or when oneDNN
// declines the shape.
bool conv_dnnl_pointwise_forward(const float* x, const float* w, const float* bias, const ConvGeom& g, bool relu,
                                 float* y);

// Grouped convolution, direct: AVX2 kernels where they apply, portable loops otherwise.
void conv_grouped_forward(const float* x, const float* w, const ConvGeom& g, float* y);
void conv_grouped_backward_input(const float* dy, const float* w, const ConvGeom& g, float* dx);
void conv_grouped_backward_weight(const float* dy, const float* x, const ConvGeom& g, float* dw);

// ---- linear: y[R,O] = x[R,I]·W[O,I]ᵀ + b ----
void linear_forward(const float* x, const float* w, const float* b, index_t rows, int in, int out, float* y);
void linear_backward(const float* dy, const float* x, const float* w, index_t rows, int in, int out, float* dx,
                     float* dw, float* db);

struct SgdOptions {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, first;
};

// The kernels built in every ISA variant (variant_kernels.h); these entry points run the variant
// that kernel_isa() selects (dispatch.cc).
#include "variant_kernels.h"

}  // namespace rx
