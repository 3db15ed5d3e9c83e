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

// Forward through oneDNN's convolution primitive (conv_dnnl.cc), bias and residual (or null) fused.
// Returns false, having written nothing, for dilated shapes, maps too small to gain, grouped shapes
// unless `grouped` (and then all but constant weights at stride 1 with 8 or more channels per group
// on an AVX-512 kernel), or when oneDNN declines the shape. oneDNN chooses its own ISA at run time, so
// this is built once. With `packed` (weights the caller promises never change), the blocked weights
// the primitive reads are kept there and reused while their layout still fits, instead of reordered
// on every call.
bool conv_dnnl_forward(const float* x, const float* w, const float* bias, const ConvGeom& g, const float* residual,
                       float* y, PackedWeights* packed, bool grouped);
// Which shapes a kernel variant sends to oneDNN's backward-weights primitive, and on which of its kernels:
//   none          none
//   avx512        grouped with 16 or more channels per group, and ungrouped k×k (not 1x1, not dilated,
//                 1024 output pixels or more), where oneDNN runs an AVX-512 kernel
//   avx2_grouped  grouped with 32 or more channels per group on maps of 7x7 or more, where oneDNN runs
//                 its jit:avx2 kernel
enum class DnnlBackwardWeights { none, avx2_grouped, avx512 };
// Backward-weights (dw overwritten) through oneDNN's primitive for the shapes `kernels` names; false,
// having written nothing, elsewhere.
bool conv_dnnl_backward_weights(const float* dy, const float* x, const ConvGeom& g, float* dw,
                                DnnlBackwardWeights kernels);

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
