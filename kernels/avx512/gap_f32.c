/* Global average pooling, AVX-512: channels in chunks of 128 (eight
 * independent accumulators hide the add latency), pixels summed in order and
 * divided by HW, bit-identical to the reference. */
#include <immintrin.h>

#include "avx512.h"
#include "mask.h"

void vk_gap_f32_avx512(const float *in, ptrdiff_t in_ld, int HW, int C, float *out, int n0, int n1)
{
    const __m512 div = _mm512_set1_ps((float)(HW > 0 ? HW : 1));
    for (int n = n0; n < n1; n++) {
        const float *x = in + (ptrdiff_t)n * HW * in_ld;
        float *o = out + (ptrdiff_t)n * C;
        int c = 0;
        for (; c + 128 <= C; c += 128) {
            __m512 a[8];
            for (int t = 0; t < 8; t++)
                a[t] = _mm512_setzero_ps();
            for (int p = 0; p < HW; p++)
                for (int t = 0; t < 8; t++)
                    a[t] = _mm512_add_ps(a[t], _mm512_loadu_ps(x + p * in_ld + c + 16 * t));
            for (int t = 0; t < 8; t++)
                _mm512_storeu_ps(o + c + 16 * t, _mm512_div_ps(a[t], div));
        }
        for (; c < C; c += 16) {
            const __mmask16 k = tail_mask(C - c);
            __m512 a0 = _mm512_setzero_ps();
            for (int p = 0; p < HW; p++)
                a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(k, x + p * in_ld + c));
            store_k(o + c, k, _mm512_div_ps(a0, div));
        }
    }
}
