// Kernel entry points. Activations NHWC; weights in PyTorch layouts; all arrays contiguous float32.
// Every output is fully overwritten unless noted.
#pragma once

#include <cstdint>

#include "common.h"

namespace rx {

// ---- convolution (conv.cc dispatches to conv_dnnl.cc, conv_gemm.cc or conv_grouped.cc) ----
void conv2d_forward(const float* x, const float* w, const float* bias, const ConvGeom& g, float* y,
                    const Epilogue& epilogue = {});
void conv2d_backward_input(const float* dy, const float* w, const ConvGeom& g, float* dx);
void conv2d_backward_weight(const float* dy, const float* x, const ConvGeom& g, float* dw, float* dbias);

// Dense (groups = 1 per call) convolution through GEMM: 1x1 directly, others via im2col.
void conv_gemm_forward(const float* x, const float* w, const ConvGeom& g, float* y);
void conv_gemm_backward_input(const float* dy, const float* w, const ConvGeom& g, float* dx);
void conv_gemm_backward_weight(const float* dy, const float* x, const ConvGeom& g, float* dw);

// Ungrouped 1x1 forward through oneDNN's convolution primitive (conv_dnnl.cc), bias and ReLU fused.
// Returns false, having written nothing, for other shapes, maps too small to gain, or when oneDNN
// declines the shape.
bool conv_dnnl_pointwise_forward(const float* x, const float* w, const float* bias, const ConvGeom& g, bool relu,
                                 float* y);

// Grouped convolution, direct: AVX2 kernels where they apply, portable loops otherwise.
void conv_grouped_forward(const float* x, const float* w, const ConvGeom& g, float* y);
void conv_grouped_backward_input(const float* dy, const float* w, const ConvGeom& g, float* dx);
void conv_grouped_backward_weight(const float* dy, const float* x, const ConvGeom& g, float* dw);

// ---- batch norm over [rows, C], with an optional fused epilogue ----
void batchnorm_train(const float* x, const float* gamma, const float* beta, index_t rows, int C, double eps,
                     float* y, float* mean, float* var, float* invstd, const Epilogue& epilogue = {});
void batchnorm_eval(const float* x, const float* gamma, const float* beta, const float* running_mean,
                    const float* running_var, index_t rows, int C, double eps, float* y,
                    const Epilogue& epilogue = {});
// fused_relu: the forward fused a ReLU (no residual), with this beta (may be null); dy is masked where
// that forward's output was 0, the mask recomputed from x exactly as the forward computed y.
void batchnorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* invstd, index_t rows, int C, float* dx, float* dgamma, float* dbeta,
                        bool fused_relu = false, const float* beta = nullptr);
void batchnorm_eval_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                             const float* invstd, index_t rows, int C, float* dx, float* dgamma, float* dbeta);

// ---- elementwise ----
void relu_forward(const float* x, index_t n, float* y);
void relu_backward(const float* dy, const float* y, index_t n, float* dx);
void add_forward(const float* a, const float* b, index_t n, float* y);

// ---- pooling (argmax: in-plane index h*W+w of the winner, per output element) ----
void maxpool2d_forward(const float* x, const PoolGeom& g, float* y, std::int32_t* argmax);
void adaptive_maxpool2d_forward(const float* x, const PoolGeom& g, float* y, std::int32_t* argmax);
void maxpool_backward(const float* dy, const std::int32_t* argmax, const PoolGeom& g, float* dx);
void adaptive_avgpool2d_forward(const float* x, const PoolGeom& g, float* y);
void adaptive_avgpool2d_backward(const float* dy, const PoolGeom& g, float* dx);

// ---- linear: y[R,O] = x[R,I]·W[O,I]ᵀ + b ----
void linear_forward(const float* x, const float* w, const float* b, index_t rows, int in, int out, float* y);
void linear_backward(const float* dy, const float* x, const float* w, index_t rows, int in, int out, float* dx,
                     float* dw, float* db);

// ---- softmax along the middle axis of [outer, dim, inner] ----
void softmax_forward(const float* x, index_t outer, int dim, index_t inner, bool log, float* y);
void softmax_backward(const float* dy, const float* y, index_t outer, int dim, index_t inner, float* dx);

// ---- optimizer ----
struct SgdOptions {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, first;
};
// buf may be null (no momentum).
void sgd_step(float* param, const float* grad, float* buf, index_t n, const SgdOptions& o);

}  // namespace rx
