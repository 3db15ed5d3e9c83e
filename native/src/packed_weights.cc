// Lifetime and accounting of PackedWeights (packed_weights.h); the kernels fill its slots.
#include "packed_weights.h"

#include "kernels.h"

namespace rx {

PackedWeights* packed_weights_new() { return new PackedWeights(); }
void packed_weights_delete(PackedWeights* packed) { delete packed; }

std::size_t packed_weights_bytes(const PackedWeights* packed) {
  const std::size_t dnnl_bytes = packed->dnnl_weights ? packed->dnnl_weights.get_desc().get_size() : 0;
  return dnnl_bytes + packed->grouped.capacity() * sizeof(float);
}

std::vector<float>& packed_grouped_forward(PackedWeights* packed, long key) {
  if (packed->grouped_key != key) {
    std::vector<float>().swap(packed->grouped);
    packed->grouped_key = key;
  }
  return packed->grouped;
}

}  // namespace rx
