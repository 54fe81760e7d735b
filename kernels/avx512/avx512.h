/* AVX-512 kernels. Declarations only; one file per op. */
#ifndef VIREO_KERNELS_AVX512_H
#define VIREO_KERNELS_AVX512_H
#include "../kernels.h"

#endif
