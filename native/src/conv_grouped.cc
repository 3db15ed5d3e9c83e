// Direct grouped convolution on NHWC activations (ResNeXt's 3x3 convs with 4 to 64 channels per group).
// Shapes: x [N, H, W, C], w [K, cpg, kh, kw] (PyTorch), y [N, Ho, Wo, K]; group gi owns input channels
// [gi·cpg, +cpg) and output channels [gi·kpg, +kpg), with its own weights.
//
// The vector kernels of conv_grouped_simd.cc (AVX2 and AVX-512 variants) take the shapes ResNeXt
// uses; these portable loops (any shape, and the whole portable variant) are the fallback: one
// output (or input) pixel at a time, all groups, innermost loop over the contiguous channels of a
// group, weights repacked so that loop is unit-stride:
//   forward          y[p][gi·kpg + k]  = Σ_{tap, j} x[p ⊕ tap][gi·cpg + j] · wf[gi][tap][j][k]
//   backward input   dx[q][gi·cpg + j] = Σ_{tap, k} dy[q ⊖ tap][gi·kpg + k] · wb[gi][tap][k][j]  (gathered)
//   backward weight  dw[gi][tap][j][k] = Σ_p x[p ⊕ tap][gi·cpg + j] · dy[p][gi·kpg + k]   (per-thread sums)
// Compiled once per ISA variant (variants/*.cc, dispatch.cc).
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "variant.h"

RX_VARIANT_BEGIN

namespace {

// wf[gi][tap][j][k] = w[gi·kpg + k][j][tap]
std::vector<float> pack_forward(const float* w, const ConvGeom& g) {
  const int cpg = g.cpg(), kpg = g.kpg(), taps = g.kh * g.kw;
  std::vector<float> out(static_cast<std::size_t>(g.K) * cpg * taps);
  for (int gi = 0; gi < g.groups; ++gi)
    for (int t = 0; t < taps; ++t)
      for (int j = 0; j < cpg; ++j)
        for (int k = 0; k < kpg; ++k)
          out[((static_cast<std::size_t>(gi) * taps + t) * cpg + j) * kpg + k] =
              w[((static_cast<std::size_t>(gi) * kpg + k) * cpg + j) * taps + t];
  return out;
}

// wb[gi][tap][k][j] = w[gi·kpg + k][j][tap]
std::vector<float> pack_backward(const float* w, const ConvGeom& g) {
  const int cpg = g.cpg(), kpg = g.kpg(), taps = g.kh * g.kw;
  std::vector<float> out(static_cast<std::size_t>(g.K) * cpg * taps);
  for (int gi = 0; gi < g.groups; ++gi)
    for (int t = 0; t < taps; ++t)
      for (int k = 0; k < kpg; ++k)
        for (int j = 0; j < cpg; ++j)
          out[((static_cast<std::size_t>(gi) * taps + t) * kpg + k) * cpg + j] =
              w[((static_cast<std::size_t>(gi) * kpg + k) * cpg + j) * taps + t];
  return out;
}

void forward_portable(const float* x, const float* wf, const ConvGeom& g, float* y) {
  const int cpg = g.cpg(), kpg = g.kpg(), taps = g.kh * g.kw;
#pragma omp parallel
  {
    std::vector<float> acc(g.K);
#pragma omp for collapse(2) schedule(static)
    for (int n = 0; n < g.N; ++n) {
      for (int oy = 0; oy < g.Ho; ++oy) {
        for (int ox = 0; ox < g.Wo; ++ox) {
          std::fill(acc.begin(), acc.end(), 0.f);
          for (int ky = 0; ky < g.kh; ++ky) {
            const int iy = oy * g.sh - g.ph + ky * g.dh;
            if (iy < 0 || iy >= g.H) continue;
            for (int kx = 0; kx < g.kw; ++kx) {
              const int ix = ox * g.sw - g.pw + kx * g.dw;
              if (ix < 0 || ix >= g.W) continue;
              const float* xp = x + ((static_cast<index_t>(n) * g.H + iy) * g.W + ix) * g.C;
              const int t = ky * g.kw + kx;
              for (int gi = 0; gi < g.groups; ++gi) {
                float* a = acc.data() + gi * kpg;
                const float* wrow = wf + (static_cast<std::size_t>(gi) * taps + t) * cpg * kpg;
                for (int j = 0; j < cpg; ++j) {
                  const float xv = xp[gi * cpg + j];
                  const float* wj = wrow + static_cast<std::size_t>(j) * kpg;
#pragma omp simd
                  for (int k = 0; k < kpg; ++k) a[k] += xv * wj[k];
                }
              }
            }
          }
          std::memcpy(y + ((static_cast<index_t>(n) * g.Ho + oy) * g.Wo + ox) * g.K, acc.data(), sizeof(float) * g.K);
        }
      }
    }
  }
}

void backward_input_portable(const float* dy, const float* wb, const ConvGeom& g, float* dx) {
  const int cpg = g.cpg(), kpg = g.kpg(), taps = g.kh * g.kw;
#pragma omp parallel
  {
    std::vector<float> acc(g.C);
#pragma omp for collapse(2) schedule(static)
    for (int n = 0; n < g.N; ++n) {
      for (int iy = 0; iy < g.H; ++iy) {
        for (int ix = 0; ix < g.W; ++ix) {
          std::fill(acc.begin(), acc.end(), 0.f);
          for (int ky = 0; ky < g.kh; ++ky) {
            const int ty = iy + g.ph - ky * g.dh;
            if (ty < 0 || ty % g.sh != 0 || ty / g.sh >= g.Ho) continue;
            const int oy = ty / g.sh;
            for (int kx = 0; kx < g.kw; ++kx) {
              const int tx = ix + g.pw - kx * g.dw;
              if (tx < 0 || tx % g.sw != 0 || tx / g.sw >= g.Wo) continue;
              const int ox = tx / g.sw;
              const float* dyp = dy + ((static_cast<index_t>(n) * g.Ho + oy) * g.Wo + ox) * g.K;
              const int t = ky * g.kw + kx;
              for (int gi = 0; gi < g.groups; ++gi) {
                float* a = acc.data() + gi * cpg;
                const float* wrow = wb + (static_cast<std::size_t>(gi) * taps + t) * kpg * cpg;
                for (int k = 0; k < kpg; ++k) {
                  const float dv = dyp[gi * kpg + k];
                  const float* wk = wrow + static_cast<std::size_t>(k) * cpg;
#pragma omp simd
                  for (int j = 0; j < cpg; ++j) a[j] += dv * wk[j];
                }
              }
            }
          }
          std::memcpy(dx + ((static_cast<index_t>(n) * g.H + iy) * g.W + ix) * g.C, acc.data(), sizeof(float) * g.C);
        }
      }
    }
  }
}

void backward_weight_portable(const float* dy, const float* x, const ConvGeom& g, float* dw) {
  const int cpg = g.cpg(), kpg = g.kpg(), taps = g.kh * g.kw;
  const std::size_t wsize = static_cast<std::size_t>(g.K) * cpg * taps;
  const int threads = omp_get_max_threads();
  std::vector<double> part(wsize * threads, 0.0);  // per thread: [gi][tap][j][k]
#pragma omp parallel num_threads(threads)
  {
    double* acc = part.data() + wsize * omp_get_thread_num();
#pragma omp for collapse(2) schedule(static)
    for (int n = 0; n < g.N; ++n) {
      for (int oy = 0; oy < g.Ho; ++oy) {
        for (int ox = 0; ox < g.Wo; ++ox) {
          const float* dyp = dy + ((static_cast<index_t>(n) * g.Ho + oy) * g.Wo + ox) * g.K;
          for (int ky = 0; ky < g.kh; ++ky) {
            const int iy = oy * g.sh - g.ph + ky * g.dh;
            if (iy < 0 || iy >= g.H) continue;
            for (int kx = 0; kx < g.kw; ++kx) {
              const int ix = ox * g.sw - g.pw + kx * g.dw;
              if (ix < 0 || ix >= g.W) continue;
              const float* xp = x + ((static_cast<index_t>(n) * g.H + iy) * g.W + ix) * g.C;
              const int t = ky * g.kw + kx;
              for (int gi = 0; gi < g.groups; ++gi) {
                const float* dyg = dyp + gi * kpg;
                double* row = acc + (static_cast<std::size_t>(gi) * taps + t) * cpg * kpg;
                for (int j = 0; j < cpg; ++j) {
                  const double xv = xp[gi * cpg + j];
                  double* rj = row + static_cast<std::size_t>(j) * kpg;
#pragma omp simd
                  for (int k = 0; k < kpg; ++k) rj[k] += xv * dyg[k];
                }
              }
            }
          }
        }
      }
    }
  }
  for (int gi = 0; gi < g.groups; ++gi)
    for (int t = 0; t < taps; ++t)
      for (int j = 0; j < cpg; ++j)
        for (int k = 0; k < kpg; ++k) {
          double s = 0;
          const std::size_t at = ((static_cast<std::size_t>(gi) * taps + t) * cpg + j) * kpg + k;
          for (int th = 0; th < threads; ++th) s += part[wsize * th + at];
          dw[((static_cast<std::size_t>(gi) * kpg + k) * cpg + j) * taps + t] = static_cast<float>(s);
        }
}

}  // namespace

// packed: constant weights' kept forms, or null; the packing is kept under a key of this variant's
// lane width (0: portable loops) and the group count.
void conv_grouped_forward(const float* x, const float* w, const ConvGeom& g, float* y, PackedWeights* packed) {
  const long key = static_cast<long>(RX_VARIANT_LANES) << 32 | g.groups;
  std::vector<float>* kept = packed ? &packed_grouped_forward(packed, key) : nullptr;
#if RX_VARIANT_LANES
  if (grouped_simd::forward(x, w, g, y, kept)) return;
#endif
  if (!kept) return forward_portable(x, pack_forward(w, g).data(), g, y);
  if (kept->empty()) *kept = pack_forward(w, g);
  forward_portable(x, kept->data(), g, y);
}

void conv_grouped_backward_input(const float* dy, const float* w, const ConvGeom& g, float* dx) {
#if RX_VARIANT_LANES
  if (grouped_simd::backward_input(dy, w, g, dx)) return;
#endif
  backward_input_portable(dy, pack_backward(w, g).data(), g, dx);
}

void conv_grouped_backward_weight(const float* dy, const float* x, const ConvGeom& g, float* dw) {
#if RX_VARIANT_LANES
  if (grouped_simd::backward_weight(dy, x, g, dw)) return;
#endif
  backward_weight_portable(dy, x, g, dw);
}

RX_VARIANT_END
