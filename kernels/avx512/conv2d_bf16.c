/* AVX-512 BF16 convolution, NHWC: implicit GEMM on the vdpbf16ps tiles of
 * matmul_bf16_uk.c.
 *
 *   M = output pixels of rows [r0, r1) (flattened n·OH·OW + oh·OW + ow, so
 *   tiles may cross output rows and images), N = OC (the packed weights are
 *   the B panels), K = KH·KW·C in (kh, kw, c) order.
 *
 * Why vdpbf16ps and not bf16 weights widened to f32 FMAs: each instruction
 * does 32 multiply-adds instead of 16, and the price, rounding the input to
 * bf16, is paid once per im2col element per tile (1/OC of the work) — the
 * gathered tile is built anyway. The reference rounds the input the same way.
 *
 * Per tile (up to 14 pixels) and K block (<= 1024 k): the tile's im2col rows
 * are gathered from the input as runs — one tap's C channels, or a whole
 * kernel row of taps when the input is dense (pixel stride == C, no W
 * dilation) and the row is inside the image (the 3-channel stem: runs of
 * 3·KW) — rounded to bf16 into the scratch tile (padding taps become zeros),
 * then the tile sweeps the block's output channels (32 per step). Loops:
 * OC blocks whose kc × NC weights fit L2 (512 KB) × K blocks × tiles.
 * Every output starts from bias + residual (the residual is read before the
 * output is written, so residual == out works); K blocks depend on K alone,
 * so the result of an output does not depend on the rows a call covers.
 *
 * Patchify convs (stride == kernel, no padding, small C: a ViT's patch
 * embedding; vk_conv_patch_rows_bf16 in kernels/pack_conv.c) skip the
 * per-pixel gather above: a pixel's im2col row is KH plain copies
 * (conv_patch.h), so chunks of pixels are gathered as f32 rows into the
 * scratch and the bf16 matmul rounds and multiplies them (one thread: the
 * int8 ViT-B/32's patch embedding 1.08 → 0.80 ms; B/16's 0.71 → 0.64 ms).
 * Its K blocks are this file's, so both routes sum in the same order.
 */
#include <immintrin.h>
#include <string.h>

#include "../pack.h"
#include "avx512.h"
#include "conv_patch.h"
#include "matmul_bf16_uk.h"

#define L2_B_BYTES (512 * 1024)

/* n floats rounded to bf16 at dst (any alignment); never writes past n. */
static inline void cvt_run(uint16_t *dst, const float *src, int n)
{
    for (; n >= 16; n -= 16, dst += 16, src += 16)
        _mm256_storeu_si256((__m256i *)dst, (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src)));
    if (n > 0) {
        const __mmask16 m = (__mmask16)((1u << n) - 1);
        _mm256_mask_storeu_epi16(dst, m, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src)));
    }
}

static inline void zero_run(uint16_t *dst, int n)
{
    for (; n >= 32; n -= 32, dst += 32)
        _mm512_storeu_si512(dst, _mm512_setzero_si512());
    if (n > 0)
        _mm512_mask_storeu_epi16(dst, (__mmask32)((1ull << n) - 1), _mm512_setzero_si512());
}

/* im2col row of output pixel m for k in [k0, k0 + kc), rounded to bf16; a
 * zero after an odd kc completes the last pair. */
static void pack_pixel(uint16_t *d, const vk_conv_geom *g, const float *in, long long m, int k0,
                       int kc)
{
    const long long ohw = (long long)g->OH * g->OW;
    const int n = (int)(m / ohw), rem = (int)(m % ohw);
    const int ih0 = rem / g->OW * g->stride_h - g->pad_t;
    const int iw0 = rem % g->OW * g->stride_w - g->pad_l;
    const int C = g->C, dense = g->in_ld == C && g->dil_w == 1;
    const int kend = k0 + kc;
    int k = k0;
    while (k < kend) {
        const int tap = k / C, c = k - tap * C;
        const int kh = tap / g->KW, kw = tap % g->KW;
        const int ih = ih0 + kh * g->dil_h, iw = iw0 + kw * g->dil_w;
        int run = C - c;
        if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) {
            run = run < kend - k ? run : kend - k;
            zero_run(d + (k - k0), run);
        } else {
            if (dense) /* following taps of this kernel row inside the image */
                for (int kw2 = kw + 1; kw2 < g->KW && iw + (kw2 - kw) < g->W; kw2++)
                    run += C;
            run = run < kend - k ? run : kend - k;
            cvt_run(d + (k - k0),
                    in + (((ptrdiff_t)n * g->H + ih) * g->W + iw) * g->in_ld + c, run);
        }
        k += run;
    }
    if (kc & 1)
        d[kc] = 0;
}

/* Patchify route: one chunk of gathered rows (vk_conv_patch_run). */
static void patch_mm(const void *args, const float *A, int K, long long p0, int rows)
{
    const vk_conv2d_bf16_args *a = args;
    const vk_conv_geom *g = &a->g;
    vk_matmul_bf16_args m = {.M = rows, .N = g->OC, .K = K, .A = A, .lda = K, .Bp = a->Wp,
                             .bias = a->bias,
                             .residual = a->residual ? a->residual + p0 * g->out_ld : NULL,
                             .ldr = g->out_ld, .C = a->out + p0 * g->out_ld, .ldc = g->out_ld,
                             .act = a->act};
    vk_matmul_bf16_avx512(&m, 0, rows, 0, g->OC);
}

void vk_conv2d_bf16_avx512(const vk_conv2d_bf16_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    if (r1 <= r0 || g->OC <= 0)
        return;
    const int K = g->KH * g->KW * g->C, OC = g->OC;
    const long long m0 = (long long)r0 * g->OW, M = (long long)(r1 - r0) * g->OW;
    const int patch = vk_conv_patch_rows_bf16(g);
    if (patch > 0) {
        vk_conv_patch_run(g, a->in, (float *)a->scratch, m0, M, patch, patch_mm, a);
        return;
    }
    int nkb = 1, kc_step = K;
    if (K > VK_BF16_KC) {
        nkb = (K + VK_BF16_KC - 1) / VK_BF16_KC;
        kc_step = ((K + nkb - 1) / nkb + 31) & ~31;
        nkb = (K + kc_step - 1) / kc_step;
    }
    int nc = L2_B_BYTES / (kc_step * 2) / 32 * 32;
    nc = nc < 64 ? 64 : nc;
    const long long nt = (M + VK_BF16_MR - 1) / VK_BF16_MR;
    const ptrdiff_t bps = (ptrdiff_t)((K + 1) / 2) * VK_BF16_NR * 2;
    const ptrdiff_t ld = g->out_ld;
    uint16_t *abuf = a->scratch;

    for (int jc = 0; jc < OC; jc += nc) {
        const int jce = OC - jc < nc ? OC : jc + nc;
        const int nfull = (jce - jc) / 32, tail = (jce - jc) % 32;
        for (int kb = 0; kb < nkb; kb++) {
            const int k0 = kb * kc_step;
            const int kc = K - k0 < kc_step ? K - k0 : kc_step;
            const int last = kb == nkb - 1;
            vk_bf16_uk_args u;
            u.a = abuf;
            u.bps = bps;
            u.kc2 = (kc + 1) / 2;
            u.ldc = ld;
            u.ldr = ld;
            u.first = kb == 0;
            u.act = last && (a->act == VK_ACT_RELU || a->act == VK_ACT_RELU6) ? a->act
                                                                               : VK_ACT_NONE;
            for (long long t = 0; t < nt; t++) {
                const long long p0 = m0 + M * t / nt, p1 = m0 + M * (t + 1) / nt;
                const int r = (int)(p1 - p0);
                for (int i = 0; i < r; i++)
                    pack_pixel(abuf + i * VK_BF16_ALD, g, a->in, p0 + i, k0, kc);
                u.c = a->out + p0 * ld + jc;
                u.b = a->Wp + (ptrdiff_t)(jc / VK_BF16_NR) * bps + (ptrdiff_t)k0 * VK_BF16_NR;
                u.bias = u.first && a->bias ? a->bias + jc : NULL;
                u.res = u.first && a->residual ? a->residual + p0 * ld + jc : NULL;
                if (nfull > 0) {
                    u.ntiles = nfull;
                    u.mlast = 0xFFFF;
                    vk_bf16_uk[t == 0][r][2](&u);
                }
                if (tail > 0) {
                    const int off = nfull * 32, tv = (tail + 15) / 16;
                    const int rem = tail - 16 * (tv - 1);
                    vk_bf16_uk_args ut = u;
                    ut.b += (ptrdiff_t)nfull * 2 * bps;
                    ut.c += off;
                    ut.bias = u.bias ? u.bias + off : NULL;
                    ut.res = u.res ? u.res + off : NULL;
                    ut.ntiles = 1;
                    ut.mlast = (__mmask16)(rem == 16 ? 0xFFFF : (1u << rem) - 1);
                    vk_bf16_uk[t == 0][r][tv](&ut);
                }
                if (last)
                    vk_bf16_act_rows(a->out + p0 * ld + jc, ld, r, jce - jc, a->act);
            }
        }
    }
}
