/* Quantized mean over H·W (TFLite MEAN over axes 1, 2), AVX-512,
 * bit-identical to kernels/ref/mean_q8.c:
 *   v = MBQM(Σ(x − in_zero), mult, shift);  y = clamp(round_half_away(v / HW) + out_zero)
 * Sums in int32 over 64 channels per pass (four vectors; the reference's
 * int32 sum, wrapping identically for absurd HW). The output stage runs on
 * 8 channels in int64 lanes: vpmuldq for the exact 64-bit product of
 * requant.h, and the division by HW in f64, truncated: |v ± HW/2| < 2^32 is
 * exact in a double and the quotient's rounding error (< 2^32/HW·2^-53) is
 * far below 1/HW, the distance of a non-integer quotient from an integer.
 * (The reference adds HW/2 in int32; v that close to 2^31 needs a
 * multiplier no model has.) HW <= 0 gives clamp(out_zero) (the reference
 * would divide by zero); lo > hi runs the reference.
 */
#include <immintrin.h>

#include "../ref/ref.h"
#include "avx512.h"

typedef struct mean_k {
    __m512i mult, round, zero, lo, hi, i32_min, i32_max, half;
    __m128i lsh, rsh;
    int left;
    __m512d hw;
} mean_k;

static inline __m512i widen(__m128i b, const int sg)
{
    return sg ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
}

/* 8 sums (int32, sign-extended into int64 lanes) -> 8 outputs in int64 lanes */
static inline __m512i stage8(const mean_k *k, __m512i s)
{
    if (k->left) {
        s = _mm512_sll_epi64(s, k->lsh); /* |s| < 2^31, shift <= 30 */
        s = _mm512_min_epi64(_mm512_max_epi64(s, k->i32_min), k->i32_max);
    }
    __m512i v = _mm512_sra_epi64(_mm512_add_epi64(_mm512_mul_epi32(s, k->mult), k->round), k->rsh);
    const __mmask8 pos = _mm512_cmpgt_epi64_mask(v, _mm512_setzero_si512());
    v = _mm512_mask_add_epi64(_mm512_sub_epi64(v, k->half), pos, v, k->half);
    v = _mm512_cvttpd_epi64(_mm512_div_pd(_mm512_cvtepi64_pd(v), k->hw));
    v = _mm512_add_epi64(v, k->zero);
    return _mm512_min_epi64(_mm512_max_epi64(v, k->lo), k->hi);
}

static inline void store16(const mean_k *k, uint8_t *o, __m512i acc, int cw)
{
    __m512i lo8 = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc));
    __m512i hi8 = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(acc, 1));
    __m512i v0 = stage8(k, lo8), v1 = stage8(k, hi8);
    if (cw >= 16) {
        _mm_storel_epi64((__m128i *)o, _mm512_cvtepi64_epi8(v0));
        _mm_storel_epi64((__m128i *)(o + 8), _mm512_cvtepi64_epi8(v1));
    } else {
        const __mmask16 m = (__mmask16)((1u << cw) - 1);
        _mm512_mask_cvtepi64_storeu_epi8(o, (__mmask8)m, v0);
        if (cw > 8)
            _mm512_mask_cvtepi64_storeu_epi8(o + 8, (__mmask8)(m >> 8), v1);
    }
}

static void run(const mean_k *k, const uint8_t *in, ptrdiff_t in_ld, int HW, int C,
                int32_t in_zero, uint8_t *out, int n0, int n1, const int sg)
{
    const __m512i z = _mm512_set1_epi32(in_zero);
    for (int n = n0; n < n1; n++) {
        const uint8_t *img = in + (ptrdiff_t)n * HW * in_ld;
        uint8_t *o = out + (ptrdiff_t)n * C;
        int c = 0;
        for (; c + 64 <= C; c += 64) {
            __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
            for (int q = 0; q < HW; q++) {
                const uint8_t *p = img + (ptrdiff_t)q * in_ld + c;
                a0 = _mm512_add_epi32(a0, widen(_mm_loadu_si128((const __m128i *)p), sg));
                a1 = _mm512_add_epi32(a1, widen(_mm_loadu_si128((const __m128i *)(p + 16)), sg));
                a2 = _mm512_add_epi32(a2, widen(_mm_loadu_si128((const __m128i *)(p + 32)), sg));
                a3 = _mm512_add_epi32(a3, widen(_mm_loadu_si128((const __m128i *)(p + 48)), sg));
            }
            /* Σ(x − z) = Σx − HW·z, modulo 2^32 like the reference's sum */
            const __m512i hz = _mm512_mullo_epi32(z, _mm512_set1_epi32(HW));
            store16(k, o + c, _mm512_sub_epi32(a0, hz), 16);
            store16(k, o + c + 16, _mm512_sub_epi32(a1, hz), 16);
            store16(k, o + c + 32, _mm512_sub_epi32(a2, hz), 16);
            store16(k, o + c + 48, _mm512_sub_epi32(a3, hz), 16);
        }
        for (; c < C; c += 16) {
            const int cw = C - c >= 16 ? 16 : C - c;
            const __mmask16 m = cw == 16 ? 0xFFFF : (__mmask16)((1u << cw) - 1);
            __m512i a0 = _mm512_setzero_si512();
            for (int q = 0; q < HW; q++)
                a0 = _mm512_add_epi32(a0, widen(_mm_maskz_loadu_epi8(m, img + (ptrdiff_t)q * in_ld + c), sg));
            a0 = _mm512_sub_epi32(a0, _mm512_mullo_epi32(z, _mm512_set1_epi32(HW)));
            store16(k, o + c, a0, cw);
        }
    }
}

void vk_mean_q8_avx512(const void *in, ptrdiff_t in_ld, int HW, int C, int is_signed,
                       int32_t in_zero, int32_t mult, int shift, int32_t out_zero, int32_t lo,
                       int32_t hi, void *out, int n0, int n1)
{
    if (n0 >= n1 || C <= 0)
        return;
    if (lo > hi && HW > 0) { /* never from the planner; the reference's clamp order decides */
        vk_mean_q8_ref(in, in_ld, HW, C, is_signed, in_zero, mult, shift, out_zero, lo, hi, out,
                       n0, n1);
        return;
    }
    shift = shift < -31 ? -31 : shift > 30 ? 30 : shift;
    const int left = shift > 0 ? shift : 0, T = 31 + (shift > 0 ? 0 : -shift);
    const int hw = HW > 0 ? HW : 0;
    mean_k k = {
        .mult = _mm512_set1_epi64(mult),
        .round = _mm512_set1_epi64((int64_t)1 << (T - 1)),
        .zero = _mm512_set1_epi64(out_zero),
        .lo = _mm512_set1_epi64(lo),
        .hi = _mm512_set1_epi64(hi),
        .i32_min = _mm512_set1_epi64(INT32_MIN),
        .i32_max = _mm512_set1_epi64(INT32_MAX),
        .half = _mm512_set1_epi64(hw / 2),
        .lsh = _mm_cvtsi32_si128(left),
        .rsh = _mm_cvtsi32_si128(T),
        .left = left,
        .hw = _mm512_set1_pd(hw > 0 ? hw : 1),
    };
    if (is_signed)
        run(&k, in, in_ld, hw, C, in_zero, out, n0, n1, 1);
    else
        run(&k, in, in_ld, hw, C, in_zero, out, n0, n1, 0);
}
