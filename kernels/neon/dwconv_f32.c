/* f32 depthwise convolution (channel multiplier 1), NHWC, NEON: channels on
 * lanes, 16 per block (4 vectors), then single vectors of 4, then the < 4
 * left over through a copy (nothing past C is read or written). Per output
 * pixel: acc = bias, then one FMA per in-image tap in (kh, kw) order (padding
 * taps add nothing and are skipped, as in the reference), then the
 * activation (GELU / QuickGELU: act.h's scalar definitions). Loop order:
 * output rows, channel blocks, the row's pixels.
 */
#include <string.h>

#include "../pack.h"
#include "f32_neon.h"
#include "neon.h"

/* One output row r of channels [c0, c0 + 4·NV) (TAIL: c0 + cw, cw < 4). */
VFN_AI void blk_row(const vk_dwconv_f32_args *a, int r, int c0, int cw, const int NV,
                    const int TAIL)
{
    const vk_conv_geom *g = &a->g;
    const ptrdiff_t Cp = (ptrdiff_t)vk_round_up((size_t)g->C, 16), ld = g->in_ld;
    const int n = r / g->OH, oh = r % g->OH;
    float32x4_t bias[4];
    for (int v = 0; v < NV; v++) {
        float t[4] = {0, 0, 0, 0};
        if (a->bias)
            memcpy(t, a->bias + c0 + 4 * v, (size_t)(TAIL ? cw : 4) * sizeof *t);
        bias[v] = vld1q_f32(t);
    }
    const float *in = a->in + c0;
    float *out = a->out + (ptrdiff_t)r * g->OW * g->out_ld + c0;
    for (int ow = 0; ow < g->OW; ow++) {
        float32x4_t acc[4];
        for (int v = 0; v < NV; v++)
            acc[v] = bias[v];
        for (int kh = 0; kh < g->KH; kh++) {
            const int ih = oh * g->stride_h - g->pad_t + kh * g->dil_h;
            if (ih < 0 || ih >= g->H)
                continue;
            const float *row = in + ((ptrdiff_t)n * g->H + ih) * g->W * ld;
            const float *wrow = a->Wp + (ptrdiff_t)kh * g->KW * Cp + c0;
            for (int kw = 0; kw < g->KW; kw++) {
                const int iw = ow * g->stride_w - g->pad_l + kw * g->dil_w;
                if (iw < 0 || iw >= g->W)
                    continue;
                const float *x = row + iw * ld, *w = wrow + kw * Cp; /* Cp: w reads are padded */
                if (TAIL) {
                    float t[4] = {0, 0, 0, 0};
                    memcpy(t, x, (size_t)cw * sizeof *t);
                    acc[0] = vfmaq_f32(acc[0], vld1q_f32(t), vld1q_f32(w));
                } else {
                    for (int v = 0; v < NV; v++)
                        acc[v] = vfmaq_f32(acc[v], vld1q_f32(x + 4 * v), vld1q_f32(w + 4 * v));
                }
            }
        }
        float *y = out + (ptrdiff_t)ow * g->out_ld;
        float t[16];
        for (int v = 0; v < NV; v++) {
            float32x4_t s = acc[v];
            if (a->act == VK_ACT_RELU || a->act == VK_ACT_RELU6)
                s = vfn_relu(s, a->act == VK_ACT_RELU6);
            vst1q_f32(t + 4 * v, s);
        }
        const int nw = TAIL ? cw : 4 * NV;
        if (a->act == VK_ACT_GELU || a->act == VK_ACT_QUICKGELU)
            for (int j = 0; j < nw; j++)
                t[j] = vk_act1(t[j], a->act);
        memcpy(y, t, (size_t)nw * sizeof *y);
    }
}

static void row16(const vk_dwconv_f32_args *a, int r, int c0) { blk_row(a, r, c0, 16, 4, 0); }
static void row4(const vk_dwconv_f32_args *a, int r, int c0) { blk_row(a, r, c0, 4, 1, 0); }
static void rowt(const vk_dwconv_f32_args *a, int r, int c0, int cw) { blk_row(a, r, c0, cw, 1, 1); }

void vk_dwconv_f32_neon(const vk_dwconv_f32_args *a, int r0, int r1)
{
    const int C = a->g.C;
    for (int r = r0; r < r1; r++) {
        int c0 = 0;
        for (; c0 + 16 <= C; c0 += 16)
            row16(a, r, c0);
        for (; c0 + 4 <= C; c0 += 4)
            row4(a, r, c0);
        if (c0 < C)
            rowt(a, r, c0, C - c0);
    }
}
