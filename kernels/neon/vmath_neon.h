/* NEON vector exp, the algorithm of kernels/avx512/vmath.h's vk_exp512 on 4
 * lanes: Cody-Waite reduction by ln 2, the same degree-6 (cephes expf)
 * polynomial on |r| <= ln2/2, then 2^n. NEON has no vscalefps: 2^n is applied
 * as two exact power-of-two factors 2^floor(n/2)·2^(n − floor(n/2)) (each a
 * normal float for n in [−150, 128]), so only the last product rounds and
 * results below 2^−126 come out as correctly rounded subnormals, and e^x
 * for x <= −104 (clamped there) rounds to 0 as in expf. NaN propagates
 * (fmin/fmax return NaN). Used by the attention softmax; its accuracy is what
 * tests/kernels/test_attention.c's bound assumes (2 ulp). */
#ifndef VIREO_KERNELS_NEON_VMATH_NEON_H
#define VIREO_KERNELS_NEON_VMATH_NEON_H

#include <arm_neon.h>

static inline float32x4_t vk_exp_neon(float32x4_t x)
{
    const float32x4_t log2e = vdupq_n_f32(1.44269504088896341f);
    const float32x4_t ln2_hi = vdupq_n_f32(0.693359375f);
    const float32x4_t ln2_lo = vdupq_n_f32(-2.12194440e-4f);
    x = vmaxq_f32(vdupq_n_f32(-104.0f), vminq_f32(vdupq_n_f32(88.7228391f), x));
    const float32x4_t n = vrndnq_f32(vmulq_f32(x, log2e));
    float32x4_t r = vfmsq_f32(x, n, ln2_hi);
    r = vfmsq_f32(r, n, ln2_lo);
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    const float32x4_t r2 = vmulq_f32(r, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, r2);
    /* 2^n, n in [-150, 128] (NaN: n converts to 0 and p is NaN) */
    const int32x4_t ni = vcvtq_s32_f32(n);
    const int32x4_t n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
    const int32x4_t bias = vdupq_n_s32(127);
    const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
    const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
    return vmulq_f32(vmulq_f32(p, s1), s2);
}

#endif
