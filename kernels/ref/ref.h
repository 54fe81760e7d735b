/* Reference kernels (portable C). Declarations only; one file per op. */
#ifndef VIREO_KERNELS_REF_H
#define VIREO_KERNELS_REF_H
#include "../kernels.h"

#endif
