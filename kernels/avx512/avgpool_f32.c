/* NHWC average pooling, AVX-512 (TFLite semantics, as kernels/ref/avgpool_f32.c:
 * taps summed in (kh, kw) order and the sum divided by the in-image tap count,
 * so the result is bit-identical to the reference; the division is not the
 * bottleneck). Channels in chunks of 64 (four accumulators) with one masked
 * vector for the tail. */
#include <immintrin.h>

#include "avx512.h"
#include "mask.h"

void vk_avgpool_f32_avx512(const vk_conv_geom *g, const float *in, float *out, int r0, int r1)
{
    const int C = g->C;
    const int dh = g->dil_h > 0 ? g->dil_h : 1, dw = g->dil_w > 0 ? g->dil_w : 1;
    for (int r = r0; r < r1; r++) {
        const int n = r / g->OH, oh = r % g->OH;
        const float *img = in + (ptrdiff_t)n * g->H * g->W * g->in_ld;
        /* in-image taps: kh in [kh0, kh1) (same for the whole row), kw per column */
        const int ih0 = oh * g->stride_h - g->pad_t;
        int kh0 = 0, kh1 = g->KH;
        while (kh0 < kh1 && ih0 + kh0 * dh < 0)
            kh0++;
        while (kh1 > kh0 && ih0 + (kh1 - 1) * dh >= g->H)
            kh1--;
        for (int ow = 0; ow < g->OW; ow++) {
            float *o = out + ((ptrdiff_t)r * g->OW + ow) * g->out_ld;
            const int iw0 = ow * g->stride_w - g->pad_l;
            int kw0 = 0, kw1 = g->KW;
            while (kw0 < kw1 && iw0 + kw0 * dw < 0)
                kw0++;
            while (kw1 > kw0 && iw0 + (kw1 - 1) * dw >= g->W)
                kw1--;
            const int count = (kh1 - kh0) * (kw1 - kw0);
            const __m512 div = _mm512_set1_ps((float)(count > 0 ? count : 1));
            /* offsets stay integers until a tap is known to be inside the image */
            const ptrdiff_t off = ((ptrdiff_t)ih0 * g->W + iw0) * g->in_ld;
            const ptrdiff_t sh = (ptrdiff_t)dh * g->W * g->in_ld, sw = (ptrdiff_t)dw * g->in_ld;
            int c = 0;
            for (; c + 64 <= C; c += 64) {
                __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
                for (int kh = kh0; kh < kh1; kh++)
                    for (int kw = kw0; kw < kw1; kw++) {
                        const float *p = img + (off + kh * sh + kw * sw) + c;
                        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p));
                        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + 16));
                        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + 32));
                        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + 48));
                    }
                _mm512_storeu_ps(o + c, _mm512_div_ps(a0, div));
                _mm512_storeu_ps(o + c + 16, _mm512_div_ps(a1, div));
                _mm512_storeu_ps(o + c + 32, _mm512_div_ps(a2, div));
                _mm512_storeu_ps(o + c + 48, _mm512_div_ps(a3, div));
            }
            for (; c < C; c += 16) {
                const __mmask16 k = tail_mask(C - c);
                __m512 a0 = _mm512_setzero_ps();
                for (int kh = kh0; kh < kh1; kh++)
                    for (int kw = kw0; kw < kw1; kw++)
                        a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(k, img + (off + kh * sh + kw * sw) + c));
                store_k(o + c, k, _mm512_div_ps(a0, div));
            }
        }
    }
}
