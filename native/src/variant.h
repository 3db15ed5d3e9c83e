// A kernel family's code inside one ISA variant (the kernels of variant_kernels.h). A variant
// translation unit (variants/<isa>.cc) defines RX_VARIANT (the namespace) and, but for portable,
// RX_VARIANT_TARGET (GCC target options), then includes the family files. Each family file includes
// its headers first and wraps its own code in RX_VARIANT_BEGIN ... RX_VARIANT_END, so that only its
// functions are compiled for the variant's ISA: inline functions from headers, which the linker
// merges across translation units, stay portable.
#pragma once

#ifndef RX_VARIANT
#error "variant.h: compile the family files through native/src/variants/*.cc"
#endif

#define RX_STRINGIFY(x) #x
#define RX_XSTRINGIFY(x) RX_STRINGIFY(x)

#ifdef RX_VARIANT_TARGET
#define RX_VARIANT_BEGIN                                   \
  _Pragma("GCC push_options")                              \
  _Pragma(RX_XSTRINGIFY(GCC target(RX_VARIANT_TARGET))) \
  namespace rx {                                           \
  namespace RX_VARIANT {
#define RX_VARIANT_END \
  }                    \
  }                    \
  _Pragma("GCC pop_options")
#else
#define RX_VARIANT_BEGIN \
  namespace rx {         \
  namespace RX_VARIANT {
#define RX_VARIANT_END \
  }                    \
  }
#endif
