// AVX2+FMA grouped convolution kernels (see conv_grouped_avx2.cc). Each returns false when the shape
// is not one it handles, and the caller falls back to the portable kernels.
#pragma once

#include "common.h"

namespace rx::avx2 {

bool grouped_forward(const float* x, const float* w, const ConvGeom& g, float* y);
bool grouped_backward_input(const float* dy, const float* w, const ConvGeom& g, float* dx);
bool grouped_backward_weight(const float* dy, const float* x, const ConvGeom& g, float* dw);

}  // namespace rx::avx2
