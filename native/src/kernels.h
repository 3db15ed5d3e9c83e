// Kernel entry points. Activations NHWC; weights in PyTorch layouts; all arrays contiguous float32.
// Every output is fully overwritten unless noted.
#pragma once

#include <cstdint>

#include "common.h"

namespace rx {

// Ungrouped 1x1 forward through oneDNN's convolution primitive (conv_dnnl.cc), bias and ReLU fused.
// Returns false, having written nothing, for other shapes, maps too small to gain, or when oneDNN
// declines the shape. oneDNN chooses its own ISA at run time, so this is built once.
bool conv_dnnl_pointwise_forward(const float* x, const float* w, const float* bias, const ConvGeom& g, bool relu,
                                 float* y);

struct SgdOptions {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, first;
};

// The kernels built in every ISA variant (variant_kernels.h); these entry points run the variant
// that kernel_isa() selects (dispatch.cc).
#include "variant_kernels.h"

}  // namespace rx
