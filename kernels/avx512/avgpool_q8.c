/* Quantized average pooling (TFLite uint8 / int8), AVX-512, bit-identical to
 * kernels/ref/pool_q8.c: the in-image taps summed in int32, then
 * (sum ± count/2) / count truncated (half away from zero), 0 for a window
 * entirely in padding, clamped to [lo, hi].
 *
 * The division is done in f32 and truncated, which is exact here: with
 * |num| < 2^24 (count < 2^16 taps of |x| <= 255, plus count/2) the quotient's
 * rounding error |num/count|·2^-24 is below 1/count, the smallest distance
 * of a non-integer num/count from an integer, so truncation lands on the same
 * integer; an integer quotient is exact. 64 channels per step (four int32
 * vectors), a masked step for the tail.
 *
 * Windows of >= 2^16 taps, dilation < 1, and activation bounds that are not
 * lo <= hi inside the type (never from the planner) run the reference.
 */
#include <immintrin.h>

#include "../pool_window.h"
#include "../ref/ref.h"
#include "avx512.h"

static inline __m512i widen(__m128i b, const int sg)
{
    return sg ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
}

/* round_half_away(acc / count) as the reference computes it */
static inline __m512i rdiv(__m512i acc, __m512i half, __m512 cnt)
{
    const __mmask16 neg = _mm512_cmplt_epi32_mask(acc, _mm512_setzero_si512());
    const __m512i num = _mm512_mask_sub_epi32(_mm512_add_epi32(acc, half), neg, acc, half);
    return _mm512_cvttps_epi32(_mm512_div_ps(_mm512_cvtepi32_ps(num), cnt));
}

static inline __m128i pack(__m512i v, __m512i lo, __m512i hi)
{
    return _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(v, lo), hi));
}

static void pool(const vk_conv_geom *g, const uint8_t *in, uint8_t *out, int32_t lo, int32_t hi,
                 int r0, int r1, const int sg)
{
    const int C = g->C, dh = g->dil_h, dw = g->dil_w;
    const __m512i vlo = _mm512_set1_epi32(lo), vhi = _mm512_set1_epi32(hi);
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
            const int count = (kh1 - kh0) * (kw1 - kw0);
            /* count 0: the sums are 0 and 0 / 1 gives the reference's 0 */
            const __m512 cnt = _mm512_set1_ps((float)(count > 0 ? count : 1));
            const __m512i half = _mm512_set1_epi32(count / 2);
            const ptrdiff_t off = ((ptrdiff_t)ih0 * g->W + iw0) * g->in_ld;
            int c = 0;
            for (; c + 64 <= C; c += 64) {
                __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
                for (int kh = kh0; kh < kh1; kh++)
                    for (int kw = kw0; kw < kw1; kw++) {
                        const uint8_t *p = img + (off + kh * sh + kw * sw) + c;
                        a0 = _mm512_add_epi32(a0, widen(_mm_loadu_si128((const __m128i *)p), sg));
                        a1 = _mm512_add_epi32(a1, widen(_mm_loadu_si128((const __m128i *)(p + 16)), sg));
                        a2 = _mm512_add_epi32(a2, widen(_mm_loadu_si128((const __m128i *)(p + 32)), sg));
                        a3 = _mm512_add_epi32(a3, widen(_mm_loadu_si128((const __m128i *)(p + 48)), sg));
                    }
                _mm_storeu_si128((__m128i *)(o + c), pack(rdiv(a0, half, cnt), vlo, vhi));
                _mm_storeu_si128((__m128i *)(o + c + 16), pack(rdiv(a1, half, cnt), vlo, vhi));
                _mm_storeu_si128((__m128i *)(o + c + 32), pack(rdiv(a2, half, cnt), vlo, vhi));
                _mm_storeu_si128((__m128i *)(o + c + 48), pack(rdiv(a3, half, cnt), vlo, vhi));
            }
            for (; c < C; c += 16) {
                const __mmask16 k = C - c >= 16 ? 0xFFFF : (__mmask16)((1u << (C - c)) - 1);
                __m512i a0 = _mm512_setzero_si512();
                for (int kh = kh0; kh < kh1; kh++)
                    for (int kw = kw0; kw < kw1; kw++)
                        a0 = _mm512_add_epi32(
                            a0, widen(_mm_maskz_loadu_epi8(k, img + (off + kh * sh + kw * sw) + c), sg));
                const __m128i v = pack(rdiv(a0, half, cnt), vlo, vhi);
                if (k == 0xFFFF)
                    _mm_storeu_si128((__m128i *)(o + c), v);
                else
                    _mm_mask_storeu_epi8(o + c, k, v);
            }
        }
    }
}

void vk_avgpool_q8_avx512(const vk_conv_geom *g, const void *in, void *out, int is_signed,
                          int32_t lo, int32_t hi, int r0, int r1)
{
    const int32_t tmin = is_signed ? -128 : 0, tmax = is_signed ? 127 : 255;
    if (lo > hi || lo < tmin || hi > tmax || g->dil_h < 1 || g->dil_w < 1 ||
        (int64_t)g->KH * g->KW >= 65536) {
        vk_avgpool_q8_ref(g, in, out, is_signed, lo, hi, r0, r1);
        return;
    }
    if (is_signed)
        pool(g, in, out, lo, hi, r0, r1, 1);
    else
        pool(g, in, out, lo, hi, r0, r1, 0);
}
