#include "../requant.h"
#include "ref.h"

void vk_add_q8_ref(const void *a, const void *b, void *y, const vk_add_q8_params *p, size_t i0,
                   size_t i1)
{
    const uint8_t *au = a, *bu = b;
    const int8_t *as = a, *bs = b;
    for (size_t i = i0; i < i1; i++) {
        int32_t va = (p->is_signed ? as[i] : au[i]) - p->a_zero;
        int32_t vb = (p->is_signed ? bs[i] : bu[i]) - p->b_zero;
        /* |v| <= 255 so v·2^20 fits in int32, as in TFLite. */
        int32_t sa = vk_mbqm(va * (1 << p->left_shift), p->a_mult, p->a_shift);
        int32_t sb = vk_mbqm(vb * (1 << p->left_shift), p->b_mult, p->b_shift);
        int32_t v = vk_requant_one(sa + sb, p->out_mult, p->out_shift, p->out_zero, p->out_min,
                                   p->out_max);
        if (p->is_signed)
            ((int8_t *)y)[i] = (int8_t)v;
        else
            ((uint8_t *)y)[i] = (uint8_t)v;
    }
}
