// The AVX-512 variant: 16 floats per register (512-bit vectors preferred over GCC's default of 256).
// Run only where cpuid reports AVX-512 F, BW, DQ and VL.
#define RX_VARIANT avx512
#define RX_VARIANT_TARGET "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,prefer-vector-width=512"
#define RX_VARIANT_LANES 16  // floats per register in the grouped convolutions
#include "families.h"
