// Ungrouped convolution forward through oneDNN's convolution primitive, NHWC:
//   x [N, H, W, C] → y [N, Ho, Wo, K] = conv(x, w) + bias? + residual?
//   w [K, C, kh, kw] (PyTorch's oihw), reordered into the blocked layout the primitive chooses: on
//   every call (weights change every training step), or once for weights marked constant, whose
//   blocked copy PackedWeights keeps (an inference copy's weights; the reorder is a strided pass over
//   the weights, about 4% of a batch-1 ResNeXt-50 inference here).
// The residual is the primitive's binary-add post-op, added while each output tile is in registers,
// in the order our own tail pass adds it. A ReLU stays the caller's: oneDNN's (a max with 0) turns
// NaN into 0, where torch.relu lets NaN through.
// On this CPU the primitives are oneDNN's jit_1x1:avx2 (1x1) and jit:avx2 (k×k) kernels. Measured
// against dnnl_sgemm plus our own tail pass (ReLU fused then): the 1x1 forward 10-20% faster on
// ResNeXt-50's 1x1 shapes, the 7x7 stem 1.5x, ResNet's 3x3 layers 1.1-2.5x (weights kept); the backward passes were
// slower through oneDNN and stay on GEMM (conv_gemm.cc). oneDNN caches the generated kernels itself:
// building the descriptor and primitive again costs about 14 µs a call.
#include <oneapi/dnnl/dnnl.hpp>

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

bool takes(const ConvGeom& g, bool constant) {
  if (g.groups != 1 || g.dh != 1 || g.dw != 1) return false;
  if (constant) return true;
  const index_t pixels = static_cast<index_t>(g.N) * g.Ho * g.Wo;
  return pixels >= (g.pointwise() ? kMinPixels : kMinPixelsSpatial);
}

}  // namespace

bool conv_dnnl_forward(const float* x, const float* w, const float* bias, const ConvGeom& g, const float* residual,
                       float* y, PackedWeights* packed) {
  if (!takes(g, packed != nullptr)) return false;
  using dnnl::memory;
  using tag = memory::format_tag;
  constexpr auto f32 = memory::data_type::f32;
  try {
    const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    const memory::desc src_md({g.N, g.C, g.H, g.W}, f32, tag::nhwc);
    const memory::desc dst_md({g.N, g.K, g.Ho, g.Wo}, f32, tag::nhwc);
    const memory::desc user_w_md({g.K, g.C, g.kh, g.kw}, f32, tag::oihw);
    const memory::desc any_w_md({g.K, g.C, g.kh, g.kw}, f32, tag::any);
    const memory::desc bias_md({g.K}, f32, tag::x);
    // Both sides padded alike, as PyTorch does; oneDNN rounds the output size down as it does.
    const memory::dims strides{g.sh, g.sw}, padding{g.ph, g.pw};
    const auto desc = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                             dnnl::algorithm::convolution_direct, src_md, any_w_md,
                                                             bias_md, dst_md, strides, padding, padding)
                           : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                             dnnl::algorithm::convolution_direct, src_md, any_w_md,
                                                             dst_md, strides, padding, padding);
    dnnl::primitive_attr attr;
    dnnl::post_ops ops;
    if (residual) ops.append_binary(dnnl::algorithm::binary_add, dst_md);
    attr.set_post_ops(ops);
    const dnnl::convolution_forward::primitive_desc pd(desc, attr, engine);
    // oneDNN's reference kernels (its fallback for shapes or post-ops no optimised kernel takes)
    // are far slower than GEMM.
    if (std::string(pd.impl_info_str()).rfind("ref", 0) == 0) return false;
    memory user_w(user_w_md, engine, const_cast<float*>(w));
    memory prim_w = user_w;
    if (pd.weights_desc() != user_w_md) {
      if (packed && packed->dnnl_weights && packed->dnnl_weights.get_desc() == pd.weights_desc()) {
        prim_w = packed->dnnl_weights;
      } else {
        prim_w = memory(pd.weights_desc(), engine);
        dnnl::reorder(user_w, prim_w).execute(stream, user_w, prim_w);
        if (packed) packed->dnnl_weights = prim_w;
      }
    }
    memory src(src_md, engine, const_cast<float*>(x)), dst(dst_md, engine, y);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, prim_w}, {DNNL_ARG_DST, dst}};
    if (bias) args.emplace(DNNL_ARG_BIAS, memory(bias_md, engine, const_cast<float*>(bias)));
    if (residual)
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                   memory(dst_md, engine, const_cast<float*>(residual)));
    dnnl::convolution_forward(pd).execute(stream, args);
    stream.wait();
    return true;
  } catch (const dnnl::error&) {
    return false;  // a shape or CPU the primitive does not take: the caller uses GEMM
  }
}

}  // namespace rx
