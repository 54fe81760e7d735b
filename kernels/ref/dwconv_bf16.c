/* Reference bf16 depthwise convolution, NHWC, channel multiplier 1: f32
 * input times the bf16 weight widened to f32 (kernels.h: the input is not
 * rounded). Summation order: bias, then the taps in (kh, kw) order. */
#include "../act.h"
#include "../pack.h"
#include "ref.h"

void vk_dwconv_bf16_ref(const vk_dwconv_bf16_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    const ptrdiff_t Cp = (ptrdiff_t)vk_round_up((size_t)g->C, 16);
    for (int r = r0; r < r1; r++) {
        const int n = r / g->OH, oh = r % g->OH;
        for (int ow = 0; ow < g->OW; ow++) {
            float *y = a->out + ((ptrdiff_t)r * g->OW + ow) * g->out_ld;
            for (int c = 0; c < g->C; c++) {
                float acc = a->bias ? a->bias[c] : 0.0f;
                for (int kh = 0; kh < g->KH; kh++) {
                    const int ih = oh * g->stride_h - g->pad_t + kh * g->dil_h;
                    if (ih < 0 || ih >= g->H)
                        continue;
                    for (int kw = 0; kw < g->KW; kw++) {
                        const int iw = ow * g->stride_w - g->pad_l + kw * g->dil_w;
                        if (iw < 0 || iw >= g->W)
                            continue;
                        acc += a->in[(((ptrdiff_t)n * g->H + ih) * g->W + iw) * g->in_ld + c] *
                               vk_bf16_to_f32(a->Wp[(ptrdiff_t)(kh * g->KW + kw) * Cp + c]);
                    }
                }
                y[c] = vk_act1(acc, a->act);
            }
        }
    }
}
