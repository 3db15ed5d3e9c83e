// Run-time CPU feature detection: AVX2+FMA kernels are chosen only where the CPU has them.
#pragma once

namespace rx {

bool cpu_has_avx2_fma();
// Forces the portable kernels (for tests and comparison); returns the previous setting.
bool set_force_portable(bool force);
bool use_avx2();

}  // namespace rx
