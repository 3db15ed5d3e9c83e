// Run-time CPU features and the choice of hand-written kernel variants. The variants are chosen
// from what the CPU running the addon supports (cpuid), never from the build machine's flags.
#pragma once

#include <string>

namespace rx {

// Instruction-set levels, ordered: a CPU at one level runs every variant below it.
//   avx512: AVX-512 F, BW, DQ and VL;  avx2: AVX2 and FMA;  portable: plain C++.
enum class Isa { portable = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
// The level named ("portable", "avx2", "avx512"); false for another name.
bool parse_isa(const std::string& name, Isa& isa);

// The best level this CPU supports.
Isa cpu_isa();
// The best level the hand-written kernels are compiled for (variants: portable, avx2, avx512).
Isa best_kernel_isa();
// The level of the kernels in use: the best compiled variant the CPU runs, unless set lower.
Isa kernel_isa();
// Uses the kernels of `isa`; returns an explanation (and changes nothing) when the CPU or the build
// lacks that level, else an empty string.
std::string set_kernel_isa(Isa isa);

// The processor's brand string (cpuid), or "unknown CPU".
std::string cpu_model();
// The highest ISA oneDNN's generated kernels (its GEMM and convolutions) use on this CPU.
const char* gemm_isa();

}  // namespace rx
