/* Reference bf16 convolution, NHWC: a direct loop nest over the packed
 * weights (matmul-bf16 B layout over K = (kh, kw, c)). Input values are
 * rounded to bf16 as the AVX-512 path rounds its im2col tile (kernels.h);
 * products are exact in f32. Summation order: bias, residual, then the K
 * products in order; levels differ only in the order of the additions. */
#include "../act.h"
#include "ref.h"

void vk_conv2d_bf16_ref(const vk_conv2d_bf16_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    const ptrdiff_t K = (ptrdiff_t)g->KH * g->KW * g->C, K2 = (K + 1) / 2;
    for (int r = r0; r < r1; r++) {
        const int n = r / g->OH, oh = r % g->OH;
        for (int ow = 0; ow < g->OW; ow++) {
            const ptrdiff_t opix = ((ptrdiff_t)r * g->OW + ow) * g->out_ld;
            for (int oc = 0; oc < g->OC; oc++) {
                const uint16_t *w = a->Wp + (ptrdiff_t)(oc / VK_BF16_NR) * K2 * VK_BF16_NR * 2 +
                                    (oc % VK_BF16_NR) * 2;
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
                        const ptrdiff_t k0 = (ptrdiff_t)(kh * g->KW + kw) * g->C;
                        for (int c = 0; c < g->C; c++) {
                            const ptrdiff_t k = k0 + c;
                            acc += vk_bf16_to_f32(vk_f32_to_bf16(x[c])) *
                                   vk_bf16_to_f32(w[(k / 2) * VK_BF16_NR * 2 + (k & 1)]);
                        }
                    }
                }
                a->out[opix + oc] = vk_act1(acc, a->act);
            }
        }
    }
}
