// Convolution through GEMM on NHWC activations, each group a strided sub-matrix:
//   1x1 (any stride)   X[P, C] (rows gathered for stride > 1) is the GEMM operand itself
//   other kernels      im2col rows[P, kh·kw·cpg] in (ky, kx, ci) order, built per block of output
//                      pixels that stays in L2 (forward, backward weight; each thread its own blocks),
//                      or per chunk of images (backward input, whose col2im gathers per input pixel)
// Per group gi (cpg = C/groups, kpg = K/groups), with W_g[kpg, taps·cpg] the repacked weight:
//   forward          Y[:, gi] = rows_g · W_gᵀ
//   backward input   dRows_g = dY[:, gi] · W_g, then col2im (gathered per input pixel, no write races)
//   backward weight  dW_g += dY[:, gi]ᵀ · rows_g
// Compiled once per ISA variant (variants/*.cc, dispatch.cc).
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "gemm.h"
#include "kernels.h"
#include "variant.h"

RX_VARIANT_BEGIN

namespace {

constexpr index_t kRowsBudget = index_t(1) << 23;  // floats of im2col rows per chunk (32 MiB)

index_t pixels_in(const ConvGeom& g) { return static_cast<index_t>(g.H) * g.W; }
index_t pixels_out(const ConvGeom& g) { return static_cast<index_t>(g.Ho) * g.Wo; }

// dnnl_sgemm's 'T', 'N' product dW[K, C] = dYᵀ·X ran 12-25% slower than its transpose dWᵀ[C, K] =
// Xᵀ·dY (plus the transpose) when K > C over a long reduction: 256 <- 64 and 128 at 56x56, 512 <- 256
// at 28x28 and 1024 <- 512 at 14x14, batch 16, on the Xeon (AVX-512). With a reduction shorter than
// 2K (2048 <- 1024 at 7x7) the direct product was faster.
bool transposed_weight_gradient_pays(int K, int C, index_t P) { return K > C && P >= 2 * static_cast<index_t>(K); }

// out[c, r] = in[r, c] for in[rows, cols], in 32x32 tiles.
void transpose(const float* in, index_t rows, index_t cols, float* out) {
  constexpr index_t kTile = 32;
#pragma omp parallel for collapse(2) schedule(static)
  for (index_t r0 = 0; r0 < rows; r0 += kTile)
    for (index_t c0 = 0; c0 < cols; c0 += kTile)
      for (index_t c = c0; c < std::min(cols, c0 + kTile); ++c)
        for (index_t r = r0; r < std::min(rows, r0 + kTile); ++r) out[c * rows + r] = in[r * cols + c];
}

// An ungrouped 1x1 backward-weight over this many pixels per thread or more runs as one
// single-threaded GEMM per thread over its share of the pixels, the partial products then summed:
// oneDNN splits a long reduction with a small output less well. Batch 16 on the Xeon (AVX-512), 2
// threads, ms before -> after: 128 <- 64 at 56x56 5.8-7.6 -> 4.8, 128 <- 256 at 56x56 16.5-17.8 ->
// 15.0, 256 <- 128 at 56x56 16.2-17.4 -> 15.6 (transposed), 1024 <- 512 at 14x14 13.2-13.9 -> 12.6;
// at 7x7 (784 pixels) it was 10% slower.
constexpr index_t kSplitPixelsPerThread = 1024;

// dW[K, C] = dYᵀ·X for dy [P, K] and x [P, C].
void pointwise_weight_gradient(const float* dy, const float* x, int K, int C, index_t P, float* dw) {
  const bool transposed = transposed_weight_gradient_pays(K, C, P);
  const int threads = omp_get_max_threads();
  const int parts = threads > 1 && P >= kSplitPixelsPerThread * threads ? threads : 1;
  const index_t KC = static_cast<index_t>(K) * C;
  // out = the product over pixels [lo, hi): dW, or dWᵀ[C, K] when transposed
  auto product = [&](index_t lo, index_t hi, float* out) {
    if (transposed) sgemm('T', 'N', C, K, hi - lo, 1.f, x + lo * C, C, dy + lo * K, K, 0.f, out, K);
    else sgemm('T', 'N', K, C, hi - lo, 1.f, dy + lo * K, K, x + lo * C, C, 0.f, out, C);
  };
  if (parts == 1 && !transposed) return product(0, P, dw);
  std::vector<float> partial(static_cast<std::size_t>(parts) * KC);
  if (parts == 1) {
    product(0, P, partial.data());
  } else {
#pragma omp parallel num_threads(parts)
    {
      const int t = omp_get_thread_num();
      product(P * t / parts, P * (t + 1) / parts, partial.data() + t * KC);
    }
    float* sum = transposed ? partial.data() : dw;
#pragma omp parallel for schedule(static)
    for (index_t i = 0; i < KC; ++i) {
      float v = partial[i];
      for (int t = 1; t < parts; ++t) v += partial[t * KC + i];
      sum[i] = v;
    }
  }
  if (transposed) transpose(partial.data(), C, K, dw);
}

// im2col for output pixels [p0, p0 + count) of the whole batch (single-threaded: called per block).
void im2col_pixels(const float* x, const ConvGeom& g, index_t p0, int count, int c0, float* rows) {
  const int cpg = g.cpg();
  const index_t Kc = static_cast<index_t>(g.kh) * g.kw * cpg;
  const bool runs = cpg == g.C && g.dw == 1;
  const index_t plane = static_cast<index_t>(g.Ho) * g.Wo;
  for (int i = 0; i < count; ++i) {
    const index_t p = p0 + i;
    const int n = static_cast<int>(p / plane);
    const int oy = static_cast<int>((p % plane) / g.Wo), ox = static_cast<int>(p % g.Wo);
    float* r = rows + static_cast<index_t>(i) * Kc;
    const int ix0 = ox * g.sw - g.pw;
    for (int ky = 0; ky < g.kh; ++ky) {
      const int iy = oy * g.sh - g.ph + ky * g.dh;
      const index_t span = static_cast<index_t>(g.kw) * cpg;
      if (iy < 0 || iy >= g.H) {
        std::fill(r, r + span, 0.f);
        r += span;
        continue;
      }
      const float* src_row = x + ((static_cast<index_t>(n) * g.H + iy) * g.W) * g.C + c0;
      if (runs) {
        const int lo = std::max(0, -ix0), hi = std::max(lo, std::min(g.kw, g.W - ix0));
        std::fill(r, r + static_cast<index_t>(lo) * cpg, 0.f);
        const float* src = src_row + static_cast<index_t>(ix0 + lo) * g.C;
        for (index_t k = 0; k < static_cast<index_t>(hi - lo) * cpg; ++k) r[lo * cpg + k] = src[k];
        std::fill(r + static_cast<index_t>(hi) * cpg, r + span, 0.f);
      } else {
        for (int kx = 0; kx < g.kw; ++kx) {
          const int ix = ix0 + kx * g.dw;
          float* d = r + static_cast<index_t>(kx) * cpg;
          if (ix < 0 || ix >= g.W) std::fill(d, d + cpg, 0.f);
          else std::memcpy(d, src_row + static_cast<index_t>(ix) * g.C, sizeof(float) * cpg);
        }
      }
      r += span;
    }
  }
}

// Output pixels per block of the blocked im2col GEMMs: rows of about 256 KiB, so that a block's
// im2col rows stay in L2 while the GEMM reads them.
int block_pixels(index_t Kc) {
  return static_cast<int>(std::max<index_t>(32, std::min<index_t>(1024, (index_t(1) << 16) / std::max<index_t>(1, Kc))));
}

// dx[n0 + n][iy][ix][c0 + ci] += Σ over (oy, ox, ky, kx) that read (iy, ix) of dRows[(n, oy, ox)][(ky, kx, ci)].
void col2im(const float* drows, const ConvGeom& g, int n0, int nb, int c0, float* dx) {
  const int cpg = g.cpg();
  const index_t Kc = static_cast<index_t>(g.kh) * g.kw * cpg;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < nb; ++n) {
    for (int iy = 0; iy < g.H; ++iy) {
      for (int ix = 0; ix < g.W; ++ix) {
        float* d = dx + ((static_cast<index_t>(n0 + n) * g.H + iy) * g.W + ix) * g.C + c0;
        for (int ky = 0; ky < g.kh; ++ky) {
          const int ty = iy + g.ph - ky * g.dh;
          if (ty < 0 || ty % g.sh != 0) continue;
          const int oy = ty / g.sh;
          if (oy >= g.Ho) continue;
          for (int kx = 0; kx < g.kw; ++kx) {
            const int tx = ix + g.pw - kx * g.dw;
            if (tx < 0 || tx % g.sw != 0) continue;
            const int ox = tx / g.sw;
            if (ox >= g.Wo) continue;
            const float* s = drows + ((static_cast<index_t>(n) * g.Ho + oy) * g.Wo + ox) * Kc +
                             (static_cast<index_t>(ky) * g.kw + kx) * cpg;
            for (int ci = 0; ci < cpg; ++ci) d[ci] += s[ci];
          }
        }
      }
    }
  }
}

// W_g[k][(ky, kx, ci)] from PyTorch's w[gi·kpg + k][ci][ky][kx], all groups: [groups][kpg][taps·cpg].
std::vector<float> repack_weight(const float* w, const ConvGeom& g) {
  const int cpg = g.cpg(), taps = g.kh * g.kw;
  std::vector<float> out(static_cast<std::size_t>(g.K) * taps * cpg);
  for (int k = 0; k < g.K; ++k)
    for (int ci = 0; ci < cpg; ++ci)
      for (int t = 0; t < taps; ++t) out[(static_cast<std::size_t>(k) * taps + t) * cpg + ci] = w[(static_cast<std::size_t>(k) * cpg + ci) * taps + t];
  return out;
}

void unpack_weight(const float* packed, const ConvGeom& g, float* w) {
  const int cpg = g.cpg(), taps = g.kh * g.kw;
  for (int k = 0; k < g.K; ++k)
    for (int ci = 0; ci < cpg; ++ci)
      for (int t = 0; t < taps; ++t) w[(static_cast<std::size_t>(k) * cpg + ci) * taps + t] = packed[(static_cast<std::size_t>(k) * taps + t) * cpg + ci];
}

// Images per im2col chunk: as many as fit the budget, at least one.
int chunk_images(const ConvGeom& g) {
  const index_t per_image = pixels_out(g) * g.kh * g.kw * g.cpg();
  return static_cast<int>(std::max<index_t>(1, std::min<index_t>(g.N, kRowsBudget / std::max<index_t>(1, per_image))));
}

// x rows at the output positions of a strided 1x1 conv: xs[(n, oy, ox)] = x[(n, oy·sh, ox·sw)].
std::vector<float> gather_strided(const float* x, const ConvGeom& g) {
  std::vector<float> xs(static_cast<std::size_t>(g.N) * pixels_out(g) * g.C);
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < g.N; ++n)
    for (int oy = 0; oy < g.Ho; ++oy)
      for (int ox = 0; ox < g.Wo; ++ox)
        std::memcpy(xs.data() + ((static_cast<index_t>(n) * g.Ho + oy) * g.Wo + ox) * g.C,
                    x + ((static_cast<index_t>(n) * g.H + oy * g.sh) * g.W + ox * g.sw) * g.C, sizeof(float) * g.C);
  return xs;
}

bool unit_stride(const ConvGeom& g) { return g.sh == 1 && g.sw == 1; }

}  // namespace

void conv_gemm_forward(const float* x, const float* w, const ConvGeom& g, float* y) {
  const int cpg = g.cpg(), kpg = g.kpg();
  if (g.pointwise()) {
    std::vector<float> gathered;
    const float* rows = x;
    if (!unit_stride(g)) {
      gathered = gather_strided(x, g);
      rows = gathered.data();
    }
    const index_t P = static_cast<index_t>(g.N) * pixels_out(g);
    for (int gi = 0; gi < g.groups; ++gi)
      sgemm('N', 'T', P, kpg, cpg, 1.f, rows + gi * cpg, g.C, w + static_cast<index_t>(gi) * kpg * cpg, cpg, 0.f,
            y + gi * kpg, g.K);
    return;
  }
  // Blocks of output pixels: im2col into a per-thread buffer that stays in L2, then a GEMM on it
  // (single-threaded inside the parallel loop), every thread on its own blocks.
  const std::vector<float> wr = repack_weight(w, g);
  const index_t Kc = static_cast<index_t>(g.kh) * g.kw * cpg;
  const index_t P = static_cast<index_t>(g.N) * pixels_out(g);
  const int rb = block_pixels(Kc);
  const index_t blocks = (P + rb - 1) / rb;
#pragma omp parallel
  {
    std::vector<float> rows(static_cast<std::size_t>(rb) * Kc);
#pragma omp for schedule(dynamic, 1)
    for (index_t blk = 0; blk < blocks; ++blk) {
      const index_t p0 = blk * rb;
      const int count = static_cast<int>(std::min<index_t>(rb, P - p0));
      for (int gi = 0; gi < g.groups; ++gi) {
        im2col_pixels(x, g, p0, count, gi * cpg, rows.data());
        sgemm('N', 'T', count, kpg, Kc, 1.f, rows.data(), Kc, wr.data() + static_cast<index_t>(gi) * kpg * Kc, Kc, 0.f,
              y + p0 * g.K + gi * kpg, g.K);
      }
    }
  }
}

void conv_gemm_backward_input(const float* dy, const float* w, const ConvGeom& g, float* dx) {
  const int cpg = g.cpg(), kpg = g.kpg();
  if (g.pointwise()) {
    const index_t P = static_cast<index_t>(g.N) * pixels_out(g);
    if (unit_stride(g)) {
      for (int gi = 0; gi < g.groups; ++gi)
        sgemm('N', 'N', P, cpg, kpg, 1.f, dy + gi * kpg, g.K, w + static_cast<index_t>(gi) * kpg * cpg, cpg, 0.f,
              dx + gi * cpg, g.C);
      return;
    }
    std::vector<float> dxs(static_cast<std::size_t>(P) * g.C);
    for (int gi = 0; gi < g.groups; ++gi)
      sgemm('N', 'N', P, cpg, kpg, 1.f, dy + gi * kpg, g.K, w + static_cast<index_t>(gi) * kpg * cpg, cpg, 0.f,
            dxs.data() + gi * cpg, g.C);
    std::memset(dx, 0, sizeof(float) * g.N * pixels_in(g) * g.C);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < g.N; ++n)
      for (int oy = 0; oy < g.Ho; ++oy)
        for (int ox = 0; ox < g.Wo; ++ox)
          std::memcpy(dx + ((static_cast<index_t>(n) * g.H + oy * g.sh) * g.W + ox * g.sw) * g.C,
                      dxs.data() + ((static_cast<index_t>(n) * g.Ho + oy) * g.Wo + ox) * g.C, sizeof(float) * g.C);
    return;
  }
  const std::vector<float> wr = repack_weight(w, g);
  const index_t Kc = static_cast<index_t>(g.kh) * g.kw * cpg;
  const int nb_max = chunk_images(g);
  std::vector<float> drows(static_cast<std::size_t>(nb_max) * pixels_out(g) * Kc);
  std::memset(dx, 0, sizeof(float) * g.N * pixels_in(g) * g.C);
  for (int n0 = 0; n0 < g.N; n0 += nb_max) {
    const int nb = std::min(nb_max, g.N - n0);
    const index_t P = static_cast<index_t>(nb) * pixels_out(g);
    for (int gi = 0; gi < g.groups; ++gi) {
      sgemm('N', 'N', P, Kc, kpg, 1.f, dy + static_cast<index_t>(n0) * pixels_out(g) * g.K + gi * kpg, g.K,
            wr.data() + static_cast<index_t>(gi) * kpg * Kc, Kc, 0.f, drows.data(), Kc);
      col2im(drows.data(), g, n0, nb, gi * cpg, dx);
    }
  }
}

void conv_gemm_backward_weight(const float* dy, const float* x, const ConvGeom& g, float* dw) {
  const int cpg = g.cpg(), kpg = g.kpg();
  if (g.pointwise()) {
    std::vector<float> gathered;
    const float* rows = x;
    if (!unit_stride(g)) {
      gathered = gather_strided(x, g);
      rows = gathered.data();
    }
    const index_t P = static_cast<index_t>(g.N) * pixels_out(g);
    if (g.groups == 1) return pointwise_weight_gradient(dy, rows, g.K, g.C, P, dw);
    for (int gi = 0; gi < g.groups; ++gi)
      sgemm('T', 'N', kpg, cpg, P, 1.f, dy + gi * kpg, g.K, rows + gi * cpg, g.C, 0.f,
            dw + static_cast<index_t>(gi) * kpg * cpg, cpg);
    return;
  }
  const index_t Kc = static_cast<index_t>(g.kh) * g.kw * cpg;
  const index_t P = static_cast<index_t>(g.N) * pixels_out(g);
  const int rb = block_pixels(Kc);
  const index_t blocks = (P + rb - 1) / rb;
  const int threads = omp_get_max_threads();
  const std::size_t wsize = static_cast<std::size_t>(g.K) * Kc;
  std::vector<float> partial(wsize * threads, 0.f);  // per thread: dW_g[kpg][Kc] for all groups
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> rows(static_cast<std::size_t>(rb) * Kc);
    float* mine = partial.data() + wsize * omp_get_thread_num();
#pragma omp for schedule(static)  // static: each thread's partial sum, and so the result, is reproducible
    for (index_t blk = 0; blk < blocks; ++blk) {
      const index_t p0 = blk * rb;
      const int count = static_cast<int>(std::min<index_t>(rb, P - p0));
      for (int gi = 0; gi < g.groups; ++gi) {
        im2col_pixels(x, g, p0, count, gi * cpg, rows.data());
        sgemm('T', 'N', kpg, Kc, count, 1.f, dy + p0 * g.K + gi * kpg, g.K, rows.data(), Kc, 1.f,
              mine + static_cast<index_t>(gi) * kpg * Kc, Kc);
      }
    }
  }
  std::vector<float> dwr(wsize, 0.f);
  for (int t = 0; t < threads; ++t)
    for (std::size_t i = 0; i < wsize; ++i) dwr[i] += partial[wsize * t + i];
  unpack_weight(dwr.data(), g, dw);
}

RX_VARIANT_END
