/* AVX-512 vector math for epilogues and softmax. Accuracy (measured against
 * libm over [-88, 88] resp. the whole line by tests/kernels/test_vmath.c):
 *   vk_exp512: relative error <= 2 ulp (Cody-Waite reduction, degree-6 minimax
 *              polynomial, 2^n applied with vscalefps so under/overflow saturate
 *              to 0 / +inf like expf);
 *   vk_erf512: absolute error <= 5e-7 (Abramowitz & Stegun 7.1.26, whose own
 *              bound is 1.5e-7, evaluated in f32: erf(x) = 1 - t·P(t)·exp(-x²),
 *              t = 1/(1 + p|x|), sign restored; below |x| = 0.5, where that
 *              form cancels, the Maclaurin series to x^11).
 * Measured over dense sweeps in double: exp 1.26 ulp on [-87, 88], erf
 * 3.4e-7 (the A&S form alone reached 5.5e-7 near 0).
 * gelu/quickgelu are built from these, so their error is bounded by
 * 0.5|x|·err(erf) and |x|·err(sigmoid) respectively.
 */
#ifndef VIREO_KERNELS_AVX512_VMATH_H
#define VIREO_KERNELS_AVX512_VMATH_H

#include <immintrin.h>

#include "../kernels.h"

/* exp(r) on |r| <= ln2/2: Taylor-like minimax (cephes expf coefficients);
 * vk_exp512 and the attention kernels' exp2 (attention_f32.h) share it. */
static inline __m512 vk_exp_poly512(__m512 r)
{
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    return _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
}

static inline __m512 vk_exp512(__m512 x)
{
    const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
    const __m512 ln2_hi = _mm512_set1_ps(0.693359375f);
    const __m512 ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
    /* Operand order: minps/maxps return their second operand when either is
     * NaN, so NaN propagates. Below -104, e^x < 2^-150 rounds to 0 as in
     * expf (at -103.972 the result was the smallest subnormal, and -inf
     * did not give 0). */
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), _mm512_min_ps(_mm512_set1_ps(88.7228391f), x));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, ln2_hi, x);
    r = _mm512_fnmadd_ps(n, ln2_lo, r);
    return _mm512_scalef_ps(vk_exp_poly512(r), n);
}

static inline __m512 vk_erf512(__m512 x)
{
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 ax = _mm512_andnot_ps(sign, x);
    /* A&S 7.1.26 (|err| <= 1.5e-7) */
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f),
                             _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), ax, _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    const __m512 x2 = _mm512_mul_ps(ax, ax);
    __m512 e = vk_exp512(_mm512_mul_ps(x2, _mm512_set1_ps(-1.0f)));
    __m512 y = _mm512_fnmadd_ps(p, e, _mm512_set1_ps(1.0f));
    y = _mm512_or_ps(y, _mm512_and_ps(x, sign));
    /* |x| < 0.5: 1 - t·P(t)·e cancels (t·P·e is near 1), which costs up to
     * 5.5e-7 in f32 next to 0; the Maclaurin series to x^11 (truncation
     * < 2e-8) is accurate there. */
    __m512 s = _mm512_set1_ps(-8.5483270234508518e-4f);
    s = _mm512_fmadd_ps(s, x2, _mm512_set1_ps(5.2239776254421878e-3f));
    s = _mm512_fmadd_ps(s, x2, _mm512_set1_ps(-2.6866170645131252e-2f));
    s = _mm512_fmadd_ps(s, x2, _mm512_set1_ps(1.1283791670955126e-1f));
    s = _mm512_fmadd_ps(s, x2, _mm512_set1_ps(-3.7612638903183754e-1f));
    s = _mm512_fmadd_ps(s, x2, _mm512_set1_ps(1.1283791670955126f));
    s = _mm512_mul_ps(s, x);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.5f), _CMP_LT_OQ), y, s);
}

static inline __m512 vk_gelu512(__m512 x)
{
    __m512 e = vk_erf512(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)));
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
}

static inline __m512 vk_quickgelu512(__m512 x)
{
    __m512 e = vk_exp512(_mm512_mul_ps(x, _mm512_set1_ps(-1.702f)));
    return _mm512_div_ps(x, _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
}

static inline __m512 vk_act512(__m512 x, vk_act act)
{
    switch (act) {
    case VK_ACT_RELU: return _mm512_max_ps(x, _mm512_setzero_ps());
    case VK_ACT_RELU6:
        return _mm512_min_ps(_mm512_max_ps(x, _mm512_setzero_ps()), _mm512_set1_ps(6.0f));
    case VK_ACT_GELU: return vk_gelu512(x);
    case VK_ACT_QUICKGELU: return vk_quickgelu512(x);
    default: return x;
    }
}

#endif
