/* TFLite's Prepare for quantized Add (uint8 / int8, not int16). */
#include "kernels.h"
#include "requant.h"

void vk_add_q8_prepare(float a_scale, int32_t a_zero, float b_scale, int32_t b_zero,
                       float out_scale, int32_t out_zero, int is_signed, int32_t out_min,
                       int32_t out_max, vk_add_q8_params *p)
{
    p->is_signed = is_signed;
    p->left_shift = 20;
    p->a_zero = a_zero;
    p->b_zero = b_zero;
    p->out_zero = out_zero;
    double twice_max = 2.0 * (a_scale > b_scale ? a_scale : b_scale);
    vk_quantize_multiplier(a_scale / twice_max, &p->a_mult, &p->a_shift);
    vk_quantize_multiplier(b_scale / twice_max, &p->b_mult, &p->b_shift);
    vk_quantize_multiplier(twice_max / ((double)(1 << p->left_shift) * out_scale), &p->out_mult,
                           &p->out_shift);
    p->out_min = out_min;
    p->out_max = out_max;
}
