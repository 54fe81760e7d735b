/* Scalar activations: the definitions the SIMD versions are tested against. */
#ifndef VIREO_KERNELS_ACT_H
#define VIREO_KERNELS_ACT_H

#include <math.h>

#include "kernels.h"

static inline float vk_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

static inline float vk_quickgelu(float x) { return x / (1.0f + expf(-1.702f * x)); }

static inline float vk_act1(float x, vk_act act)
{
    switch (act) {
    case VK_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case VK_ACT_RELU6: return x < 0.0f ? 0.0f : x > 6.0f ? 6.0f : x;
    case VK_ACT_GELU: return vk_gelu(x);
    case VK_ACT_QUICKGELU: return vk_quickgelu(x);
    default: return x;
    }
}

#endif
