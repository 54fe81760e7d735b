#include <math.h>

#include "ref.h"

void vk_maxpool_f32_ref(const vk_conv_geom *g, const float *in, float *out, int r0, int r1)
{
    for (int r = r0; r < r1; r++) {
        int n = r / g->OH, oh = r % g->OH;
        for (int ow = 0; ow < g->OW; ow++)
            for (int c = 0; c < g->C; c++) {
                float m = -INFINITY;
                for (int kh = 0; kh < g->KH; kh++) {
                    int ih = oh * g->stride_h - g->pad_t + kh * g->dil_h;
                    if (ih < 0 || ih >= g->H)
                        continue;
                    for (int kw = 0; kw < g->KW; kw++) {
                        int iw = ow * g->stride_w - g->pad_l + kw * g->dil_w;
                        if (iw < 0 || iw >= g->W)
                            continue;
                        float v = in[((size_t)(n * g->H + ih) * g->W + iw) * g->in_ld + c];
                        m = v > m ? v : m;
                    }
                }
                out[((size_t)(n * g->OH + oh) * g->OW + ow) * g->out_ld + c] = m;
            }
    }
}
