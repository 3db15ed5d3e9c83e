// The kernels compiled once per ISA variant (portable, avx2, avx512: native/src/variants/), from the
// same source, auto-vectorised to the variant's width; -ffp-contract=off and per-lane accumulation
// keep every variant's results bit for bit the same. Declared, without an include guard, inside the
// namespace that includes it: rx (the dispatching entry points) and rx::portable, rx::avx2 and
// rx::avx512 (the variants). Activations NHWC, float32, contiguous.

// ---- convolution: conv.cc picks oneDNN's primitive (conv_dnnl.cc, ungrouped forwards), GEMM
// (conv_gemm.cc, 1x1 or groups = 1) or the direct grouped kernels (conv_grouped.cc: the vector
// kernels of conv_grouped_simd.cc where they apply) ----
// packed: the weights' kept repacked forms when the caller marked them constant, else null.
void conv2d_forward(const float* x, const float* w, const float* bias, const ConvGeom& g, float* y,
                    const Epilogue& epilogue = {}, PackedWeights* packed = nullptr);
void conv2d_backward_input(const float* dy, const float* w, const ConvGeom& g, float* dx);
void conv2d_backward_weight(const float* dy, const float* x, const ConvGeom& g, float* dw, float* dbias);

// ---- linear: y[R,O] = x[R,I]·W[O,I]ᵀ + b ----
void linear_forward(const float* x, const float* w, const float* b, index_t rows, int in, int out, float* y);
void linear_backward(const float* dy, const float* x, const float* w, index_t rows, int in, int out, float* dx,
                     float* dw, float* db);

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

// ---- softmax along the middle axis of [outer, dim, inner] ----
void softmax_forward(const float* x, index_t outer, int dim, index_t inner, bool log, float* y);
void softmax_backward(const float* dy, const float* y, index_t outer, int dim, index_t inner, float* dx);

// ---- optimizer ----
// buf may be null (no momentum).
void sgd_step(float* param, const float* grad, float* buf, index_t n, const SgdOptions& o);
