/* Fixed-point requantization, scalar: the one definition every quantized
 * kernel's epilogue reproduces bit for bit (SIMD versions are tested against
 * these).
 *
 * real_multiplier = input_scale * weight_scale / output_scale is represented
 * as a Q31 multiplier in [2^30, 2^31) and a power-of-two exponent `shift`
 * (> 0: left shift, < 0: right shift), as TFLite's QuantizeMultiplier does.
 *
 * vk_mbqm rounds x · real_multiplier ONCE, half up, from the exact 64-bit
 * product: TFLite's MultiplyByQuantizedMultiplier in its TFLITE_SINGLE_ROUNDING
 * form. We do not use the gemmlowp "double rounding" form (a rounding doubling
 * high multiply, then a rounding shift): for small accumulators its first
 * rounding moves the result by up to 1 — measured on the Coral MobileNetV1
 * depthwise layers (K = 9), 17 % of the outputs differ from the correctly
 * rounded value — and Arm NN, XNNPACK (TFLite's default CPU path) and every
 * float implementation round once. With single rounding, vireo's layers agree
 * with an f32 re-implementation of the same layers on > 99.99 % of outputs.
 */
#ifndef VIREO_KERNELS_REQUANT_H
#define VIREO_KERNELS_REQUANT_H

#include <math.h>
#include <stdint.h>

static inline int32_t vk_mbqm(int32_t x, int32_t mult, int shift)
{
    /* QuantizeMultiplier yields shifts in [-31, 30]; others are clamped so no
     * shift below is undefined. */
    shift = shift < -31 ? -31 : shift > 30 ? 30 : shift;
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    /* A left shift that overflows int32 saturates (the result is clamped to
     * the output type afterwards anyway). */
    int64_t xs = (int64_t)x * ((int64_t)1 << left);
    xs = xs > INT32_MAX ? INT32_MAX : xs < INT32_MIN ? INT32_MIN : xs;
    int total = 31 + right;                 /* 31 .. 62 */
    int64_t p = xs * (int64_t)mult;         /* |p| < 2^62 */
    /* floor((p + 2^(total-1)) / 2^total): |result| < 2^31, no overflow */
    return (int32_t)((p + ((int64_t)1 << (total - 1))) >> total);
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

/* Full output stage for one accumulator (the zero point added in 64 bits so
 * an extreme accumulator cannot overflow before the clamp). */
static inline int32_t vk_requant_one(int32_t acc, int32_t mult, int shift, int32_t zero,
                                     int32_t lo, int32_t hi)
{
    int64_t v = (int64_t)vk_mbqm(acc, mult, shift) + zero;
    return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

#endif
