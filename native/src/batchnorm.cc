// Batch norm over NHWC activations viewed as [rows = N·H·W, C]: per-channel statistics are column
// reductions. Each thread sums a block of rows into private double accumulators, then they are reduced.
#include <omp.h>

#include <cmath>
#include <vector>

#include "kernels.h"

namespace rx {

namespace {

// Per-channel Σa and Σa·b (b may be null for Σa²... see callers), over all rows, in double precision.
// mode 0: s1 = Σx, s2 = Σx²;  mode 1: s1 = Σdy, s2 = Σdy·(x − mean[c]).
void column_sums(const float* a, const float* b, const float* mean, index_t rows, int C, int mode,
                 std::vector<double>& s1, std::vector<double>& s2) {
  const int threads = omp_get_max_threads();
  std::vector<double> part(static_cast<std::size_t>(threads) * 2 * C, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    double* p1 = part.data() + static_cast<std::size_t>(t) * 2 * C;
    double* p2 = p1 + C;
#pragma omp for schedule(static)
    for (index_t r = 0; r < rows; ++r) {
      const float* ar = a + r * C;
      if (mode == 0) {
#pragma omp simd
        for (int c = 0; c < C; ++c) {
          const double v = ar[c];
          p1[c] += v;
          p2[c] += v * v;
        }
      } else {
        const float* br = b + r * C;
#pragma omp simd
        for (int c = 0; c < C; ++c) {
          const double d = ar[c];
          p1[c] += d;
          p2[c] += d * (static_cast<double>(br[c]) - mean[c]);
        }
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

// y = x·scale[c] + shift[c]
void affine_rows(const float* x, const float* scale, const float* shift, index_t rows, int C, float* y) {
#pragma omp parallel for schedule(static)
  for (index_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
#pragma omp simd
    for (int c = 0; c < C; ++c) yr[c] = xr[c] * scale[c] + shift[c];
  }
}

}  // namespace

void batchnorm_train(const float* x, const float* gamma, const float* beta, index_t rows, int C, double eps,
                     float* y, float* mean, float* var, float* invstd) {
  std::vector<double> s1, s2;
  column_sums(x, nullptr, nullptr, rows, C, 0, s1, s2);
  std::vector<float> scale(C), shift(C);
  for (int c = 0; c < C; ++c) {
    const double mu = s1[c] / rows;
    const double v = std::max(0.0, s2[c] / rows - mu * mu);
    const double istd = 1.0 / std::sqrt(v + eps);
    mean[c] = static_cast<float>(mu);
    var[c] = static_cast<float>(v);
    invstd[c] = static_cast<float>(istd);
    const double sc = (gamma ? gamma[c] : 1.0) * istd;
    scale[c] = static_cast<float>(sc);
    shift[c] = static_cast<float>((beta ? beta[c] : 0.0) - mu * sc);
  }
  affine_rows(x, scale.data(), shift.data(), rows, C, y);
}

void batchnorm_eval(const float* x, const float* gamma, const float* beta, const float* running_mean,
                    const float* running_var, index_t rows, int C, double eps, float* y) {
  std::vector<float> scale(C), shift(C);
  for (int c = 0; c < C; ++c) {
    const double istd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    const double sc = (gamma ? gamma[c] : 1.0) * istd;
    scale[c] = static_cast<float>(sc);
    shift[c] = static_cast<float>((beta ? beta[c] : 0.0) - running_mean[c] * sc);
  }
  affine_rows(x, scale.data(), shift.data(), rows, C, y);
}

// dx = γ·invstd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M), x̂ = (x − mean)·invstd
void batchnorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* invstd, index_t rows, int C, float* dx, float* dgamma, float* dbeta) {
  std::vector<double> sum_dy, sum_dy_xc;
  column_sums(dy, x, mean, rows, C, 1, sum_dy, sum_dy_xc);
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
#pragma omp simd
    for (int c = 0; c < C; ++c) dxr[c] = k[c] * dyr[c] + a[c] * xr[c] + b[c];
  }
}

void batchnorm_eval_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                             const float* invstd, index_t rows, int C, float* dx, float* dgamma, float* dbeta) {
  if (dgamma || dbeta) {
    std::vector<double> sum_dy, sum_dy_xc;
    column_sums(dy, x, mean, rows, C, 1, sum_dy, sum_dy_xc);
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

}  // namespace rx
