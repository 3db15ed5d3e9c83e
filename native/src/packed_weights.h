// The repacked forms of one constant weight array, kept between calls: the addon attaches one to
// each weight array marked constant (Module.freezeForInference) and frees it with the array.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <vector>

namespace rx {

struct PackedWeights {
  dnnl::memory dnnl_weights;  // oneDNN's convolution primitive's blocked weights (empty until its first call)
  // The grouped forward kernels' packed weights, and the packing they were made for (grouped_key:
  // the variant's lane width and the group count); empty until the first call.
  std::vector<float> grouped;
  long grouped_key = 0;
};

}  // namespace rx
