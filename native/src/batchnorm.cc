// Batch norm over NHWC activations viewed as [rows = N·H·W, C]: per-channel statistics are column
// reductions (column_sums). Each thread sums its rows into private accumulators, then they are reduced.
// Forward and backward can fuse a ReLU (and the forward a residual add) so that the activation is read
// and written once instead of in separate passes. With a fused ReLU the backward recomputes the mask
// from x with the forward's own scale and shift (channel_affine), in the same float operations
// (the addon is built with -ffp-contract=off), so it is the forward's mask bit for bit.
// Compiled once per ISA variant (variants/*.cc, dispatch.cc).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "variant.h"

RX_VARIANT_BEGIN

namespace {

// v where keep, else +0 (as relu's backward): a bit mask rather than a branch, so that loops mixing
// it with double accumulators still vectorise.
inline float keep_if(bool keep, float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  bits &= -static_cast<std::uint32_t>(keep);
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

// y = x·scale[c] + shift[c] for every channel: the normalisation of both modes, from float statistics.
void channel_affine(const float* gamma, const float* beta, const float* mean, const float* invstd, int C,
                    std::vector<float>& scale, std::vector<float>& shift) {
  scale.resize(C);
  shift.resize(C);
  for (int c = 0; c < C; ++c) {
    const double sc = (gamma ? static_cast<double>(gamma[c]) : 1.0) * invstd[c];
    scale[c] = static_cast<float>(sc);
    shift[c] = static_cast<float>((beta ? static_cast<double>(beta[c]) : 0.0) - mean[c] * sc);
  }
}

// Per-channel sums over all rows:
//   mode 0: s1 = Σ(x − k), s2 = Σ(x − k)², shifted by k = x's first row so that the variance
//           s2/M − (s1/M)² does not cancel when |mean| ≫ std
//   mode 1: s1 = Σdy, s2 = Σdy·(x − mean[c])
//   mode 2: as mode 1 with dy masked to 0 where x·scale[c] + shift[c] ≤ 0 (a fused ReLU's backward)
// Each thread sums its rows in float over blocks of kSumBlockRows (in L1, full vector width), and adds
// each block's sums into double accumulators: close to the accuracy of double sums, at the memory's
// speed (accumulating every element in double is compute-bound, at a third of the read bandwidth).
constexpr index_t kSumBlockRows = 32;

// Adds rows [r0, r1) into the float sums f1[C], f2[C] (see column_sums for the modes).
template <int Mode>
void add_rows(const float* a, const float* b, const float* mean, const float* scale, const float* shift,
              index_t r0, index_t r1, int C, float* f1, float* f2) {
  for (index_t r = r0; r < r1; ++r) {
    const float* ar = a + r * C;
    const float* br = Mode == 0 ? nullptr : b + r * C;
#pragma omp simd
    for (int c = 0; c < C; ++c) {
      if constexpr (Mode == 0) {
        const float v = ar[c] - a[c];
        f1[c] += v;
        f2[c] += v * v;
      } else {
        const float yv = Mode == 2 ? br[c] * scale[c] + shift[c] : 1.f;
        const float d = Mode == 2 ? keep_if(!(yv <= 0.f), ar[c]) : ar[c];
        f1[c] += d;
        f2[c] += d * (br[c] - mean[c]);
      }
    }
  }
}

void column_sums(const float* a, const float* b, const float* mean, const float* scale, const float* shift,
                 index_t rows, int C, int mode, std::vector<double>& s1, std::vector<double>& s2) {
  const int threads = omp_get_max_threads();
  std::vector<double> part(static_cast<std::size_t>(threads) * 2 * C, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    double* p1 = part.data() + static_cast<std::size_t>(t) * 2 * C;
    double* p2 = p1 + C;
    std::vector<float> block(2 * static_cast<std::size_t>(C));
    float* f1 = block.data();
    float* f2 = f1 + C;
    const index_t lo = rows * t / threads, hi = rows * (t + 1) / threads;
    for (index_t r0 = lo; r0 < hi; r0 += kSumBlockRows) {
      const index_t r1 = std::min(hi, r0 + kSumBlockRows);
      std::fill(f1, f1 + 2 * C, 0.f);
      if (mode == 0) add_rows<0>(a, b, mean, scale, shift, r0, r1, C, f1, f2);
      else if (mode == 1) add_rows<1>(a, b, mean, scale, shift, r0, r1, C, f1, f2);
      else add_rows<2>(a, b, mean, scale, shift, r0, r1, C, f1, f2);
#pragma omp simd
      for (int c = 0; c < C; ++c) {
        p1[c] += f1[c];
        p2[c] += f2[c];
      }
    }
  }
  s1.assign(C, 0.0);
  s2.assign(C, 0.0);
  for (int t = 0; t < threads; ++t) {
    const double* p1 = part.data() + static_cast<std::size_t>(t) * 2 * C;
    for (int c = 0; c < C; ++c) {
      s1[c] += p1[c];
      s2[c] += p1[C + c];
    }
  }
}

// y = relu?(x·scale[c] + shift[c] + residual?), one loop per tail so that each vectorises.
template <bool Residual, bool Relu>
void affine_rows(const float* x, const float* scale, const float* shift, const float* res, index_t rows, int C,
                 float* y) {
#pragma omp parallel for schedule(static)
  for (index_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    const float* rr = Residual ? res + r * C : nullptr;
    float* yr = y + r * C;
#pragma omp simd
    for (int c = 0; c < C; ++c) {
      float v = xr[c] * scale[c] + shift[c];
      if constexpr (Residual) v += rr[c];
      if constexpr (Relu) v = v <= 0.f ? 0.f : v;  // NaN passes, as torch.relu
      yr[c] = v;
    }
  }
}

void affine_rows(const float* x, const float* scale, const float* shift, index_t rows, int C, float* y,
                 const Epilogue& epilogue) {
  const float* res = epilogue.residual;
  if (res && epilogue.relu) affine_rows<true, true>(x, scale, shift, res, rows, C, y);
  else if (res) affine_rows<true, false>(x, scale, shift, res, rows, C, y);
  else if (epilogue.relu) affine_rows<false, true>(x, scale, shift, res, rows, C, y);
  else affine_rows<false, false>(x, scale, shift, res, rows, C, y);
}

}  // namespace

void batchnorm_train(const float* x, const float* gamma, const float* beta, index_t rows, int C, double eps,
                     float* y, float* mean, float* var, float* invstd, const Epilogue& epilogue) {
  std::vector<double> s1, s2;
  column_sums(x, nullptr, nullptr, nullptr, nullptr, rows, C, 0, s1, s2);
  for (int c = 0; c < C; ++c) {
    const double shifted_mean = s1[c] / rows;
    const double v = std::max(0.0, s2[c] / rows - shifted_mean * shifted_mean);
    mean[c] = static_cast<float>(x[c] + shifted_mean);
    var[c] = static_cast<float>(v);
    invstd[c] = static_cast<float>(1.0 / std::sqrt(v + eps));
  }
  std::vector<float> scale, shift;
  channel_affine(gamma, beta, mean, invstd, C, scale, shift);
  affine_rows(x, scale.data(), shift.data(), rows, C, y, epilogue);
}

void batchnorm_eval(const float* x, const float* gamma, const float* beta, const float* running_mean,
                    const float* running_var, index_t rows, int C, double eps, float* y,
                    const Epilogue& epilogue) {
  std::vector<float> invstd(C);
  for (int c = 0; c < C; ++c)
    invstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps));
  std::vector<float> scale, shift;
  channel_affine(gamma, beta, running_mean, invstd.data(), C, scale, shift);
  affine_rows(x, scale.data(), shift.data(), rows, C, y, epilogue);
}

// dx = γ·invstd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M), x̂ = (x − mean)·invstd; with a fused ReLU, dy masked first.
void batchnorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* invstd, index_t rows, int C, float* dx, float* dgamma, float* dbeta,
                        bool fused_relu, const float* beta) {
  std::vector<float> scale, shift;
  if (fused_relu) channel_affine(gamma, beta, mean, invstd, C, scale, shift);
  std::vector<double> sum_dy, sum_dy_xc;
  column_sums(dy, x, mean, scale.data(), shift.data(), rows, C, fused_relu ? 2 : 1, sum_dy, sum_dy_xc);
  // dx = k·dy + a·x + b per channel, with k = γ·istd, a = −k·istd²·Σ(dy·xc)/M, b = −k·Σdy/M − a·mean.
  std::vector<float> k(C), a(C), b(C);
  for (int c = 0; c < C; ++c) {
    const double istd = invstd[c];
    const double sum_dy_xhat = sum_dy_xc[c] * istd;
    if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xhat);
    if (dbeta) dbeta[c] = static_cast<float>(sum_dy[c]);
    const double kc = (gamma ? gamma[c] : 1.0) * istd;
    const double ac = -kc * istd * sum_dy_xhat / rows;
    k[c] = static_cast<float>(kc);
    a[c] = static_cast<float>(ac);
    b[c] = static_cast<float>(-kc * sum_dy[c] / rows - ac * mean[c]);
  }
#pragma omp parallel for schedule(static)
  for (index_t r = 0; r < rows; ++r) {
    const float* dyr = dy + r * C;
    const float* xr = x + r * C;
    float* dxr = dx + r * C;
    if (fused_relu) {
#pragma omp simd
      for (int c = 0; c < C; ++c) {
        const float yv = xr[c] * scale[c] + shift[c];
        const float d = keep_if(!(yv <= 0.f), dyr[c]);
        dxr[c] = k[c] * d + a[c] * xr[c] + b[c];
      }
    } else {
#pragma omp simd
      for (int c = 0; c < C; ++c) dxr[c] = k[c] * dyr[c] + a[c] * xr[c] + b[c];
    }
  }
}

void batchnorm_eval_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                             const float* invstd, index_t rows, int C, float* dx, float* dgamma, float* dbeta) {
  if (dgamma || dbeta) {
    std::vector<double> sum_dy, sum_dy_xc;
    column_sums(dy, x, mean, nullptr, nullptr, rows, C, 1, sum_dy, sum_dy_xc);
    for (int c = 0; c < C; ++c) {
      if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xc[c] * invstd[c]);
      if (dbeta) dbeta[c] = static_cast<float>(sum_dy[c]);
    }
  }
  std::vector<float> k(C);
  for (int c = 0; c < C; ++c) k[c] = (gamma ? gamma[c] : 1.f) * invstd[c];
#pragma omp parallel for schedule(static)
  for (index_t r = 0; r < rows; ++r) {
    const float* dyr = dy + r * C;
    float* dxr = dx + r * C;
#pragma omp simd
    for (int c = 0; c < C; ++c) dxr[c] = dyr[c] * k[c];
  }
}

RX_VARIANT_END
