// Convolutions through oneDNN's primitives, NHWC:
//   forward          x [N, H, W, C] → y [N, Ho, Wo, K] = conv(x, w) + bias? + residual?
//   backward-weights dy [N, Ho, Wo, K], x → dw [K, C/groups, kh, kw]  (grouped, and ungrouped k×k)
//   w [K, C/groups, kh, kw] (PyTorch's oihw; grouped, the same memory read as goihw), reordered into
//   the blocked layout the primitive chooses: on every call (weights change every training step), or
//   once for weights marked constant, whose blocked copy PackedWeights keeps (an inference copy's
//   weights; the reorder is a strided pass over the weights, about 4% of a batch-1 ResNeXt-50
//   inference here).
// The residual is the primitive's binary-add post-op, added while each output tile is in registers,
// in the order our own tail pass adds it; for large weights, a sum post-op instead (see
// prefers_residual_as_sum). A ReLU stays the caller's: oneDNN's (a max with 0) turns NaN into 0, where
// torch.relu lets NaN through.
// On AVX2 CPUs the primitives are oneDNN's jit_1x1:avx2 (1x1) and jit:avx2 (k×k) kernels; on AVX-512
// ones brgconv_1x1, brgconv and jit_1x1:avx512_core. Measured on AVX2
// against dnnl_sgemm plus our own tail pass (ReLU fused then): the 1x1 forward 10-20% faster on
// ResNeXt-50's 1x1 shapes, the 7x7 stem 1.5x, ResNet's 3x3 layers 1.1-2.5x (weights kept); the backward passes were
// slower through oneDNN and stay on GEMM (conv_gemm.cc). oneDNN caches the generated kernels itself,
// but building the descriptors and primitive again costs 20-30 µs a call in the addon: constant
// weights keep them (DnnlForwardPlan).
// Grouped shapes (and ungrouped k×k backward-weights) come here from the AVX-512 variant (conv.cc),
// and are taken only where oneDNN runs an AVX-512 kernel for them (jit:avx512_core, brgconv) and
// measured faster than our 16-lane kernels inside the network (see kMinGroupWidth): the inference
// forward at stride 1 with 8 or more channels per group, backward-weights with 16 or more. The AVX2
// variant sends grouped backward-weights with 32 or more per group, to oneDNN's jit:avx2 kernel.
#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <cstring>
#include <string>
#include <unordered_map>

#include "kernels.h"
#include "packed_weights.h"

namespace rx {

namespace {

// Below this many output pixels a 1x1 primitive loses to GEMM when it reorders the weights (a pass
// over K·C floats): measured, 49-pixel maps (batch 1 at 7x7) ran up to 10% slower through it,
// 196-pixel maps (batch 1 at 14x14) 6-16% faster. With the weights kept packed it wins at 49 pixels
// too (5-10% on ResNeXt-50's 7x7 layers), so constant weights always take it.
constexpr index_t kMinPixels = 128;
// A k×k kernel reorders kh·kw times more weights per output channel: below this many output pixels
// the reorder of changing weights is not repaid.
constexpr index_t kMinPixelsSpatial = 1024;

// Where oneDNN's grouped kernels beat ours, timed inside ResNeXt-50 (each layer's calls in a whole
// inference or training step, both builds alternating in one process) on a 2-core Xeon (AVX-512),
// ours / oneDNN's:
//   inference forward, constant weights, stride 1: 8 per group 1.12-1.28x (256 at 28x28, batch 8
//     and 1), 16 per group 1.25-1.29x (512 at 14x14), 32 per group 1.10-1.35x (1024 at 7x7); at
//     stride 2 0.82-1.11x (16 per group) and 0.86-0.95x (8 per group); 4 per group ours are 1.6x
//     faster even alone.
//   backward-weights, batch 16: 16 per group 1.30-1.48x, 32 per group 1.10-1.62x; 8 per group
//     0.6-0.8x alone.
//   The training forward and backward-data were no faster (0.83-1.02x at stride 1, down to 0.52x at
//   stride 2), though alone, data in cache, oneDNN's ran up to 2x faster: they stay ours.
// The ungrouped k×k backward-weights (ResNeXt's 7x7 stem, batch 16) ran 1.6-1.7x faster through
// jit:avx512_core than through im2col and GEMM (26-27 against 16-17 ms); as the forward, it takes
// maps of kMinPixelsSpatial output pixels or more.
constexpr int kMinGroupWidth = 8;
constexpr int kMinGroupWidthBackwardWeights = 16;
// On AVX2 (a 2-core Zen 3 EPYC, batch 16, ms ours -> oneDNN's jit:avx2, alone, two builds
// alternating): 32 per group 10.9-14.6 -> 5.5-8.6 (1024 at 7x7), 13.9-16.7 -> 9.0-9.9 (1024 at
// 14x14 stride 2); 16 per group even (6.5-9.2 -> 6.3-8.5 at 512 x 14, 7.8-10.1 -> 7.2-8.5 at stride
// 2); the 7x7 stem slower (33-43 -> 38-57). On the one- and two-pixel maps of a 32x32 input, batch
// 128, the two were even or ours faster (1024 from 2x2 to 1x1 at stride 2: 2.2-3.0 -> 2.3-3.7): maps
// smaller than 7x7 stay ours.
constexpr int kMinGroupWidthBackwardWeightsAvx2 = 32;
constexpr int kMinMapPixelsBackwardWeightsAvx2 = 49;

bool grouped_takes(const ConvGeom& g, int min_width) {
  return g.groups > 1 && g.dh == 1 && g.dw == 1 && g.C / g.groups >= min_width && g.K / g.groups >= min_width;
}

bool takes(const ConvGeom& g, bool constant, bool grouped) {
  if (g.groups != 1) return grouped && constant && g.sh == 1 && g.sw == 1 && grouped_takes(g, kMinGroupWidth);
  if (g.dh != 1 || g.dw != 1) return false;
  const index_t pixels = static_cast<index_t>(g.N) * g.Ho * g.Wo;
  // A single output pixel makes a 1x1 convolution a matrix-vector product: 1.7-2.6x faster through
  // GEMM (2048 -> 1024 and 1024 -> 2048, weights kept for the primitive).
  if (g.pointwise() && pixels == 1) return false;
  if (constant) return true;
  return pixels >= (g.pointwise() ? kMinPixels : kMinPixelsSpatial);
}

// The jit_1x1 kernel blocks over each image's own pixels: on maps of one output pixel (the last
// stage of a 32x32 input) a batch ran as N one-pixel problems, 2.5-4.5x slower at batch 8-256 than
// the same batch presented as one image of N rows. In NHWC image n's pixel (0, 0) is row n·H of an
// N·H × W image, and strides of (H, W) read exactly those rows' first pixels.
ConvGeom single_image(const ConvGeom& g) {
  if (!g.pointwise() || g.N == 1 || g.Ho != 1 || g.Wo != 1) return g;
  ConvGeom one = g;
  one.N = 1;
  one.H = g.N * g.H;
  one.Ho = g.N;
  one.sh = g.H;
  one.sw = g.W;
  return one;
}

// oneDNN's brgconv_1x1 kernel (AVX-512) takes a residual only as a sum post-op (dst += conv, dst
// holding the residual first), not as a full-tensor binary add, so a residual sends a 1x1 to the
// older jit_1x1 kernel. With weights over 4 MiB that kernel ran 190-220 GFLOP/s where brgconv_1x1,
// the residual copied into dst first, ran 290-340 (1024 -> 2048 at 4x4 to 14x14, batch 1-16, on a
// 2-core Xeon with 400 GFLOP/s sgemm); at 2 MiB (512 -> 1024) the two were within 7% either way, and
// below that the copy made the sum slower.
constexpr index_t kSumPostOpWeights = index_t{1} << 20;

bool prefers_residual_as_sum(const ConvGeom& g) {
  return g.pointwise() && static_cast<index_t>(g.K) * g.C > kSumPostOpWeights;
}

// Engines are thread-safe; one serves every call.
const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// The weights' dimensions as oneDNN names them: oihw, or goihw for groups.
dnnl::memory::dims weight_dims(const ConvGeom& g) {
  if (g.groups == 1) return {g.K, g.C, g.kh, g.kw};
  return {g.groups, g.K / g.groups, g.C / g.groups, g.kh, g.kw};
}

// PyTorch's weight layout [K, C/groups, kh, kw] as a oneDNN descriptor.
dnnl::memory::desc user_weights_md(const ConvGeom& g) {
  using tag = dnnl::memory::format_tag;
  return dnnl::memory::desc(weight_dims(g), dnnl::memory::data_type::f32, g.groups == 1 ? tag::oihw : tag::goihw);
}

// The weights in the layout the primitive is to choose.
dnnl::memory::desc any_weights_md(const ConvGeom& g) {
  return dnnl::memory::desc(weight_dims(g), dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
}

dnnl::memory::desc bias_md(const ConvGeom& g) {
  return dnnl::memory::desc({g.K}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::x);
}

dnnl::memory::desc activation_md(int N, int C, int H, int W) {
  return dnnl::memory::desc({N, C, H, W}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::nhwc);
}

dnnl::convolution_forward::primitive_desc primitive_desc(const ConvGeom& g, bool bias, const dnnl::post_ops& ops,
                                                         const dnnl::memory::desc& src_md,
                                                         const dnnl::memory::desc& dst_md) {
  using dnnl::memory;
  const memory::desc any_w_md = any_weights_md(g);
  // Both sides padded alike, as PyTorch does; oneDNN rounds the output size down as it does.
  const memory::dims strides{g.sh, g.sw}, padding{g.ph, g.pw};
  const auto desc = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                           dnnl::algorithm::convolution_direct, src_md, any_w_md,
                                                           bias_md(g), dst_md, strides, padding, padding)
                         : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                           dnnl::algorithm::convolution_direct, src_md, any_w_md,
                                                           dst_md, strides, padding, padding);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  return dnnl::convolution_forward::primitive_desc(desc, attr, cpu_engine());
}

bool starts_with(const char* text, const char* prefix) { return std::string(text).rfind(prefix, 0) == 0; }

// Whether oneDNN chose one of its AVX-512 kernels (against its others, ours or GEMM win).
bool avx512_kernel(const char* impl) { return std::string(impl).find("avx512") != std::string::npos; }

// Builds the descriptors and primitive for plan.key's geometry, or marks it declined. in_place: y
// is the residual's own buffer, which a sum post-op adds into without a copy.
void build_plan(const ConvGeom& g, bool bias, bool residual, bool in_place, DnnlForwardPlan& plan) {
  using dnnl::memory;
  const memory::desc src_md = activation_md(g.N, g.C, g.H, g.W);
  const memory::desc dst_md = activation_md(g.N, g.K, g.Ho, g.Wo);
  plan.residual_as_sum = false;
  dnnl::convolution_forward::primitive_desc pd;
  if (residual && (in_place || prefers_residual_as_sum(g))) {
    dnnl::post_ops sum;
    sum.append_sum(1.f);
    pd = primitive_desc(g, bias, sum, src_md, dst_md);
    // With a copy only brgconv gains: elsewhere (AVX2) the same kernel would run, plus the copy.
    plan.residual_as_sum = in_place || starts_with(pd.impl_info_str(), "brgconv");
  }
  if (!plan.residual_as_sum) {
    dnnl::post_ops ops;
    if (residual) ops.append_binary(dnnl::algorithm::binary_add, dst_md);
    pd = primitive_desc(g, bias, ops, src_md, dst_md);
  }
  // oneDNN's reference kernels (its fallback for shapes or post-ops no optimised kernel takes)
  // are far slower than GEMM.
  plan.declined = starts_with(pd.impl_info_str(), "ref") || (g.groups > 1 && !avx512_kernel(pd.impl_info_str()));
  plan.primitive = plan.declined ? dnnl::convolution_forward() : dnnl::convolution_forward(pd);
  plan.src = src_md;
  plan.dst = dst_md;
  plan.bias = bias_md(g);
  plan.weights = pd.weights_desc();
}

// The primitive's weights: kept in packed when they are constant, else reordered on every call.
dnnl::memory primitive_weights(const float* w, const ConvGeom& g, const DnnlForwardPlan& plan, PackedWeights* packed,
                               dnnl::stream& stream) {
  using dnnl::memory;
  const memory::desc user_w_md = user_weights_md(g);
  memory user_w(user_w_md, cpu_engine(), const_cast<float*>(w));
  if (plan.weights == user_w_md) return user_w;
  if (packed && packed->dnnl_weights && packed->dnnl_weights.get_desc() == plan.weights) return packed->dnnl_weights;
  memory prim_w(plan.weights, cpu_engine());
  dnnl::reorder(user_w, prim_w).execute(stream, user_w, prim_w);
  if (packed) packed->dnnl_weights = prim_w;
  return prim_w;
}

// y = residual, both [N, Ho, Wo, K]; nothing to do when they are one buffer.
void copy_residual(const float* residual, float* y, size_t count) {
  if (residual == y) return;
  std::memcpy(y, residual, count * sizeof(float));
}

}  // namespace

bool conv_dnnl_forward(const float* x, const float* w, const float* bias, const ConvGeom& given, const float* residual,
                       float* y, PackedWeights* packed, bool grouped) {
  if (!takes(given, packed != nullptr, grouped)) return false;
  const ConvGeom g = single_image(given);
  using dnnl::memory;
  try {
    DnnlForwardPlan fresh;
    DnnlForwardPlan& plan = packed ? packed->dnnl_plan : fresh;
    const bool in_place = residual != nullptr && residual == y;
    // A primitive splits its work for the thread count it was built under, and keeps that split.
    const std::array<int, 18> key{g.N,
                                  g.C,
                                  g.H,
                                  g.W,
                                  g.K,
                                  g.Ho,
                                  g.Wo,
                                  g.kh,
                                  g.kw,
                                  g.sh,
                                  g.sw,
                                  g.ph,
                                  g.pw,
                                  g.groups,
                                  bias != nullptr,
                                  residual != nullptr,
                                  in_place,
                                  omp_get_max_threads()};
    if (plan.key != key) {
      plan.key = {};  // until the build succeeds
      build_plan(g, bias != nullptr, residual != nullptr, in_place, plan);
      plan.key = key;
    }
    if (plan.declined) return false;
    const dnnl::engine& engine = cpu_engine();
    dnnl::stream stream(engine);
    memory prim_w = primitive_weights(w, g, plan, packed, stream);
    memory src(plan.src, engine, const_cast<float*>(x)), dst(plan.dst, engine, y);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, prim_w}, {DNNL_ARG_DST, dst}};
    if (bias) args.emplace(DNNL_ARG_BIAS, memory(plan.bias, engine, const_cast<float*>(bias)));
    if (residual && plan.residual_as_sum)
      copy_residual(residual, y, plan.dst.get_size() / sizeof(float));
    else if (residual)
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                   memory(plan.dst, engine, const_cast<float*>(residual)));
    plan.primitive.execute(stream, args);
    stream.wait();
    return true;
  } catch (const dnnl::error&) {
    return false;  // a shape or CPU the primitive does not take: the caller uses GEMM
  }
}

namespace {

// The forward descriptor oneDNN's backward primitives take as their hint.
dnnl::convolution_forward::primitive_desc training_forward(const ConvGeom& g, const dnnl::memory::desc& src_md,
                                                           const dnnl::memory::desc& any_w_md,
                                                           const dnnl::memory::desc& dst_md) {
  const dnnl::memory::dims strides{g.sh, g.sw}, padding{g.ph, g.pw};
  return dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src_md,
                                      any_w_md, dst_md, strides, padding, padding),
      cpu_engine());
}

}  // namespace

bool conv_dnnl_backward_weights(const float* dy, const float* x, const ConvGeom& g, float* dw,
                                DnnlBackwardWeights kernels) {
  if (kernels == DnnlBackwardWeights::none) return false;
  const bool avx512 = kernels == DnnlBackwardWeights::avx512;
  const bool dense_spatial = avx512 && g.groups == 1 && !g.pointwise() && g.dh == 1 && g.dw == 1 &&
                             static_cast<index_t>(g.N) * g.Ho * g.Wo >= kMinPixelsSpatial;
  const int min_width = avx512 ? kMinGroupWidthBackwardWeights : kMinGroupWidthBackwardWeightsAvx2;
  const bool map_takes = avx512 || g.Ho * g.Wo >= kMinMapPixelsBackwardWeightsAvx2;
  if (!dense_spatial && !(map_takes && grouped_takes(g, min_width))) return false;
  using dnnl::memory;
  try {
    const memory::desc src_md = activation_md(g.N, g.C, g.H, g.W), dst_md = activation_md(g.N, g.K, g.Ho, g.Wo);
    const memory::desc any_w_md = any_weights_md(g);
    const memory::dims strides{g.sh, g.sw}, padding{g.ph, g.pw};
    const dnnl::convolution_backward_weights::primitive_desc pd(
        dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, src_md, any_w_md, dst_md,
                                                 strides, padding, padding),
        cpu_engine(), training_forward(g, src_md, any_w_md, dst_md));
    if (!(avx512 ? avx512_kernel(pd.impl_info_str()) : std::string(pd.impl_info_str()) == "jit:avx2")) return false;
    const dnnl::engine& engine = cpu_engine();
    dnnl::stream stream(engine);
    memory user_dw(user_weights_md(g), engine, dw);
    memory prim_dw = pd.diff_weights_desc() == user_dw.get_desc() ? user_dw : memory(pd.diff_weights_desc(), engine);
    dnnl::convolution_backward_weights(pd).execute(
        stream, {{DNNL_ARG_SRC, memory(src_md, engine, const_cast<float*>(x))},
                 {DNNL_ARG_DIFF_DST, memory(dst_md, engine, const_cast<float*>(dy))},
                 {DNNL_ARG_DIFF_WEIGHTS, prim_dw}});
    if (prim_dw != user_dw) dnnl::reorder(prim_dw, user_dw).execute(stream, prim_dw, user_dw);
    stream.wait();
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

}  // namespace rx
