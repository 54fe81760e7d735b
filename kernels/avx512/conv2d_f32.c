/* AVX-512 f32 convolution, NHWC: implicit GEMM.
 *
 *   M = output pixels, N = OC (the packed weights are the B panels, 16
 *   channels each), K = KH·KW·C in (kh, kw, c) order.
 *
 * Register tile: up to 14 pixels × 32 channels (conv2d_f32_uk.c). Tile
 * heights are balanced (56 = 4 × 14, 28 = 2 × 14, 7 = 7, never a 1-pixel
 * tail). With padding, tiles stay inside an output row, so the top/bottom
 * rows skip whole taps and the border pixels skip theirs; without (1×1),
 * tiles run across rows.
 *
 * Main path (C >= 16, or a dense small-C input with K <= 512): the direct
 * micro-kernel reads the input in place, whole K in registers, one k loop per
 * tap — or per kernel row when the input is dense (pixel stride == C) and
 * every kw of the tile is inside the image: then a row of KW taps is KW·C
 * consecutive floats, which is how the 3-channel first layers get k loops of
 * 9 or 21 instead of 3. Loops: N blocks whose weights fit in L2 (512 KB) ×
 * tiles × 32-channel slices, so a tile's input stays in L1 across the slices.
 *
 * Gathered path (small C tiles at the image border, small-C convs with a
 * strided input, dilation or K > 512): the tile's im2col rows are copied into
 * scratch (padding becomes zeros) and a K-blocked micro-kernel runs on them;
 * partial sums of earlier K blocks live in the output itself.
 *
 * Patchify route (stride == kernel, no padding, small C: a ViT's patch
 * embedding; vk_conv_patch_rows_f32 in kernels/pack_conv.c decides): a
 * pixel's im2col row is KH plain copies (conv_patch.h), so chunks of pixels
 * are gathered whole into the scratch and handed to the matmul kernel, whose
 * 8×32 tiles over rows one stride apart beat the gathered path's K-blocked
 * partial sums (one thread, weights from DRAM: ViT-B/16's 196 × 768 × 768
 * 1.35 → 1.11 ms; B/32's 49 × 3072 × 768 1.05-1.15×, both bound by the
 * weights' trip from DRAM at 49 rows).
 *
 * Every output starts from bias + residual (the residual is read before the
 * output is first written, so residual == out works), then adds the products
 * in K order; ReLU/ReLU6 are applied in registers, GELU-type activations over
 * the finished tile.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "../pack.h"
#include "avx512.h"
#include "conv2d_f32_uk.h"
#include "conv_patch.h"
#include "vmath.h"

#define L2_WEIGHTS (512 * 1024)
#define L2_OUTPUT (256 * 1024)
#define MATMUL_MIN_M 128 /* 1×1 stride-1 convs over at least this many pixels run as matmul */

/* Runs of the packed A tile: the loads are masked (never past the run in
 * the input), the stores are not. A masked store that a later broadcast
 * reads back stalls store forwarding (it cost ~1/3 of the 3-channel layers'
 * time), so each store writes whole vectors: up to 15 floats past the run,
 * which the next run, the next row (rows are packed in order) or the slack
 * after the tile in the scratch absorbs. */
static inline void copy_f32(float *dst, const float *src, int n, const float *end)
{
    for (; n >= 16; n -= 16, dst += 16, src += 16)
        _mm512_storeu_ps(dst, _mm512_loadu_ps(src));
    if (n > 0) {
        /* a whole-vector load where the input tensor allows it: the floats
         * past the run land where the next run writes */
        if (end - src >= 16)
            _mm512_storeu_ps(dst, _mm512_loadu_ps(src));
        else
            _mm512_storeu_ps(dst, _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), src));
    }
}

static inline void zero_f32(float *dst, int n)
{
    for (; n > 0; n -= 16, dst += 16)
        _mm512_storeu_ps(dst, _mm512_setzero_ps());
}

/* Where a K block starts inside the (kh, kw, c) order. */
typedef struct kpos {
    int kh, kw, c;
} kpos;

/* im2col rows [m, m + mr) (flattened pixel index n·OH·OW + oh·OW + ow) for
 * K block [k0, k0 + kc) starting at position p, into rows of VK_CONV_KC. */
static void pack_a(float *ap, const vk_conv_geom *g, const float *in, long long m, int mr,
                   kpos p, int kc)
{
    /* With a dense input (pixel stride == C) and no W dilation, the taps of
     * one kh row are consecutive in memory: copy them as one run. */
    const int dense = g->in_ld == g->C && g->dil_w == 1;
    const int C = g->C;
    const float *end = in + (ptrdiff_t)g->N * g->H * g->W * g->in_ld;
    int ow = (int)(m % g->OW);
    long long r = m / g->OW;
    int oh = (int)(r % g->OH), n = (int)(r / g->OH);
    for (int i = 0; i < mr; i++, ap += VK_CONV_KC) {
        const int ih0 = oh * g->stride_h - g->pad_t;
        const int iw0 = ow * g->stride_w - g->pad_l;
        const float *img = in + (ptrdiff_t)n * g->H * g->W * g->in_ld;
        /* valid kw: [kw_lo, kw_hi) */
        int kw_lo = 0, kw_hi = g->KW;
        if (iw0 < 0)
            kw_lo = (-iw0 + g->dil_w - 1) / g->dil_w;
        if (iw0 + (g->KW - 1) * g->dil_w >= g->W)
            kw_hi = (g->W - 1 - iw0) < 0 ? 0 : (g->W - 1 - iw0) / g->dil_w + 1;
        if (kw_lo > kw_hi)
            kw_lo = kw_hi;
        int kh = p.kh, kw = p.kw, c = p.c, left = kc;
        float *dst = ap;
        while (left > 0) {
            /* one run: [(kh, kw, c), (kh, nkw, 0)) with nkw <= KW, all read
             * from the image or all zero (no divisions: this runs per pixel) */
            const int ih = ih0 + kh * g->dil_h;
            int nkw, valid = 0;
            if (ih < 0 || ih >= g->H || kw >= kw_hi)
                nkw = g->KW;
            else if (kw < kw_lo)
                nkw = kw_lo;
            else {
                nkw = dense ? kw_hi : kw + 1;
                valid = 1;
            }
            int len = (nkw - kw) * C - c;
            if (len > left)
                len = left;
            if (valid) {
                const int iw = iw0 + kw * g->dil_w;
                copy_f32(dst, img + ((ptrdiff_t)ih * g->W + iw) * g->in_ld + c, len, end);
            } else {
                zero_f32(dst, len);
            }
            dst += len;
            left -= len;
            c = 0;
            kw = nkw;
            if (kw == g->KW) {
                kw = 0;
                kh++;
            }
        }
        if (++ow == g->OW) {
            ow = 0;
            if (++oh == g->OH) {
                oh = 0;
                n++;
            }
        }
    }
}

/* GELU-type activations run over the finished tile (they are rare in convs
 * and would bloat every micro-kernel variant). */
static void act_tile(float *c, ptrdiff_t ldc, int mr, int ncols, vk_act act)
{
    for (int i = 0; i < mr; i++, c += ldc)
        for (int j = 0; j < ncols; j += 16) {
            int n = ncols - j < 16 ? ncols - j : 16;
            __mmask16 m = (__mmask16)((1u << n) - 1);
            _mm512_mask_storeu_ps(c + j, m, vk_act512(_mm512_maskz_loadu_ps(m, c + j), act));
        }
}

static inline __mmask16 lane_mask(int oc0, int OC)
{
    int n = OC - oc0;
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* Gathered path: im2col tiles, K blocked (K blocks <= VK_CONV_KC keep the
 * tile in L1), N blocks of weights in L2, M blocks of partial outputs in L2. */
static void conv_packed(const vk_conv2d_f32_args *a, long long m_base, long long M)
{
    const vk_conv_geom *g = &a->g;
    const int K = g->KH * g->KW * g->C;
    const long long ntiles = (M + VK_CONV_MR - 1) / VK_CONV_MR;
    const int nkb = (K + VK_CONV_KC - 1) / VK_CONV_KC;
    const int kcb = (K + nkb - 1) / nkb;
    const int np = (g->OC + 15) / 16;
    int npb = (int)(L2_WEIGHTS / ((size_t)kcb * 64)) & ~1;
    if (npb < 2)
        npb = 2;
    long long tpb = L2_OUTPUT / ((long long)VK_CONV_MR * g->OC * 4);
    if (tpb < 1)
        tpb = 1;
    const int gelu_like = a->act == VK_ACT_GELU || a->act == VK_ACT_QUICKGELU;
    float *ap = (float *)a->scratch;

    vk_conv_uk_args u;
    u.a = ap;
    u.wps = (ptrdiff_t)K * 16;
    u.ldc = g->out_ld;
    u.ldr = g->out_ld;
    u.act = a->act;

    for (long long tb = 0; tb < ntiles; tb += tpb) {
        const long long te = tb + tpb < ntiles ? tb + tpb : ntiles;
        for (int kb = 0; kb < nkb; kb++) {
            const int k0 = kb * kcb;
            const int kc = K - k0 < kcb ? K - k0 : kcb;
            const kpos p0 = {k0 / (g->KW * g->C), k0 / g->C % g->KW, k0 % g->C};
            u.kc = kc;
            u.first = kb == 0;
            u.last = kb == nkb - 1;
            for (int pb = 0; pb < np; pb += npb) {
                const int pe = pb + npb < np ? pb + npb : np;
                for (long long t = tb; t < te; t++) {
                    const long long ms = t * M / ntiles, me = (t + 1) * M / ntiles;
                    const int mr = (int)(me - ms);
                    const long long m = m_base + ms;
                    pack_a(ap, g, a->in, m, mr, p0, kc);
                    float *ctile = a->out + (ptrdiff_t)m * g->out_ld;
                    const float *rtile =
                        a->residual ? a->residual + (ptrdiff_t)m * g->out_ld : NULL;
                    for (int p = pb; p < pe; p += 2) {
                        const int nv = pe - p >= 2 ? 2 : 1;
                        u.w = a->Wp + ((ptrdiff_t)p * K + k0) * 16;
                        u.c = ctile + p * 16;
                        u.bias = a->bias ? a->bias + p * 16 : NULL;
                        u.res = rtile ? rtile + p * 16 : NULL;
                        u.m0 = lane_mask(p * 16, g->OC);
                        u.m1 = lane_mask(p * 16 + 16, g->OC);
                        vk_conv_f32_uk[nv - 1][mr - 1](&u);
                    }
                    if (u.last && gelu_like) {
                        int c0 = pb * 16, c1 = pe * 16 < g->OC ? pe * 16 : g->OC;
                        act_tile(ctile + c0, g->out_ld, mr, c1 - c0, a->act);
                    }
                }
            }
        }
    }
}

/* Main path (see the top of the file): the micro-kernel reads the input in
 * place, whole K per call; the weights of an N block stay in L2 while every
 * tile of the range passes. */
static void conv_direct(const vk_conv2d_f32_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    const int K = g->KH * g->KW * g->C;
    const int padded = g->pad_t > 0 || g->pad_l > 0 ||
                       (g->OH - 1) * g->stride_h + (g->KH - 1) * g->dil_h >= g->H ||
                       (g->OW - 1) * g->stride_w + (g->KW - 1) * g->dil_w >= g->W;
    const int per_row = padded && g->OW >= VK_CONV_MR / 2;
    const long long M = (long long)(r1 - r0) * g->OW;
    const int ntr = (g->OW + VK_CONV_MR - 1) / VK_CONV_MR; /* tiles per row */
    /* A 1×1 tile reads its pixels in place, one input row each: when the
     * step from one pixel to the next (C · stride floats) is a multiple of
     * 4 KB (C = 1024 or 2048; C = 512 at stride 2) all of them fall in one
     * L1 set, and 14 rows overflow its 8–12 ways, so every broadcast misses
     * L1 (ResNet-50's 14²×1024→256 ran at half of the 3×3 convs' rate). Such
     * tiles hold 8 pixels; a 2 KB step spreads 14 over two sets. */
    const int alias = !padded && g->KH == 1 && g->KW == 1 &&
                      ((size_t)g->in_ld * (size_t)g->stride_w * 4) % 4096 == 0;
    const int mr_max = alias ? 8 : VK_CONV_MR;
    const long long ntiles =
        per_row ? (long long)(r1 - r0) * ntr : (M + mr_max - 1) / mr_max;
    const int np = (g->OC + 15) / 16;
    int npb = (int)(L2_WEIGHTS / ((size_t)K * 64)) & ~1;
    if (npb < 2)
        npb = 2;
    const int gelu_like = a->act == VK_ACT_GELU || a->act == VK_ACT_QUICKGELU;
    float *ap = (float *)a->scratch;
    float *zero = ap + VK_CONV_MR * VK_CONV_KC;
    /* Dense input, no W dilation: the KW taps of a kernel row are KW·C
     * consecutive floats, so a tile whose pixels have every kw inside the
     * image runs as a 1-wide kernel of KW·C channels (fewer, longer k
     * loops). Other tiles of a small-C conv are gathered (pack_a). */
    const int small = g->C < VK_CONV_DIRECT_MIN_C;
    const int merge = g->in_ld == g->C && g->dil_w == 1 && g->KW > 1;
    vk_conv_geom gm = *g;
    gm.C = g->KW * g->C;
    gm.KW = 1;
    zero_f32(zero, merge ? gm.C : g->C);
    vk_conv_uk_args u;
    u.a = ap;
    u.kc = K;
    u.wps = (ptrdiff_t)K * 16;
    u.ldc = u.ldr = g->out_ld;
    u.act = a->act;
    u.first = u.last = 1;

    vk_conv_dk_args d;
    d.g = g;
    d.zero = zero;
    d.u.wps = (ptrdiff_t)K * 16;
    d.u.ldc = g->out_ld;
    d.u.ldr = g->out_ld;
    d.u.act = a->act;
    d.u.first = d.u.last = 1;
    const ptrdiff_t img_size = (ptrdiff_t)g->H * g->W * g->in_ld;

    for (int pb = 0; pb < np; pb += npb) {
        const int pe = pb + npb < np ? pb + npb : np;
        /* The next N block's weights go to L2 while this block runs, a share
         * before each tile's panel pair: with few pixels per weight (ResNet's
         * 7×7 stage, 4-9 MB of weights per conv) the first tile of a block
         * otherwise waits for them from DRAM. */
        const int qe = pe + npb < np ? pe + npb : np;
        const char *pf = (const char *)(a->Wp + (ptrdiff_t)pe * K * 16);
        const long long pf_lines = (long long)(qe - pe) * K; /* a panel: one 64-byte line per k */
        const long long pf_steps = ntiles * ((pe - pb + 1) / 2);
        const long long pf_chunk = pf_steps > 0 ? (pf_lines + pf_steps - 1) / pf_steps : 0;
        long long pf_next = 0;
        for (long long t = 0; t < ntiles; t++) {
            long long ms, me;
            if (per_row) {
                const long long row = t / ntr;
                const int j = (int)(t % ntr);
                ms = row * g->OW + (long long)j * g->OW / ntr;
                me = row * g->OW + (long long)(j + 1) * g->OW / ntr;
            } else {
                ms = t * M / ntiles;
                me = (t + 1) * M / ntiles;
            }
            const int mr = (int)(me - ms);
            const long long m = (long long)r0 * g->OW + ms;
            int ow = (int)(m % g->OW);
            long long r = m / g->OW;
            int oh = (int)(r % g->OH), n = (int)(r / g->OH);
            for (int i = 0; i < mr; i++) {
                d.img[i] = a->in + n * img_size;
                d.ih0[i] = oh * g->stride_h - g->pad_t;
                d.iw0[i] = ow * g->stride_w - g->pad_l;
                if (++ow == g->OW) {
                    ow = 0;
                    if (++oh == g->OH) {
                        oh = 0;
                        n++;
                    }
                }
            }
            d.use_pix = !padded && g->KH == 1 && g->KW == 1;
            for (int i = 0; i < mr && d.use_pix; i++)
                d.pix[i] = d.img[i] + ((ptrdiff_t)d.ih0[i] * g->W + d.iw0[i]) * g->in_ld;
            int inside = merge;
            for (int i = 0; i < mr && inside; i++)
                inside = d.iw0[i] >= 0 && d.iw0[i] + g->KW - 1 < g->W;
            d.g = inside ? &gm : g;
            /* A short-K 1×1 tile with many output channels is copied too:
             * the packed micro-kernel's rows are a constant stride apart (one
             * base register, immediate offsets), while the in-place one loads
             * a pointer per pixel for every broadcast (14 pointers do not stay
             * in registers), which costs most where the k loop is short. The
             * copy is 1/(2·OC) of the tile's work. Measured on ResNet-50's
             * 56²×64→256 and 28²×128→512 (docs/BENCHMARKS.md); longer K or
             * fewer channels showed no gain. */
            const int packed = (small && !inside) || (d.use_pix && K <= 128 && g->OC >= 256);
            if (packed)
                pack_a(ap, g, a->in, m, mr, (kpos){0, 0, 0}, K);
            float *ctile = a->out + (ptrdiff_t)m * g->out_ld;
            const float *rtile = a->residual ? a->residual + (ptrdiff_t)m * g->out_ld : NULL;
            for (int p = pb; p < pe; p += 2) {
                const int nv = pe - p >= 2 ? 2 : 1;
                for (long long e = pf_next + pf_chunk; pf_next < e && pf_next < pf_lines; pf_next++)
                    _mm_prefetch(pf + pf_next * 64, _MM_HINT_T1);
                vk_conv_uk_args *t_u = packed ? &u : &d.u;
                t_u->w = a->Wp + (ptrdiff_t)p * K * 16;
                t_u->c = ctile + p * 16;
                t_u->bias = a->bias ? a->bias + p * 16 : NULL;
                t_u->res = rtile ? rtile + p * 16 : NULL;
                t_u->m0 = lane_mask(p * 16, g->OC);
                t_u->m1 = lane_mask(p * 16 + 16, g->OC);
                if (packed)
                    vk_conv_f32_uk[nv - 1][mr - 1](&u);
                else
                    vk_conv_f32_dk[nv - 1][mr - 1](&d);
            }
            if (gelu_like) {
                int c0 = pb * 16, c1 = pe * 16 < g->OC ? pe * 16 : g->OC;
                act_tile(ctile + c0, g->out_ld, mr, c1 - c0, a->act);
            }
        }
    }
}

/* Patchify route (see the top of the file): one chunk of gathered rows. */
static void patch_mm(const void *args, const float *A, int K, long long p0, int rows)
{
    const vk_conv2d_f32_args *a = args;
    const vk_conv_geom *g = &a->g;
    vk_matmul_f32_args m = {.M = rows, .N = g->OC, .K = K, .A = A, .lda = K, .Bp = a->Wp,
                            .bias = a->bias,
                            .residual = a->residual ? a->residual + p0 * g->out_ld : NULL,
                            .ldr = g->out_ld, .C = a->out + p0 * g->out_ld, .ldc = g->out_ld,
                            .act = a->act};
    vk_matmul_f32_avx512(&m, 0, rows, 0, g->OC);
}

void vk_conv2d_f32_avx512(const vk_conv2d_f32_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    if (r1 <= r0 || g->OW <= 0 || g->OC <= 0)
        return;
    const int K = g->KH * g->KW * g->C;
    const long long M_all = (long long)g->N * g->OH * g->OW;
    if (g->KH == 1 && g->KW == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_t == 0 &&
        g->pad_l == 0 && g->OH == g->H && g->OW == g->W && M_all >= MATMUL_MIN_M &&
        M_all <= INT32_MAX) {
        /* 1×1, stride 1, no padding: the input is a row-major matrix of
         * N·H·W pixels × C (row stride in_ld) and the weights are packed as
         * matmul B (K = C): the matmul kernel reads A in place with one base
         * register, where the conv tile needs a pointer per pixel (14 of them
         * do not stay in registers: a pointer load per broadcast). ResNet-50's
         * 1×1 convs at 56², 28², 14²: 150-185 → 190-210 GFLOP/s; at 7²
         * (49 pixels) the conv tile was as fast or faster, hence the bound. */
        vk_matmul_f32_args m = {.M = (int)M_all, .N = g->OC, .K = g->C, .A = a->in, .lda = g->in_ld,
                                .Bp = a->Wp, .bias = a->bias, .residual = a->residual,
                                .ldr = g->out_ld, .C = a->out, .ldc = g->out_ld, .act = a->act};
        vk_matmul_f32_avx512(&m, (int)((long long)r0 * g->OW), (int)((long long)r1 * g->OW), 0, g->OC);
        return;
    }
    const int patch = vk_conv_patch_rows_f32(g);
    if (patch > 0) {
        vk_conv_patch_run(g, a->in, (float *)a->scratch, (long long)r0 * g->OW,
                          (long long)(r1 - r0) * g->OW, patch, patch_mm, a);
        return;
    }
    if (g->C >= VK_CONV_DIRECT_MIN_C ||
        (g->in_ld == g->C && g->dil_w == 1 && g->KW > 1 && K <= VK_CONV_KC))
        conv_direct(a, r0, r1);
    else
        conv_packed(a, (long long)r0 * g->OW, (long long)(r1 - r0) * g->OW);
}
