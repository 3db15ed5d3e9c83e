// The AVX2 variant: 8 floats per register. Run only where cpuid reports AVX2 and FMA.
#define RX_VARIANT avx2
#define RX_VARIANT_TARGET "avx2,fma"
#define RX_VARIANT_LANES 8  // floats per register in the grouped convolutions
#include "families.h"
