/* bf16 convolution, NHWC, NEON: implicit GEMM (M = output pixels, N = output
 * channels in 16-column panels, K = KH·KW·C in (kh, kw, c) order) on the
 * widening 4×16 tile of matmul_bf16_tile.c, with the f32 kernels' fused
 * epilogue (bias, residual, activation, in that order after the products).
 *
 * A rows: 1×1 without padding reads the input pixels in place and rounds
 * them to bf16 in the tile; everything else gathers 4 pixels' whole im2col
 * rows into the scratch (vk_conv2d_bf16_scratch: 4·K floats), rounded once
 * and zeros for padding taps, reused by every panel. Each output is summed
 * over k in order whatever the rows a call covers.
 */
#include "../pack.h"
#include "bf16_neon.h"
#include "neon.h"

#define MR VK_F32N_MR

/* im2col row of output pixel m (flattened n·OH·OW + oh·OW + ow), rounded */
static void gather(float *d, const vk_conv_geom *g, const float *in, long long m)
{
    const long long ohw = (long long)g->OH * g->OW;
    const int n = (int)(m / ohw), rem = (int)(m % ohw);
    const int ih0 = rem / g->OW * g->stride_h - g->pad_t;
    const int iw0 = rem % g->OW * g->stride_w - g->pad_l;
    for (int kh = 0; kh < g->KH; kh++)
        for (int kw = 0; kw < g->KW; kw++, d += g->C) {
            const int ih = ih0 + kh * g->dil_h, iw = iw0 + kw * g->dil_w;
            if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) {
                for (int c = 0; c < g->C; c++)
                    d[c] = 0.0f;
                continue;
            }
            const float *x = in + (((ptrdiff_t)n * g->H + ih) * g->W + iw) * g->in_ld;
            int c = 0;
            for (; c + 4 <= g->C; c += 4)
                vst1q_f32(d + c, vbf_round(vld1q_f32(x + c)));
            for (; c < g->C; c++)
                d[c] = vk_bf16_to_f32(vk_f32_to_bf16(x[c]));
        }
}

void vk_conv2d_bf16_neon(const vk_conv2d_bf16_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    if (r1 <= r0)
        return;
    const int K = g->KH * g->KW * g->C;
    const size_t bps = (size_t)((K + 1) / 2) * VK_BF16_NR * 2;
    const int direct = g->KH == 1 && g->KW == 1 && g->pad_t == 0 && g->pad_l == 0;
    const long long m0 = (long long)r0 * g->OW, m1 = (long long)r1 * g->OW;
    const long long ohw = (long long)g->OH * g->OW;
    float *scratch = a->scratch;
    for (long long m = m0; m < m1; m += MR) {
        const int R = m1 - m < MR ? (int)(m1 - m) : MR;
        const float *rows[MR];
        for (int r = 0; r < MR; r++) {
            const long long p = m + (r < R ? r : 0);
            if (direct) {
                const int n = (int)(p / ohw), rem = (int)(p % ohw);
                const int ih = rem / g->OW * g->stride_h, iw = rem % g->OW * g->stride_w;
                rows[r] = a->in + (((ptrdiff_t)n * g->H + ih) * g->W + iw) * g->in_ld;
            } else {
                rows[r] = scratch + (size_t)(r < R ? r : 0) * K;
                if (r < R)
                    gather(scratch + (size_t)r * K, g, a->in, p);
            }
        }
        for (int p = 0; p * VK_BF16_NR < g->OC; p++) {
            const int oc = p * VK_BF16_NR, w = g->OC - oc < 16 ? g->OC - oc : 16;
            float32x4_t acc[MR][4];
            for (int r = 0; r < R; r++)
                for (int v = 0; v < 4; v++)
                    acc[r][v] = vdupq_n_f32(0.0f);
            vk_bf16_tile_neon(rows, R, K, a->Wp + (size_t)p * bps, direct, acc);
            for (int r = 0; r < R; r++) {
                const ptrdiff_t o = (ptrdiff_t)(m + r) * g->out_ld + oc;
                vfn_epi_row(acc[r], a->bias ? a->bias + oc : NULL,
                            a->residual ? a->residual + o : NULL, a->out + o, w, a->act);
            }
        }
    }
}
