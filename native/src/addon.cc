// Node-API binding: validates every array against the geometry it comes with (a wrong length is a
// JavaScript exception, never a wild write), then calls the kernels. Geometry arrives as Int32Array:
//   conv  [N, C, H, W, K, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, groups]
//   pool  [N, C, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw]
#include <napi.h>
#include <omp.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <chrono>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "kernels.h"

namespace {

using rx::index_t;

[[noreturn]] void fail(const Napi::Env& env, const std::string& message) {
  throw Napi::TypeError::New(env, "resnext native: " + message);
}

float* f32(const Napi::CallbackInfo& info, std::size_t i, const char* name, index_t expected, bool nullable = false) {
  const Napi::Value v = info[i];
  if (nullable && (v.IsNull() || v.IsUndefined())) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    fail(info.Env(), std::string(name) + " must be a Float32Array");
  auto a = v.As<Napi::Float32Array>();
  if (static_cast<index_t>(a.ElementLength()) != expected)
    fail(info.Env(), std::string(name) + " has " + std::to_string(a.ElementLength()) + " elements, expected " +
                         std::to_string(expected));
  return a.Data();
}

std::int32_t* i32(const Napi::CallbackInfo& info, std::size_t i, const char* name, index_t expected) {
  const Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    fail(info.Env(), std::string(name) + " must be an Int32Array");
  auto a = v.As<Napi::Int32Array>();
  if (static_cast<index_t>(a.ElementLength()) != expected)
    fail(info.Env(), std::string(name) + " has " + std::to_string(a.ElementLength()) + " elements, expected " +
                         std::to_string(expected));
  return a.Data();
}

index_t num(const Napi::CallbackInfo& info, std::size_t i, const char* name) {
  if (!info[i].IsNumber()) fail(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().Int64Value();
}

rx::ConvGeom conv_geom(const Napi::CallbackInfo& info, std::size_t i) {
  const std::int32_t* v = i32(info, i, "conv geometry", 16);
  rx::ConvGeom g{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]};
  const bool ok = g.N >= 0 && g.C > 0 && g.H > 0 && g.W > 0 && g.K > 0 && g.Ho > 0 && g.Wo > 0 && g.kh > 0 && g.kw > 0 &&
                  g.sh > 0 && g.sw > 0 && g.ph >= 0 && g.pw >= 0 && g.dh > 0 && g.dw > 0 && g.groups > 0 &&
                  g.C % g.groups == 0 && g.K % g.groups == 0 &&
                  g.Ho == (g.H + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1 &&
                  g.Wo == (g.W + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  if (!ok) fail(info.Env(), "inconsistent convolution geometry");
  return g;
}

rx::PoolGeom pool_geom(const Napi::CallbackInfo& info, std::size_t i) {
  const std::int32_t* v = i32(info, i, "pool geometry", 14);
  rx::PoolGeom g{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13]};
  if (g.N < 0 || g.C <= 0 || g.H <= 0 || g.W <= 0 || g.Ho <= 0 || g.Wo <= 0) fail(info.Env(), "inconsistent pool geometry");
  return g;
}

index_t conv_in(const rx::ConvGeom& g) { return static_cast<index_t>(g.N) * g.H * g.W * g.C; }
index_t conv_out(const rx::ConvGeom& g) { return static_cast<index_t>(g.N) * g.Ho * g.Wo * g.K; }
index_t conv_weight(const rx::ConvGeom& g) { return static_cast<index_t>(g.K) * g.cpg() * g.kh * g.kw; }
index_t pool_in(const rx::PoolGeom& g) { return static_cast<index_t>(g.N) * g.H * g.W * g.C; }
index_t pool_out(const rx::PoolGeom& g) { return static_cast<index_t>(g.N) * g.Ho * g.Wo * g.C; }

// Optional trailing (residual: Float32Array | null, relu: boolean) arguments at i, i + 1.
rx::Epilogue epilogue_args(const Napi::CallbackInfo& info, std::size_t i, index_t size) {
  rx::Epilogue e;
  e.residual = f32(info, i, "residual", size, true);
  e.relu = info[i + 1].ToBoolean().Value();
  return e;
}

// Kernels report bad arguments with std::invalid_argument; make them JavaScript errors.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& body) {
  try {
    body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("resnext native: ") + e.what());
  }
  return info.Env().Undefined();
}

// ---- runtime ----

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("avx2", rx::cpu_has_avx2_fma());
  o.Set("kernels", rx::use_avx2() ? "avx2" : "portable");
  o.Set("threads", omp_get_max_threads());
  o.Set("blas", "oneDNN dnnl_sgemm");
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  const index_t n = num(info, 0, "threads");
  if (n < 1 || n > 1024) fail(info.Env(), "threads must be between 1 and 1024");
  omp_set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

// Returns the free memory of every malloc arena to the OS (glibc's malloc_trim). Threads that
// allocate (OpenMP, libvips, loader workers) each get an arena, and freed pages in them are kept
// otherwise: resident memory then creeps up at each epoch's validation and report writing.
Napi::Value TrimMemory(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Value ForcePortable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), rx::set_force_portable(info[0].ToBoolean().Value()));
}

// Best-of-`repeats` GFLOP/s of an n×n×n sgemm through the same GEMM the kernels use.
Napi::Value SgemmGflops(const Napi::CallbackInfo& info) {
  const index_t n = num(info, 0, "n"), repeats = num(info, 1, "repeats");
  if (n < 1 || n > 8192 || repeats < 1) fail(info.Env(), "invalid sgemm benchmark size");
  std::vector<float> a(n * n, 1.f), b(n * n, 0.5f), c(n * n);
  double best = 1e30;
  for (index_t r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    rx::sgemm('N', 'N', n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < best) best = s;
  }
  return Napi::Number::New(info.Env(), 2.0 * n * n * n / best / 1e9);
}

// ---- convolution ----

Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  const rx::ConvGeom g = conv_geom(info, 3);
  const float* x = f32(info, 0, "x", conv_in(g));
  const float* w = f32(info, 1, "weight", conv_weight(g));
  const float* b = f32(info, 2, "bias", g.K, true);
  float* y = f32(info, 4, "y", conv_out(g));
  const rx::Epilogue e = epilogue_args(info, 5, conv_out(g));
  return guarded(info, [&] { rx::conv2d_forward(x, w, b, g, y, e); });
}

Napi::Value Conv2dBackwardInput(const Napi::CallbackInfo& info) {
  const rx::ConvGeom g = conv_geom(info, 2);
  const float* dy = f32(info, 0, "dy", conv_out(g));
  const float* w = f32(info, 1, "weight", conv_weight(g));
  float* dx = f32(info, 3, "dx", conv_in(g));
  return guarded(info, [&] { rx::conv2d_backward_input(dy, w, g, dx); });
}

Napi::Value Conv2dBackwardWeight(const Napi::CallbackInfo& info) {
  const rx::ConvGeom g = conv_geom(info, 2);
  const float* dy = f32(info, 0, "dy", conv_out(g));
  const float* x = f32(info, 1, "x", conv_in(g));
  float* dw = f32(info, 3, "dWeight", conv_weight(g));
  float* db = f32(info, 4, "dBias", g.K, true);
  return guarded(info, [&] { rx::conv2d_backward_weight(dy, x, g, dw, db); });
}

// ---- batch norm: (…, rows, C, …) ----

Napi::Value BatchNormTrain(const Napi::CallbackInfo& info) {
  const index_t rows = num(info, 3, "rows"), C = num(info, 4, "channels");
  const double eps = info[5].As<Napi::Number>().DoubleValue();
  const float* x = f32(info, 0, "x", rows * C);
  const float* gamma = f32(info, 1, "gamma", C, true);
  const float* beta = f32(info, 2, "beta", C, true);
  float* y = f32(info, 6, "y", rows * C);
  float* mean = f32(info, 7, "mean", C);
  float* var = f32(info, 8, "variance", C);
  float* invstd = f32(info, 9, "invStd", C);
  const rx::Epilogue e = epilogue_args(info, 10, rows * C);
  return guarded(info, [&] { rx::batchnorm_train(x, gamma, beta, rows, static_cast<int>(C), eps, y, mean, var, invstd, e); });
}

Napi::Value BatchNormEval(const Napi::CallbackInfo& info) {
  const index_t rows = num(info, 5, "rows"), C = num(info, 6, "channels");
  const double eps = info[7].As<Napi::Number>().DoubleValue();
  const float* x = f32(info, 0, "x", rows * C);
  const float* gamma = f32(info, 1, "gamma", C, true);
  const float* beta = f32(info, 2, "beta", C, true);
  const float* rm = f32(info, 3, "runningMean", C);
  const float* rv = f32(info, 4, "runningVar", C);
  float* y = f32(info, 8, "y", rows * C);
  const rx::Epilogue e = epilogue_args(info, 9, rows * C);
  return guarded(info, [&] { rx::batchnorm_eval(x, gamma, beta, rm, rv, rows, static_cast<int>(C), eps, y, e); });
}

template <bool Eval>
Napi::Value BatchNormBackwardT(const Napi::CallbackInfo& info) {
  const index_t rows = num(info, 5, "rows"), C = num(info, 6, "channels");
  const float* dy = f32(info, 0, "dy", rows * C);
  const float* x = f32(info, 1, "x", rows * C);
  const float* gamma = f32(info, 2, "gamma", C, true);
  const float* mean = f32(info, 3, "mean", C);
  const float* invstd = f32(info, 4, "invStd", C);
  float* dx = f32(info, 7, "dx", rows * C);
  float* dgamma = f32(info, 8, "dGamma", C, true);
  float* dbeta = f32(info, 9, "dBeta", C, true);
  // Training only: (relu: boolean, beta) when the forward fused a ReLU.
  const bool relu = !Eval && info[10].ToBoolean().Value();
  const float* beta = relu ? f32(info, 11, "beta", C, true) : nullptr;
  return guarded(info, [&] {
    if (Eval) rx::batchnorm_eval_backward(dy, x, gamma, mean, invstd, rows, static_cast<int>(C), dx, dgamma, dbeta);
    else rx::batchnorm_backward(dy, x, gamma, mean, invstd, rows, static_cast<int>(C), dx, dgamma, dbeta, relu, beta);
  });
}

// ---- elementwise ----

Napi::Value Relu(const Napi::CallbackInfo& info) {
  const index_t n = info[0].As<Napi::Float32Array>().ElementLength();
  const float* x = f32(info, 0, "x", n);
  float* y = f32(info, 1, "y", n);
  rx::relu_forward(x, n, y);
  return info.Env().Undefined();
}

Napi::Value ReluBackward(const Napi::CallbackInfo& info) {
  const index_t n = info[0].As<Napi::Float32Array>().ElementLength();
  const float* dy = f32(info, 0, "dy", n);
  const float* y = f32(info, 1, "y", n);
  float* dx = f32(info, 2, "dx", n);
  rx::relu_backward(dy, y, n, dx);
  return info.Env().Undefined();
}

Napi::Value Add(const Napi::CallbackInfo& info) {
  const index_t n = info[0].As<Napi::Float32Array>().ElementLength();
  const float* a = f32(info, 0, "a", n);
  const float* b = f32(info, 1, "b", n);
  float* y = f32(info, 2, "y", n);
  rx::add_forward(a, b, n, y);
  return info.Env().Undefined();
}

// ---- pooling ----

template <bool Adaptive>
Napi::Value MaxPoolT(const Napi::CallbackInfo& info) {
  const rx::PoolGeom g = pool_geom(info, 1);
  const float* x = f32(info, 0, "x", pool_in(g));
  float* y = f32(info, 2, "y", pool_out(g));
  std::int32_t* arg = i32(info, 3, "argmax", pool_out(g));
  return guarded(info, [&] {
    if (Adaptive) rx::adaptive_maxpool2d_forward(x, g, y, arg);
    else rx::maxpool2d_forward(x, g, y, arg);
  });
}

Napi::Value MaxPoolBackward(const Napi::CallbackInfo& info) {
  const rx::PoolGeom g = pool_geom(info, 2);
  const float* dy = f32(info, 0, "dy", pool_out(g));
  const std::int32_t* arg = i32(info, 1, "argmax", pool_out(g));
  float* dx = f32(info, 3, "dx", pool_in(g));
  const index_t plane = static_cast<index_t>(g.H) * g.W;
  for (index_t i = 0; i < pool_out(g); ++i)
    if (arg[i] < 0 || arg[i] >= plane) fail(info.Env(), "argmax holds an index outside the input plane");
  return guarded(info, [&] { rx::maxpool_backward(dy, arg, g, dx); });
}

Napi::Value AdaptiveAvgPool(const Napi::CallbackInfo& info) {
  const rx::PoolGeom g = pool_geom(info, 1);
  const float* x = f32(info, 0, "x", pool_in(g));
  float* y = f32(info, 2, "y", pool_out(g));
  return guarded(info, [&] { rx::adaptive_avgpool2d_forward(x, g, y); });
}

Napi::Value AdaptiveAvgPoolBackward(const Napi::CallbackInfo& info) {
  const rx::PoolGeom g = pool_geom(info, 1);
  const float* dy = f32(info, 0, "dy", pool_out(g));
  float* dx = f32(info, 2, "dx", pool_in(g));
  return guarded(info, [&] { rx::adaptive_avgpool2d_backward(dy, g, dx); });
}

// ---- linear ----

Napi::Value Linear(const Napi::CallbackInfo& info) {
  const index_t rows = num(info, 3, "rows"), in = num(info, 4, "inFeatures"), out = num(info, 5, "outFeatures");
  const float* x = f32(info, 0, "x", rows * in);
  const float* w = f32(info, 1, "weight", out * in);
  const float* b = f32(info, 2, "bias", out, true);
  float* y = f32(info, 6, "y", rows * out);
  return guarded(info, [&] { rx::linear_forward(x, w, b, rows, static_cast<int>(in), static_cast<int>(out), y); });
}

Napi::Value LinearBackward(const Napi::CallbackInfo& info) {
  const index_t rows = num(info, 3, "rows"), in = num(info, 4, "inFeatures"), out = num(info, 5, "outFeatures");
  const float* dy = f32(info, 0, "dy", rows * out);
  const float* x = f32(info, 1, "x", rows * in);
  const float* w = f32(info, 2, "weight", out * in);
  float* dx = f32(info, 6, "dx", rows * in, true);
  float* dw = f32(info, 7, "dWeight", out * in, true);
  float* db = f32(info, 8, "dBias", out, true);
  return guarded(info, [&] {
    rx::linear_backward(dy, x, w, rows, static_cast<int>(in), static_cast<int>(out), dx, dw, db);
  });
}

// ---- softmax ----

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  const index_t outer = num(info, 1, "outer"), dim = num(info, 2, "dim"), inner = num(info, 3, "inner");
  const bool log = info[4].ToBoolean().Value();
  const float* x = f32(info, 0, "x", outer * dim * inner);
  float* y = f32(info, 5, "y", outer * dim * inner);
  return guarded(info, [&] { rx::softmax_forward(x, outer, static_cast<int>(dim), inner, log, y); });
}

Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  const index_t outer = num(info, 2, "outer"), dim = num(info, 3, "dim"), inner = num(info, 4, "inner");
  const float* dy = f32(info, 0, "dy", outer * dim * inner);
  const float* y = f32(info, 1, "y", outer * dim * inner);
  float* dx = f32(info, 5, "dx", outer * dim * inner);
  return guarded(info, [&] { rx::softmax_backward(dy, y, outer, static_cast<int>(dim), inner, dx); });
}

// sgdStep(param, grad, buf | null, lr, momentum, dampening, weightDecay, nesterov, first)
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  const index_t n = info[0].IsTypedArray() ? info[0].As<Napi::Float32Array>().ElementLength() : 0;
  float* param = f32(info, 0, "param", n);
  const float* grad = f32(info, 1, "grad", n);
  float* buf = f32(info, 2, "momentumBuffer", n, true);
  rx::SgdOptions o{info[3].As<Napi::Number>().DoubleValue(), info[4].As<Napi::Number>().DoubleValue(),
                   info[5].As<Napi::Number>().DoubleValue(), info[6].As<Napi::Number>().DoubleValue(),
                   info[7].ToBoolean().Value(), info[8].ToBoolean().Value()};
  return guarded(info, [&] { rx::sgd_step(param, grad, buf, n, o); });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Function::Callback> functions[] = {
      {"info", Info},
      {"setThreads", SetThreads},
      {"trimMemory", TrimMemory},
      {"forcePortable", ForcePortable},
      {"sgemmGflops", SgemmGflops},
      {"conv2d", Conv2d},
      {"conv2dBackwardInput", Conv2dBackwardInput},
      {"conv2dBackwardWeight", Conv2dBackwardWeight},
      {"batchNormTrain", BatchNormTrain},
      {"batchNormEval", BatchNormEval},
      {"batchNormBackward", BatchNormBackwardT<false>},
      {"batchNormEvalBackward", BatchNormBackwardT<true>},
      {"relu", Relu},
      {"reluBackward", ReluBackward},
      {"add", Add},
      {"maxPool2d", MaxPoolT<false>},
      {"adaptiveMaxPool2d", MaxPoolT<true>},
      {"maxPoolBackward", MaxPoolBackward},
      {"adaptiveAvgPool2d", AdaptiveAvgPool},
      {"adaptiveAvgPool2dBackward", AdaptiveAvgPoolBackward},
      {"linear", Linear},
      {"linearBackward", LinearBackward},
      {"softmax", Softmax},
            {"softmaxBackward", SoftmaxBackward},
      {"sgdStep", SgdStep},
  };
  for (const auto& [name, fn] : functions) exports.Set(name, Napi::Function::New(env, fn, name));
  return exports;
}

}  // namespace

NODE_API_MODULE(resnext_native, Init)
