#include "cpu.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace rx {

namespace {

std::atomic<int> selected{-1};  // -1: not set, the best the CPU and the build allow

Isa lower(Isa a, Isa b) { return static_cast<int>(a) < static_cast<int>(b) ? a : b; }

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return "avx512";
    case Isa::avx2:
      return "avx2";
    default:
      return "portable";
  }
}

bool parse_isa(const std::string& name, Isa& isa) {
  for (Isa candidate : {Isa::portable, Isa::avx2, Isa::avx512})
    if (name == isa_name(candidate)) {
      isa = candidate;
      return true;
    }
  return false;
}

Isa cpu_isa() {
#if defined(__x86_64__) || defined(__i386__)
  static const Isa isa = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
      return Isa::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
    return Isa::portable;
  }();
  return isa;
#else
  return Isa::portable;
#endif
}

Isa best_kernel_isa() {
#if defined(__x86_64__) || defined(__i386__)
  return Isa::avx512;
#else
  return Isa::portable;
#endif
}

Isa kernel_isa() {
  const int s = selected.load();
  const Isa best = lower(cpu_isa(), best_kernel_isa());
  return s < 0 ? best : lower(static_cast<Isa>(s), best);
}

std::string set_kernel_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(cpu_isa()))
    return std::string("this CPU does not support ") + isa_name(isa) + " (it supports up to " + isa_name(cpu_isa()) + ")";
  if (static_cast<int>(isa) > static_cast<int>(best_kernel_isa()))
    return std::string("this build has no ") + isa_name(isa) + " kernels (its variants go up to " +
           isa_name(best_kernel_isa()) + ")";
  selected.store(static_cast<int>(isa));
  return "";
}

std::string cpu_model() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned int regs[12];
  unsigned int max = __get_cpuid_max(0x80000000, nullptr);
  if (max >= 0x80000004) {
    for (unsigned int i = 0; i < 3; ++i)
      __get_cpuid(0x80000002 + i, &regs[i * 4], &regs[i * 4 + 1], &regs[i * 4 + 2], &regs[i * 4 + 3]);
    char brand[49];
    std::memcpy(brand, regs, 48);
    brand[48] = '\0';
    std::string s(brand);
    const auto first = s.find_first_not_of(' ');
    const auto last = s.find_last_not_of(" \0");
    if (first != std::string::npos) return s.substr(first, last - first + 1);
  }
#endif
  return "unknown CPU";
}

const char* gemm_isa() {
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_avx512_core_amx:
      return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core:
      return "avx512_core";
    case dnnl_cpu_isa_avx512_mic_4ops:
    case dnnl_cpu_isa_avx512_mic:
      return "avx512_mic";
    case dnnl_cpu_isa_avx2_vnni:
      return "avx2_vnni";
    case dnnl_cpu_isa_avx2:
      return "avx2";
    case dnnl_cpu_isa_avx:
      return "avx";
    case dnnl_cpu_isa_sse41:
      return "sse41";
    default:
      return "other";
  }
}

}  // namespace rx
