/* Reference f32 convolution, NHWC: a direct loop nest over the packed weights.
 * Summation order: bias, then residual, then the K = (kh, kw, c) products in
 * order — the same order the AVX-512 kernel starts from, so both differ only
 * by the grouping of the K terms. */
#include "../act.h"
#include "ref.h"

void vk_conv2d_f32_ref(const vk_conv2d_f32_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    const ptrdiff_t K = (ptrdiff_t)g->KH * g->KW * g->C;
    for (int r = r0; r < r1; r++) {
        const int n = r / g->OH, oh = r % g->OH;
        for (int ow = 0; ow < g->OW; ow++) {
            const ptrdiff_t opix = ((ptrdiff_t)r * g->OW + ow) * g->out_ld;
            for (int oc = 0; oc < g->OC; oc++) {
                const float *w =
                    a->Wp + (ptrdiff_t)(oc / VK_F32_NR) * K * VK_F32_NR + oc % VK_F32_NR;
                float acc = a->bias ? a->bias[oc] : 0.0f;
                if (a->residual)
                    acc += a->residual[opix + oc];
                for (int kh = 0; kh < g->KH; kh++) {
                    const int ih = oh * g->stride_h - g->pad_t + kh * g->dil_h;
                    if (ih < 0 || ih >= g->H)
                        continue;
                    for (int kw = 0; kw < g->KW; kw++) {
                        const int iw = ow * g->stride_w - g->pad_l + kw * g->dil_w;
                        if (iw < 0 || iw >= g->W)
                            continue;
                        const float *x =
                            a->in + (((ptrdiff_t)n * g->H + ih) * g->W + iw) * g->in_ld;
                        const float *wk = w + ((ptrdiff_t)(kh * g->KW + kw) * g->C) * VK_F32_NR;
                        for (int c = 0; c < g->C; c++)
                            acc += x[c] * wk[(ptrdiff_t)c * VK_F32_NR];
                    }
                }
                a->out[opix + oc] = vk_act1(acc, a->act);
            }
        }
    }
}
