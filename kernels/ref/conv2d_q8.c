/* Quantized convolution, NHWC, reference: TFLite's quantized conv computed
 * directly, Σ (x - a_zero)(w + b_offset) over the in-image taps, without the
 * zero-point expansion (column sums, row sums) that the optimised kernels
 * rely on, so that they are checked against something independent of it.
 * Out-of-image taps are skipped: TFLite pads with the input zero point, which
 * contributes (a_zero - a_zero)·w = 0.
 *
 * Accumulation is exact (int64) and then reduced modulo 2^32: what an int32
 * accumulator computes whenever the sum is representable (always for
 * KH·KW·C <= 33025, since |x - a_zero|, |w + b_offset| <= 255), and the same
 * wrapped value as any other order of int32 additions otherwise. */
#include <stdint.h>

#include "../kernels.h"
#include "../requant.h"
#include "ref.h"

static int32_t wrap32(int64_t v) { return (int32_t)(uint32_t)(uint64_t)v; }

void vk_conv2d_q8_ref(const vk_conv2d_q8_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    const int K = g->KH * g->KW * g->C, K4 = (K + 3) / 4;
    /* The clamp bounds also saturate to the output type. */
    int32_t lo = a->rq.out_min, hi = a->rq.out_max;
    const int32_t tlo = a->a_signed ? -128 : 0, thi = a->a_signed ? 127 : 255;
    lo = lo < tlo ? tlo : lo;
    hi = hi > thi ? thi : hi;
    for (int r = r0; r < r1; r++) {
        const int n = r / g->OH, oh = r % g->OH;
        for (int ow = 0; ow < g->OW; ow++) {
            const ptrdiff_t o = ((ptrdiff_t)r * g->OW + ow) * g->out_ld;
            for (int oc = 0; oc < g->OC; oc++) {
                /* column oc of the packed weights: k at wcol[(k/4)·4·NR + k%4] */
                const int8_t *wcol = a->Wp + (size_t)(oc / VK_Q8_NR) * K4 * VK_Q8_NR * 4 +
                                     (size_t)(oc % VK_Q8_NR) * 4;
                int64_t acc = 0;
                for (int kh = 0; kh < g->KH; kh++) {
                    const int ih = oh * g->stride_h - g->pad_t + kh * g->dil_h;
                    if (ih < 0 || ih >= g->H)
                        continue;
                    for (int kw = 0; kw < g->KW; kw++) {
                        const int iw = ow * g->stride_w - g->pad_l + kw * g->dil_w;
                        if (iw < 0 || iw >= g->W)
                            continue;
                        const ptrdiff_t px = (((ptrdiff_t)n * g->H + ih) * g->W + iw) * g->in_ld;
                        for (int c = 0; c < g->C; c++) {
                            const unsigned k = (unsigned)((kh * g->KW + kw) * g->C + c);
                            const int64_t x = a->a_signed ? ((const int8_t *)a->in)[px + c]
                                                          : ((const uint8_t *)a->in)[px + c];
                            const int64_t w = wcol[(size_t)(k / 4) * VK_Q8_NR * 4 + k % 4];
                            acc += (x - a->a_zero) * (w + a->b_offset);
                        }
                    }
                }
                const int32_t s = wrap32(acc + (a->bias ? a->bias[oc] : 0));
                const int q = a->rq.per_channel ? oc : 0;
                /* Zero point added in 64 bits: with an extreme accumulator
                 * and shift > 0 the int32 sum could overflow. */
                int64_t v = (int64_t)vk_mbqm(s, a->rq.mult[q], a->rq.shift[q]) + a->rq.out_zero;
                v = v < lo ? lo : v > hi ? hi : v;
                if (a->a_signed)
                    ((int8_t *)a->out)[o + oc] = (int8_t)v;
                else
                    ((uint8_t *)a->out)[o + oc] = (uint8_t)v;
            }
        }
    }
}
