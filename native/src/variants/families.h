// The kernel families built in every ISA variant (see ../variant_kernels.h).
#include "../batchnorm.cc"
#include "../elementwise.cc"
#include "../optim.cc"
#include "../pool.cc"
#include "../softmax.cc"
