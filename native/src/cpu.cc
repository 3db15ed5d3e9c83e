#include "cpu.h"

#include <atomic>

namespace rx {

namespace {
std::atomic<bool> force_portable{false};
}

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

bool set_force_portable(bool force) { return force_portable.exchange(force); }

bool use_avx2() { return cpu_has_avx2_fma() && !force_portable.load(); }

}  // namespace rx
