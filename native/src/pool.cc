// Max and average pooling over NHWC planes, forward and backward. Work is split by (image, output row);
// every output pixel handles all C channels as one contiguous vector.
// Compiled once per ISA variant (variants/*.cc, dispatch.cc).
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels.h"
#include "variant.h"

RX_VARIANT_BEGIN

namespace {

// Max of `taps` candidate pixels into one output pixel: first maximum wins, NaN propagates (PyTorch).
inline void max_into(const float* src, int in_index, int C, float* best, std::int32_t* arg, bool first) {
  if (first) {
    for (int c = 0; c < C; ++c) {
      best[c] = src[c];
      arg[c] = in_index;
    }
    return;
  }
  // Branch-free (every lane loads and stores), so that the loop vectorises over channels.
#pragma omp simd
  for (int c = 0; c < C; ++c) {
    const float v = src[c], b = best[c];
    const bool take = (v > b) | ((v != v) & (b == b));
    best[c] = take ? v : b;
    arg[c] = take ? in_index : arg[c];
  }
}

}  // namespace

void maxpool2d_forward(const float* x, const PoolGeom& g, float* y, std::int32_t* argmax) {
  const int C = g.C;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < g.N; ++n) {
    for (int oy = 0; oy < g.Ho; ++oy) {
      for (int ox = 0; ox < g.Wo; ++ox) {
        const index_t o = ((static_cast<index_t>(n) * g.Ho + oy) * g.Wo + ox) * C;
        bool first = true;
        for (int ky = 0; ky < g.kh; ++ky) {
          const int iy = oy * g.sh - g.ph + ky * g.dh;
          if (iy < 0 || iy >= g.H) continue;
          for (int kx = 0; kx < g.kw; ++kx) {
            const int ix = ox * g.sw - g.pw + kx * g.dw;
            if (ix < 0 || ix >= g.W) continue;
            const float* src = x + ((static_cast<index_t>(n) * g.H + iy) * g.W + ix) * C;
            max_into(src, iy * g.W + ix, C, y + o, argmax + o, first);
            first = false;
          }
        }
      }
    }
  }
}

void adaptive_maxpool2d_forward(const float* x, const PoolGeom& g, float* y, std::int32_t* argmax) {
  const int C = g.C;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < g.N; ++n) {
    for (int oy = 0; oy < g.Ho; ++oy) {
      const int y0 = window_start(oy, g.Ho, g.H), y1 = window_end(oy, g.Ho, g.H);
      for (int ox = 0; ox < g.Wo; ++ox) {
        const int x0 = window_start(ox, g.Wo, g.W), x1 = window_end(ox, g.Wo, g.W);
        const index_t o = ((static_cast<index_t>(n) * g.Ho + oy) * g.Wo + ox) * C;
        bool first = true;
        for (int iy = y0; iy < y1; ++iy) {
          for (int ix = x0; ix < x1; ++ix) {
            const float* src = x + ((static_cast<index_t>(n) * g.H + iy) * g.W + ix) * C;
            max_into(src, iy * g.W + ix, C, y + o, argmax + o, first);
            first = false;
          }
        }
      }
    }
  }
}

// Scatter-add by image: one thread owns each image's dx, so there are no write conflicts.
void maxpool_backward(const float* dy, const std::int32_t* argmax, const PoolGeom& g, float* dx) {
  const int C = g.C;
  const index_t in_plane = static_cast<index_t>(g.H) * g.W, out_plane = static_cast<index_t>(g.Ho) * g.Wo;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < g.N; ++n) {
    float* dxn = dx + n * in_plane * C;
    std::memset(dxn, 0, sizeof(float) * in_plane * C);
    const float* dyn = dy + n * out_plane * C;
    const std::int32_t* an = argmax + n * out_plane * C;
    for (index_t p = 0; p < out_plane; ++p) {
      for (int c = 0; c < C; ++c) dxn[static_cast<index_t>(an[p * C + c]) * C + c] += dyn[p * C + c];
    }
  }
}

void adaptive_avgpool2d_forward(const float* x, const PoolGeom& g, float* y) {
  const int C = g.C;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < g.N; ++n) {
    for (int oy = 0; oy < g.Ho; ++oy) {
      const int y0 = window_start(oy, g.Ho, g.H), y1 = window_end(oy, g.Ho, g.H);
      for (int ox = 0; ox < g.Wo; ++ox) {
        const int x0 = window_start(ox, g.Wo, g.W), x1 = window_end(ox, g.Wo, g.W);
        std::vector<double> sum(C, 0.0);
        for (int iy = y0; iy < y1; ++iy)
          for (int ix = x0; ix < x1; ++ix) {
            const float* src = x + ((static_cast<index_t>(n) * g.H + iy) * g.W + ix) * C;
            for (int c = 0; c < C; ++c) sum[c] += src[c];
          }
        const double inv = 1.0 / ((y1 - y0) * (x1 - x0));
        float* dst = y + ((static_cast<index_t>(n) * g.Ho + oy) * g.Wo + ox) * C;
        for (int c = 0; c < C; ++c) dst[c] = static_cast<float>(sum[c] * inv);
      }
    }
  }
}

void adaptive_avgpool2d_backward(const float* dy, const PoolGeom& g, float* dx) {
  const int C = g.C;
  const index_t in_plane = static_cast<index_t>(g.H) * g.W;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < g.N; ++n) {
    float* dxn = dx + n * in_plane * C;
    std::memset(dxn, 0, sizeof(float) * in_plane * C);
    for (int oy = 0; oy < g.Ho; ++oy) {
      const int y0 = window_start(oy, g.Ho, g.H), y1 = window_end(oy, g.Ho, g.H);
      for (int ox = 0; ox < g.Wo; ++ox) {
        const int x0 = window_start(ox, g.Wo, g.W), x1 = window_end(ox, g.Wo, g.W);
        const float share = 1.f / static_cast<float>((y1 - y0) * (x1 - x0));
        const float* src = dy + ((static_cast<index_t>(n) * g.Ho + oy) * g.Wo + ox) * C;
        for (int iy = y0; iy < y1; ++iy)
          for (int ix = x0; ix < x1; ++ix) {
            float* dst = dxn + (static_cast<index_t>(iy) * g.W + ix) * C;
            for (int c = 0; c < C; ++c) dst[c] += src[c] * share;
          }
      }
    }
  }
}

RX_VARIANT_END
