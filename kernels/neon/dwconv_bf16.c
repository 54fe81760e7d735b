/* bf16 depthwise convolution, NEON: bf16 weights widened to f32, f32 FMAs
 * (kernels.h: the input is not rounded). As on AVX-512 (see
 * kernels/avx512/dwconv_bf16.c for why not pairs of bf16 products): per
 * slice of 64 channels the slice's weights are widened into a stack buffer
 * and the f32 NEON kernel runs on the slice (C = 64, the same pixel strides;
 * it blocks channels by 16 within a row, so results equal a whole-row run).
 * Kernels beyond 16×16 taps run in 16-channel slices, past 32×32 on the
 * reference. */
#include <arm_neon.h>

#include "../pack.h"
#include "../ref/ref.h"
#include "neon.h"

#define SLICE 64
#define WBUF_FLOATS (16 * 16 * SLICE)

void vk_dwconv_bf16_neon(const vk_dwconv_bf16_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    const int taps = g->KH * g->KW;
    const int slice = taps * SLICE <= WBUF_FLOATS ? SLICE : 16;
    if (r1 <= r0)
        return;
    if ((long long)taps * slice > WBUF_FLOATS) {
        vk_dwconv_bf16_ref(a, r0, r1);
        return;
    }
    float wbuf[WBUF_FLOATS] __attribute__((aligned(16)));
    const ptrdiff_t Cp = (ptrdiff_t)vk_round_up((size_t)g->C, 16);
    for (int cs = 0; cs < g->C; cs += slice) {
        const int cn = g->C - cs < slice ? g->C - cs : slice;
        const int cnp = (cn + 15) & ~15;
        for (int t = 0; t < taps; t++)
            for (int j = 0; j < cnp; j += 8) {
                const uint16x8_t h = vld1q_u16(a->Wp + t * Cp + cs + j);
                vst1q_f32(wbuf + t * cnp + j, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)));
                vst1q_f32(wbuf + t * cnp + j + 4, vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)));
            }
        vk_dwconv_f32_args f = {
            .g = *g, .in = a->in + cs, .Wp = wbuf, .bias = a->bias ? a->bias + cs : NULL,
            .out = a->out + cs, .act = a->act,
        };
        f.g.C = f.g.OC = cn;
        vk_dwconv_f32_neon(&f, r0, r1);
    }
}
