// Checks the vector grouped convolutions (native/src/conv_grouped_simd.cc) at every register width
// against a double-precision reference, forward, backward-input and backward-weight, on ResNeXt's
// grouped shapes and on edge cases (stride 2, dilation, 1x1 and 2x2 maps, 64 groups, borders wider
// than a tile); forward also a second time from the weights it packed and kept the first time.
//
// The same source is compiled three times here: 8 lanes for AVX2 (the addon's avx2 variant), 16
// lanes for AVX2 (the AVX-512 variant's code, each 16-float vector split into two ymm registers by
// GCC) and 16 lanes for AVX-512 (the addon's avx512 variant). The first two run on any AVX2 CPU, so
// the 16-lane layouts (4 groups of 4 and 2 groups of 8 per register, 14-pixel tiles) are checked even
// where no AVX-512 CPU is at hand; the third runs where cpuid reports AVX-512.
//
// Prints one JSON object: {"cpuIsa", "results": [{"instance", "shape", "layout", "op", "error"}]},
// error being max |kernel − reference| / max(1, max |reference|). Exit status 0 unless a kernel
// declined a shape it should take.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "../src/common.h"
#include "../src/cpu.h"

#pragma GCC diagnostic ignored "-Wpsabi"  // 64-byte vectors passed between functions built for AVX2

#define RX_VARIANT lanes8_avx2
#define RX_VARIANT_TARGET "avx2,fma"
#define RX_VARIANT_LANES 8
#include "../src/conv_grouped_simd.cc"
#undef RX_VARIANT
#undef RX_VARIANT_LANES

#define RX_VARIANT lanes16_avx2
#define RX_VARIANT_LANES 16
#include "../src/conv_grouped_simd.cc"
#undef RX_VARIANT
#undef RX_VARIANT_TARGET
#undef RX_VARIANT_LANES

#define RX_VARIANT lanes16_avx512
#define RX_VARIANT_TARGET "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,prefer-vector-width=512"
#define RX_VARIANT_LANES 16
#include "../src/conv_grouped_simd.cc"

namespace {

using rx::ConvGeom;

struct Kernels {
  const char* instance;
  bool (*forward)(const float*, const float*, const ConvGeom&, float*, std::vector<float>*);
  bool (*backward_input)(const float*, const float*, const ConvGeom&, float*);
  bool (*backward_weight)(const float*, const float*, const ConvGeom&, float*);
  const char* (*layout)(const ConvGeom&);
};

#define RX_KERNELS(ns)                                                                      \
  Kernels {                                                                                 \
    #ns, rx::ns::grouped_simd::forward, rx::ns::grouped_simd::backward_input,               \
        rx::ns::grouped_simd::backward_weight, rx::ns::grouped_simd::layout_name            \
  }

// x [N, H, W, C], w [K, cpg, kh, kw], y [N, Ho, Wo, K]: y, dx and dw in double, directly from the
// definition (each output as one sum).
struct Reference {
  std::vector<double> y, dx, dw;
};

Reference reference(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& dy,
                    const ConvGeom& g) {
  const int cpg = g.cpg(), kpg = g.kpg();
  Reference r{std::vector<double>(dy.size()), std::vector<double>(x.size()), std::vector<double>(w.size())};
  for (int n = 0; n < g.N; ++n)
    for (int oy = 0; oy < g.Ho; ++oy)
      for (int ox = 0; ox < g.Wo; ++ox)
        for (int k = 0; k < g.K; ++k) {
          const int gi = k / kpg;
          const std::size_t yi = ((static_cast<std::size_t>(n) * g.Ho + oy) * g.Wo + ox) * g.K + k;
          for (int j = 0; j < cpg; ++j)
            for (int ky = 0; ky < g.kh; ++ky)
              for (int kx = 0; kx < g.kw; ++kx) {
                const int iy = oy * g.sh - g.ph + ky * g.dh, ix = ox * g.sw - g.pw + kx * g.dw;
                if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                const std::size_t xi = ((static_cast<std::size_t>(n) * g.H + iy) * g.W + ix) * g.C + gi * cpg + j;
                const std::size_t wi = ((static_cast<std::size_t>(k) * cpg + j) * g.kh + ky) * g.kw + kx;
                r.y[yi] += static_cast<double>(x[xi]) * w[wi];
                r.dx[xi] += static_cast<double>(dy[yi]) * w[wi];
                r.dw[wi] += static_cast<double>(dy[yi]) * x[xi];
              }
        }
  return r;
}

double error(const std::vector<float>& got, const std::vector<double>& want) {
  double scale = 1, worst = 0;
  for (double v : want) scale = std::max(scale, std::fabs(v));
  for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
  return worst / scale;
}

struct Case {
  int N, C, H, W, K, k, stride, pad, dilation, groups;
};

ConvGeom geometry(const Case& c) {
  const int span = c.dilation * (c.k - 1) + 1;
  const int Ho = (c.H + 2 * c.pad - span) / c.stride + 1, Wo = (c.W + 2 * c.pad - span) / c.stride + 1;
  return {c.N, c.C, c.H, c.W, c.K, Ho, Wo, c.k, c.k, c.stride, c.stride, c.pad, c.pad, c.dilation, c.dilation, c.groups};
}

}  // namespace

int main() {
  const Case cases[] = {
      // ResNeXt-50 32x4d's grouped 3x3 layers (4, 8, 16, 32 channels per group), small maps
      {2, 128, 9, 11, 128, 3, 1, 1, 1, 32},
      {2, 256, 11, 9, 256, 3, 2, 1, 1, 32},
      {1, 512, 7, 7, 512, 3, 1, 1, 1, 32},
      {3, 1024, 5, 6, 1024, 3, 2, 1, 1, 32},
      // a row wider than two of the widest tiles (14 pixels), and 64 groups of 4 (resnext101_64x4d)
      {1, 256, 3, 33, 256, 3, 1, 1, 1, 32},
      {2, 256, 6, 5, 256, 3, 1, 1, 1, 64},
      // 1x1 and 2x2 maps, stride 2 onto 1x1
      {4, 128, 1, 1, 128, 3, 1, 1, 1, 32},
      {4, 512, 2, 2, 512, 3, 1, 1, 1, 32},
      {4, 1024, 2, 2, 1024, 3, 2, 1, 1, 32},
      {2, 256, 3, 3, 256, 3, 2, 1, 1, 32},
      // dilation 2; 2 groups of 16 and 32 channels; 5x5 kernels
      {2, 32, 9, 9, 32, 3, 1, 2, 2, 8},
      {2, 64, 11, 10, 64, 3, 2, 1, 2, 2},
      {1, 32, 8, 9, 32, 5, 1, 2, 1, 2},
      // 7x7 and 5x5 kernels, whose borders span several tiles (both layouts)
      {1, 64, 6, 20, 64, 7, 1, 3, 1, 16},
      {2, 256, 5, 17, 256, 5, 2, 2, 1, 16},
  };
  std::vector<Kernels> instances = {RX_KERNELS(lanes8_avx2), RX_KERNELS(lanes16_avx2)};
  if (rx::cpu_isa() >= rx::Isa::avx512) instances.push_back(RX_KERNELS(lanes16_avx512));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  bool declined = false;
  std::printf("{\"cpuIsa\": \"%s\", \"results\": [", rx::isa_name(rx::cpu_isa()));
  const char* separator = "\n";
  for (const Case& c : cases) {
    const ConvGeom g = geometry(c);
    std::vector<float> x(static_cast<std::size_t>(g.N) * g.H * g.W * g.C), w(static_cast<std::size_t>(g.K) * g.cpg() * g.kh * g.kw),
        dy(static_cast<std::size_t>(g.N) * g.Ho * g.Wo * g.K);
    for (auto* v : {&x, &w, &dy})
      for (float& e : *v) e = uniform(rng);
    const Reference want = reference(x, w, dy, g);
    const std::vector<float> garbage(w.size(), 1e30f);
    char shape[96];
    std::snprintf(shape, sizeof shape, "%dx%dx%dx%d -> %d k%d s%d p%d d%d g%d", c.N, c.C, c.H, c.W, c.K, c.k, c.stride,
                  c.pad, c.dilation, c.groups);
    for (const Kernels& kernels : instances) {
      std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), y_kept(dy.size()), kept;
      const bool ran[4] = {kernels.forward(x.data(), w.data(), g, y.data(), &kept),
                           kernels.backward_input(dy.data(), w.data(), g, dx.data()),
                           kernels.backward_weight(dy.data(), x.data(), g, dw.data()),
                           // the packing kept by the first call, with w no longer there to read
                           kernels.forward(x.data(), garbage.data(), g, y_kept.data(), &kept)};
      const char* ops[4] = {"forward", "backward-input", "backward-weight", "forward, kept weights"};
      const double errors[4] = {error(y, want.y), error(dx, want.dx), error(dw, want.dw), error(y_kept, want.y)};
      for (int op = 0; op < 4; ++op) {
        declined = declined || !ran[op];
        char value[32] = "null";
        if (ran[op]) std::snprintf(value, sizeof value, "%.3e", errors[op]);
        std::printf("%s{\"instance\": \"%s\", \"shape\": \"%s\", \"layout\": \"%s\", \"op\": \"%s\", \"error\": %s}",
                    separator, kernels.instance, shape, kernels.layout(g), ops[op], value);
        separator = ",\n";
      }
    }
  }
  std::printf("\n]}\n");
  return declined ? 1 : 0;
}
