/* Quantized add (TFLite uint8 / int8 Add), AVX-512, bit-identical to
 * kernels/ref/add_q8.c.
 *
 * Every multiply is the exact 64-bit product of requant.h, so elements go in
 * 64-bit lanes (8 per vector) and vpmuldq does the multiply. The input
 * stages are rewritten without the ·2^20 and the zero point (a_shift <= 0,
 * T = 31 - a_shift, x the raw code, za its zero point, A the multiplier):
 *   sa = floor(((x − za)·2^ls·A + 2^(T−1)) / 2^T)
 *      = floor((x·A + 2^(T−1−ls) − za·A) / 2^(T−ls))
 * because floor(u / 2^T) = floor((u / 2^ls) / 2^(T−ls)) and u / 2^ls is an
 * integer here (T − 1 >= 30 >= ls). So one multiply, one add of a constant
 * and one arithmetic shift per input. The output stage is
 * vk_requant_one on sa + sb, the left shift (if any) saturated to int32 as
 * the reference does.
 *
 * Fast-path conditions (vk_add_q8_prepare always meets them): both input
 * shifts <= 0 and 0 <= left_shift <= 21, so |sa|, |sb| < 2^29 and their sum
 * cannot overflow int32 as in the reference; out_min <= out_max (the
 * reference's clamp order matters otherwise). Anything else runs the
 * reference.
 */
#include <immintrin.h>

#include "../ref/ref.h"
#include "avx512.h"

typedef struct add_k {
    __m512i a_mult, a_add, b_mult, b_add;
    __m128i a_sh, b_sh;
    __m512i o_mult, o_round, o_zero, o_min, o_max, i32_min, i32_max;
    __m128i o_lsh, o_rsh;
    int o_left;
} add_k;

static inline int clamp_shift(int s) { return s < -31 ? -31 : s > 30 ? 30 : s; }

/* Input stage constants for one operand (shift <= 0 checked by the caller). */
static void input_consts(int32_t mult, int shift, int32_t zero, int ls, __m512i *m, __m512i *add,
                         __m128i *sh)
{
    int T = 31 - clamp_shift(shift); /* 31 .. 62 */
    *m = _mm512_set1_epi64(mult);
    *add = _mm512_set1_epi64(((int64_t)1 << (T - 1 - ls)) - (int64_t)zero * mult);
    *sh = _mm_cvtsi32_si128(T - ls);
}

static inline __m512i input_stage(__m512i x, __m512i m, __m512i add, __m128i sh)
{
    return _mm512_sra_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, m), add), sh);
}

/* 8 elements in int64 lanes -> 8 clamped outputs in int64 lanes. */
static inline __m512i add8(const add_k *k, __m512i xa, __m512i xb)
{
    __m512i s = _mm512_add_epi64(input_stage(xa, k->a_mult, k->a_add, k->a_sh),
                                 input_stage(xb, k->b_mult, k->b_add, k->b_sh));
    if (k->o_left) {
        s = _mm512_sll_epi64(s, k->o_lsh); /* |s| < 2^30, shift <= 30: no 64-bit overflow */
        s = _mm512_min_epi64(_mm512_max_epi64(s, k->i32_min), k->i32_max);
    }
    __m512i v = _mm512_sra_epi64(_mm512_add_epi64(_mm512_mul_epi32(s, k->o_mult), k->o_round),
                                 k->o_rsh);
    v = _mm512_add_epi64(v, k->o_zero);
    return _mm512_min_epi64(_mm512_max_epi64(v, k->o_min), k->o_max);
}

static inline __m512i load8(const uint8_t *p, int sg)
{
    __m128i b = _mm_loadl_epi64((const __m128i *)p);
    return sg ? _mm512_cvtepi8_epi64(b) : _mm512_cvtepu8_epi64(b);
}

static inline __m512i load8_k(const uint8_t *p, __mmask16 k, int sg)
{
    __m128i b = _mm_maskz_loadu_epi8(k, p);
    return sg ? _mm512_cvtepi8_epi64(b) : _mm512_cvtepu8_epi64(b);
}

static inline void store8(uint8_t *p, __m512i v)
{
    _mm_storel_epi64((__m128i *)p, _mm512_cvtepi64_epi8(v));
}

static void run(const add_k *k, const uint8_t *a, const uint8_t *b, uint8_t *y, size_t n,
                const int sg)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512i v0 = add8(k, load8(a + i, sg), load8(b + i, sg));
        __m512i v1 = add8(k, load8(a + i + 8, sg), load8(b + i + 8, sg));
        __m512i v2 = add8(k, load8(a + i + 16, sg), load8(b + i + 16, sg));
        __m512i v3 = add8(k, load8(a + i + 24, sg), load8(b + i + 24, sg));
        store8(y + i, v0);
        store8(y + i + 8, v1);
        store8(y + i + 16, v2);
        store8(y + i + 24, v3);
    }
    for (; i + 8 <= n; i += 8)
        store8(y + i, add8(k, load8(a + i, sg), load8(b + i, sg)));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512i v = add8(k, load8_k(a + i, m, sg), load8_k(b + i, m, sg));
        _mm512_mask_cvtepi64_storeu_epi8(y + i, (__mmask8)m, v);
    }
}

void vk_add_q8_avx512(const void *a, const void *b, void *y, const vk_add_q8_params *p, size_t i0,
                      size_t i1)
{
    if (i0 >= i1)
        return;
    if (p->a_shift > 0 || p->b_shift > 0 || p->left_shift < 0 || p->left_shift > 21 ||
        p->out_min > p->out_max) {
        vk_add_q8_ref(a, b, y, p, i0, i1);
        return;
    }
    add_k k;
    input_consts(p->a_mult, p->a_shift, p->a_zero, p->left_shift, &k.a_mult, &k.a_add, &k.a_sh);
    input_consts(p->b_mult, p->b_shift, p->b_zero, p->left_shift, &k.b_mult, &k.b_add, &k.b_sh);
    const int os = clamp_shift(p->out_shift);
    const int left = os > 0 ? os : 0, T = 31 + (os > 0 ? 0 : -os);
    k.o_left = left;
    k.o_lsh = _mm_cvtsi32_si128(left);
    k.o_rsh = _mm_cvtsi32_si128(T);
    k.o_mult = _mm512_set1_epi64(p->out_mult);
    k.o_round = _mm512_set1_epi64((int64_t)1 << (T - 1));
    k.o_zero = _mm512_set1_epi64(p->out_zero);
    k.o_min = _mm512_set1_epi64(p->out_min);
    k.o_max = _mm512_set1_epi64(p->out_max);
    k.i32_min = _mm512_set1_epi64(INT32_MIN);
    k.i32_max = _mm512_set1_epi64(INT32_MAX);
    const uint8_t *pa = (const uint8_t *)a + i0, *pb = (const uint8_t *)b + i0;
    uint8_t *py = (uint8_t *)y + i0;
    if (p->is_signed)
        run(&k, pa, pb, py, i1 - i0, 1);
    else
        run(&k, pa, pb, py, i1 - i0, 0);
}
