/* Quantized average and max pooling (TFLite reference semantics). */
#include "ref.h"

static void pool(const vk_conv_geom *g, const void *in, void *out, int is_signed, int32_t lo,
                 int32_t hi, int r0, int r1, int is_max)
{
    for (int r = r0; r < r1; r++) {
        int n = r / g->OH, oh = r % g->OH;
        for (int ow = 0; ow < g->OW; ow++)
            for (int c = 0; c < g->C; c++) {
                int32_t acc = is_max ? INT32_MIN : 0;
                int count = 0;
                for (int kh = 0; kh < g->KH; kh++) {
                    int ih = oh * g->stride_h - g->pad_t + kh * g->dil_h;
                    if (ih < 0 || ih >= g->H)
                        continue;
                    for (int kw = 0; kw < g->KW; kw++) {
                        int iw = ow * g->stride_w - g->pad_l + kw * g->dil_w;
                        if (iw < 0 || iw >= g->W)
                            continue;
                        size_t idx = ((size_t)(n * g->H + ih) * g->W + iw) * g->in_ld + c;
                        int32_t v = is_signed ? ((const int8_t *)in)[idx] : ((const uint8_t *)in)[idx];
                        acc = is_max ? (v > acc ? v : acc) : acc + v;
                        count++;
                    }
                }
                int32_t v;
                if (count == 0)
                    v = 0; /* a window entirely in padding: TFLite leaves 0 too */
                else if (is_max)
                    v = acc;
                else
                    v = acc >= 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                v = v < lo ? lo : v > hi ? hi : v;
                size_t o = ((size_t)(n * g->OH + oh) * g->OW + ow) * g->out_ld + c;
                if (is_signed)
                    ((int8_t *)out)[o] = (int8_t)v;
                else
                    ((uint8_t *)out)[o] = (uint8_t)v;
            }
    }
}

void vk_avgpool_q8_ref(const vk_conv_geom *g, const void *in, void *out, int is_signed, int32_t lo,
                       int32_t hi, int r0, int r1)
{
    pool(g, in, out, is_signed, lo, hi, r0, r1, 0);
}

void vk_maxpool_q8_ref(const vk_conv_geom *g, const void *in, void *out, int is_signed, int32_t lo,
                       int32_t hi, int r0, int r1)
{
    pool(g, in, out, is_signed, lo, hi, r0, r1, 1);
}
