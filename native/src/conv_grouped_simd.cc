// Direct grouped convolution on NHWC activations, vectorised over the W output channels of one
// register: W = 8 in the AVX2 variant, 16 in the AVX-512 one (RX_VARIANT_LANES, set by the variant's
// translation unit; not built in the portable variant). Written once for every width with GCC vector
// extensions, which the variant's target turns into ymm or zmm instructions; fp-contract is on here
// only, so that each a·b + c is one fused multiply-add.
//
// Two lane layouts cover ResNeXt's groups:
//   block     (out channels per group a multiple of W): a register holds W output channels of one
//             group; each input channel j is broadcast and multiplied by the W weights w[·][j][tap].
//   diagonal  (P in and P out channels per group, P < W dividing W: 4 per group at W = 8, 4 and 8 at
//             W = 16): a register holds the P channels of W/P neighbouring groups. Products are
//             accumulated "diagonally": acc_s[lane h·P + i] += x[h·P + i] · w[out (i + s) mod P][in i]
//             for s = 0..P−1, so the inner loop is plain loads and FMAs; one in-group rotation per s at
//             the end moves each sum to its output lane.
//
// Forward and backward-input are the same "pass": an output grid of pixels, each the sum over taps of
// an input pixel times a packed weight slice. Forward reads x at (a·stride + ky·d − p, ...);
// backward-input reads dy with the kernel flipped and in/out channels swapped, one pass per stride
// phase (dx pixels whose row and column have a given remainder mod the stride), so the stride's gaps
// are never multiplied. Tiles of R pixels × 1 or 2 channel blocks keep the accumulators in registers
// (16 of them at W = 8, 32 at W = 16: up to 12 and 14 pixels); tiles whose taps leave the input
// (the borders) read a zero-padded copy of their few input columns.
//
// Backward-weight keeps 3 kernel columns × NJ input channels of accumulators for one register of
// output channels and streams every output pixel of the batch through them; independent
// (unit, kernel row, column chunk, channel chunk) tasks are spread over the threads.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "common.h"
#include "variant.h"

#ifndef RX_VARIANT_LANES
#define RX_VARIANT_LANES 0
#endif

#if RX_VARIANT_LANES

RX_VARIANT_BEGIN
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")

// Unrolls a loop with a compile-time trip count early, so that GCC keeps accumulator arrays in
// registers (without it, -O3 stores every accumulator back to the stack after each FMA).
#define RX_UNROLL _Pragma("GCC unroll 32")
// Tiles are inlined into their layout's run function (a call per tile would cost a vzeroupper too).
#define RX_TILE inline __attribute__((always_inline))
// Functions that only prefetch are inlined too: out of line, GCC finds them free of side effects and
// drops their calls.
#define RX_PREFETCH inline __attribute__((always_inline))

namespace grouped_simd {

namespace {

typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x16 __attribute__((vector_size(64)));
typedef int i32x8 __attribute__((vector_size(32)));
typedef int i32x16 __attribute__((vector_size(64)));
// The same vectors at any float's address.
typedef float f32x8_unaligned __attribute__((vector_size(32), aligned(4), may_alias));
typedef float f32x16_unaligned __attribute__((vector_size(64), aligned(4), may_alias));
template <int W>
struct VectorType;
template <>
struct VectorType<8> {
  using F = f32x8;
  using Unaligned = f32x8_unaligned;
  using I = i32x8;
};
template <>
struct VectorType<16> {
  using F = f32x16;
  using Unaligned = f32x16_unaligned;
  using I = i32x16;
};

// W floats in one register, and the few operations the kernels need.
template <int W>
struct Lanes {
  using V = typename VectorType<W>::F;
  using I = typename VectorType<W>::I;
  static constexpr int kRegisters = W == 16 ? 32 : 16;
  using Unaligned = typename VectorType<W>::Unaligned;
  static V load(const float* p) { return *reinterpret_cast<const Unaligned*>(p); }
  static void store(float* p, V v) { *reinterpret_cast<Unaligned*>(p) = v; }
  // At 8 lanes through the builtin that takes the address: GCC then addresses a tile's pixels from
  // one base register, where a plain load gets a pointer register per pixel and spills them.
  static V broadcast(const float* p) {
    if constexpr (W == 8) return reinterpret_cast<V>(_mm256_broadcast_ss(p));
    else return *p - V{};  // s − 0 is s exactly, −0 included
  }
  static V fma(V a, V b, V c) { return a * b + c; }
  // rotate<P>(v, s)[lane h·P + o] = v[h·P + (o − s) mod P]
  template <int P>
  static V rotate(V v, int s) {
    I m;
    for (int i = 0; i < W; ++i) m[i] = (i / P) * P + ((i % P) - s + P) % P;
    return __builtin_shuffle(v, m);
  }
};

struct Tap {
  int dy, dx;  // input offset from (a·sy, b·sx)
  int w;       // tap index ky·kw + kx into the packed weights
};

// How one pass (or backward-weight) lays channels into lanes: block, or diagonal with P channels per
// group (P = 0: block).
struct Layout {
  bool ok;
  int P;
};

template <int W>
Layout layout_for(int ipg, int opg, int groups) {
  if (opg % W == 0) return {true, 0};
  if (ipg == opg && (opg == 4 || opg == 8) && W % opg == 0 && groups % (W / opg) == 0) return {true, opg};
  return {false, 0};
}

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
  int P;                 // diagonal layout's channels per group; 0: block layout
  const float* w;        // packed: block [group][block][tap][j][W], diagonal [unit][tap][s][W]
  int ntaps;             // taps in the packed weights (kh·kw)
};

constexpr int kMaxTaps = 64;

// A tap resolved for one output row: where its input pixel for column 0 is, and its weights.
struct RowTap {
  long off;   // input offset of (a·sy + dy, dx) in floats (may be negative: only used with b·sx added)
  long woff;  // offset of the tap's packed weights within a unit
};

// ---- block layout: R pixels × NB registers of output channels ----

template <int W, int R, int NB>
inline void block_tile(const Pass& p, const RowTap* taps, int ntaps, const float* in_b, const float* wblk,
                       float* outp) {
  using L = Lanes<W>;
  typename L::V acc[NB][R];
  RX_UNROLL for (int k = 0; k < NB; ++k)
    RX_UNROLL for (int r = 0; r < R; ++r) acc[k][r] = typename L::V{};
  const long pix = static_cast<long>(p.sx) * p.inC;
  const long wstride = static_cast<long>(p.ntaps) * p.ipg * W;  // to the next block
  for (int t = 0; t < ntaps; ++t) {
    const float* xp = in_b + taps[t].off;
    const float* wp = wblk + taps[t].woff;
    for (int j = 0; j < p.ipg; ++j) {
      typename L::V wv[NB];
      RX_UNROLL for (int k = 0; k < NB; ++k) wv[k] = L::load(wp + k * wstride + j * W);
      RX_UNROLL for (int r = 0; r < R; ++r) {
        const typename L::V xb = L::broadcast(xp + r * pix + j);
        RX_UNROLL for (int k = 0; k < NB; ++k) acc[k][r] = L::fma(xb, wv[k], acc[k][r]);
      }
    }
  }
  const long opix = static_cast<long>(p.oxs) * p.outC;
  RX_UNROLL for (int r = 0; r < R; ++r)
    RX_UNROLL for (int k = 0; k < NB; ++k) L::store(outp + r * opix + k * W, acc[k][r]);
}

// ---- diagonal layout: R pixels × one register (W/P groups of P channels) ----

// Σ_s rotate(acc[s], s), added pairwise: (a0 + r1) + (r2 + r3), ...
template <int W, int P>
RX_TILE typename Lanes<W>::V gather_diagonals(const typename Lanes<W>::V* acc) {
  using L = Lanes<W>;
  typename L::V level[P];
  RX_UNROLL for (int s = 0; s < P; ++s) level[s] = s == 0 ? acc[0] : L::template rotate<P>(acc[s], s);
  RX_UNROLL for (int n = P; n > 1; n /= 2)
    RX_UNROLL for (int s = 0; s < n / 2; ++s) level[s] = level[2 * s] + level[2 * s + 1];
  return level[0];
}

template <int W, int P, int R>
RX_TILE void diagonal_tile(const Pass& p, const RowTap* taps, int ntaps, const float* in_b, const float* wunit,
                          float* outp) {
  using L = Lanes<W>;
  typename L::V acc[R][P];
  RX_UNROLL for (int r = 0; r < R; ++r)
    RX_UNROLL for (int s = 0; s < P; ++s) acc[r][s] = typename L::V{};
  const long pix = static_cast<long>(p.sx) * p.inC;
  for (int t = 0; t < ntaps; ++t) {
    const float* xp = in_b + taps[t].off;
    const float* wp = wunit + taps[t].woff;
    typename L::V wv[P];
    RX_UNROLL for (int s = 0; s < P; ++s) wv[s] = L::load(wp + s * W);
    RX_UNROLL for (int r = 0; r < R; ++r) {
      const typename L::V xv = L::load(xp + r * pix);
      RX_UNROLL for (int s = 0; s < P; ++s) acc[r][s] = L::fma(xv, wv[s], acc[r][s]);
    }
  }
  const long opix = static_cast<long>(p.oxs) * p.outC;
  RX_UNROLL for (int r = 0; r < R; ++r) L::store(outp + r * opix, gather_diagonals<W, P>(acc[r]));
}

// Pixels per tile: as many accumulators as the vector registers hold, leaving room for the weights
// and the broadcast (block) or the input (diagonal), and at most 14 pixels, since GCC keeps a pointer
// per pixel in the 16 general registers (and spills them beyond that).
template <int W, int NB>
constexpr int block_width() {
  return std::min(14, (Lanes<W>::kRegisters - 4) / NB);
}
// At 8 per group and 16 lanes that leaves 2 pixels; 3 (one accumulator kept on the stack) ran
// 1.1-1.2x faster (256 channels at 28x28, batch 16, AMD EPYC Zen 5).
template <int W, int P>
constexpr int diagonal_width() {
  if (W == 16 && P == 8) return 3;
  return std::max(1, (Lanes<W>::kRegisters - P - 1) / P);
}

// Runs a tile of `count` pixels (1 ≤ count ≤ R) with the instance for exactly that many.
template <int W, int NB, int R>
RX_TILE void block_upto(const Pass& p, const RowTap* taps, int ntaps, const float* in_b, int count, const float* wblk,
                        float* outp) {
  if (count == R) return block_tile<W, R, NB>(p, taps, ntaps, in_b, wblk, outp);
  if constexpr (R > 1) block_upto<W, NB, R - 1>(p, taps, ntaps, in_b, count, wblk, outp);
}
// The diagonal layout's units are W channels apart in input and output, and their weights
// ntaps·P·W floats apart: a tile runs `units` of them from the first one's pointers.
template <int W, int P, int R>
RX_TILE void diagonal_upto(const Pass& p, const RowTap* taps, int ntaps, const float* in_b, int count,
                           const float* wunit, float* outp, int units) {
  if (count == R) {
    const long wstride = static_cast<long>(p.ntaps) * P * W;
    for (int u = 0; u < units; ++u)
      diagonal_tile<W, P, R>(p, taps, ntaps, in_b + u * W, wunit + u * wstride, outp + u * W);
    return;
  }
  if constexpr (R > 1) diagonal_upto<W, P, R - 1>(p, taps, ntaps, in_b, count, wunit, outp, units);
}

// One function per layout holding all its tile instances: inlined into the row loop, the tiles would
// compete with it for general registers (and the 12-pixel tile would reload pointers from the stack).
template <int W, int NB>
__attribute__((noinline)) void block_run(const Pass& p, const RowTap* taps, int ntaps, const float* in_b, int count,
                                         const float* wblk, float* outp) {
  block_upto<W, NB, block_width<W, NB>()>(p, taps, ntaps, in_b, count, wblk, outp);
}
template <int W, int P>
__attribute__((noinline)) void diagonal_run(const Pass& p, const RowTap* taps, int ntaps, const float* in_b,
                                            int count, const float* wunit, float* outp, int units) {
  diagonal_upto<W, P, diagonal_width<W, P>()>(p, taps, ntaps, in_b, count, wunit, outp, units);
}

// Where one channel unit (W/P groups, or 1-2 blocks of W output channels) reads and writes.
struct Unit {
  const float* w;  // packed weights of the unit
  int in_c, out_c;
};

// The units of a pass, and the tile width (pixels per tile) and blocks per unit of its kernel.
struct UnitPlan {
  std::vector<Unit> units;
  int width, nb;
};

template <int W>
UnitPlan plan_units(const Pass& p) {
  UnitPlan plan;
  if (p.P) {
    plan.nb = 1;
    plan.width = p.P == 4 ? diagonal_width<W, 4>() : diagonal_width<W, 8>();
    for (int u = 0; u < p.outC / W; ++u)
      plan.units.push_back({p.w + static_cast<long>(u) * p.ntaps * p.P * W, u * W, u * W});
    return plan;
  }
  const int blocks = p.opg / W;
  plan.nb = blocks % 2 == 0 ? 2 : 1;
  plan.width = plan.nb == 2 ? block_width<W, 2>() : block_width<W, 1>();
  for (int gi = 0; gi < p.groups; ++gi)
    for (int blk = 0; blk < blocks; blk += plan.nb)
      plan.units.push_back({p.w + (static_cast<long>(gi) * blocks + blk) * p.ntaps * p.ipg * W, gi * p.ipg,
                            gi * p.opg + blk * W});
  return plan;
}

// One tile of `count` pixels starting at grid column b, every channel unit.
template <int W>
void run_units(const Pass& p, const UnitPlan& plan, int u0, int u1, const RowTap* taps, int ntaps,
               const float* in_b, int count, float* outp) {
  if (p.P) {
    const Unit& u = plan.units[u0];
    if (p.P == 4) diagonal_run<W, 4>(p, taps, ntaps, in_b + u.in_c, count, u.w, outp + u.out_c, u1 - u0);
    if constexpr (W > 8)
      if (p.P == 8) diagonal_run<W, 8>(p, taps, ntaps, in_b + u.in_c, count, u.w, outp + u.out_c, u1 - u0);
    return;
  }
  for (int i = u0; i < u1; ++i) {
    const Unit& u = plan.units[i];
    const float* in_u = in_b + u.in_c;
    float* out_u = outp + u.out_c;
    if (plan.nb == 2) block_run<W, 2>(p, taps, ntaps, in_u, count, u.w, out_u);
    else block_run<W, 1>(p, taps, ntaps, in_u, count, u.w, out_u);
  }
}

// The taps of one output row whose input row exists, and the grid columns [lo, hi) where all of
// them stay inside the input.
struct RowTaps {
  RowTap at[kMaxTaps];
  int dx[kMaxTaps], iy[kMaxTaps];
  int n = 0, dx_min = 0, dx_max = 0;
  long lo = 0, hi = 0;
};

template <int W>
void row_taps(const Pass& p, int a, RowTaps& r) {
  r.hi = p.cols;
  const long wtap = p.P ? static_cast<long>(p.P) * W : static_cast<long>(p.ipg) * W;
  for (const Tap& t : p.taps) {
    const int iy = a * p.sy + t.dy;
    if (iy < 0 || iy >= p.inH) continue;
    r.dx_min = r.n == 0 ? t.dx : std::min(r.dx_min, t.dx);
    r.dx_max = r.n == 0 ? t.dx : std::max(r.dx_max, t.dx);
    r.at[r.n] = {(static_cast<long>(iy) * p.inW + t.dx) * p.inC, t.w * wtap};
    r.dx[r.n] = t.dx;
    r.iy[r.n++] = iy;
    // b·sx + dx ≥ 0  and  b·sx + dx ≤ inW − 1
    r.lo = std::max<long>(r.lo, t.dx >= 0 ? 0 : (-t.dx + p.sx - 1) / p.sx);
    const long last = p.inW - 1 - t.dx;
    r.hi = std::min<long>(r.hi, last < 0 ? 0 : last / p.sx + 1);
  }
}

// The distinct input rows of a row's taps, in the taps' order; returns their count.
int distinct_rows(const RowTaps& r, int* rows) {
  int n = 0;
  for (int t = 0; t < r.n; ++t)
    if (std::find(rows, rows + n, r.iy[t]) == rows + n) rows[n++] = r.iy[t];
  return n;
}

// Asks for the input columns [c0, c1] of the given rows, channels [c_lo, c_hi), to be brought into
// L2 while the tile before them runs. Without it, maps that do not fit the caches (batch 16 at 56x56)
// ran at half their in-cache rate: the hardware prefetchers do not follow a tile's scattered reads (one
// register of channels of each of its pixels at a time, unit after unit).
RX_PREFETCH void prefetch_columns(const Pass& p, const float* in_n, const int* rows, int nrows, long c0, long c1,
                                  int c_lo, int c_hi) {
  c0 = std::max<long>(c0, 0);
  c1 = std::min<long>(c1, p.inW - 1);
  for (int s = 0; s < nrows; ++s)
    for (long c = c0; c <= c1; ++c) {
      const char* px = reinterpret_cast<const char*>(in_n + (static_cast<long>(rows[s]) * p.inW + c) * p.inC + c_lo);
      for (long byte = 0; byte < (c_hi - c_lo) * 4L; byte += 64) _mm_prefetch(px + byte, _MM_HINT_T1);
    }
}

// A border tile's input: patch[slot][c][channel] holds input row `slot`'s column b·sx + dx_min + c
// (zeros outside the input), channels [c_lo, c_hi) of each pixel; `padded` gets the taps' offsets
// into it. The slots are the distinct input rows of the taps (distinct_rows).
void pad_border(const Pass& p, const RowTaps& r, const int* slot_iy, int slots, const float* in_n, int b, int count,
                int c_lo, int c_hi, std::vector<float>& patch, RowTap* padded) {
  const long c0 = static_cast<long>(b) * p.sx + r.dx_min;
  const int span = (count - 1) * p.sx + r.dx_max - r.dx_min + 1;
  for (int t = 0; t < r.n; ++t) {
    const int s = static_cast<int>(std::find(slot_iy, slot_iy + slots, r.iy[t]) - slot_iy);
    padded[t] = {(static_cast<long>(s) * span + r.dx[t] - r.dx_min) * p.inC, r.at[t].woff};
  }
  patch.resize(static_cast<std::size_t>(slots) * span * p.inC);
  for (int s = 0; s < slots; ++s)
    for (int c = 0; c < span; ++c) {
      float* dst = patch.data() + (static_cast<std::size_t>(s) * span + c) * p.inC + c_lo;
      const long ix = c0 + c;
      if (ix < 0 || ix >= p.inW) std::fill(dst, dst + (c_hi - c_lo), 0.f);
      else std::copy_n(in_n + (static_cast<long>(slot_iy[s]) * p.inW + ix) * p.inC + c_lo, c_hi - c_lo, dst);
    }
}

// One output row of the grid, channel units [u0, u1), in tiles of nearly equal width: tiles of
// pixels outermost, so a tile's input pixels stay in L1 while all those units consume them. A tile
// some of whose taps leave the input (a border tile) reads a zero-padded copy of its input columns
// instead, so that border pixels run in full tiles too (one pixel at a time, a tile's few
// accumulators would wait on the FMA latency). Zeros add nothing, so every pixel's sum is the same.
template <int W>
void pass_row(const Pass& p, const UnitPlan& plan, int n, int a, int u0, int u1, std::vector<float>& patch) {
  RowTaps r;
  row_taps<W>(p, a, r);
  const float* in_n = p.in + static_cast<long>(n) * p.inH * p.inW * p.inC;
  float* out_row = p.out + (static_cast<long>(n) * p.outH + p.oy0 + a * p.oys) * p.outW * p.outC;
  // Input channels the units read.
  const int c_lo = plan.units[u0].in_c, c_hi = plan.units[u1 - 1].in_c + (p.P ? W : p.ipg);
  const int tiles = (p.cols + plan.width - 1) / plan.width;
  int rows[kMaxTaps];
  const int nrows = distinct_rows(r, rows);
  for (int k = 0; k < tiles; ++k) {
    const int b0 = static_cast<int>(static_cast<long>(k) * p.cols / tiles);
    const int b1 = static_cast<int>(static_cast<long>(k + 1) * p.cols / tiles);
    if (k + 1 < tiles) {
      // The next tile's columns that this one does not read.
      const long b2 = static_cast<long>(k + 2) * p.cols / tiles;
      prefetch_columns(p, in_n, rows, nrows, (b1 - 1L) * p.sx + r.dx_max + 1, (b2 - 1) * p.sx + r.dx_max, c_lo,
                       c_hi);
    }
    float* outp = out_row + (static_cast<long>(p.ox0) + static_cast<long>(b0) * p.oxs) * p.outC;
    if (r.n == 0 || (b0 >= r.lo && b1 <= r.hi)) {
      run_units<W>(p, plan, u0, u1, r.at, r.n, in_n + static_cast<long>(b0) * p.sx * p.inC, b1 - b0, outp);
    } else {
      RowTap padded[kMaxTaps];
      pad_border(p, r, rows, nrows, in_n, b0, b1 - b0, c_lo, c_hi, patch, padded);
      run_units<W>(p, plan, u0, u1, padded, r.n, patch.data(), b1 - b0, outp);
    }
  }
}

// Rows are spread over the threads; with few rows (batch 1 on small maps, fewer than 4 per thread)
// each row's channel units are split as well, so that every thread has a share of the work.
template <int W>
void run_pass(const Pass& p, int N) {
  const UnitPlan plan = plan_units<W>(p);
  const long rows = static_cast<long>(N) * p.rows;
  const long wanted = 4L * omp_get_max_threads();
  const int units = static_cast<int>(plan.units.size());
  const int chunks = rows >= wanted ? 1 : static_cast<int>(std::min<long>(units, (wanted + rows - 1) / rows));
  const long tasks = rows * chunks;
#pragma omp parallel
  {
    std::vector<float> patch;  // border tiles' padded input
#pragma omp for schedule(static)
    for (long t = 0; t < tasks; ++t) {
      const long r = t / chunks;
      const int c = static_cast<int>(t % chunks);
      pass_row<W>(p, plan, static_cast<int>(r / p.rows), static_cast<int>(r % p.rows), c * units / chunks,
                  (c + 1) * units / chunks, patch);
    }
  }
}

// Packs weights for a pass. `get(group, o, j, tap)` reads the weight from input channel j to output
// channel o (both within the group) at a kernel tap.
template <int W, typename Get>
std::vector<float> pack(Layout layout, int groups, int ipg, int opg, int ntaps, Get get) {
  std::vector<float> out(static_cast<std::size_t>(groups) * opg * ipg * ntaps);
  std::size_t i = 0;
  if (layout.P == 0) {
    // [group][block][tap][j][W outputs]
    const int blocks = opg / W;
    for (int gi = 0; gi < groups; ++gi)
      for (int b = 0; b < blocks; ++b)
        for (int t = 0; t < ntaps; ++t)
          for (int j = 0; j < ipg; ++j)
            for (int l = 0; l < W; ++l) out[i++] = get(gi, b * W + l, j, t);
    return out;
  }
  // [unit][tap][diagonal s][lane h·P + i] = weight to output (i + s) mod P from input i, group
  // unit·(W/P) + h
  const int P = layout.P;
  for (int u = 0; u < groups / (W / P); ++u)
    for (int t = 0; t < ntaps; ++t)
      for (int s = 0; s < P; ++s)
        for (int l = 0; l < W; ++l) out[i++] = get(u * (W / P) + l / P, (l % P + s) % P, l % P, t);
  return out;
}

template <int W>
bool forward_lanes(const float* x, const float* w, const ConvGeom& g, float* y, std::vector<float>* kept) {
  const int cpg = g.cpg(), kpg = g.kpg(), ntaps = g.kh * g.kw;
  const Layout layout = layout_for<W>(cpg, kpg, g.groups);
  if (!layout.ok || ntaps > kMaxTaps) return false;
  std::vector<float> fresh;
  std::vector<float>& packed = kept ? *kept : fresh;
  if (packed.size() != static_cast<std::size_t>(g.K) * cpg * ntaps)
    packed = pack<W>(layout, g.groups, cpg, kpg, ntaps, [&](int gi, int o, int j, int t) {
      return w[((static_cast<std::size_t>(gi) * kpg + o) * cpg + j) * ntaps + t];
    });
  Pass p{x,  g.H, g.W, g.C,      y,  g.Ho, g.Wo,     g.K, g.Ho,          g.Wo,   0, 1, 0, 1, g.sh, g.sw,
         {}, g.groups, cpg, kpg, layout.P, packed.data(), ntaps};
  for (int ky = 0; ky < g.kh; ++ky)
    for (int kx = 0; kx < g.kw; ++kx) p.taps.push_back({ky * g.dh - g.ph, kx * g.dw - g.pw, ky * g.kw + kx});
  run_pass<W>(p, g.N);
  return true;
}

template <int W>
bool backward_input_lanes(const float* dy, const float* w, const ConvGeom& g, float* dx) {
  const int cpg = g.cpg(), kpg = g.kpg(), ntaps = g.kh * g.kw;
  // The pass writes dx (cpg channels per group) from dy (kpg per group).
  const Layout layout = layout_for<W>(kpg, cpg, g.groups);
  if (!layout.ok || ntaps > kMaxTaps) return false;
  const std::vector<float> packed = pack<W>(layout, g.groups, kpg, cpg, ntaps, [&](int gi, int o, int j, int t) {
    // dx channel o of the group receives dy channel j through w[j][o][tap]
    return w[((static_cast<std::size_t>(gi) * kpg + j) * cpg + o) * ntaps + t];
  });
  // dx pixel iy = py + sh·a gets dy row oy = (iy + ph − ky·dh) / sh = a + (py + ph − ky·dh) / sh
  // for the ky where the division is exact; likewise for columns.
  for (int py = 0; py < g.sh; ++py) {
    for (int px = 0; px < g.sw; ++px) {
      const int rows = (g.H - py + g.sh - 1) / g.sh, cols = (g.W - px + g.sw - 1) / g.sw;
      if (rows <= 0 || cols <= 0) continue;
      Pass p{dy, g.Ho,     g.Wo, g.K, dx,       g.H,           g.W,  g.C, rows, cols, py, g.sh, px, g.sw, 1, 1,
             {}, g.groups, kpg,  cpg, layout.P, packed.data(), ntaps};
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
      // In input order, as the forward's taps: a tile then reads the rows it shares with the row
      // above first and the one new to it last. In the flipped kernel's order the backward-input
      // at 128x56x56, 4 per group, ran 1.8x slower (AMD EPYC, Zen 5), stalled on the new row.
      std::sort(p.taps.begin(), p.taps.end(),
                [](const Tap& a, const Tap& b) { return a.dy != b.dy ? a.dy < b.dy : a.dx < b.dx; });
      run_pass<W>(p, g.N);
    }
  }
  return true;
}

// ---- backward weight ----

// Input channels per block-layout task: 3 kernel columns × NJ accumulators fill the registers.
template <int W>
constexpr int kWeightChannels = W == 16 ? 8 : 4;

// Output rows [oy0, oy1) of images [n0, n1) for one backward-weight task: kernel row ky, kernel columns
// [kx0, kx0 + NKX), input channels [ic, ic + NJ) (diagonal: the W channels of W/P groups, NJ = P),
// one register of output channels at oc. acc[kx][j] is loaded from and stored back to `result`, so
// a task can be continued tile after tile.
template <int W, int NKX, int NJ, int P>
void weight_tile(const float* dy, const float* x, const ConvGeom& g, int n0, int n1, int oy0, int oy1, int ky,
                 int kx0, int ic, int oc, float* result /* [NKX][NJ][W] */) {
  using L = Lanes<W>;
  using V = typename L::V;
  V acc[NKX][NJ];
  RX_UNROLL for (int u = 0; u < NKX; ++u)
    RX_UNROLL for (int v = 0; v < NJ; ++v) acc[u][v] = L::load(result + (u * NJ + v) * W);
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
  const int sw = g.sw, Wd = g.W, K = g.K, dw = g.dw;
  const long C = g.C, xstep = sw * C, ustep = dw * C;  // x floats to the next pixel / kernel column
  // xp0: x at kernel column kx0 for output column ox (outside the row when `check` says so).
  auto pixel = [&](const float* dyp, const float* xp0, int ix0, bool check) {
    const V dv = L::load(dyp);
    if constexpr (P > 0) {
      // dy rotated so that lane h·P + i holds output (i + s) mod P: acc[u][s][lane i] then sums
      // x[i]·dy[(i + s) mod P], the weight gradient from input i to output (i + s) mod P.
      V xv[NKX];
      bool inside[NKX];
      RX_UNROLL for (int u = 0; u < NKX; ++u) {
        const int ix = ix0 + u * dw;
        inside[u] = !check || (ix >= 0 && ix < Wd);
        xv[u] = inside[u] ? L::load(xp0 + u * ustep) : V{};
      }
      RX_UNROLL for (int s = 0; s < P; ++s) {
        const V rotated = s == 0 ? dv : L::template rotate<P>(dv, P - s);
        RX_UNROLL for (int u = 0; u < NKX; ++u) if (inside[u]) acc[u][s] = L::fma(xv[u], rotated, acc[u][s]);
      }
    } else {
      RX_UNROLL for (int u = 0; u < NKX; ++u) {
        const int ix = ix0 + u * dw;
        if (check && (ix < 0 || ix >= Wd)) continue;
        const float* xp = xp0 + u * ustep;
        RX_UNROLL for (int v = 0; v < NJ; ++v) acc[u][v] = L::fma(L::broadcast(xp + v), dv, acc[u][v]);
      }
    }
  };
  const int ix_first = kx0 * g.dw - g.pw;  // input column of kernel column kx0 for ox = 0
  for (int n = n0; n < n1; ++n) {
    for (int oy = oy0; oy < oy1; ++oy) {
      const int iy = oy * g.sh - g.ph + ky * g.dh;
      if (iy < 0 || iy >= g.H) continue;
      const float* dyrow = dy + (static_cast<long>(n) * g.Ho + oy) * g.Wo * K + oc;
      // x at (iy, ix_first) + ic; stepping ox moves it by xstep
      const float* xrow = x + (static_cast<long>(n) * g.H + iy) * Wd * C + ix_first * C + ic;
      for (long ox = 0; ox < std::min<long>(lo, g.Wo); ++ox)
        pixel(dyrow + ox * K, xrow + ox * xstep, static_cast<int>(ox * sw + ix_first), true);
      for (long ox = lo; ox < hi; ++ox) pixel(dyrow + ox * K, xrow + ox * xstep, 0, false);
      for (long ox = std::max(hi, lo); ox < g.Wo; ++ox)
        pixel(dyrow + ox * K, xrow + ox * xstep, static_cast<int>(ox * sw + ix_first), true);
    }
  }
  RX_UNROLL for (int u = 0; u < NKX; ++u)
    RX_UNROLL for (int v = 0; v < NJ; ++v) L::store(result + (u * NJ + v) * W, acc[u][v]);
}

// The instance for nkx kernel columns (1-3) and nj ≤ NJ input channels (block layout).
template <int W, int NKX, int NJ>
void weight_block_run(const float* dy, const float* x, const ConvGeom& g, int n0, int n1, int oy0, int oy1, int ky,
                      int kx0, int nj, int ic, int oc, float* result) {
  if (nj == NJ) return weight_tile<W, NKX, NJ, 0>(dy, x, g, n0, n1, oy0, oy1, ky, kx0, ic, oc, result);
  if constexpr (NJ > 1)
    weight_block_run<W, NKX, NJ - 1>(dy, x, g, n0, n1, oy0, oy1, ky, kx0, nj, ic, oc, result);
}

template <int W, int NKX>
void weight_run(const float* dy, const float* x, const ConvGeom& g, int P, int n0, int n1, int oy0, int oy1, int ky,
                int kx0, int nj, int ic, int oc, float* result) {
  if (P == 4) return weight_tile<W, NKX, 4, 4>(dy, x, g, n0, n1, oy0, oy1, ky, kx0, ic, oc, result);
  if constexpr (W > 8)
    if (P == 8) return weight_tile<W, NKX, 8, 8>(dy, x, g, n0, n1, oy0, oy1, ky, kx0, ic, oc, result);
  weight_block_run<W, NKX, kWeightChannels<W>>(dy, x, g, n0, n1, oy0, oy1, ky, kx0, nj, ic, oc, result);
}

struct WeightTask {
  int ky, kx0, nkx, ic, nj, oc, j0;
  bool reaches;  // some output row's kernel row ky lands inside the input (else its sums stay 0)
};

// Whether kernel row ky reads an input row for some output row (on small maps with padding, the
// outer kernel rows may never).
bool row_reaches(const ConvGeom& g, int ky) {
  for (int oy = 0; oy < g.Ho; ++oy) {
    const int iy = oy * g.sh - g.ph + ky * g.dh;
    if (iy >= 0 && iy < g.H) return true;
  }
  return false;
}

template <int W>
std::vector<WeightTask> weight_tasks(const ConvGeom& g, int P) {
  const int cpg = g.cpg(), kpg = g.kpg();
  const int nj_max = P ? P : kWeightChannels<W>;
  std::vector<WeightTask> tasks;
  const int units = P ? g.K / W : g.groups * (kpg / W);
  for (int unit = 0; unit < units; ++unit) {
    const int oc = unit * W;
    const int gi = oc / kpg;
    for (int ky = 0; ky < g.kh; ++ky)
      for (int kx0 = 0; kx0 < g.kw; kx0 += 3)
        for (int j0 = 0; j0 < (P ? 1 : cpg); j0 += nj_max)
          tasks.push_back({ky, kx0, std::min(3, g.kw - kx0), P ? oc : gi * cpg + j0,
                           P ? P : std::min(nj_max, cpg - j0), oc, j0, row_reaches(g, ky)});
  }
  return tasks;
}

// The batch's output pixels in tiles for backward-weight: a few output rows of one image, or several
// whole images where images are that small (the last stages of a 32x32 input: at one pixel per
// image, a tile per image made every task load and store its accumulators for a single pixel).
struct WeightTiling {
  int tile_rows, tiles_per_image, images_per_tile;
  long tiles;
  struct Range {
    int n0, n1, oy0, oy1;
  };
  Range range(long tile, const ConvGeom& g) const {
    if (images_per_tile > 1) {
      const int n0 = static_cast<int>(tile * images_per_tile);
      return {n0, std::min(g.N, n0 + images_per_tile), 0, g.Ho};
    }
    const int n = static_cast<int>(tile / tiles_per_image);
    const int oy0 = static_cast<int>(tile % tiles_per_image) * tile_rows;
    return {n, n + 1, oy0, std::min(g.Ho, oy0 + tile_rows)};
  }
};

// Tiles of about 64 KiB of dy: with the x rows they read (about 5 times that at stride 2), a tile and
// the next one, prefetched while it runs, fit in L2.
WeightTiling weight_tiling(const ConvGeom& g) {
  constexpr long kTileBytes = 64 * 1024;
  WeightTiling t;
  const long row_bytes = static_cast<long>(g.Wo) * g.K * 4;
  t.tile_rows = static_cast<int>(std::min<long>(g.Ho, std::max<long>(1, kTileBytes / row_bytes)));
  t.tiles_per_image = (g.Ho + t.tile_rows - 1) / t.tile_rows;
  // Whole images per tile when one fits, but no fewer tiles than threads.
  const long fitting = t.tiles_per_image == 1 ? std::max<long>(1, kTileBytes / (row_bytes * g.Ho)) : 1;
  t.images_per_tile = static_cast<int>(
      std::max<long>(1, std::min<long>(fitting, (g.N + omp_get_max_threads() - 1) / omp_get_max_threads())));
  t.tiles = t.images_per_tile > 1 ? (g.N + t.images_per_tile - 1) / t.images_per_tile
                                  : static_cast<long>(g.N) * t.tiles_per_image;
  return t;
}

// Asks for part `slice` of `slices` of a tile's dy rows and the x rows they read to be brought into
// L2. The tasks of the tile before it each ask for one part: the first task to reach a tile otherwise
// waits on memory for each line in turn (it reads one register of channels of each pixel), and at
// batch 16 on 56x56 maps backward-weight ran at half its in-cache rate.
RX_PREFETCH void prefetch_weight_tile(const float* dy, const float* x, const ConvGeom& g,
                                      const WeightTiling::Range& r, long slice, long slices) {
  const int iy0 = std::max(0, r.oy0 * g.sh - g.ph);
  const int iy1 = std::min(g.H, (r.oy1 - 1) * g.sh - g.ph + (g.kh - 1) * g.dh + 1);
  const struct {
    const float* from;
    long lines;
  } spans[] = {
      {dy + (static_cast<long>(r.n0) * g.Ho + r.oy0) * g.Wo * g.K,
       static_cast<long>(r.oy1 - r.oy0) * g.Wo * g.K / 16},
      {x + (static_cast<long>(r.n0) * g.H + iy0) * g.W * g.C,
       static_cast<long>(std::max(0, iy1 - iy0)) * g.W * g.C / 16},
  };
  for (const auto& span : spans)
    for (long l = span.lines * slice / slices; l < span.lines * (slice + 1) / slices; ++l)
      _mm_prefetch(reinterpret_cast<const char*>(span.from + l * 16), _MM_HINT_T1);
}

// The tiles are the outer loop, split across threads; every task then runs over the tile, continuing
// its accumulators from a per-thread buffer. The per-thread buffers are summed at the end.
template <int W>
bool backward_weight_lanes(const float* dy, const float* x, const ConvGeom& g, float* dw) {
  const int cpg = g.cpg(), kpg = g.kpg(), ntaps = g.kh * g.kw;
  const Layout layout = layout_for<W>(cpg, kpg, g.groups);
  if (!layout.ok) return false;
  const int P = layout.P;
  const std::vector<WeightTask> tasks = weight_tasks<W>(g, P);
  const int task_floats = 3 * (P ? P : kWeightChannels<W>)*W;
  const WeightTiling tiling = weight_tiling(g);
  const int threads = static_cast<int>(std::max<long>(1, std::min<long>(omp_get_max_threads(), tiling.tiles)));
  std::vector<float> partial(static_cast<std::size_t>(threads) * tasks.size() * task_floats, 0.f);
  const long ntasks = static_cast<long>(tasks.size());
#pragma omp parallel num_threads(threads)
  {
    float* mine = partial.data() + static_cast<std::size_t>(omp_get_thread_num()) * tasks.size() * task_floats;
#pragma omp for schedule(static)
    for (long tile = 0; tile < tiling.tiles; ++tile) {
      const WeightTiling::Range r = tiling.range(tile, g);
      // A thread's tiles are consecutive (static schedule): the next one is most likely its own.
      const bool prefetch = tiling.images_per_tile == 1 && tile + 1 < tiling.tiles;
      const WeightTiling::Range next = prefetch ? tiling.range(tile + 1, g) : r;
      for (long t = 0; t < ntasks; ++t) {
        if (prefetch) prefetch_weight_tile(dy, x, g, next, t, ntasks);
        const WeightTask& k = tasks[t];
        if (!k.reaches) continue;
        float* result = mine + t * task_floats;
        if (k.nkx == 1)
          weight_run<W, 1>(dy, x, g, P, r.n0, r.n1, r.oy0, r.oy1, k.ky, k.kx0, k.nj, k.ic, k.oc, result);
        else if (k.nkx == 2)
          weight_run<W, 2>(dy, x, g, P, r.n0, r.n1, r.oy0, r.oy1, k.ky, k.kx0, k.nj, k.ic, k.oc, result);
        else weight_run<W, 3>(dy, x, g, P, r.n0, r.n1, r.oy0, r.oy1, k.ky, k.kx0, k.nj, k.ic, k.oc, result);
      }
    }
  }
  // Block: result[u][v][lane] → dw[oc + lane][j0 + v][ky][kx0 + u].
  // Diagonal: result[u][s][lane h·P + i] → dw[oc + h·P + (i + s) mod P][i][ky][kx0 + u].
#pragma omp parallel for schedule(static)
  for (std::size_t t = 0; t < tasks.size(); ++t) {
    const WeightTask& k = tasks[t];
    for (int u = 0; u < k.nkx; ++u)
      for (int v = 0; v < k.nj; ++v)
        for (int l = 0; l < W; ++l) {
          float sum = 0.f;
          for (int th = 0; th < threads; ++th)
            sum += partial[(static_cast<std::size_t>(th) * tasks.size() + t) * task_floats + (u * k.nj + v) * W + l];
          const int out = P ? k.oc + (l / P) * P + (l % P + v) % P : k.oc + l;
          const int j = P ? l % P : k.j0 + v;
          dw[(static_cast<std::size_t>(out) * cpg + j) * ntaps + k.ky * g.kw + k.kx0 + u] = sum;
        }
  }
  return true;
}

}  // namespace

// The kernels at this variant's width; each returns false (having written nothing) for a shape
// neither layout takes, and the caller falls back to the portable loops. Forward's `kept` (or null)
// holds the weights packed by an earlier call on the same constant weights and shape, or is empty
// and receives them; w is not read when it is filled.
bool forward(const float* x, const float* w, const ConvGeom& g, float* y, std::vector<float>* kept) {
  return forward_lanes<RX_VARIANT_LANES>(x, w, g, y, kept);
}
bool backward_input(const float* dy, const float* w, const ConvGeom& g, float* dx) {
  return backward_input_lanes<RX_VARIANT_LANES>(dy, w, g, dx);
}
bool backward_weight(const float* dy, const float* x, const ConvGeom& g, float* dw) {
  return backward_weight_lanes<RX_VARIANT_LANES>(dy, x, g, dw);
}
// "block", "diagonal 4", "diagonal 8", or "none": the layout forward takes for this shape.
const char* layout_name(const ConvGeom& g) {
  const Layout l = layout_for<RX_VARIANT_LANES>(g.cpg(), g.kpg(), g.groups);
  return !l.ok ? "none" : l.P == 0 ? "block" : l.P == 4 ? "diagonal 4" : "diagonal 8";
}

}  // namespace grouped_simd

#undef RX_UNROLL
#undef RX_TILE
#undef RX_PREFETCH
#pragma GCC pop_options
RX_VARIANT_END

#endif  // RX_VARIANT_LANES
