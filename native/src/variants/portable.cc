// The portable variant: the baseline x86-64 (or other) ISA the addon is built for.
#define RX_VARIANT portable
#include "families.h"
