/* Element-wise ops, reference: activation and add (+ fused activation). */
#include "../act.h"
#include "ref.h"

void vk_act_f32_ref(const float *x, float *y, vk_act act, size_t i0, size_t i1)
{
    for (size_t i = i0; i < i1; i++)
        y[i] = vk_act1(x[i], act);
}

void vk_add_f32_ref(const float *a, const float *b, float *y, vk_act act, size_t i0, size_t i1)
{
    for (size_t i = i0; i < i1; i++)
        y[i] = vk_act1(a[i] + b[i], act);
}
