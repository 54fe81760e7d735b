/* Masks and masked stores shared by the AVX-512 f32 kernels. */
#ifndef VIREO_AVX512_MASK_H
#define VIREO_AVX512_MASK_H

#include <immintrin.h>

/* The first min(n, 16) lanes (n >= 0). */
static inline __mmask16 tail_mask(int n) { return n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1); }

/* Masked stores are much slower than plain ones on AMD cores. */
static inline void store_k(float *p, __mmask16 k, __m512 v)
{
    if (k == 0xFFFF)
        _mm512_storeu_ps(p, v);
    else
        _mm512_mask_storeu_ps(p, k, v);
}

#endif
