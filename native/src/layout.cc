// Memory-format conversion of 4-D float32 activations, per image a transpose of a rows × cols
// matrix: NCHW → NHWC is [C][H·W] → [H·W][C], NHWC → NCHW is [H·W][C] → [C][H·W]. Tiles of
// kTile × kTile keep both the rows read and the rows written in L1. A permutation of the values, so
// any build gives the same result; compiled once (not per ISA variant).
#include <omp.h>

#include <algorithm>

#include "kernels.h"

namespace rx {

namespace {
constexpr int kTile = 32;
}

void convert_format(const float* src, int N, int C, int HW, bool to_nhwc, float* dst) {
  const index_t rows = to_nhwc ? C : HW, cols = to_nhwc ? HW : C;
  const index_t image = rows * cols;
  const index_t row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
  const index_t tiles = row_tiles * col_tiles;
#pragma omp parallel for schedule(static) if (image * N >= (1 << 16))
  for (index_t t = 0; t < N * tiles; ++t) {
    const index_t n = t / tiles, r0 = (t % tiles) / col_tiles * kTile, c0 = (t % col_tiles) * kTile;
    const index_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
    const float* s = src + n * image;
    float* d = dst + n * image;
    for (index_t r = r0; r < r1; ++r)
      for (index_t c = c0; c < c1; ++c) d[c * rows + r] = s[r * cols + c];
  }
}

}  // namespace rx
