/* Quantized max pooling (TFLite uint8 / int8), AVX-512, bit-identical to
 * kernels/ref/pool_q8.c: the largest in-image tap per channel, 0 for a window
 * entirely in padding, clamped to [lo, hi]. 64 channels per vector (bytes),
 * a masked vector for the tail.
 *
 * The clamp is done on bytes, which equals the reference's int32 clamp when
 * lo <= hi and both lie in the type's range (the planner's activation
 * bounds always do); anything else, and dilation < 1, runs the reference.
 */
#include <immintrin.h>

#include "../pool_window.h"
#include "../ref/ref.h"
#include "avx512.h"

static inline __m512i vmax(__m512i a, __m512i b, const int sg)
{
    return sg ? _mm512_max_epi8(a, b) : _mm512_max_epu8(a, b);
}

static inline __m512i vclamp(__m512i v, __m512i lo, __m512i hi, const int sg)
{
    return sg ? _mm512_min_epi8(_mm512_max_epi8(v, lo), hi)
              : _mm512_min_epu8(_mm512_max_epu8(v, lo), hi);
}

static void pool(const vk_conv_geom *g, const uint8_t *in, uint8_t *out, int32_t lo, int32_t hi,
                 int r0, int r1, const int sg)
{
    const int C = g->C, dh = g->dil_h, dw = g->dil_w;
    const __m512i vlo = _mm512_set1_epi8((char)lo), vhi = _mm512_set1_epi8((char)hi);
    const __m512i vmin = _mm512_set1_epi8(sg ? (char)-128 : 0);
    const ptrdiff_t sh = (ptrdiff_t)dh * g->W * g->in_ld, sw = (ptrdiff_t)dw * g->in_ld;
    for (int r = r0; r < r1; r++) {
        const int n = r / g->OH, oh = r % g->OH;
        const uint8_t *img = in + (ptrdiff_t)n * g->H * g->W * g->in_ld;
        const int ih0 = oh * g->stride_h - g->pad_t;
        int kh0, kh1;
        vk_pool_taps(ih0, g->KH, dh, g->H, &kh0, &kh1);
        for (int ow = 0; ow < g->OW; ow++) {
            uint8_t *o = out + ((ptrdiff_t)r * g->OW + ow) * g->out_ld;
            const int iw0 = ow * g->stride_w - g->pad_l;
            int kw0, kw1;
            vk_pool_taps(iw0, g->KW, dw, g->W, &kw0, &kw1);
            const int empty = kh0 >= kh1 || kw0 >= kw1;
            /* offsets stay integers until a tap is known to be inside the image */
            const ptrdiff_t off = ((ptrdiff_t)ih0 * g->W + iw0) * g->in_ld;
            for (int c = 0; c < C; c += 64) {
                const int full = C - c >= 64;
                const __mmask64 k = full ? ~(__mmask64)0 : (((__mmask64)1 << (C - c)) - 1);
                __m512i m = empty ? _mm512_setzero_si512() : vmin;
                for (int kh = kh0; kh < kh1; kh++)
                    for (int kw = kw0; kw < kw1; kw++) {
                        const uint8_t *p = img + (off + kh * sh + kw * sw) + c;
                        m = vmax(m, full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(k, p), sg);
                    }
                m = vclamp(m, vlo, vhi, sg);
                if (full) /* masked stores are slow on AMD cores */
                    _mm512_storeu_si512(o + c, m);
                else
                    _mm512_mask_storeu_epi8(o + c, k, m);
            }
        }
    }
}

void vk_maxpool_q8_avx512(const vk_conv_geom *g, const void *in, void *out, int is_signed,
                          int32_t lo, int32_t hi, int r0, int r1)
{
    const int32_t tmin = is_signed ? -128 : 0, tmax = is_signed ? 127 : 255;
    if (lo > hi || lo < tmin || hi > tmax || g->dil_h < 1 || g->dil_w < 1) {
        vk_maxpool_q8_ref(g, in, out, is_signed, lo, hi, r0, r1);
        return;
    }
    if (is_signed)
        pool(g, in, out, lo, hi, r0, r1, 1);
    else
        pool(g, in, out, lo, hi, r0, r1, 0);
}
