#include "../requant.h"
#include "ref.h"

void vk_mean_q8_ref(const void *in, ptrdiff_t in_ld, int HW, int C, int is_signed, int32_t in_zero,
                    int32_t mult, int shift, int32_t out_zero, int32_t lo, int32_t hi, void *out,
                    int n0, int n1)
{
    for (int n = n0; n < n1; n++)
        for (int c = 0; c < C; c++) {
            int32_t acc = 0; /* HW·255 fits easily */
            for (int q = 0; q < HW; q++) {
                size_t i = ((size_t)n * HW + q) * in_ld + c;
                acc += (is_signed ? ((const int8_t *)in)[i] : ((const uint8_t *)in)[i]) - in_zero;
            }
            int32_t v = vk_mbqm(acc, mult, shift);
            v = v > 0 ? (v + HW / 2) / HW : (v - HW / 2) / HW;
            v += out_zero;
            v = v < lo ? lo : v > hi ? hi : v;
            if (is_signed)
                ((int8_t *)out)[(size_t)n * C + c] = (int8_t)v;
            else
                ((uint8_t *)out)[(size_t)n * C + c] = (uint8_t)v;
        }
}
