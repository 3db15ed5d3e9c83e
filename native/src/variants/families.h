// The kernel families built in every ISA variant (see ../variant_kernels.h), each function defined
// before its callers: conv.cc calls conv_gemm.cc and conv_grouped.cc,
// which calls conv_grouped_simd.cc.
#include "../batchnorm.cc"
#include "../conv_gemm.cc"
#include "../conv_grouped_simd.cc"
#include "../conv_grouped.cc"
#include "../conv.cc"
#include "../elementwise.cc"
#include "../linear.cc"
#include "../optim.cc"
#include "../pool.cc"
#include "../softmax.cc"
