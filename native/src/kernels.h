// Kernel entry points. Activations NHWC; weights in PyTorch layouts; all arrays contiguous float32.
// Every output is fully overwritten unless noted.
#pragma once

#include <cstdint>
#include <vector>

#include "common.h"

namespace rx {

// Repacked forms of one constant weight array, kept between calls (packed_weights.h). The addon
// attaches one to each weight array marked constant and frees it with the array.
struct PackedWeights;
PackedWeights* packed_weights_new();
void packed_weights_delete(PackedWeights* packed);
std::size_t packed_weights_bytes(const PackedWeights* packed);
// The slot for the grouped forward kernels' packed weights made for `key` (a kernel and grouping):
// empty until filled, and emptied first when it holds another key's.
std::vector<float>& packed_grouped_forward(PackedWeights* packed, long key);

// Ungrouped forward through oneDNN's convolution primitive (conv_dnnl.cc), bias and residual (or
// null) fused. Returns false, having written nothing, for grouped or dilated shapes, maps too small to
// gain, or when oneDNN declines the shape. oneDNN chooses its own ISA at run time, so this is built
// once. With `packed` (weights the caller promises never change), the blocked weights the primitive
// reads are kept there and reused while their layout still fits, instead of reordered on every call.
bool conv_dnnl_forward(const float* x, const float* w, const float* bias, const ConvGeom& g, const float* residual,
                       float* y, PackedWeights* packed);

// 4-D activations from NCHW to NHWC (to_nhwc) or back, src and dst of N·C·HW floats (layout.cc).
void convert_format(const float* src, int N, int C, int HW, bool to_nhwc, float* dst);

struct SgdOptions {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, first;
};

// The kernels built in every ISA variant (variant_kernels.h); these entry points run the variant
// that kernel_isa() selects (dispatch.cc).
#include "variant_kernels.h"

}  // namespace rx
