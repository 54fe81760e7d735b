/* Dynamic per-row int8 quantization, AVX-512: the reference's operations on
 * 16 lanes (kernels.h). The maximum is order-independent and every other step
 * is one IEEE operation per element, so the codes and scales equal the
 * reference's bit for bit. */
#include <immintrin.h>

#include "../kernels.h"
#include "avx512.h"

void vk_quant_rows_avx512(const float *x, ptrdiff_t ldx, int N, uint8_t *y, ptrdiff_t ldy,
                          float *scale, int r0, int r1)
{
    const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    const __m512i off = _mm512_set1_epi32(128);
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        uint8_t *yr = y + (ptrdiff_t)r * ldy;
        /* vmaxps returns its second operand when either is NaN: |x| first,
         * so a NaN element leaves the running maximum as it was. */
        __m512 m0 = _mm512_setzero_ps(), m1 = _mm512_setzero_ps();
        int k = 0;
        for (; k + 32 <= N; k += 32) {
            m0 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xr + k)), m0);
            m1 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xr + k + 16)), m1);
        }
        for (; k < N; k += 16) {
            const __mmask16 msk = (__mmask16)(N - k >= 16 ? 0xffff : (1u << (N - k)) - 1);
            m0 = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(msk, xr + k)), m0);
        }
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
        float inv = 0.0f;
        scale[r] = 0.0f;
        if (amax >= VK_QROWS_TINY) {
            inv = 127.0f / amax;
            scale[r] = amax / 127.0f;
        }
        const __m512 vinv = _mm512_set1_ps(inv);
        for (k = 0; k < N; k += 16) {
            const __mmask16 msk = (__mmask16)(N - k >= 16 ? 0xffff : (1u << (N - k)) - 1);
            __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(msk, xr + k), vinv);
            v = _mm512_min_ps(_mm512_max_ps(v, lo), hi); /* NaN → -127 (second operand) */
            const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), off);
            _mm_mask_storeu_epi8(yr + k, msk, _mm512_cvtepi32_epi8(q));
        }
    }
}
