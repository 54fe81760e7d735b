#include "../requant.h"
#include "ref.h"

void vk_requant_q8_ref(const void *x, int x_signed, int32_t x_zero, void *y, int y_signed,
                       int32_t y_zero, int32_t mult, int shift, size_t i0, size_t i1)
{
    int32_t lo = y_signed ? -128 : 0, hi = y_signed ? 127 : 255;
    for (size_t i = i0; i < i1; i++) {
        int32_t v = (x_signed ? ((const int8_t *)x)[i] : ((const uint8_t *)x)[i]) - x_zero;
        v = vk_requant_one(v, mult, shift, y_zero, lo, hi);
        if (y_signed)
            ((int8_t *)y)[i] = (int8_t)v;
        else
            ((uint8_t *)y)[i] = (uint8_t)v;
    }
}
