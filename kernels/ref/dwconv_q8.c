/* Quantized depthwise convolution (channel multiplier 1), NHWC, reference:
 * Σ (x - a_zero)(w + b_offset) over the in-image taps in (kh, kw) order,
 * exact in int64 and reduced modulo 2^32 (see conv2d_q8.c), then bias and the
 * TFLite output stage of requant.h. */
#include <stdint.h>

#include "../kernels.h"
#include "../pack.h"
#include "../requant.h"
#include "ref.h"

static int32_t wrap32(int64_t v) { return (int32_t)(uint32_t)(uint64_t)v; }

void vk_dwconv_q8_ref(const vk_dwconv_q8_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    const ptrdiff_t Cp = (ptrdiff_t)vk_round_up((size_t)g->C, 16);
    int32_t lo = a->rq.out_min, hi = a->rq.out_max;
    const int32_t tlo = a->a_signed ? -128 : 0, thi = a->a_signed ? 127 : 255;
    lo = lo < tlo ? tlo : lo;
    hi = hi > thi ? thi : hi;
    for (int r = r0; r < r1; r++) {
        const int n = r / g->OH, oh = r % g->OH;
        for (int ow = 0; ow < g->OW; ow++) {
            const ptrdiff_t o = ((ptrdiff_t)r * g->OW + ow) * g->out_ld;
            for (int c = 0; c < g->C; c++) {
                int64_t acc = 0;
                for (int kh = 0; kh < g->KH; kh++) {
                    const int ih = oh * g->stride_h - g->pad_t + kh * g->dil_h;
                    if (ih < 0 || ih >= g->H)
                        continue;
                    for (int kw = 0; kw < g->KW; kw++) {
                        const int iw = ow * g->stride_w - g->pad_l + kw * g->dil_w;
                        if (iw < 0 || iw >= g->W)
                            continue;
                        const ptrdiff_t px =
                            (((ptrdiff_t)n * g->H + ih) * g->W + iw) * g->in_ld + c;
                        const int64_t x = a->a_signed ? ((const int8_t *)a->in)[px]
                                                      : ((const uint8_t *)a->in)[px];
                        const int64_t w = a->Wp[(ptrdiff_t)(kh * g->KW + kw) * Cp + c];
                        acc += (x - a->a_zero) * (w + a->b_offset);
                    }
                }
                const int32_t s = wrap32(acc + (a->bias ? a->bias[c] : 0));
                const int q = a->rq.per_channel ? c : 0;
                int64_t v = (int64_t)vk_mbqm(s, a->rq.mult[q], a->rq.shift[q]) + a->rq.out_zero;
                v = v < lo ? lo : v > hi ? hi : v;
                if (a->a_signed)
                    ((int8_t *)a->out)[o + c] = (int8_t)v;
                else
                    ((uint8_t *)a->out)[o + c] = (uint8_t)v;
            }
        }
    }
}
