// Node-API binding of the kernels: each function takes exactly the arguments of its Backend method
// (src/backend/backend.ts, the one declaration), descriptors (geometry, epilogue, options) as
// objects read by field name. Every array is validated against the geometry it comes with (a wrong
// length or a missing field is a JavaScript exception naming it, never a wild write).
#include <napi.h>
#include <omp.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <chrono>
#include <cstdint>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "kernels.h"

namespace {

using rx::index_t;

[[noreturn]] void fail(const Napi::Env& env, const std::string& message) {
  throw Napi::TypeError::New(env, "resnext native: " + message);
}

// A typed array of `expected` elements, or a TypeError naming it ("must be a Float32Array",
// "has 35 elements, expected 36").
template <typename T, napi_typedarray_type Type>
T* checked_array(const Napi::Env& env, const Napi::Value& v, const std::string& name, index_t expected) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != Type)
    fail(env, name + (Type == napi_float32_array ? " must be a Float32Array" : " must be an Int32Array"));
  auto a = v.As<Napi::TypedArrayOf<T>>();
  if (static_cast<index_t>(a.ElementLength()) != expected)
    fail(env, name + " has " + std::to_string(a.ElementLength()) + " elements, expected " + std::to_string(expected));
  return a.Data();
}

float* f32(const Napi::CallbackInfo& info, std::size_t i, const char* name, index_t expected, bool nullable = false) {
  if (nullable && (info[i].IsNull() || info[i].IsUndefined())) return nullptr;
  return checked_array<float, napi_float32_array>(info.Env(), info[i], name, expected);
}

std::int32_t* i32(const Napi::CallbackInfo& info, std::size_t i, const char* name, index_t expected) {
  return checked_array<std::int32_t, napi_int32_array>(info.Env(), info[i], name, expected);
}

index_t num(const Napi::CallbackInfo& info, std::size_t i, const char* name) {
  if (!info[i].IsNumber()) fail(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().Int64Value();
}

double real(const Napi::CallbackInfo& info, std::size_t i, const char* name) {
  if (!info[i].IsNumber()) fail(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

// A descriptor argument (geometry, options) and its fields, each named in the error it raises.
class Descriptor {
 public:
  Descriptor(const Napi::CallbackInfo& info, std::size_t i, const char* name) : env_(info.Env()), name_(name) {
    if (!info[i].IsObject()) fail(env_, name_ + " must be an object");
    object_ = info[i].As<Napi::Object>();
  }
  bool has(const char* key) const { return object_.Has(key); }
  int integer(const char* key) const {
    const double d = number(key);
    if (d != static_cast<double>(static_cast<int>(d))) fail(env_, name_ + "." + key + " must be an integer");
    return static_cast<int>(d);
  }
  // Two Node-API calls per field: these are read on every kernel call.
  double number(const char* key) const {
    napi_value v;
    double d;
    if (napi_get_named_property(env_, object_, key, &v) != napi_ok || napi_get_value_double(env_, v, &d) != napi_ok)
      fail(env_, name_ + "." + key + " must be a number");
    return d;
  }
  bool flag(const char* key) const { return object_.Get(key).ToBoolean().Value(); }
  // A Float32Array field of `expected` elements, or null when absent, null or undefined.
  const float* optional_f32(const char* key, index_t expected) const {
    const Napi::Value v = object_.Get(key);
    if (v.IsNull() || v.IsUndefined()) return nullptr;
    return checked_array<float, napi_float32_array>(env_, v, name_ + "." + key, expected);
  }

 private:
  Napi::Env env_;
  std::string name_;
  Napi::Object object_;
};

bool present(const Napi::CallbackInfo& info, std::size_t i) {
  return i < info.Length() && !info[i].IsNull() && !info[i].IsUndefined();
}

// Conv2dGeometry.
rx::ConvGeom conv_geom(const Napi::CallbackInfo& info, std::size_t i) {
  const Descriptor d(info, i, "conv geometry");
  rx::ConvGeom g{d.integer("batch"),   d.integer("inChannels"), d.integer("inHeight"), d.integer("inWidth"),
                 d.integer("outChannels"), d.integer("outHeight"), d.integer("outWidth"), d.integer("kernelH"),
                 d.integer("kernelW"), d.integer("strideH"),  d.integer("strideW"),  d.integer("padH"),
                 d.integer("padW"),    d.integer("dilationH"), d.integer("dilationW"), d.integer("groups")};
  const bool ok = g.N >= 0 && g.C > 0 && g.H > 0 && g.W > 0 && g.K > 0 && g.Ho > 0 && g.Wo > 0 && g.kh > 0 && g.kw > 0 &&
                  g.sh > 0 && g.sw > 0 && g.ph >= 0 && g.pw >= 0 && g.dh > 0 && g.dw > 0 && g.groups > 0 &&
                  g.C % g.groups == 0 && g.K % g.groups == 0 &&
                  g.Ho == (g.H + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1 &&
                  g.Wo == (g.W + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  if (!ok) fail(info.Env(), "inconsistent convolution geometry");
  return g;
}

// PoolPlanes, Pool2dGeometry (windowed) or AdaptivePool2dGeometry (a 1x1 window of stride 1, unused).
rx::PoolGeom pool_geom(const Napi::CallbackInfo& info, std::size_t i) {
  const Descriptor d(info, i, "pool geometry");
  rx::PoolGeom g{d.integer("batch"), d.integer("channels"), d.integer("inHeight"), d.integer("inWidth"),
                 d.integer("outHeight"), d.integer("outWidth"), 1, 1, 1, 1, 0, 0, 1, 1};
  if (d.has("kernelH")) {
    g.kh = d.integer("kernelH"), g.kw = d.integer("kernelW"), g.sh = d.integer("strideH"), g.sw = d.integer("strideW");
    g.ph = d.integer("padH"), g.pw = d.integer("padW"), g.dh = d.integer("dilationH"), g.dw = d.integer("dilationW");
  }
  if (g.N < 0 || g.C <= 0 || g.H <= 0 || g.W <= 0 || g.Ho <= 0 || g.Wo <= 0 || g.kh <= 0 || g.kw <= 0 || g.sh <= 0 ||
      g.sw <= 0 || g.ph < 0 || g.pw < 0 || g.dh <= 0 || g.dw <= 0)
    fail(info.Env(), "inconsistent pool geometry");
  return g;
}

// ChannelGeometry: NHWC activations are [rows = batch·spatial, channels] for batch norm.
struct Channels {
  index_t rows;
  int C;
};
Channels channel_geom(const Napi::CallbackInfo& info, std::size_t i) {
  const Descriptor d(info, i, "channel geometry");
  const int batch = d.integer("batch"), channels = d.integer("channels"), spatial = d.integer("spatial");
  if (batch < 0 || channels <= 0 || spatial <= 0) fail(info.Env(), "inconsistent channel geometry");
  return {static_cast<index_t>(batch) * spatial, channels};
}

// LinearGeometry.
struct LinearSizes {
  index_t rows;
  int in, out;
};
LinearSizes linear_geom(const Napi::CallbackInfo& info, std::size_t i) {
  const Descriptor d(info, i, "linear geometry");
  const LinearSizes g{d.integer("rows"), d.integer("inFeatures"), d.integer("outFeatures")};
  if (g.rows < 0 || g.in <= 0 || g.out <= 0) fail(info.Env(), "inconsistent linear geometry");
  return g;
}

// AxisGeometry.
struct Axis {
  index_t outer;
  int dim;
  index_t inner;
  index_t size() const { return outer * dim * inner; }
};
Axis axis_geom(const Napi::CallbackInfo& info, std::size_t i) {
  const Descriptor d(info, i, "axis geometry");
  const Axis g{d.integer("outer"), d.integer("dim"), d.integer("inner")};
  if (g.outer < 0 || g.dim <= 0 || g.inner <= 0) fail(info.Env(), "inconsistent axis geometry");
  return g;
}

index_t conv_in(const rx::ConvGeom& g) { return static_cast<index_t>(g.N) * g.H * g.W * g.C; }
index_t conv_out(const rx::ConvGeom& g) { return static_cast<index_t>(g.N) * g.Ho * g.Wo * g.K; }
index_t conv_weight(const rx::ConvGeom& g) { return static_cast<index_t>(g.K) * g.cpg() * g.kh * g.kw; }
index_t pool_in(const rx::PoolGeom& g) { return static_cast<index_t>(g.N) * g.H * g.W * g.C; }
index_t pool_out(const rx::PoolGeom& g) { return static_cast<index_t>(g.N) * g.Ho * g.Wo * g.C; }

// The optional Epilogue argument at i: { residual?: Float32Array | null, relu?: boolean }.
rx::Epilogue epilogue_arg(const Napi::CallbackInfo& info, std::size_t i, index_t size) {
  rx::Epilogue e;
  if (!present(info, i)) return e;
  const Descriptor d(info, i, "epilogue");
  e.residual = d.optional_f32("residual", size);
  e.relu = d.flag("relu");
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
  o.Set("cpu", rx::cpu_model());
  o.Set("cpuIsa", rx::isa_name(rx::cpu_isa()));
  o.Set("kernels", rx::isa_name(rx::kernel_isa()));
  o.Set("kernelVariants", rx::isa_name(rx::best_kernel_isa()));
  o.Set("avx2", rx::cpu_isa() >= rx::Isa::avx2);
  o.Set("threads", omp_get_max_threads());
  o.Set("blas", "oneDNN dnnl_sgemm");
  o.Set("gemmIsa", rx::gemm_isa());
  return o;
}

// setKernelIsa(name): the hand-written kernels' variant; returns the previous one.
Napi::Value SetKernelIsa(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) fail(info.Env(), "the kernel ISA must be a string");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  rx::Isa isa;
  if (!rx::parse_isa(name, isa)) fail(info.Env(), "unknown kernel ISA \"" + name + "\" (portable, avx2, avx512)");
  const char* previous = rx::isa_name(rx::kernel_isa());
  const std::string why = rx::set_kernel_isa(isa);
  if (!why.empty()) fail(info.Env(), name + ": " + why);
  return Napi::String::New(info.Env(), previous);
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

// alignedFloat32Array(length): a Float32Array of `length` zeros whose first element sits on a
// 64-byte boundary, a view into a slightly larger ArrayBuffer. Node's allocator returns large
// buffers 16 bytes past a page boundary, so without this every 16-float vector of an activation
// straddles two cache lines.
constexpr std::size_t kArrayAlignment = 64;
Napi::Value AlignedFloat32Array(const Napi::CallbackInfo& info) {
  const index_t length = num(info, 0, "length");
  if (length < 0) fail(info.Env(), "alignedFloat32Array: length must not be negative, got " + std::to_string(length));
  const std::size_t bytes = static_cast<std::size_t>(length) * sizeof(float);
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(info.Env(), bytes + kArrayAlignment - sizeof(float));
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.Data());
  const std::size_t offset = (kArrayAlignment - address % kArrayAlignment) % kArrayAlignment;
  return Napi::Float32Array::New(info.Env(), static_cast<std::size_t>(length), buffer, offset);
}

// byteAlignment(array): how many bytes past a 64-byte boundary the typed array's data starts.
Napi::Value ByteAlignment(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray()) fail(info.Env(), "byteAlignment: array must be a typed array");
  const auto a = info[0].As<Napi::TypedArray>();
  const auto address = reinterpret_cast<std::uintptr_t>(a.ArrayBuffer().Data()) + a.ByteOffset();
  return Napi::Number::New(info.Env(), static_cast<double>(address % kArrayAlignment));
}

// convertFormat(src, N, C, H, W, toNhwc, dst): 4-D activations NCHW → NHWC (toNhwc) or back.
Napi::Value ConvertFormat(const Napi::CallbackInfo& info) {
  const index_t N = num(info, 1, "N"), C = num(info, 2, "C"), H = num(info, 3, "H"), W = num(info, 4, "W");
  if (N < 0 || C < 0 || H < 0 || W < 0) fail(info.Env(), "convertFormat: negative dimension");
  if (!info[5].IsBoolean()) fail(info.Env(), "convertFormat: toNhwc must be a boolean");
  const index_t n = N * C * H * W;
  const float* src = f32(info, 0, "src", n);
  float* dst = f32(info, 6, "dst", n);
  if (src == dst && n > 0) fail(info.Env(), "convertFormat: src and dst must be different arrays");
  rx::convert_format(src, static_cast<int>(N), static_cast<int>(C), static_cast<int>(H * W),
                     info[5].As<Napi::Boolean>().Value(), dst);
  return info.Env().Undefined();
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

// ---- convolution: (…, Conv2dGeometry, …) ----

// Tells V8 that memory it cannot see grew (or shrank) by `bytes`, so that the collector weighs it.
void adjust_external_memory(napi_env env, int64_t bytes) {
  int64_t total = 0;
  if (bytes != 0) napi_adjust_external_memory(env, bytes, &total);
}

// The PackedWeights attached to a constant weight array (wrapped into the array object, so it lives
// and dies with it: freed by the array's finalizer), created on first use. Its bytes are reported
// to V8 as external memory.
rx::PackedWeights* packed_weights_of(Napi::Env env, Napi::Value array) {
  void* attached = nullptr;
  if (napi_unwrap(env, array, &attached) == napi_ok && attached) return static_cast<rx::PackedWeights*>(attached);
  rx::PackedWeights* packed = rx::packed_weights_new();
  const auto release = [](napi_env env, void* data, void*) {
    auto* p = static_cast<rx::PackedWeights*>(data);
    adjust_external_memory(env, -static_cast<int64_t>(rx::packed_weights_bytes(p)));
    rx::packed_weights_delete(p);
  };
  if (napi_wrap(env, array, packed, release, nullptr, nullptr) != napi_ok) {
    rx::packed_weights_delete(packed);
    fail(env, "weightUse.constant: could not attach repacked weights to the weight array");
  }
  return packed;
}

// conv2d(x, weight, bias | null, g, y, epilogue?, weightUse?)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  const rx::ConvGeom g = conv_geom(info, 3);
  const float* x = f32(info, 0, "x", conv_in(g));
  const float* w = f32(info, 1, "weight", conv_weight(g));
  const float* b = f32(info, 2, "bias", g.K, true);
  float* y = f32(info, 4, "y", conv_out(g));
  const rx::Epilogue e = epilogue_arg(info, 5, conv_out(g));
  rx::PackedWeights* packed = nullptr;
  if (present(info, 6) && Descriptor(info, 6, "weightUse").flag("constant"))
    packed = packed_weights_of(info.Env(), info[1]);
  if (!packed) return guarded(info, [&] { rx::conv2d_forward(x, w, b, g, y, e); });
  const auto before = static_cast<int64_t>(rx::packed_weights_bytes(packed));
  const Napi::Value result = guarded(info, [&] { rx::conv2d_forward(x, w, b, g, y, e, packed); });
  adjust_external_memory(info.Env(), static_cast<int64_t>(rx::packed_weights_bytes(packed)) - before);
  return result;
}

// conv2dBackwardInput(dy, weight, g, dx)
Napi::Value Conv2dBackwardInput(const Napi::CallbackInfo& info) {
  const rx::ConvGeom g = conv_geom(info, 2);
  const float* dy = f32(info, 0, "dy", conv_out(g));
  const float* w = f32(info, 1, "weight", conv_weight(g));
  float* dx = f32(info, 3, "dx", conv_in(g));
  return guarded(info, [&] { rx::conv2d_backward_input(dy, w, g, dx); });
}

// conv2dBackwardWeight(dy, x, g, dWeight, dBias | null)
Napi::Value Conv2dBackwardWeight(const Napi::CallbackInfo& info) {
  const rx::ConvGeom g = conv_geom(info, 2);
  const float* dy = f32(info, 0, "dy", conv_out(g));
  const float* x = f32(info, 1, "x", conv_in(g));
  float* dw = f32(info, 3, "dWeight", conv_weight(g));
  float* db = f32(info, 4, "dBias", g.K, true);
  return guarded(info, [&] { rx::conv2d_backward_weight(dy, x, g, dw, db); });
}

// ---- batch norm: (…, ChannelGeometry, …) on [rows, C] ----

// batchNormTrain(x, gamma | null, beta | null, g, eps, y, mean, variance, invStd, epilogue?)
Napi::Value BatchNormTrain(const Napi::CallbackInfo& info) {
  const auto [rows, C] = channel_geom(info, 3);
  const double eps = real(info, 4, "eps");
  const float* x = f32(info, 0, "x", rows * C);
  const float* gamma = f32(info, 1, "gamma", C, true);
  const float* beta = f32(info, 2, "beta", C, true);
  float* y = f32(info, 5, "y", rows * C);
  float* mean = f32(info, 6, "mean", C);
  float* var = f32(info, 7, "variance", C);
  float* invstd = f32(info, 8, "invStd", C);
  const rx::Epilogue e = epilogue_arg(info, 9, rows * C);
  return guarded(info, [&] { rx::batchnorm_train(x, gamma, beta, rows, C, eps, y, mean, var, invstd, e); });
}

// batchNormEval(x, gamma | null, beta | null, runningMean, runningVar, g, eps, y, epilogue?)
Napi::Value BatchNormEval(const Napi::CallbackInfo& info) {
  const auto [rows, C] = channel_geom(info, 5);
  const double eps = real(info, 6, "eps");
  const float* x = f32(info, 0, "x", rows * C);
  const float* gamma = f32(info, 1, "gamma", C, true);
  const float* beta = f32(info, 2, "beta", C, true);
  const float* rm = f32(info, 3, "runningMean", C);
  const float* rv = f32(info, 4, "runningVar", C);
  float* y = f32(info, 7, "y", rows * C);
  const rx::Epilogue e = epilogue_arg(info, 8, rows * C);
  return guarded(info, [&] { rx::batchnorm_eval(x, gamma, beta, rm, rv, rows, C, eps, y, e); });
}

// batchNormBackward(dy, x, gamma | null, mean, invStd, g, dx, dGamma | null, dBeta | null, fusedRelu?: { beta })
// batchNormEvalBackward(dy, x, gamma | null, runningMean, invStd, g, dx, dGamma | null, dBeta | null)
template <bool Eval>
Napi::Value BatchNormBackwardT(const Napi::CallbackInfo& info) {
  const auto [rows, C] = channel_geom(info, 5);
  const float* dy = f32(info, 0, "dy", rows * C);
  const float* x = f32(info, 1, "x", rows * C);
  const float* gamma = f32(info, 2, "gamma", C, true);
  const float* mean = f32(info, 3, Eval ? "runningMean" : "mean", C);
  const float* invstd = f32(info, 4, "invStd", C);
  float* dx = f32(info, 6, "dx", rows * C);
  float* dgamma = f32(info, 7, "dGamma", C, true);
  float* dbeta = f32(info, 8, "dBeta", C, true);
  const bool relu = !Eval && present(info, 9);
  const float* beta = relu ? Descriptor(info, 9, "fusedRelu").optional_f32("beta", C) : nullptr;
  return guarded(info, [&] {
    if (Eval) rx::batchnorm_eval_backward(dy, x, gamma, mean, invstd, rows, C, dx, dgamma, dbeta);
    else rx::batchnorm_backward(dy, x, gamma, mean, invstd, rows, C, dx, dgamma, dbeta, relu, beta);
  });
}

// ---- elementwise: equal lengths ----

index_t length_of(const Napi::CallbackInfo& info, const char* name) {
  if (!info[0].IsTypedArray()) fail(info.Env(), std::string(name) + " must be a Float32Array");
  return static_cast<index_t>(info[0].As<Napi::TypedArray>().ElementLength());
}

// relu(x, y)
Napi::Value Relu(const Napi::CallbackInfo& info) {
  const index_t n = length_of(info, "x");
  const float* x = f32(info, 0, "x", n);
  float* y = f32(info, 1, "y", n);
  rx::relu_forward(x, n, y);
  return info.Env().Undefined();
}

// reluBackward(dy, y, dx)
Napi::Value ReluBackward(const Napi::CallbackInfo& info) {
  const index_t n = length_of(info, "dy");
  const float* dy = f32(info, 0, "dy", n);
  const float* y = f32(info, 1, "y", n);
  float* dx = f32(info, 2, "dx", n);
  rx::relu_backward(dy, y, n, dx);
  return info.Env().Undefined();
}

// add(a, b, y)
Napi::Value Add(const Napi::CallbackInfo& info) {
  const index_t n = length_of(info, "a");
  const float* a = f32(info, 0, "a", n);
  const float* b = f32(info, 1, "b", n);
  float* y = f32(info, 2, "y", n);
  rx::add_forward(a, b, n, y);
  return info.Env().Undefined();
}

// ---- pooling: (…, Pool2dGeometry | AdaptivePool2dGeometry | PoolPlanes, …) ----

// maxPool2d(x, g, y, argmax), adaptiveMaxPool2d(x, g, y, argmax)
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

// maxPoolBackward(dy, argmax, g, dx)
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

// adaptiveAvgPool2d(x, g, y)
Napi::Value AdaptiveAvgPool(const Napi::CallbackInfo& info) {
  const rx::PoolGeom g = pool_geom(info, 1);
  const float* x = f32(info, 0, "x", pool_in(g));
  float* y = f32(info, 2, "y", pool_out(g));
  return guarded(info, [&] { rx::adaptive_avgpool2d_forward(x, g, y); });
}

// adaptiveAvgPool2dBackward(dy, g, dx)
Napi::Value AdaptiveAvgPoolBackward(const Napi::CallbackInfo& info) {
  const rx::PoolGeom g = pool_geom(info, 1);
  const float* dy = f32(info, 0, "dy", pool_out(g));
  float* dx = f32(info, 2, "dx", pool_in(g));
  return guarded(info, [&] { rx::adaptive_avgpool2d_backward(dy, g, dx); });
}

// ---- linear: (…, LinearGeometry, …) ----

// linear(x, weight, bias | null, g, y)
Napi::Value Linear(const Napi::CallbackInfo& info) {
  const auto [rows, in, out] = linear_geom(info, 3);
  const float* x = f32(info, 0, "x", rows * in);
  const float* w = f32(info, 1, "weight", static_cast<index_t>(out) * in);
  const float* b = f32(info, 2, "bias", out, true);
  float* y = f32(info, 4, "y", rows * out);
  return guarded(info, [&] { rx::linear_forward(x, w, b, rows, in, out, y); });
}

// linearBackward(dy, x, weight, g, dx | null, dWeight | null, dBias | null)
Napi::Value LinearBackward(const Napi::CallbackInfo& info) {
  const auto [rows, in, out] = linear_geom(info, 3);
  const float* dy = f32(info, 0, "dy", rows * out);
  const float* x = f32(info, 1, "x", rows * in);
  const float* w = f32(info, 2, "weight", static_cast<index_t>(out) * in);
  float* dx = f32(info, 4, "dx", rows * in, true);
  float* dw = f32(info, 5, "dWeight", static_cast<index_t>(out) * in, true);
  float* db = f32(info, 6, "dBias", out, true);
  return guarded(info, [&] { rx::linear_backward(dy, x, w, rows, in, out, dx, dw, db); });
}

// ---- softmax: (…, AxisGeometry, …) ----

// softmax(x, g, y), logSoftmax(x, g, y)
template <bool Log>
Napi::Value SoftmaxT(const Napi::CallbackInfo& info) {
  const Axis g = axis_geom(info, 1);
  const float* x = f32(info, 0, "x", g.size());
  float* y = f32(info, 2, "y", g.size());
  return guarded(info, [&] { rx::softmax_forward(x, g.outer, g.dim, g.inner, Log, y); });
}

// softmaxBackward(dy, y, g, dx)
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  const Axis g = axis_geom(info, 2);
  const float* dy = f32(info, 0, "dy", g.size());
  const float* y = f32(info, 1, "y", g.size());
  float* dx = f32(info, 3, "dx", g.size());
  return guarded(info, [&] { rx::softmax_backward(dy, y, g.outer, g.dim, g.inner, dx); });
}

// ---- optimizer ----

// sgdStep(param, grad, momentumBuffer | null, SgdStepOptions)
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  const index_t n = length_of(info, "param");
  float* param = f32(info, 0, "param", n);
  const float* grad = f32(info, 1, "grad", n);
  float* buf = f32(info, 2, "momentumBuffer", n, true);
  const Descriptor d(info, 3, "sgd options");
  const rx::SgdOptions o{d.number("lr"),          d.number("momentum"),  d.number("dampening"),
                         d.number("weightDecay"), d.flag("nesterov"), d.flag("first")};
  return guarded(info, [&] { rx::sgd_step(param, grad, buf, n, o); });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using Entry = std::pair<const char*, Napi::Function::Callback>;
  const Entry runtime[] = {
      {"info", Info},
      {"setThreads", SetThreads},
      {"trimMemory", TrimMemory},
      {"setKernelIsa", SetKernelIsa},
      {"sgemmGflops", SgemmGflops},
      {"convertFormat", ConvertFormat},
      {"alignedFloat32Array", AlignedFloat32Array},
      {"byteAlignment", ByteAlignment},
  };
  // Backend methods by their names in backend.ts.
  const Entry kernels[] = {
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
      {"softmax", SoftmaxT<false>},
      {"logSoftmax", SoftmaxT<true>},
      {"softmaxBackward", SoftmaxBackward},
      {"sgdStep", SgdStep},
  };
  for (const auto& [name, fn] : runtime) exports.Set(name, Napi::Function::New(env, fn, name));
  Napi::Object table = Napi::Object::New(env);
  for (const auto& [name, fn] : kernels) table.Set(name, Napi::Function::New(env, fn, name));
  exports.Set("kernels", table);
  return exports;
}

}  // namespace

NODE_API_MODULE(resnext_native, Init)
