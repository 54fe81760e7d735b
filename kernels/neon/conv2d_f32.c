/* f32 convolution, NHWC, NEON: implicit GEMM (M = output pixels, N = output
 * channels in 16-column panels, K = KH·KW·C in (kh, kw, c) order) on the
 * 4×16 FMA tile of f32_tile.c, with the fused bias + residual + activation
 * epilogue of f32_neon.h.
 *
 * A rows, by geometry (never by range, so a split call sums every output in
 * the same order as one call):
 *  - 1×1 without padding: the input pixels in place, one K run each;
 *  - K <= 512: blocks of up to 12 pixels gathered (im2col) into the scratch,
 *    zeros for padding taps; the block is then reused by every panel from L1;
 *  - larger K (3×3 over >= 57 channels): per tap, one run of C floats per
 *    pixel read in place, a padding tap reading a row of zeros instead; the
 *    accumulators stay in the tile across the taps of a pixel tile.
 * scratch (vk_conv2d_f32_scratch: 14 × 512 floats, then round_up(KW·C, 16)
 * floats): the im2col block, then the zero row.
 */
#include <string.h>

#include "../pack.h"
#include "f32_neon.h"
#include "neon.h"

#define MR VK_F32N_MR
#define KC 512    /* pack_conv.c's CONV_F32_KC: floats per scratch row */
#define PIX 12    /* im2col pixels per block (scratch rows: 14) */

typedef struct conv_ctx {
    const vk_conv2d_f32_args *a;
    int K;
    const float *zero; /* >= C zeros */
} conv_ctx;

/* Rows R of out (pixels m .. m + R − 1) from the tile's accumulators. */
static void epi(const conv_ctx *x, int m, int R, int p, float32x4_t acc[MR][4])
{
    const vk_conv2d_f32_args *a = x->a;
    const int OC = a->g.OC, n = 16 * p, w = OC - n < 16 ? OC - n : 16;
    for (int r = 0; r < R; r++) {
        const ptrdiff_t o = (ptrdiff_t)(m + r) * a->g.out_ld + n;
        vfn_epi_row(acc[r], a->bias ? a->bias + n : NULL, a->residual ? a->residual + o : NULL,
                    a->out + o, w, a->act);
    }
}

static void zero_acc(float32x4_t acc[MR][4])
{
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < 4; v++)
            acc[r][v] = vdupq_n_f32(0.0f);
}

/* M rows of A (lda apart, K floats each) for pixels m.. : every panel. */
static void gemm_rows(const conv_ctx *x, const float *A, ptrdiff_t lda, int M, int m)
{
    const vk_conv2d_f32_args *a = x->a;
    const int P = (a->g.OC + 15) / 16;
    for (int p = 0; p < P; p++) {
        const float *bp = a->Wp + (size_t)p * x->K * 16;
        for (int i = 0; i < M; i += MR) {
            const int R = M - i < MR ? M - i : MR;
            const float *rows[MR];
            for (int r = 0; r < MR; r++)
                rows[r] = A + (ptrdiff_t)(i + (r < R ? r : 0)) * lda;
            float32x4_t acc[MR][4];
            zero_acc(acc);
            vk_f32_tile_neon(rows, R, x->K, bp, acc);
            epi(x, m + i, R, p, acc);
        }
    }
}

/* Where pixel m's tap (kh, kw) starts, or NULL outside the image. */
static const float *tap(const vk_conv2d_f32_args *a, int m, int kh, int kw)
{
    const vk_conv_geom *g = &a->g;
    const int r = m / g->OW, ow = m % g->OW, n = r / g->OH, oh = r % g->OH;
    const int ih = oh * g->stride_h - g->pad_t + kh * g->dil_h;
    const int iw = ow * g->stride_w - g->pad_l + kw * g->dil_w;
    if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W)
        return NULL;
    return a->in + (((ptrdiff_t)n * g->H + ih) * g->W + iw) * g->in_ld;
}

static void im2col(const vk_conv2d_f32_args *a, int m, int M, float *col)
{
    const vk_conv_geom *g = &a->g;
    const int C = g->C, K = g->KH * g->KW * C;
    for (int i = 0; i < M; i++)
        for (int kh = 0; kh < g->KH; kh++)
            for (int kw = 0; kw < g->KW; kw++) {
                float *dst = col + (ptrdiff_t)i * K + (kh * g->KW + kw) * C;
                const float *src = tap(a, m + i, kh, kw);
                if (src)
                    memcpy(dst, src, (size_t)C * sizeof *dst);
                else
                    memset(dst, 0, (size_t)C * sizeof *dst);
            }
}

/* Pixels [m, m + R) × every panel, K in runs of C per tap. */
static void gemm_taps(const conv_ctx *x, int m, int R)
{
    const vk_conv2d_f32_args *a = x->a;
    const vk_conv_geom *g = &a->g;
    const int P = (g->OC + 15) / 16, C = g->C;
    for (int p = 0; p < P; p++) {
        const float *bp = a->Wp + (size_t)p * x->K * 16;
        float32x4_t acc[MR][4];
        zero_acc(acc);
        for (int kh = 0; kh < g->KH; kh++)
            for (int kw = 0; kw < g->KW; kw++) {
                const float *rows[MR];
                for (int r = 0; r < MR; r++) {
                    const float *s = tap(a, m + (r < R ? r : 0), kh, kw);
                    rows[r] = s ? s : x->zero;
                }
                vk_f32_tile_neon(rows, R, C, bp + (size_t)(kh * g->KW + kw) * C * 16, acc);
            }
        epi(x, m, R, p, acc);
    }
}

void vk_conv2d_f32_neon(const vk_conv2d_f32_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    if (r0 >= r1)
        return;
    const int C = g->C, K = g->KH * g->KW * C;
    conv_ctx x = {.a = a, .K = K};
    const int direct = g->KH == 1 && g->KW == 1 && g->pad_t == 0 && g->pad_l == 0 &&
                       (g->OH - 1) * g->stride_h < g->H && (g->OW - 1) * g->stride_w < g->W;
    if (direct) {
        const int flat = g->stride_h == 1 && g->stride_w == 1 && g->OH == g->H && g->OW == g->W;
        for (int r = r0; r < r1; r = flat ? r1 : r + 1) {
            const int M = flat ? (r1 - r0) * g->OW : g->OW;
            const int n = r / g->OH, oh = r % g->OH;
            const float *A = a->in + (flat ? (ptrdiff_t)r * g->W
                                           : ((ptrdiff_t)n * g->H + oh * g->stride_h) * g->W) *
                                         g->in_ld;
            const ptrdiff_t lda = flat ? g->in_ld : g->stride_w * g->in_ld;
            /* blocks of pixels so that their rows stay in cache across panels */
            for (int i = 0; i < M; i += 64) {
                const int mb = M - i < 64 ? M - i : 64;
                gemm_rows(&x, A + i * lda, lda, mb, r * g->OW + i);
            }
        }
        return;
    }
    const int m0 = r0 * g->OW, m1 = r1 * g->OW;
    if (K <= KC) {
        float *col = a->scratch;
        for (int m = m0; m < m1; m += PIX) {
            const int mb = m1 - m < PIX ? m1 - m : PIX;
            im2col(a, m, mb, col);
            gemm_rows(&x, col, K, mb, m);
        }
        return;
    }
    float *zero = (float *)a->scratch + 14 * KC;
    memset(zero, 0, (size_t)C * sizeof *zero);
    x.zero = zero;
    for (int m = m0; m < m1; m += MR)
        gemm_taps(&x, m, m1 - m < MR ? m1 - m : MR);
}
