/* TFLite / gemmlowp fixed-point requantization, scalar. The one definition
 * every quantized kernel's epilogue must reproduce bit for bit (SIMD versions
 * are tested against these).
 *
 * real_multiplier = input_scale * weight_scale / output_scale is represented
 * as a Q31 multiplier in [2^30, 2^31) and a power-of-two exponent `shift`
 * (> 0: left shift, < 0: right shift), as TFLite's QuantizeMultiplier does.
 * MultiplyByQuantizedMultiplier(x, m, s) =
 *   RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << max(s,0), m), max(-s,0))
 * (the "double rounding" form of TFLite's reference kernels, which the Coral
 * models were validated with).
 */
#ifndef VIREO_KERNELS_REQUANT_H
#define VIREO_KERNELS_REQUANT_H

#include <math.h>
#include <stdint.h>

static inline int32_t vk_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    /* Division truncating toward zero, as gemmlowp does. */
    return (int32_t)((ab + nudge) / (1ll << 31));
}

static inline int32_t vk_rdivpot(int32_t x, int exponent)
{
    if (exponent <= 0)
        return x;
    int32_t mask = (int32_t)((1ll << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t vk_mbqm(int32_t x, int32_t mult, int shift)
{
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    /* x << left may overflow int32: TFLite multiplies in 32 bits and so wraps;
     * we saturate instead (the result is unrepresentable either way and is
     * clamped to the output range afterwards). */
    int64_t shifted = (int64_t)x * ((int64_t)1 << left);
    if (shifted > INT32_MAX)
        shifted = INT32_MAX;
    if (shifted < INT32_MIN)
        shifted = INT32_MIN;
    return vk_rdivpot(vk_srdhm((int32_t)shifted, mult), right);
}

/* TFLite QuantizeMultiplier: double -> (Q31 multiplier, shift). */
static inline void vk_quantize_multiplier(double real, int32_t *mult, int8_t *shift)
{
    if (real == 0.0) {
        *mult = 0;
        *shift = 0;
        return;
    }
    int exp;
    double q = frexp(real, &exp); /* real = q * 2^exp, q in [0.5, 1) */
    int64_t q_fixed = (int64_t)llround(q * (double)(1ll << 31));
    if (q_fixed == (1ll << 31)) {
        q_fixed /= 2;
        exp++;
    }
    if (exp < -31) {
        exp = 0;
        q_fixed = 0;
    }
    *mult = (int32_t)q_fixed;
    *shift = (int8_t)exp;
}

/* Full output stage for one accumulator. */
static inline int32_t vk_requant_one(int32_t acc, int32_t mult, int shift, int32_t zero,
                                     int32_t lo, int32_t hi)
{
    int32_t v = vk_mbqm(acc, mult, shift) + zero;
    return v < lo ? lo : v > hi ? hi : v;
}

#endif
