// The repacked forms of one constant weight array, kept between calls: the addon attaches one to
// each weight array marked constant (Module.freezeForInference) and frees it with the array.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <vector>

namespace rx {

// oneDNN's forward convolution as last built for one weight array: the descriptors and primitive of
// one input size, bias, residual and thread count (building them again costs 20-30 µs a call).
struct DnnlForwardPlan {
  // the geometry (N, C, H, W, K, Ho, Wo, kh, kw, sh, sw, ph, pw, groups), bias?, residual?, y the
  // residual's buffer?, OpenMP threads
  std::array<int, 18> key{};
  bool declined = false;      // oneDNN offers only its reference kernel for this key
  bool residual_as_sum = false;  // the residual is in dst (copied there unless y is its buffer), added by a sum post-op
  dnnl::memory::desc src, dst, bias, weights;  // weights: the layout the primitive chose
  dnnl::convolution_forward primitive;
};

struct PackedWeights {
  dnnl::memory dnnl_weights;  // oneDNN's convolution primitive's blocked weights (empty until its first call)
  DnnlForwardPlan dnnl_plan;  // empty until the first call
  // The grouped forward kernels' packed weights, and the packing they were made for (grouped_key:
  // the variant's lane width and the group count); empty until the first call.
  std::vector<float> grouped;
  long grouped_key = 0;
};

}  // namespace rx
