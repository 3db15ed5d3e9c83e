// The entry points of the variant kernels (variant_kernels.h): each runs the variant kernel_isa()
// selects, chosen per call so that RESNEXT_ISA / setKernelIsa take effect at once.
#include "cpu.h"
#include "kernels.h"

namespace rx {

namespace portable {
#include "variant_kernels.h"
}  // namespace portable
namespace avx2 {
#include "variant_kernels.h"
}  // namespace avx2
namespace avx512 {
#include "variant_kernels.h"
}  // namespace avx512

#define RX_PICK(f) \
  (kernel_isa() == Isa::avx512 ? avx512::f : kernel_isa() == Isa::avx2 ? avx2::f : portable::f)

void conv2d_forward(const float* x, const float* w, const float* bias, const ConvGeom& g, float* y,
                    const Epilogue& epilogue, PackedWeights* packed) {
  RX_PICK(conv2d_forward)(x, w, bias, g, y, epilogue, packed);
}
void conv2d_backward_input(const float* dy, const float* w, const ConvGeom& g, float* dx) {
  RX_PICK(conv2d_backward_input)(dy, w, g, dx);
}
void conv2d_backward_weight(const float* dy, const float* x, const ConvGeom& g, float* dw, float* dbias) {
  RX_PICK(conv2d_backward_weight)(dy, x, g, dw, dbias);
}

void linear_forward(const float* x, const float* w, const float* b, index_t rows, int in, int out, float* y) {
  RX_PICK(linear_forward)(x, w, b, rows, in, out, y);
}
void linear_backward(const float* dy, const float* x, const float* w, index_t rows, int in, int out, float* dx,
                     float* dw, float* db) {
  RX_PICK(linear_backward)(dy, x, w, rows, in, out, dx, dw, db);
}

void batchnorm_train(const float* x, const float* gamma, const float* beta, index_t rows, int C, double eps,
                     float* y, float* mean, float* var, float* invstd, const Epilogue& epilogue) {
  RX_PICK(batchnorm_train)(x, gamma, beta, rows, C, eps, y, mean, var, invstd, epilogue);
}
void batchnorm_eval(const float* x, const float* gamma, const float* beta, const float* running_mean,
                    const float* running_var, index_t rows, int C, double eps, float* y, const Epilogue& epilogue) {
  RX_PICK(batchnorm_eval)(x, gamma, beta, running_mean, running_var, rows, C, eps, y, epilogue);
}
void batchnorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* invstd, index_t rows, int C, float* dx, float* dgamma, float* dbeta,
                        bool fused_relu, const float* beta) {
  RX_PICK(batchnorm_backward)(dy, x, gamma, mean, invstd, rows, C, dx, dgamma, dbeta, fused_relu, beta);
}
void batchnorm_eval_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                             const float* invstd, index_t rows, int C, float* dx, float* dgamma, float* dbeta) {
  RX_PICK(batchnorm_eval_backward)(dy, x, gamma, mean, invstd, rows, C, dx, dgamma, dbeta);
}

void relu_forward(const float* x, index_t n, float* y) { RX_PICK(relu_forward)(x, n, y); }
void relu_backward(const float* dy, const float* y, index_t n, float* dx) { RX_PICK(relu_backward)(dy, y, n, dx); }
void add_forward(const float* a, const float* b, index_t n, float* y) { RX_PICK(add_forward)(a, b, n, y); }

void maxpool2d_forward(const float* x, const PoolGeom& g, float* y, std::int32_t* argmax) {
  RX_PICK(maxpool2d_forward)(x, g, y, argmax);
}
void adaptive_maxpool2d_forward(const float* x, const PoolGeom& g, float* y, std::int32_t* argmax) {
  RX_PICK(adaptive_maxpool2d_forward)(x, g, y, argmax);
}
void maxpool_backward(const float* dy, const std::int32_t* argmax, const PoolGeom& g, float* dx) {
  RX_PICK(maxpool_backward)(dy, argmax, g, dx);
}
void adaptive_avgpool2d_forward(const float* x, const PoolGeom& g, float* y) {
  RX_PICK(adaptive_avgpool2d_forward)(x, g, y);
}
void adaptive_avgpool2d_backward(const float* dy, const PoolGeom& g, float* dx) {
  RX_PICK(adaptive_avgpool2d_backward)(dy, g, dx);
}

void softmax_forward(const float* x, index_t outer, int dim, index_t inner, bool log, float* y) {
  RX_PICK(softmax_forward)(x, outer, dim, inner, log, y);
}
void softmax_backward(const float* dy, const float* y, index_t outer, int dim, index_t inner, float* dx) {
  RX_PICK(softmax_backward)(dy, y, outer, dim, inner, dx);
}

void sgd_step(float* param, const float* grad, float* buf, index_t n, const SgdOptions& o) {
  RX_PICK(sgd_step)(param, grad, buf, n, o);
}

}  // namespace rx
