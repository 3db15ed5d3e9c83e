// 1x1 convolution forward through oneDNN's convolution primitive, NHWC:
//   x [N, H, W, C] → y [N, Ho, Wo, K] = relu?(x · wᵀ + bias?), strided by (sh, sw)
//   w [K, C, 1, 1] (PyTorch's oihw), reordered into the blocked layout the primitive chooses: on
//   every call (weights change every training step), or once for weights marked constant, whose
//   blocked copy PackedWeights keeps (an inference copy's weights; the reorder is a strided pass over
//   K·C floats, about 4% of a batch-1 ResNeXt-50 inference here).
// On this CPU the primitive is oneDNN's jit_1x1:avx2 kernel. Measured against dnnl_sgemm plus our
// own tail pass on ResNeXt-50's 1x1 shapes, its forward is 10-20% faster (bias and ReLU applied
// while the output tile is in registers); its backward-data and backward-weights were slower, so
// the backward passes stay on GEMM (conv_gemm.cc). oneDNN caches the generated kernels itself:
// building the descriptor and primitive again costs about 14 µs a call.
#include <oneapi/dnnl/dnnl.hpp>

#include <unordered_map>

#include "kernels.h"
#include "packed_weights.h"

namespace rx {

namespace {

// Below this many output pixels the primitive loses to GEMM when it reorders the weights (a pass
// over K·C floats): measured, 49-pixel maps (batch 1 at 7x7) ran up to 10% slower through it,
// 196-pixel maps (batch 1 at 14x14) 6-16% faster. With the weights kept packed it wins at 49 pixels
// too (5-10% on ResNeXt-50's 7x7 layers), so constant weights always take it.
constexpr index_t kMinPixels = 128;

}  // namespace

bool conv_dnnl_pointwise_forward(const float* x, const float* w, const float* bias, const ConvGeom& g, bool relu,
                                 float* y, PackedWeights* packed) {
  if (!g.pointwise() || g.groups != 1) return false;
  if (static_cast<index_t>(g.N) * g.Ho * g.Wo < kMinPixels && !packed) return false;
  using dnnl::memory;
  using tag = memory::format_tag;
  constexpr auto f32 = memory::data_type::f32;
  try {
    const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    const memory::desc src_md({g.N, g.C, g.H, g.W}, f32, tag::nhwc);
    const memory::desc dst_md({g.N, g.K, g.Ho, g.Wo}, f32, tag::nhwc);
    const memory::desc user_w_md({g.K, g.C, 1, 1}, f32, tag::oihw);
    const memory::desc any_w_md({g.K, g.C, 1, 1}, f32, tag::any);
    const memory::desc bias_md({g.K}, f32, tag::x);
    const memory::dims strides{g.sh, g.sw}, padding{0, 0};
    const auto desc = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                             dnnl::algorithm::convolution_direct, src_md, any_w_md,
                                                             bias_md, dst_md, strides, padding, padding)
                           : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                             dnnl::algorithm::convolution_direct, src_md, any_w_md,
                                                             dst_md, strides, padding, padding);
    dnnl::primitive_attr attr;
    if (relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(ops);
    }
    const dnnl::convolution_forward::primitive_desc pd(desc, attr, engine);
    memory user_w(user_w_md, engine, const_cast<float*>(w));
    memory prim_w = user_w;
    if (pd.weights_desc() != user_w_md) {
      if (packed && packed->pointwise && packed->pointwise.get_desc() == pd.weights_desc()) {
        prim_w = packed->pointwise;
      } else {
        prim_w = memory(pd.weights_desc(), engine);
        dnnl::reorder(user_w, prim_w).execute(stream, user_w, prim_w);
        if (packed) packed->pointwise = prim_w;
      }
    }
    memory src(src_md, engine, const_cast<float*>(x)), dst(dst_md, engine, y);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, prim_w}, {DNNL_ARG_DST, dst}};
    if (bias) args.emplace(DNNL_ARG_BIAS, memory(bias_md, engine, const_cast<float*>(bias)));
    dnnl::convolution_forward(pd).execute(stream, args);
    stream.wait();
    return true;
  } catch (const dnnl::error&) {
    return false;  // a shape or CPU the primitive does not take: the caller uses GEMM
  }
}

}  // namespace rx
