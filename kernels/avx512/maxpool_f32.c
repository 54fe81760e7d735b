/* NHWC max pooling, f32, AVX-512 (ResNet-50's 3×3 s2 pool after the stem),
 * bit-identical to kernels/ref/maxpool_f32.c: starting from −inf, each
 * in-image tap in (kh, kw) order replaces the running maximum m when v > m.
 * vmaxps(v, m) is exactly that (it returns its second operand when either is
 * NaN or both are zeros), so NaN taps are skipped and of equal zeros the
 * first one stays, as in the reference; an empty window gives −inf.
 * 64 channels per step (four vectors), a masked vector for the tail.
 * Dilation < 1 (never from the planner) runs the reference.
 */
#include <immintrin.h>
#include <math.h>

#include "../pool_window.h"
#include "../ref/ref.h"
#include "avx512.h"

void vk_maxpool_f32_avx512(const vk_conv_geom *g, const float *in, float *out, int r0, int r1)
{
    if (g->dil_h < 1 || g->dil_w < 1) {
        vk_maxpool_f32_ref(g, in, out, r0, r1);
        return;
    }
    const int C = g->C, dh = g->dil_h, dw = g->dil_w;
    const ptrdiff_t sh = (ptrdiff_t)dh * g->W * g->in_ld, sw = (ptrdiff_t)dw * g->in_ld;
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (int r = r0; r < r1; r++) {
        const int n = r / g->OH, oh = r % g->OH;
        const float *img = in + (ptrdiff_t)n * g->H * g->W * g->in_ld;
        const int ih0 = oh * g->stride_h - g->pad_t;
        int kh0, kh1;
        vk_pool_taps(ih0, g->KH, dh, g->H, &kh0, &kh1);
        for (int ow = 0; ow < g->OW; ow++) {
            float *o = out + ((ptrdiff_t)r * g->OW + ow) * g->out_ld;
            const int iw0 = ow * g->stride_w - g->pad_l;
            int kw0, kw1;
            vk_pool_taps(iw0, g->KW, dw, g->W, &kw0, &kw1);
            /* offsets stay integers until a tap is known to be inside the image */
            const ptrdiff_t off = ((ptrdiff_t)ih0 * g->W + iw0) * g->in_ld;
            int c = 0;
            for (; c + 64 <= C; c += 64) {
                __m512 m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
                for (int kh = kh0; kh < kh1; kh++)
                    for (int kw = kw0; kw < kw1; kw++) {
                        const float *p = img + (off + kh * sh + kw * sw) + c;
                        m0 = _mm512_max_ps(_mm512_loadu_ps(p), m0);
                        m1 = _mm512_max_ps(_mm512_loadu_ps(p + 16), m1);
                        m2 = _mm512_max_ps(_mm512_loadu_ps(p + 32), m2);
                        m3 = _mm512_max_ps(_mm512_loadu_ps(p + 48), m3);
                    }
                _mm512_storeu_ps(o + c, m0);
                _mm512_storeu_ps(o + c + 16, m1);
                _mm512_storeu_ps(o + c + 32, m2);
                _mm512_storeu_ps(o + c + 48, m3);
            }
            for (; c < C; c += 16) {
                const __mmask16 k = C - c >= 16 ? 0xFFFF : (__mmask16)((1u << (C - c)) - 1);
                __m512 m0 = ninf;
                for (int kh = kh0; kh < kh1; kh++)
                    for (int kw = kw0; kw < kw1; kw++)
                        m0 = _mm512_max_ps(_mm512_maskz_loadu_ps(k, img + (off + kh * sh + kw * sw) + c), m0);
                if (k == 0xFFFF) /* masked stores are slow on AMD cores */
                    _mm512_storeu_ps(o + c, m0);
                else
                    _mm512_mask_storeu_ps(o + c, k, m0);
            }
        }
    }
}
