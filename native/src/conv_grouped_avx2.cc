// AVX2+FMA direct grouped convolution on NHWC activations, vectorised over 8 output channels.
//
// Two lane layouts cover ResNeXt's groups:
//   block   (out channels per group a multiple of 8): a ymm holds 8 output channels of one group;
//           each input channel j is broadcast from memory and multiplied by the 8 weights w[·][j][tap].
//   pair    (4 in and 4 out channels per group, ResNeXt-50 stage 1): a ymm holds the 4 channels of two
//           neighbouring groups. Products are accumulated "diagonally": acc_s[lane i] += x[i] ·
//           w[out (i + s) mod 4][in i] for s = 0..3, so the inner loop is plain loads and FMAs; one
//           in-lane rotation per s at the end (vpermilps) moves each sum to its output lane.
//
// Forward and backward-input are the same "pass": an output grid of pixels, each the sum over taps of
// an input pixel times a packed weight slice. Forward reads x at (a·stride + ky·d − p, ...);
// backward-input reads dy with the kernel flipped and in/out channels swapped, one pass per stride
// phase (dx pixels whose row and column have a given remainder mod the stride), so no zero is ever
// multiplied. Tiles of R pixels × 1 or 2 channel blocks keep 12 accumulators in registers; pixels
// whose taps leave the input (the borders) go through the same tile code with R = 1 and only the
// taps that land inside.
//
// Backward-weight keeps 12 accumulators (3 kernel columns × 4 input channels) for one block of 8
// output channels and streams every output pixel of the batch through them; independent
// (group, block, kernel row, channel chunk) tasks are spread over the threads.
#include "conv_grouped_avx2.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#define RX_AVX2 __attribute__((target("avx2,fma")))
// Unrolls a loop with a compile-time trip count early, so that GCC keeps accumulator arrays in
// registers (without it, -O3 stores every accumulator back to the stack after each FMA).
#define RX_UNROLL _Pragma("GCC unroll 16")

namespace rx::avx2 {

namespace {

struct Tap {
  int dy, dx;  // input offset from (a·sy, b·sx)
  int w;       // tap index ky·kw + kx into the packed weights
};

// One direct-convolution pass. Output pixel (a, b) of the grid is out[n][oy0 + a·oys][ox0 + b·oxs];
// it reads input pixels (a·sy + tap.dy, b·sx + tap.dx).
struct Pass {
  const float* in;
  int inH, inW, inC;
  float* out;
  int outH, outW, outC;
  int rows, cols, oy0, oys, ox0, oxs, sy, sx;
  std::vector<Tap> taps;
  int groups, ipg, opg;  // channels per group of the pass's input and output
  bool pair;             // pair layout (ipg = opg = 4) rather than block layout
  const float* w;        // packed: block [group][block][tap][j][8], pair [pair][tap][j][8]
  int ntaps;             // taps in the packed weights (kh·kw)
};

constexpr int kMaxTaps = 64;

// A tap resolved for one output row: where its input pixel for column 0 is, and its weights.
struct RowTap {
  long off;   // input offset of (a·sy + dy, dx) in floats (may be negative: only used with b·sx added)
  long woff;  // offset of the tap's packed weights within a unit
};

// ---- block layout: R pixels × NB blocks of 8 output channels ----

template <int R, int NB>
RX_AVX2 inline void block_tile(const Pass& p, const RowTap* taps, int ntaps, const float* in_b, const float* wblk,
                               float* outp) {
  __m256 acc[NB][R];
  RX_UNROLL for (int k = 0; k < NB; ++k)
    RX_UNROLL for (int r = 0; r < R; ++r) acc[k][r] = _mm256_setzero_ps();
  const long pix = static_cast<long>(p.sx) * p.inC;
  const long wstride = static_cast<long>(p.ntaps) * p.ipg * 8;  // to the next block
  for (int t = 0; t < ntaps; ++t) {
    const float* xp = in_b + taps[t].off;
    const float* wp = wblk + taps[t].woff;
    for (int j = 0; j < p.ipg; ++j) {
      __m256 wv[NB];
      RX_UNROLL for (int k = 0; k < NB; ++k) wv[k] = _mm256_loadu_ps(wp + k * wstride + j * 8);
      RX_UNROLL for (int r = 0; r < R; ++r) {
        const __m256 xb = _mm256_broadcast_ss(xp + r * pix + j);
        RX_UNROLL for (int k = 0; k < NB; ++k) acc[k][r] = _mm256_fmadd_ps(xb, wv[k], acc[k][r]);
      }
    }
  }
  const long opix = static_cast<long>(p.oxs) * p.outC;
  RX_UNROLL for (int r = 0; r < R; ++r)
    RX_UNROLL for (int k = 0; k < NB; ++k) _mm256_storeu_ps(outp + r * opix + k * 8, acc[k][r]);
}

// ---- pair layout: R pixels × the 8 channels of two groups ----

// rotate_s(v)[lane h·4 + o] = v[h·4 + (o − s) mod 4]: moves diagonal sums to their output lanes.
RX_AVX2 inline __m256 gather_diagonals(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  return _mm256_add_ps(_mm256_add_ps(a0, _mm256_permute_ps(a1, 0x93)),
                       _mm256_add_ps(_mm256_permute_ps(a2, 0x4E), _mm256_permute_ps(a3, 0x39)));
}

template <int R>
RX_AVX2 inline void pair_tile(const Pass& p, const RowTap* taps, int ntaps, const float* in_b, const float* wpair,
                              float* outp) {
  __m256 acc[R][4];
  RX_UNROLL for (int r = 0; r < R; ++r)
    RX_UNROLL for (int d = 0; d < 4; ++d) acc[r][d] = _mm256_setzero_ps();
  const long pix = static_cast<long>(p.sx) * p.inC;
  for (int t = 0; t < ntaps; ++t) {
    const float* xp = in_b + taps[t].off;
    const float* wp = wpair + taps[t].woff;
    const __m256 w0 = _mm256_loadu_ps(wp), w1 = _mm256_loadu_ps(wp + 8), w2 = _mm256_loadu_ps(wp + 16),
                 w3 = _mm256_loadu_ps(wp + 24);
    RX_UNROLL for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_loadu_ps(xp + r * pix);
      acc[r][0] = _mm256_fmadd_ps(xv, w0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(xv, w1, acc[r][1]);
      acc[r][2] = _mm256_fmadd_ps(xv, w2, acc[r][2]);
      acc[r][3] = _mm256_fmadd_ps(xv, w3, acc[r][3]);
    }
  }
  const long opix = static_cast<long>(p.oxs) * p.outC;
  RX_UNROLL for (int r = 0; r < R; ++r) _mm256_storeu_ps(outp + r * opix, gather_diagonals(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
}

// Dispatch a run of `count` pixels (count ≤ the tile width) to the right template instance.
template <int NB>
RX_AVX2 void block_run(const Pass& p, const RowTap* taps, int ntaps, const float* in_b, int count, const float* wblk,
                       float* outp) {
  switch (count) {
#define RX_CASE(R) \
  case R:          \
    return block_tile<R, NB>(p, taps, ntaps, in_b, wblk, outp);
    RX_CASE(1) RX_CASE(2) RX_CASE(3) RX_CASE(4) RX_CASE(5) RX_CASE(6)
#undef RX_CASE
    default:
      if constexpr (NB == 1) {
        switch (count) {
#define RX_CASE(R) \
  case R:          \
    return block_tile<R, 1>(p, taps, ntaps, in_b, wblk, outp);
          RX_CASE(7) RX_CASE(8) RX_CASE(9) RX_CASE(10) RX_CASE(11) RX_CASE(12)
#undef RX_CASE
        }
      }
  }
}

RX_AVX2 void pair_run(const Pass& p, const RowTap* taps, int ntaps, const float* in_b, int count, const float* wpair,
                      float* outp) {
  switch (count) {
#define RX_CASE(R) \
  case R:          \
    return pair_tile<R>(p, taps, ntaps, in_b, wpair, outp);
    RX_CASE(1) RX_CASE(2)
#undef RX_CASE
  }
}

// Where one channel unit (a pair of groups, or 1-2 blocks of 8 output channels) reads and writes.
struct Unit {
  const float* w;  // packed weights of the unit
  int in_c, out_c;
};

// The units of a pass, and the tile width (pixels per tile) and blocks per unit of its kernel.
struct UnitPlan {
  std::vector<Unit> units;
  int width, nb;
};

UnitPlan plan_units(const Pass& p) {
  UnitPlan plan;
  if (p.pair) {
    plan.nb = 1;
    plan.width = 2;
    for (int u = 0; u < p.outC / 8; ++u) plan.units.push_back({p.w + static_cast<long>(u) * p.ntaps * 32, u * 8, u * 8});
    return plan;
  }
  const int blocks = p.opg / 8;
  plan.nb = blocks % 2 == 0 ? 2 : 1;
  plan.width = plan.nb == 2 ? 6 : 12;
  for (int gi = 0; gi < p.groups; ++gi)
    for (int blk = 0; blk < blocks; blk += plan.nb)
      plan.units.push_back({p.w + (static_cast<long>(gi) * blocks + blk) * p.ntaps * p.ipg * 8, gi * p.ipg,
                            gi * p.opg + blk * 8});
  return plan;
}

// One output row of the grid, every channel unit: tiles of pixels outermost, so a tile's input
// pixels stay in L1 while all units (all channels) consume them.
RX_AVX2 void pass_row(const Pass& p, const UnitPlan& plan, int n, int a) {
  // Taps whose input row exists, and the columns where all of them stay inside the input.
  Tap taps[kMaxTaps];
  RowTap row[kMaxTaps];
  int nt = 0;
  long lo = 0, hi = p.cols;
  const long wtap = p.pair ? 32 : static_cast<long>(p.ipg) * 8;
  for (const Tap& t : p.taps) {
    const int iy = a * p.sy + t.dy;
    if (iy < 0 || iy >= p.inH) continue;
    row[nt] = {(static_cast<long>(iy) * p.inW + t.dx) * p.inC, t.w * wtap};
    taps[nt++] = t;
    // b·sx + dx ≥ 0  and  b·sx + dx ≤ inW − 1
    lo = std::max<long>(lo, t.dx >= 0 ? 0 : (-t.dx + p.sx - 1) / p.sx);
    const long last = p.inW - 1 - t.dx;
    hi = std::min<long>(hi, last < 0 ? 0 : last / p.sx + 1);
  }
  if (hi < lo) hi = lo;
  const float* in_n = p.in + static_cast<long>(n) * p.inH * p.inW * p.inC;
  float* out_row = p.out + (static_cast<long>(n) * p.outH + p.oy0 + a * p.oys) * p.outW * p.outC;

  auto run = [&](const RowTap* ts, int count_taps, int b, int count) {
    float* outp = out_row + (static_cast<long>(p.ox0) + static_cast<long>(b) * p.oxs) * p.outC;
    const float* in_b = in_n + static_cast<long>(b) * p.sx * p.inC;
    for (const Unit& u : plan.units) {
      if (p.pair) pair_run(p, ts, count_taps, in_b + u.in_c, count, u.w, outp + u.out_c);
      else if (plan.nb == 2) block_run<2>(p, ts, count_taps, in_b + u.in_c, count, u.w, outp + u.out_c);
      else block_run<1>(p, ts, count_taps, in_b + u.in_c, count, u.w, outp + u.out_c);
    }
  };
  auto border = [&](int b) {
    RowTap inside[kMaxTaps];
    int ni = 0;
    for (int t = 0; t < nt; ++t) {
      const int ix = b * p.sx + taps[t].dx;
      if (ix >= 0 && ix < p.inW) inside[ni++] = row[t];
    }
    run(inside, ni, b, 1);
  };
  for (int b = 0; b < std::min<long>(lo, p.cols); ++b) border(b);
  for (long b = lo; b < hi; b += plan.width)
    run(row, nt, static_cast<int>(b), static_cast<int>(std::min<long>(plan.width, hi - b)));
  for (long b = std::max(hi, lo); b < p.cols; ++b) border(static_cast<int>(b));
}

void run_pass(const Pass& p, int N) {
  const UnitPlan plan = plan_units(p);
  const long rows = static_cast<long>(N) * p.rows;
#pragma omp parallel for schedule(static)
  for (long r = 0; r < rows; ++r) pass_row(p, plan, static_cast<int>(r / p.rows), static_cast<int>(r % p.rows));
}

// Which lane layout handles `opg` output channels fed by `ipg` input channels per group, if any.
enum class Layout { none, block, pair };
Layout layout_for(int ipg, int opg) {
  if (opg % 8 == 0) return Layout::block;
  if (opg == 4 && ipg == 4) return Layout::pair;
  return Layout::none;
}

// Packs weights for a pass. `get(group, o, j, tap)` reads the weight from input channel j to output
// channel o (both within the group) at a kernel tap. Block: [group][block][tap][j][8 outputs].
template <typename Get>
std::vector<float> pack(Layout layout, int groups, int ipg, int opg, int ntaps, Get get) {
  std::vector<float> out(static_cast<std::size_t>(groups) * opg * ipg * ntaps);
  if (layout == Layout::block) {
    const int blocks = opg / 8;
    std::size_t i = 0;
    for (int gi = 0; gi < groups; ++gi)
      for (int b = 0; b < blocks; ++b)
        for (int t = 0; t < ntaps; ++t)
          for (int j = 0; j < ipg; ++j)
            for (int l = 0; l < 8; ++l) out[i++] = get(gi, b * 8 + l, j, t);
  } else {
    // [pair][tap][diagonal s][lane h·4 + i] = weight to output (i + s) mod 4 from input i, group 2·pair + h
    std::size_t i = 0;
    for (int pr = 0; pr < groups / 2; ++pr)
      for (int t = 0; t < ntaps; ++t)
        for (int d = 0; d < 4; ++d)
          for (int l = 0; l < 8; ++l) out[i++] = get(2 * pr + l / 4, (l % 4 + d) % 4, l % 4, t);
  }
  return out;
}

bool pair_ok(const ConvGeom& g) { return g.groups % 2 == 0; }

}  // namespace

bool grouped_forward(const float* x, const float* w, const ConvGeom& g, float* y) {
  const int cpg = g.cpg(), kpg = g.kpg(), ntaps = g.kh * g.kw;
  const Layout layout = layout_for(cpg, kpg);
  if (layout == Layout::none || (layout == Layout::pair && !pair_ok(g)) || ntaps > kMaxTaps) return false;
  const std::vector<float> packed = pack(layout, g.groups, cpg, kpg, ntaps, [&](int gi, int o, int j, int t) {
    return w[((static_cast<std::size_t>(gi) * kpg + o) * cpg + j) * ntaps + t];
  });
  Pass p{x, g.H, g.W, g.C, y, g.Ho, g.Wo, g.K, g.Ho, g.Wo, 0, 1, 0, 1, g.sh, g.sw, {}, g.groups, cpg, kpg,
         layout == Layout::pair, packed.data(), ntaps};
  for (int ky = 0; ky < g.kh; ++ky)
    for (int kx = 0; kx < g.kw; ++kx) p.taps.push_back({ky * g.dh - g.ph, kx * g.dw - g.pw, ky * g.kw + kx});
  run_pass(p, g.N);
  return true;
}

bool grouped_backward_input(const float* dy, const float* w, const ConvGeom& g, float* dx) {
  const int cpg = g.cpg(), kpg = g.kpg(), ntaps = g.kh * g.kw;
  // The pass writes dx (cpg channels per group) from dy (kpg per group).
  const Layout layout = layout_for(kpg, cpg);
  if (layout == Layout::none || (layout == Layout::pair && !pair_ok(g)) || ntaps > kMaxTaps) return false;
  const std::vector<float> packed = pack(layout, g.groups, kpg, cpg, ntaps, [&](int gi, int o, int j, int t) {
    // dx channel o of the group receives dy channel j through w[j][o][tap]
    return w[((static_cast<std::size_t>(gi) * kpg + j) * cpg + o) * ntaps + t];
  });
  // dx pixel iy = py + sh·a gets dy row oy = (iy + ph − ky·dh) / sh = a + (py + ph − ky·dh) / sh
  // for the ky where the division is exact; likewise for columns.
  for (int py = 0; py < g.sh; ++py) {
    for (int px = 0; px < g.sw; ++px) {
      const int rows = (g.H - py + g.sh - 1) / g.sh, cols = (g.W - px + g.sw - 1) / g.sw;
      if (rows <= 0 || cols <= 0) continue;
      Pass p{dy, g.Ho, g.Wo, g.K, dx, g.H, g.W, g.C, rows, cols, py, g.sh, px, g.sw, 1, 1, {}, g.groups, kpg, cpg,
             layout == Layout::pair, packed.data(), ntaps};
      for (int ky = 0; ky < g.kh; ++ky) {
        const int ty = py + g.ph - ky * g.dh;
        if (((ty % g.sh) + g.sh) % g.sh != 0) continue;
        for (int kx = 0; kx < g.kw; ++kx) {
          const int tx = px + g.pw - kx * g.dw;
          if (((tx % g.sw) + g.sw) % g.sw != 0) continue;
          // exact division of possibly negative numbers
          p.taps.push_back({(ty - ((ty % g.sh) + g.sh) % g.sh) / g.sh, (tx - ((tx % g.sw) + g.sw) % g.sw) / g.sw,
                            ky * g.kw + kx});
        }
      }
      run_pass(p, g.N);
    }
  }
  return true;
}

namespace {

// Output rows [oy0, oy1) of image n for one backward-weight task: kernel row ky, kernel columns
// [kx0, kx0 + NKX), input channels [ic, ic + NJ) (pair: the 8 channels of two groups), one unit of 8
// output channels at oc. acc[kx][j] (8 lanes over output channels) is loaded from and stored back
// to `result`, so a task can be continued tile after tile.
template <int NKX, int NJ, bool Pair>
RX_AVX2 void weight_tile(const float* dy, const float* x, const ConvGeom& g, int n, int oy0, int oy1, int ky,
                         int kx0, int ic, int oc, float* result /* [NKX][NJ][8] */) {
  __m256 acc[NKX][NJ];
  RX_UNROLL for (int u = 0; u < NKX; ++u)
    RX_UNROLL for (int v = 0; v < NJ; ++v) acc[u][v] = _mm256_loadu_ps(result + (u * NJ + v) * 8);
  // Interior columns: every kx of the chunk lands inside the input.
  long lo = 0, hi = g.Wo;
  for (int u = 0; u < NKX; ++u) {
    const int off = (kx0 + u) * g.dw - g.pw;
    lo = std::max<long>(lo, off >= 0 ? 0 : (-off + g.sw - 1) / g.sw);
    const long last = g.W - 1 - off;
    hi = std::min<long>(hi, last < 0 ? 0 : last / g.sw + 1);
  }
  if (hi < lo) hi = lo;
  // Geometry in locals: GCC otherwise re-reads it from `g` for every pixel.
  const int sw = g.sw, W = g.W, K = g.K;
  const long C = g.C, xstep = sw * C, ustep = g.dw * C;  // x floats to the next pixel / kernel column
  // xp0: x at kernel column kx0 for output column ox (outside the row when `check` says so).
  auto pixel = [&](const float* dyp, const float* xp0, int ix0, bool check) RX_AVX2 {
    const __m256 dv = _mm256_loadu_ps(dyp);
    // Pair: dy rotated so that lane h·4 + i holds output (i + s) mod 4; acc[u][s][lane i] then sums
    // x[i]·dy[(i + s) mod 4], the weight gradient from input i to output (i + s) mod 4.
    __m256 dr[4];
    if constexpr (Pair) {
      dr[0] = dv;
      dr[1] = _mm256_permute_ps(dv, 0x39);
      dr[2] = _mm256_permute_ps(dv, 0x4E);
      dr[3] = _mm256_permute_ps(dv, 0x93);
    }
    RX_UNROLL for (int u = 0; u < NKX; ++u) {
      const int ix = ix0 + u * g.dw;
      if (check && (ix < 0 || ix >= W)) continue;
      const float* xp = xp0 + u * ustep;
      if constexpr (Pair) {
        const __m256 xv = _mm256_loadu_ps(xp);
        RX_UNROLL for (int d = 0; d < 4; ++d) acc[u][d] = _mm256_fmadd_ps(xv, dr[d], acc[u][d]);
      } else {
        RX_UNROLL for (int v = 0; v < NJ; ++v) acc[u][v] = _mm256_fmadd_ps(_mm256_broadcast_ss(xp + v), dv, acc[u][v]);
      }
    }
  };
  const int ix_first = kx0 * g.dw - g.pw;  // input column of kernel column kx0 for ox = 0
  for (int oy = oy0; oy < oy1; ++oy) {
    const int iy = oy * g.sh - g.ph + ky * g.dh;
    if (iy < 0 || iy >= g.H) continue;
    const float* dyrow = dy + (static_cast<long>(n) * g.Ho + oy) * g.Wo * K + oc;
    // x at (iy, ix_first) + ic; stepping ox moves it by xstep
    const float* xrow = x + (static_cast<long>(n) * g.H + iy) * W * C + ix_first * C + ic;
    for (long ox = 0; ox < std::min<long>(lo, g.Wo); ++ox)
      pixel(dyrow + ox * K, xrow + ox * xstep, static_cast<int>(ox * sw + ix_first), true);
    for (long ox = lo; ox < hi; ++ox) pixel(dyrow + ox * K, xrow + ox * xstep, 0, false);
    for (long ox = std::max(hi, lo); ox < g.Wo; ++ox)
      pixel(dyrow + ox * K, xrow + ox * xstep, static_cast<int>(ox * sw + ix_first), true);
  }
  RX_UNROLL for (int u = 0; u < NKX; ++u)
    RX_UNROLL for (int v = 0; v < NJ; ++v) _mm256_storeu_ps(result + (u * NJ + v) * 8, acc[u][v]);
}

template <bool Pair>
RX_AVX2 void weight_dispatch(const float* dy, const float* x, const ConvGeom& g, int n, int oy0, int oy1, int ky,
                             int kx0, int nkx, int ic, int nj, int oc, float* result) {
#define RX_NJ(NKX)                                                                                  \
  switch (nj) {                                                                                     \
    case 1: return weight_tile<NKX, 1, Pair>(dy, x, g, n, oy0, oy1, ky, kx0, ic, oc, result);       \
    case 2: return weight_tile<NKX, 2, Pair>(dy, x, g, n, oy0, oy1, ky, kx0, ic, oc, result);       \
    case 3: return weight_tile<NKX, 3, Pair>(dy, x, g, n, oy0, oy1, ky, kx0, ic, oc, result);       \
    default: return weight_tile<NKX, 4, Pair>(dy, x, g, n, oy0, oy1, ky, kx0, ic, oc, result);      \
  }
  switch (nkx) {
    case 1: RX_NJ(1)
    case 2: RX_NJ(2)
    default: RX_NJ(3)
  }
#undef RX_NJ
}

struct WeightTask {
  int ky, kx0, nkx, ic, nj, oc, j0;
};

}  // namespace

// Tiles of a few output rows (their dy and x rows fit in L2) are the outer loop, split across
// threads; every task then runs over the tile, continuing its accumulators from a per-thread buffer.
// The per-thread buffers are summed at the end.
bool grouped_backward_weight(const float* dy, const float* x, const ConvGeom& g, float* dw) {
  const int cpg = g.cpg(), kpg = g.kpg(), ntaps = g.kh * g.kw;
  const Layout layout = layout_for(cpg, kpg);
  if (layout == Layout::none || (layout == Layout::pair && !pair_ok(g))) return false;
  const bool pair = layout == Layout::pair;
  std::vector<WeightTask> tasks;
  const int units = pair ? g.K / 8 : g.groups * (kpg / 8);
  for (int unit = 0; unit < units; ++unit) {
    const int oc = unit * 8;
    const int gi = pair ? 2 * unit : oc / kpg;
    for (int ky = 0; ky < g.kh; ++ky)
      for (int kx0 = 0; kx0 < g.kw; kx0 += 3)
        for (int j0 = 0; j0 < (pair ? 1 : cpg); j0 += 4)
          tasks.push_back({ky, kx0, std::min(3, g.kw - kx0), pair ? oc : gi * cpg + j0, pair ? 4 : std::min(4, cpg - j0),
                           oc, j0});
  }
  constexpr int kTaskFloats = 3 * 4 * 8;
  // About 128 KiB of dy per tile.
  const int tile_rows = std::max(1, static_cast<int>((128 * 1024) / (static_cast<long>(g.Wo) * g.K * 4)));
  const int tiles_per_image = (g.Ho + tile_rows - 1) / tile_rows;
  const long tiles = static_cast<long>(g.N) * tiles_per_image;
  const int threads = static_cast<int>(std::max<long>(1, std::min<long>(omp_get_max_threads(), tiles)));
  std::vector<float> partial(static_cast<std::size_t>(threads) * tasks.size() * kTaskFloats, 0.f);
#pragma omp parallel num_threads(threads)
  {
    float* mine = partial.data() + static_cast<std::size_t>(omp_get_thread_num()) * tasks.size() * kTaskFloats;
#pragma omp for schedule(static)
    for (long tile = 0; tile < tiles; ++tile) {
      const int n = static_cast<int>(tile / tiles_per_image);
      const int oy0 = static_cast<int>(tile % tiles_per_image) * tile_rows, oy1 = std::min(g.Ho, oy0 + tile_rows);
      for (std::size_t t = 0; t < tasks.size(); ++t) {
        const WeightTask& k = tasks[t];
        if (pair) weight_dispatch<true>(dy, x, g, n, oy0, oy1, k.ky, k.kx0, k.nkx, k.ic, 4, k.oc, mine + t * kTaskFloats);
        else weight_dispatch<false>(dy, x, g, n, oy0, oy1, k.ky, k.kx0, k.nkx, k.ic, k.nj, k.oc, mine + t * kTaskFloats);
      }
    }
  }
  // Block: result[u][v][lane] → dw[oc + lane][j0 + v][ky][kx0 + u].
  // Pair: result[u][s][lane h·4 + i] → dw[oc + h·4 + (i + s) mod 4][i][ky][kx0 + u].
#pragma omp parallel for schedule(static)
  for (std::size_t t = 0; t < tasks.size(); ++t) {
    const WeightTask& k = tasks[t];
    for (int u = 0; u < k.nkx; ++u)
      for (int v = 0; v < k.nj; ++v)
        for (int l = 0; l < 8; ++l) {
          float sum = 0.f;
          for (int th = 0; th < threads; ++th)
            sum += partial[(static_cast<std::size_t>(th) * tasks.size() + t) * kTaskFloats + (u * k.nj + v) * 8 + l];
          const int out = pair ? k.oc + (l / 4) * 4 + (l % 4 + v) % 4 : k.oc + l;
          const int j = pair ? l % 4 : k.j0 + v;
          dw[(static_cast<std::size_t>(out) * cpg + j) * ntaps + k.ky * g.kw + k.kx0 + u] = sum;
        }
  }
  return true;
}

}  // namespace rx::avx2
