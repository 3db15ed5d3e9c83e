// The MPI binding of data-parallel training (a separate addon, resnext_mpi.node, so that the kernels
// build and run without MPI). Collectives on MPI_COMM_WORLD, called from the JavaScript thread only
// (MPI_THREAD_FUNNELED):
//   init() -> { available, rank, size, localRank, library }
//   allreduceSum(Float32Array | Float64Array, timeoutMs)   in place, sum over ranks
//   allreduceMax(Float64Array, timeoutMs)                  in place
//   broadcast(Float32Array | Float64Array | Uint8Array, root, timeoutMs)
//   barrier(timeoutMs), abort(code), finalize()
// Every collective is non-blocking underneath (MPI_Iallreduce, MPI_Ibcast, MPI_Ibarrier), waited for
// with MPI_Test until timeoutMs, so that a peer that hangs ends in an error rather than a hang of
// this rank; errors return (MPI_ERRORS_RETURN) and are thrown with MPI's own message.
// Built without MPI (RESNEXT_HAVE_MPI undefined), init() reports available: false and nothing else
// may be called.
#include <napi.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#ifdef RESNEXT_HAVE_MPI
#include <dlfcn.h>
#include <mpi.h>
#endif

namespace {

#ifdef RESNEXT_HAVE_MPI
bool initialised = false;

std::string mpiError(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, length);
}

void check(Napi::Env env, int code, const char* what) {
  if (code != MPI_SUCCESS) throw Napi::Error::New(env, std::string("MPI ") + what + ": " + mpiError(code));
}

// Waits for `request` until `timeoutMs` (0: for ever): spins briefly, then sleeps between tests.
void wait(Napi::Env env, MPI_Request& request, double timeoutMs, const char* what) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  int done = 0;
  for (long polls = 0;; polls++) {
    check(env, MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    const double elapsed = std::chrono::duration<double, std::milli>(clock::now() - start).count();
    if (timeoutMs > 0 && elapsed > timeoutMs) {
      int rank = 0;
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      throw Napi::Error::New(env, "MPI " + std::string(what) + " on rank " + std::to_string(rank) +
                                      " did not complete within " + std::to_string(long(timeoutMs)) +
                                      " ms: another rank has stopped or hangs");
    }
    if (polls > 2000) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void requireInit(Napi::Env env) {
  if (!initialised) throw Napi::Error::New(env, "MPI is not initialised (call init() first)");
}

struct Buffer {
  void* data;
  int count;
  MPI_Datatype type;
};

Buffer typedBuffer(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsTypedArray()) throw Napi::TypeError::New(env, std::string(what) + ": expected a typed array");
  auto array = value.As<Napi::TypedArray>();
  auto bytes = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  switch (array.TypedArrayType()) {
    case napi_float32_array:
      return {bytes, int(array.ElementLength()), MPI_FLOAT};
    case napi_float64_array:
      return {bytes, int(array.ElementLength()), MPI_DOUBLE};
    case napi_uint8_array:
      return {bytes, int(array.ElementLength()), MPI_BYTE};
    default:
      throw Napi::TypeError::New(env, std::string(what) + ": expected Float32Array, Float64Array or Uint8Array");
  }
}

double timeoutOf(const Napi::CallbackInfo& info, size_t index) {
  return info.Length() > index && info[index].IsNumber() ? info[index].As<Napi::Number>().DoubleValue() : 0;
}
#endif

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
#ifdef RESNEXT_HAVE_MPI
  if (!initialised) {
    // Open MPI loads its components as plugins that need libmpi's symbols: Node loads this addon
    // (and with it libmpi) RTLD_LOCAL, so make libmpi global first.
    dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    int provided = 0;
    check(env, MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    initialised = true;
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm local;
  int localRank = 0;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &localRank);
  MPI_Comm_free(&local);
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(version, &length);
  std::string library(version, length);
  if (auto newline = library.find_first_of("\r\n,"); newline != std::string::npos) library.resize(newline);
  out.Set("available", true);
  out.Set("rank", rank);
  out.Set("size", size);
  out.Set("localRank", localRank);
  out.Set("library", library);
#else
  out.Set("available", false);
#endif
  return out;
}

#ifdef RESNEXT_HAVE_MPI
Napi::Value Allreduce(const Napi::CallbackInfo& info, MPI_Op op, const char* what) {
  Napi::Env env = info.Env();
  requireInit(env);
  Buffer b = typedBuffer(env, info[0], what);
  if (b.type == MPI_BYTE) throw Napi::TypeError::New(env, std::string(what) + ": expected float data");
  MPI_Request request;
  check(env, MPI_Iallreduce(MPI_IN_PLACE, b.data, b.count, b.type, op, MPI_COMM_WORLD, &request), what);
  wait(env, request, timeoutOf(info, 1), what);
  return env.Undefined();
}

Napi::Value AllreduceSum(const Napi::CallbackInfo& info) { return Allreduce(info, MPI_SUM, "allreduce"); }
Napi::Value AllreduceMax(const Napi::CallbackInfo& info) { return Allreduce(info, MPI_MAX, "allreduce (max)"); }

Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireInit(env);
  Buffer b = typedBuffer(env, info[0], "broadcast");
  int root = info[1].As<Napi::Number>().Int32Value();
  MPI_Request request;
  check(env, MPI_Ibcast(b.data, b.count, b.type, root, MPI_COMM_WORLD, &request), "broadcast");
  wait(env, request, timeoutOf(info, 2), "broadcast");
  return env.Undefined();
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireInit(env);
  MPI_Request request;
  check(env, MPI_Ibarrier(MPI_COMM_WORLD, &request), "barrier");
  wait(env, request, timeoutOf(info, 0), "barrier");
  return env.Undefined();
}

Napi::Value Abort(const Napi::CallbackInfo& info) {
  int code = info.Length() > 0 ? info[0].As<Napi::Number>().Int32Value() : 1;
  if (initialised) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  if (initialised) {
    MPI_Finalize();
    initialised = false;
  }
  return info.Env().Undefined();
}
#endif

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init));
#ifdef RESNEXT_HAVE_MPI
  exports.Set("allreduceSum", Napi::Function::New(env, AllreduceSum));
  exports.Set("allreduceMax", Napi::Function::New(env, AllreduceMax));
  exports.Set("broadcast", Napi::Function::New(env, Broadcast));
  exports.Set("barrier", Napi::Function::New(env, Barrier));
  exports.Set("abort", Napi::Function::New(env, Abort));
  exports.Set("finalize", Napi::Function::New(env, Finalize));
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(resnext_mpi, Module)
