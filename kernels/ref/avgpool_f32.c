/* NHWC average pooling, reference (TFLite semantics: the divisor is the number
 * of window taps that fall inside the image). Taps are summed in (kh, kw)
 * order; a window with no tap inside the image yields 0. */
#include "ref.h"

void vk_avgpool_f32_ref(const vk_conv_geom *g, const float *in, float *out, int r0, int r1)
{
    const int C = g->C;
    const int dh = g->dil_h > 0 ? g->dil_h : 1, dw = g->dil_w > 0 ? g->dil_w : 1;
    for (int r = r0; r < r1; r++) {
        const int n = r / g->OH, oh = r % g->OH;
        for (int ow = 0; ow < g->OW; ow++) {
            float *o = out + ((ptrdiff_t)r * g->OW + ow) * g->out_ld;
            for (int c = 0; c < C; c++)
                o[c] = 0.0f;
            int count = 0;
            for (int kh = 0; kh < g->KH; kh++) {
                const int ih = oh * g->stride_h - g->pad_t + kh * dh;
                if (ih < 0 || ih >= g->H)
                    continue;
                for (int kw = 0; kw < g->KW; kw++) {
                    const int iw = ow * g->stride_w - g->pad_l + kw * dw;
                    if (iw < 0 || iw >= g->W)
                        continue;
                    const float *p = in + (((ptrdiff_t)n * g->H + ih) * g->W + iw) * g->in_ld;
                    for (int c = 0; c < C; c++)
                        o[c] += p[c];
                    count++;
                }
            }
            if (count > 0)
                for (int c = 0; c < C; c++)
                    o[c] /= (float)count;
        }
    }
}
