/* AVX-512 f32 depthwise convolution, NHWC, channel multiplier 1.
 *
 * Channels go in vectors of 16 (the last one masked). The 3×3 undilated
 * stride-1 and stride-2 convolutions (every MobileNet depthwise layer) take
 * the fast path: 64-channel slices outermost, then output rows in pairs
 * (they share 3 - S input rows), then channel vectors with the 9 weights
 * and the bias in registers, the pair swept in blocks of OWB outputs. Each
 * input vector of a block is loaded once and feeds every output of the pair
 * that needs it (stride 1, OWB 6: 4 rows × 8 loads for 108 FMAs; stride 2,
 * OWB 4: 5 rows × 9 loads for 72).
 * Blocks at the image border read zeros for the columns outside; the common
 * ones (all inside, or only column 0 outside = pad 1) are compiled without
 * any per-column test. Other kernel sizes, strides and dilations take the
 * general per-pixel loop.
 * Row pairs on maps >= DW_PF_MINW wide prefetch for writing the lines the
 * next pair will store (see DW_PF_MINW).
 *
 * Summation order per output: bias, then the taps in (kh, kw) order, as the
 * reference; a border column adds an exact 0·w. The result of an output does
 * not depend on how the rows are split between calls.
 */
/* prefetchw (every AVX-512 CPU has it) for __builtin_prefetch(p, 1, ·) */
#pragma GCC target("prfchw")
#include <immintrin.h>
#include <math.h>

#include "../pack.h"
#include "avx512.h"
#include "vmath.h"

#define DW_INLINE static inline __attribute__((always_inline))
/* Block widths (measured: wider blocks spill registers). */
#define DW_B1 6
#define DW_B2 4
#define DW_MAXB 8
/* Channels per sweep over the row range: a 64-channel slice of the input
 * map stays in L1/L2 while the row groups that share its rows pass (measured
 * on the MobileNetV2 layers: +10..30 % on 14×14 and 7×7 maps, neutral on
 * the large ones). */
#define DW_CCHUNK 64
/* At stride 2 on inputs up to this wide, 32-channel slices: a row pair
 * reads 5 input rows, and with 32 channels they stay in L1 (at most 35 KB)
 * while the pair's vectors pass (measured with outputs larger than the LLC:
 * 0.89–0.91 of the 64-channel time on 14²×576, 0.94 on 28²×192, 0.96–0.99 on
 * 56²×144; 112²×96 was 1.03 and keeps 64). */
#define DW_S2_NARROW_W 56
/* Row pairs on maps at least this wide prefetch (for writing) the output
 * lines of the next pair of the same channel slice as they store their own:
 * a whole sweep ahead. Output that is not in cache costs a read for
 * ownership per line; without the prefetch those reads stall the stores
 * instead of overlapping the FMAs (measured with outputs larger than the LLC:
 * +20..70 % on the 14×14..112×112 stride-1 MobileNetV2 layers; stride 2,
 * whose sweep reads 4 input lines per output line, gained 6..18 % on the
 * 112×112..28×28 inputs (session 14, the earlier "no gain" not reproduced);
 * none on 7×7). With outputs already in cache it costs a few per cent. */
#define DW_PF_MINW 14

DW_INLINE __m512 ld(const float *p, __mmask16 m, const int full)
{
    return full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}

DW_INLINE void st(float *p, __mmask16 m, __m512 v, const int full)
{
    if (full)
        _mm512_storeu_ps(p, v);
    else
        _mm512_mask_storeu_ps(p, m, v);
}

/* ReLU / ReLU6 / none as one clamp (max first, so a NaN passes through);
 * GELU-type activations out of line. */
static __attribute__((noinline)) __m512 act_slow(__m512 v, vk_act act) { return vk_act512(v, act); }

DW_INLINE __m512 epilogue(__m512 v, __m512 lo, __m512 hi, vk_act act, const int slow)
{
    if (slow)
        return act_slow(v, act);
    return _mm512_min_ps(hi, _mm512_max_ps(lo, v));
}

/* R output rows × OWB outputs at stride S of a 3×3 window, undilated, one
 * channel vector. rows[i], i < (R - 1)·S + 3, points at input row i of the
 * group (row q·S + kh feeds output row q through kernel row kh) at the
 * block's first input column (iw = ow0·S - pad_l, channel c0), or is NULL
 * for a row outside the image. Bit t of cols says input column t is inside
 * the image (outside columns read 0); only the first cnt outputs of each row
 * are stored. edge: 0 = every column inside and cnt == OWB, 1 = the same but
 * column 0 outside (pad 1 at the left border), 2 = use cols and cnt. Each
 * input vector is loaded once and feeds every output of the group that
 * needs it. */
DW_INLINE void dw3_block(const float *const *rows, ptrdiff_t ldi, const __m512 w[9], __m512 b,
                         float *out, ptrdiff_t ldo_row, ptrdiff_t ldo, __mmask16 m, unsigned cols,
                         int cnt, __m512 lo, __m512 hi, vk_act act, ptrdiff_t pf, const int S,
                         const int R, const int OWB, const int full, const int slow,
                         const int edge)
{
    enum { NX = DW_MAXB * 2 + 1 };
    const int nx = (OWB - 1) * S + 3, nr = (R - 1) * S + 3;
    __m512 acc[2][DW_MAXB];
#pragma GCC unroll 32
    for (int q = 0; q < R; q++)
#pragma GCC unroll 32
        for (int j = 0; j < OWB; j++)
            acc[q][j] = b;
#pragma GCC unroll 32
    for (int ir = 0; ir < nr; ir++) {
        const float *x = rows[ir];
        if (!x)
            continue;
        __m512 xv[NX];
#pragma GCC unroll 32
        for (int t = 0; t < nx; t++)
            xv[t] = (edge == 0 || (edge == 1 && t > 0) || (edge == 2 && (cols >> t & 1)))
                        ? ld(x + t * ldi, m, full)
                        : _mm512_setzero_ps();
#pragma GCC unroll 32
        for (int q = 0; q < R; q++) {
            const int kh = ir - q * S;
            if (kh < 0 || kh > 2)
                continue;
#pragma GCC unroll 32
            for (int kw = 0; kw < 3; kw++)
                #pragma GCC unroll 32
                for (int j = 0; j < OWB; j++)
                    acc[q][j] = _mm512_fmadd_ps(xv[j * S + kw], w[kh * 3 + kw], acc[q][j]);
        }
    }
#pragma GCC unroll 32
    for (int q = 0; q < R; q++)
#pragma GCC unroll 32
        for (int j = 0; j < OWB; j++)
            if (edge < 2 || j < cnt) {
                st(out + q * ldo_row + j * ldo, m, epilogue(acc[q][j], lo, hi, act, slow), full);
                if (pf)
                    __builtin_prefetch(out + q * ldo_row + j * ldo + pf, 1, 3);
            }
}

/* Any window, any pixel: taps outside the image are skipped. */
DW_INLINE void dw_pixel(const vk_conv_geom *g, const float *img, const float *wp, ptrdiff_t Cp,
                        __m512 b, int oh, int ow, float *out, __mmask16 m, __m512 lo, __m512 hi,
                        vk_act act, const int full)
{
    __m512 acc = b;
    for (int kh = 0; kh < g->KH; kh++) {
        const int ih = oh * g->stride_h - g->pad_t + kh * g->dil_h;
        if ((unsigned)ih >= (unsigned)g->H)
            continue;
        const float *row = img + (ptrdiff_t)ih * g->W * g->in_ld;
        for (int kw = 0; kw < g->KW; kw++) {
            const int iw = ow * g->stride_w - g->pad_l + kw * g->dil_w;
            if ((unsigned)iw >= (unsigned)g->W)
                continue;
            acc = _mm512_fmadd_ps(ld(row + (ptrdiff_t)iw * g->in_ld, m, full),
                                  _mm512_loadu_ps(wp + (kh * g->KW + kw) * Cp), acc);
        }
    }
    st(out, m, epilogue(acc, lo, hi, act, act == VK_ACT_GELU || act == VK_ACT_QUICKGELU), full);
}

static void dw_general_row(const vk_dwconv_f32_args *a, int n, int oh, __m512 lo, __m512 hi)
{
    const vk_conv_geom *g = &a->g;
    const ptrdiff_t Cp = (ptrdiff_t)vk_round_up((size_t)g->C, 16);
    const float *img = a->in + (ptrdiff_t)n * g->H * g->W * g->in_ld;
    float *out = a->out + ((ptrdiff_t)(n * g->OH + oh) * g->OW) * g->out_ld;
    for (int ow = 0; ow < g->OW; ow++) {
        int c0 = 0;
        for (; c0 + 16 <= g->C; c0 += 16) {
            const __m512 b = a->bias ? _mm512_loadu_ps(a->bias + c0) : _mm512_setzero_ps();
            dw_pixel(g, img + c0, a->Wp + c0, Cp, b, oh, ow, out + ow * g->out_ld + c0, 0xFFFF,
                     lo, hi, a->act, 1);
        }
        if (c0 < g->C) {
            const __mmask16 m = (__mmask16)((1u << (g->C - c0)) - 1);
            const __m512 b = a->bias ? _mm512_maskz_loadu_ps(m, a->bias + c0) : _mm512_setzero_ps();
            dw_pixel(g, img + c0, a->Wp + c0, Cp, b, oh, ow, out + ow * g->out_ld + c0, m, lo, hi,
                     a->act, 0);
        }
    }
}

/* Output block [ow, ow + cnt) (cnt <= OWB) of a group of R rows, channel
 * vector c0; the block variant without column tests when it can. */
DW_INLINE void dw3_one(const vk_dwconv_f32_args *a, const float *const *rows, float *out, int c0,
                       int ow, int cnt, const __m512 w[9], __m512 b, __mmask16 m, __m512 lo,
                       __m512 hi, ptrdiff_t pf, const int S, const int R, const int OWB,
                       const int full, const int slow)
{
    const vk_conv_geom *g = &a->g;
    const ptrdiff_t ldi = g->in_ld, ldo = g->out_ld, ldo_row = (ptrdiff_t)g->OW * g->out_ld;
    const int nr = (R - 1) * S + 3, nx = (OWB - 1) * S + 3;
    const int iw0 = ow * S - g->pad_l;
    const ptrdiff_t off = (ptrdiff_t)iw0 * ldi + c0;
    const float *rb[2 * 2 + 3];
    for (int ir = 0; ir < nr; ir++)
        rb[ir] = rows[ir] ? rows[ir] + off : NULL;
    float *o = out + ow * ldo + c0;
    /* The common blocks are told apart with three compares; the column mask
     * is built only for the others. Channel tails and GELU-type activations
     * (rare) always take the general block, to bound the code size. */
    if (full && !slow && cnt == OWB && iw0 >= -1 && iw0 + nx <= g->W) {
        if (iw0 >= 0)
            dw3_block(rb, ldi, w, b, o, ldo_row, ldo, m, 0, cnt, lo, hi, a->act, pf, S, R, OWB, 1,
                      0,
                      0);
        else
            dw3_block(rb, ldi, w, b, o, ldo_row, ldo, m, 0, cnt, lo, hi, a->act, pf, S, R, OWB, 1,
                      0,
                      1);
        return;
    }
    unsigned cols = 0;
    for (int t = 0; t < nx; t++)
        cols |= (unsigned)((unsigned)(iw0 + t) < (unsigned)g->W && t < (cnt - 1) * S + 3) << t;
    dw3_block(rb, ldi, w, b, o, ldo_row, ldo, m, cols, cnt, lo, hi, a->act, pf, S, R, OWB, full,
              slow, 2);
}

/* The blocks of a row group for one channel vector: full blocks of OWB, the
 * rest in one block of its exact size. */
DW_INLINE void dw3_span(const vk_dwconv_f32_args *a, const float *const *rows, float *out, int c0,
                        int ow0, int ow1, const __m512 w[9], __m512 b, __mmask16 m, __m512 lo,
                        __m512 hi, ptrdiff_t pf, const int S, const int R, const int OWB,
                        const int full, const int slow)
{
    int ow = ow0;
    for (; ow + OWB <= ow1; ow += OWB)
        dw3_one(a, rows, out, c0, ow, OWB, w, b, m, lo, hi, pf, S, R, OWB, full, slow);
    const int rest = ow1 - ow;
    /* the rest in a block of its exact size (column tests only at a border) */
#define DW_REST(N)                                                                             \
    case N:                                                                                    \
        dw3_one(a, rows, out, c0, ow, N, w, b, m, lo, hi, pf, S, R, N < OWB ? N : OWB, full, \
                slow);                                                                     \
        break;
    if (slow || !full) {
        if (rest > 0)
            dw3_one(a, rows, out, c0, ow, rest, w, b, m, lo, hi, pf, S, R, OWB, full, slow);
    } else {
        switch (rest) {
            DW_REST(1)
            DW_REST(2)
            DW_REST(3)
            DW_REST(4)
            DW_REST(5)
            DW_REST(6)
            DW_REST(7)
        default: break;
        }
    }
#undef DW_REST
}

DW_INLINE void dw3_load_c(const vk_dwconv_f32_args *a, int c0, __m512 w[9], __m512 *b,
                          __mmask16 *m, const int full)
{
    const vk_conv_geom *g = &a->g;
    const ptrdiff_t Cp = (ptrdiff_t)vk_round_up((size_t)g->C, 16);
    *m = full ? (__mmask16)0xFFFF : (__mmask16)((1u << (g->C - c0)) - 1);
    for (int t = 0; t < 9; t++)
        w[t] = _mm512_loadu_ps(a->Wp + t * Cp + c0);
    *b = a->bias ? ld(a->bias + c0, *m, full) : _mm512_setzero_ps();
}

/* Channels [cs, ce) of a row group, one vector at a time: the weights are
 * loaded once per row group and vector. (Pixels outermost with per-block
 * weight reloads measured no better.) */
DW_INLINE void dw3_group(const vk_dwconv_f32_args *a, const float *const *rows, float *out,
                         int cs, int ce, __m512 lo, __m512 hi, ptrdiff_t pf, const int S,
                         const int R, const int OWB, const int slow)
{
    const vk_conv_geom *g = &a->g;
    const int cfull = ce / 16 * 16;
    __m512 w[9], b;
    __mmask16 m;
    for (int c0 = cs; c0 < cfull; c0 += 16) {
        dw3_load_c(a, c0, w, &b, &m, 1);
        dw3_span(a, rows, out, c0, 0, g->OW, w, b, m, lo, hi, pf, S, R, OWB, 1, slow);
    }
    if (cfull < ce) {
        dw3_load_c(a, cfull, w, &b, &m, 0);
        dw3_span(a, rows, out, cfull, 0, g->OW, w, b, m, lo, hi, pf, S, R, OWB, 0, slow);
    }
}

/* 3×3, stride S (1 or 2) along W, undilated: R output rows from oh on
 * (R = 2 needs stride_h == S), channels [cs, ce). */
DW_INLINE void dw3_rows(const vk_dwconv_f32_args *a, int n, int oh, int cs, int ce, __m512 lo,
                        __m512 hi, ptrdiff_t pf, const int S, const int R, const int OWB,
                        const int slow)
{
    const vk_conv_geom *g = &a->g;
    const float *img = a->in + (ptrdiff_t)n * g->H * g->W * g->in_ld;
    float *out = a->out + ((ptrdiff_t)(n * g->OH + oh) * g->OW) * g->out_ld;
    const int nr = (R - 1) * S + 3;
    const float *rows[2 * 2 + 3];
    for (int ir = 0; ir < nr; ir++) {
        const int ih = oh * g->stride_h - g->pad_t + ir;
        rows[ir] = (unsigned)ih < (unsigned)g->H ? img + (ptrdiff_t)ih * g->W * g->in_ld : NULL;
    }
    dw3_group(a, rows, out, cs, ce, lo, hi, pf, S, R, OWB, slow);
}

/* Prefetch for writing output row oh's lines of the channel slice from ce
 * on: what a single row's blocks would do with pf = chunk (a run-time pf
 * in the single-row blocks measured 8..17 % slower on every map, register
 * pressure), done before them instead. */
static void pf_row_slice(const vk_dwconv_f32_args *a, int n, int oh, int ce, int chunk)
{
    const vk_conv_geom *g = &a->g;
    float *o = a->out + ((ptrdiff_t)(n * g->OH + oh) * g->OW) * g->out_ld + ce;
    for (int ow = 0; ow < g->OW; ow++)
        for (int c = 0; c < chunk && ce + c < g->C; c += 16)
            __builtin_prefetch(o + (ptrdiff_t)ow * g->out_ld + c, 1, 3);
}

void vk_dwconv_f32_avx512(const vk_dwconv_f32_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    const vk_act act = a->act;
    const __m512 lo = _mm512_set1_ps(act == VK_ACT_RELU || act == VK_ACT_RELU6 ? 0.0f : -INFINITY);
    const __m512 hi = _mm512_set1_ps(act == VK_ACT_RELU6 ? 6.0f : INFINITY);
    const int slow = act == VK_ACT_GELU || act == VK_ACT_QUICKGELU;
    const int fast = g->KH == 3 && g->KW == 3 && g->dil_h == 1 && g->dil_w == 1;
    const int S = g->stride_w;
    if (!fast || (S != 1 && S != 2)) {
        for (int r = r0; r < r1; r++)
            dw_general_row(a, r / g->OH, r % g->OH, lo, hi);
        return;
    }
    const int chunk = S == 2 && g->W <= DW_S2_NARROW_W ? 32 : DW_CCHUNK;
    const int pf_rows = g->stride_h == S && g->OW >= DW_PF_MINW;
    const ptrdiff_t pf_next = 2 * (ptrdiff_t)g->OW * g->out_ld;
    const ptrdiff_t Cp = (ptrdiff_t)vk_round_up((size_t)g->C, 16);
    for (int cs = 0; cs < g->C; cs += chunk) {
        const int ce = cs + chunk < g->C ? cs + chunk : g->C;
        /* narrow maps: every store prefetches the same pixel's line of the
         * next slice; on every map the next slice's weights come in now */
        const ptrdiff_t pf_slice = !pf_rows && ce < g->C ? chunk : 0;
        if (ce < g->C)
            for (int t = 0; t < 9; t++)
                for (int c = ce; c < ce + chunk && c < g->C; c += 16)
                    _mm_prefetch((const char *)(a->Wp + t * Cp + c), _MM_HINT_T0);
        for (int r = r0; r < r1;) {
            const int n = r / g->OH, oh = r % g->OH;
            /* two output rows share (3 - S) input rows: pair them when both
             * are in the range and the same image */
            const int pair = !slow && g->stride_h == S && r + 1 < r1 && oh + 1 < g->OH;
            /* prefetch the next pair's outputs (wide maps) */
            const ptrdiff_t pf =
                pf_rows ? (r + 4 <= r1 && oh + 3 < g->OH ? pf_next : 0) : pf_slice;
            if (pair && S == 1)
                dw3_rows(a, n, oh, cs, ce, lo, hi, pf, 1, 2, DW_B1, 0);
            else if (pair)
                dw3_rows(a, n, oh, cs, ce, lo, hi, pf, 2, 2, DW_B2, 0);
            else {
                if (pf_slice)
                    pf_row_slice(a, n, oh, ce, chunk);
                if (S == 1)
                    dw3_rows(a, n, oh, cs, ce, lo, hi, 0, 1, 1, 8, slow);
                else
                    dw3_rows(a, n, oh, cs, ce, lo, hi, 0, 2, 1, 4, slow);
            }
            r += pair ? 2 : 1;
        }
    }
}
