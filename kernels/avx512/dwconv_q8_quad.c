/* Depthwise fast path (driver: dwconv_q8.c) for 3×3, stride 1 or 2 both
 * ways, no dilation, b_offset 0 (s8 weights as they are: TF2 int8 models,
 * and uint8 models whose weight zero point is 128): four taps per vpdpbusd.
 *
 * Quads. Channels go 64 to a block. For one input column c, the bytes of four
 * input rows r0..r3 (X0..X3, 64 channels each) are interleaved so that each
 * 32-bit lane holds (X0, X1, X2, X3) of one channel: vpunpck{l,h}bw of
 * (X0, X1) and of (X2, X3), then vpunpck{l,h}wd of those, give Q(c)[j],
 * j = 0..3, whose lane 4i + k is channel 16i + 4j + k (the unpacks work
 * within 128-bit lanes). The weights of kernel column kw go through the same
 * unpacks as (w0, w1, w2, 0), rows kh = 0, 1, 2, and vpdpbusd of a quad with
 * them adds the three vertical taps of that column:
 *   stride 1: rows r0..r3 = ih, ih+1, ih+2, ih+3 feed two output rows, the
 *             first with (w0, w1, w2, 0), the second with the same weights
 *             one byte up, (0, w0, w1, w2): one quad per column serves 6 taps;
 *   stride 2: r0..r2 feed one output row, r3 reads as zero.
 * Per 64 channels and output pixel that is 3 vpdpbusd (12 with 4 vectors)
 * and, at stride 1, 8 unpacks per column shared by two rows.
 *
 * Columns shared by blocks. Blocks of interior outputs at stride 2 overlap
 * by one column: a run of them hands that column's quad on (5 quads per two
 * outputs become 4; 4–8 % faster). At C = 32 (pixel pairs: a 64-byte column
 * is pixels (c, c + 1)) the same holds, and the odd columns, which start
 * mid-vector, are taken from their even neighbours with one 128-bit-lane
 * shuffle per vector (the unpacks never cross those lanes): 2 quads and 8
 * shuffles per 4 output pixels instead of 5 quads (112²×32: 12–15 % faster).
 *
 * vpdpbusd multiplies unsigned by signed bytes: u8 activations go as they
 * are; s8 ones have their top bit flipped (x + 128), and the start value
 * takes it out with the zero point:
 *   Σ_t (x_t - a_zero) w_t = Σ_t u_t w_t - (a_zero + 128·signed) Σ_t w_t,
 * the start value being bias - (a_zero + 128·signed)·Σ w (Σ w per lane from
 * vpdpbusd of the weight quads with bytes of 1). Pixels whose window leaves
 * the image read the zero point (zpad, 64 bytes), so their taps add 0.
 *
 * The accumulators, bias and requantization constants stay in quad lane
 * order; vpackssdw of vectors (0, 1) and (2, 3), then vpack{us,ss}wb, put the
 * bytes back in channel order (both work within 128-bit lanes) with the
 * saturation the output stage needs.
 *
 * Channel blocks are the outer loop (the block setup is paid once per call),
 * rows inner: pairs of rows at stride 1. Each output pixel's store is paired
 * with a prefetchw of the same channels of the next pass's rows, so outputs
 * not in cache cost their read for ownership a pass ahead.
 */
/* prefetchw (every AVX-512 CPU has it) for __builtin_prefetch(p, 1, ·) */
#pragma GCC target("prfchw")
#include <string.h>

#include "../pack.h"
#include "avx512.h"
#include "conv2d_q8.h"
#include "dwconv_q8.h"

typedef struct qblk {
    const uint8_t *zpad;
    const uint8_t *base[4]; /* quad rows: in-image row start + c0, or zpad */
    ptrdiff_t cs[4];        /* their column stride: in_ld, or 0 for zpad */
    int W;
    __mmask64 m;            /* valid channels of the block */
    __m512i wq[2][3][4];    /* [row of the pair][kw][j] */
    __m512i init[4];
    __m512 mf[4];           /* f32 multipliers (vq_fmult), quad order */
} qblk;

/* Bytes of 4 vectors (rows) interleaved per channel: q[j] lane 4i + k holds
 * (x0, x1, x2, x3) of channel 16i + 4j + k (the unpacks work in 128-bit
 * lanes). */
VQ_AI void interleave(const __m512i x[4], __m512i q[4])
{
    const __m512i l01 = _mm512_unpacklo_epi8(x[0], x[1]), h01 = _mm512_unpackhi_epi8(x[0], x[1]);
    const __m512i l23 = _mm512_unpacklo_epi8(x[2], x[3]), h23 = _mm512_unpackhi_epi8(x[2], x[3]);
    q[0] = _mm512_unpacklo_epi16(l01, l23);
    q[1] = _mm512_unpackhi_epi16(l01, l23);
    q[2] = _mm512_unpacklo_epi16(h01, h23);
    q[3] = _mm512_unpackhi_epi16(h01, h23);
}

/* Column iw of the quad rows, interleaved: q[j], lanes in quad order. P2
 * (32 channels, pixel pairs): lanes 32..63 are the next pixel's, and at a
 * border each half is checked on its own. */
VQ_AI void quad(const qblk *b, int iw, __m512i q[4], const int NR, const int SGN,
                const int FULL, const int EDGE, const int P2)
{
    __m512i x[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        if (r >= NR) {
            x[r] = _mm512_setzero_si512();
            continue;
        }
        if (P2 && EDGE) {
            const __m256i z = _mm256_loadu_si256((const __m256i *)b->zpad);
            const uint8_t *row = b->base[r];
            const __m256i lo = iw >= 0 && iw < b->W
                                   ? _mm256_loadu_si256((const __m256i *)(row + iw * b->cs[r]))
                                   : z;
            const __m256i hi =
                iw + 1 >= 0 && iw + 1 < b->W
                    ? _mm256_loadu_si256((const __m256i *)(row + (iw + 1) * b->cs[r]))
                    : z;
            x[r] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        } else {
            const uint8_t *p = b->base[r] + (ptrdiff_t)iw * b->cs[r];
            if (EDGE && (iw < 0 || iw >= b->W))
                p = b->zpad;
            x[r] = FULL ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(b->m, p);
        }
        if (SGN)
            x[r] = _mm512_xor_si512(x[r], _mm512_set1_epi8((char)0x80));
    }
    interleave(x, q);
}

/* Requantizes the 4 quad-order vectors of one output pixel and stores its 64
 * channels (those of the block's mask) in channel order. */
VQ_AI void store(const __m512i acc[4], const vq_rq q[4], const __m512 mf[4], const vq_out *o,
                 uint8_t *out, __mmask64 m, ptrdiff_t pf, const int MODE, const int SGN,
                 const int FULL)
{
    __m512i v[4];
    vq_mbqm_n(acc, q, mf, o, v, 4, MODE);
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        if (MODE == VQ_CLAMP || MODE == VQ_CLAMP_LEFT)
            v[j] = _mm512_min_epi32(_mm512_max_epi32(v[j], o->lo), o->hi);
        v[j] = _mm512_add_epi32(v[j], o->zero);
    }
    /* in-lane packs: channel order back, saturated to the output type (the
     * clamp modes' values are already inside it) */
    const __m512i p01 = _mm512_packs_epi32(v[0], v[1]), p23 = _mm512_packs_epi32(v[2], v[3]);
    const __m512i y = SGN ? _mm512_packs_epi16(p01, p23) : _mm512_packus_epi16(p01, p23);
    if (FULL)
        _mm512_storeu_si512(out, y);
    else
        _mm512_mask_storeu_epi8(out, m, y);
    if (pf) {
        __builtin_prefetch(out + pf, 1, 3);
        __builtin_prefetch(out + pf + 63, 1, 3);
    }
}

/* Column t's quad qv into the accumulators of the outputs it feeds. */
VQ_AI void column(const qblk *b, __m512i a[2][2][4], int t, const __m512i qv[4], const int R,
                  const int NO, const int CSTEP)
{
#pragma GCC unroll 2
    for (int o = 0; o < NO; o++) {
        const int kw = t - o * CSTEP;
        if (kw < 0 || kw > 2)
            continue;
#pragma GCC unroll 2
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++)
                a[r][o][j] = _mm512_dpbusd_epi32(a[r][o][j], qv[j], b->wq[r][kw][j]);
    }
}

/* Column t's quad: handed on by the previous block (t = 0 with a carry that
 * is set) or built. */
VQ_AI void col_quad(const qblk *b, int iw0, int t, __m512i q[4], const __m512i *carry,
                    const int *have, const int S, const int SGN, const int FULL, const int EDGE,
                    const int P2)
{
    if (t == 0 && carry && *have) {
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            q[j] = carry[j];
    } else
        quad(b, iw0 + t, q, S == 1 ? 4 : 3, SGN, FULL || P2, EDGE, P2);
}

/* NO outputs of R rows (R = 2: stride-1 pair) from input column iw0 (the
 * first kernel column of output 0) on, CSTEP columns apart (S, or 2 for
 * pixel pairs), requantized and stored at out, ldo apart (the next row at
 * out + ldrow), under the mask sm unless FULL. carry (CSTEP 2 and interior
 * blocks only, else NULL): the quad of the block's last column is left
 * there, and if *have, the first column's quad is taken from it. */
VQ_AI void outputs(const qblk *b, int iw0, const vq_rq q[4], const vq_out *o_, uint8_t *out,
                   ptrdiff_t ldo, ptrdiff_t ldrow, ptrdiff_t pf, __mmask64 sm, const int S,
                   const int CSTEP, const int R, const int NO, const int MODE, const int SGN,
                   __m512i *carry, int *have, const int FULL, const int EDGE, const int P2)
{
    __m512i a[2][2][4];
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int o = 0; o < NO; o++)
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++)
                a[r][o][j] = b->init[j];
    /* Interior blocks in a run at CSTEP 2 hand on the quad of their last
     * column, the next block's first (carry, *have). At CSTEP 1 that would
     * be two quads: measured 10..16 % slower (registers spilled). */
    const int ncol = (NO - 1) * CSTEP + 3;
    if (CSTEP != 2)
        carry = NULL;
    __m512i last[4]; /* the quad of the latest column */
    if (P2 && !EDGE) {
        /* Dense 32-byte pixels: column t + 1 (odd) is the upper half of
         * column t and the lower half of column t + 2, 128-bit lanes 2, 3
         * and 0, 1, and the interleave works inside 128-bit lanes: one
         * shuffle per vector instead of 4 loads and 8 unpacks. */
        __m512i qn[4], qm[4];
        col_quad(b, iw0, 0, last, carry, have, S, SGN, FULL, EDGE, P2);
        column(b, a, 0, last, R, NO, CSTEP);
#pragma GCC unroll 4
        for (int t = 1; t < ncol; t += 2) {
            col_quad(b, iw0, t + 1, qn, carry, have, S, SGN, FULL, EDGE, P2);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++)
                qm[j] = _mm512_shuffle_i64x2(last[j], qn[j], _MM_SHUFFLE(1, 0, 3, 2));
            column(b, a, t, qm, R, NO, CSTEP);
            column(b, a, t + 1, qn, R, NO, CSTEP);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++)
                last[j] = qn[j];
        }
    } else {
#pragma GCC unroll 8
        for (int t = 0; t < ncol; t++) {
            col_quad(b, iw0, t, last, carry, have, S, SGN, FULL, EDGE, P2);
            column(b, a, t, last, R, NO, CSTEP);
        }
    }
    if (carry) {
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            carry[j] = last[j];
        *have = 1;
    }
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int o = 0; o < NO; o++)
            store(a[r][o], q, b->mf, o_, out + r * ldrow + o * ldo, sm, pf, MODE, SGN, FULL);
}

/* 4 vectors of 16 lanes in channel order (v[i]: channels 16i..16i+15) to
 * quad order (out[j] lane 4i + k: channel 16i + 4j + k): a 4×4 transpose of
 * 128-bit blocks. */
VQ_AI void to_quad_order(const __m512i v[4], __m512i out[4])
{
    const __m512i a = _mm512_shuffle_i32x4(v[0], v[1], 0x44); /* v0.0 v0.1 v1.0 v1.1 */
    const __m512i b = _mm512_shuffle_i32x4(v[0], v[1], 0xEE); /* v0.2 v0.3 v1.2 v1.3 */
    const __m512i c = _mm512_shuffle_i32x4(v[2], v[3], 0x44);
    const __m512i d = _mm512_shuffle_i32x4(v[2], v[3], 0xEE);
    out[0] = _mm512_shuffle_i32x4(a, c, 0x88); /* a.0 a.2 c.0 c.2 */
    out[1] = _mm512_shuffle_i32x4(a, c, 0xDD);
    out[2] = _mm512_shuffle_i32x4(b, d, 0x88);
    out[3] = _mm512_shuffle_i32x4(b, d, 0xDD);
}

/* Weights, start values and requantization constants of block c0 (p2:
 * channels 0..31 twice, for pixel pairs). */
static void setup(const vk_dwconv_q8_args *a, int c0, int p2, qblk *b, vq_rq q[4])
{
    const vk_conv_geom *g = &a->g;
    const int C = g->C, S = g->stride_w;
    const ptrdiff_t Cp = (ptrdiff_t)vk_round_up((size_t)C, 16);
    const int nc = p2 ? 64 : C - c0 < 64 ? C - c0 : 64;
    b->m = nc == 64 ? ~(__mmask64)0 : ((__mmask64)1 << nc) - 1;
    const __m512i z = _mm512_setzero_si512();
    /* the packed weights hold round_up(C, 16) channels: mask the rest */
    const __mmask64 wm = b->m;
    for (int kw = 0; kw < 3; kw++) {
        __m512i w[4];
        for (int kh = 0; kh < 3; kh++)
            w[kh] = p2 ? _mm512_broadcast_i64x4(_mm256_loadu_si256(
                             (const __m256i *)(a->Wp + (kh * 3 + kw) * Cp)))
                       : _mm512_maskz_loadu_epi8(wm, a->Wp + (kh * 3 + kw) * Cp + c0);
        w[3] = z;
        interleave(w, b->wq[0][kw]);
        for (int j = 0; j < 4; j++) /* (0, w0, w1, w2): the pair's second row */
            b->wq[1][kw][j] = S == 1 ? _mm512_slli_epi32(b->wq[0][kw][j], 8) : z;
    }
    /* bias, multipliers and shifts in channel order (lanes past C as
     * channel 0, as vq_rq_load does), then in quad order */
    __m512i bias[4], mult[4], shift[4];
    for (int i = 0; i < 4; i++) {
        const int ci = c0 + 16 * (p2 ? i % 2 : i), n = C - ci < 0 ? 0 : C - ci > 16 ? 16 : C - ci;
        const __mmask16 vm = (__mmask16)((1u << n) - 1);
        bias[i] = a->bias ? _mm512_maskz_loadu_epi32(vm, a->bias + ci) : z;
        if (a->rq.per_channel) {
            mult[i] = _mm512_mask_loadu_epi32(_mm512_set1_epi32(a->rq.mult[0]), vm, a->rq.mult + ci);
            shift[i] = _mm512_cvtepi8_epi32(
                _mm_mask_loadu_epi8(_mm_set1_epi8(a->rq.shift[0]), vm, a->rq.shift + ci));
        } else {
            mult[i] = _mm512_set1_epi32(a->rq.mult[0]);
            shift[i] = _mm512_set1_epi32(a->rq.shift[0]);
        }
    }
    __m512i bq[4], mq[4], sq[4];
    to_quad_order(bias, bq), to_quad_order(mult, mq), to_quad_order(shift, sq);
    /* start value: bias - (a_zero + 128·signed)·Σ_t w_t, modulo 2^32 */
    const __m512i azero = _mm512_set1_epi32(a->a_zero + (a->a_signed ? 128 : 0));
    const __m512i ones = _mm512_set1_epi8(1);
    for (int j = 0; j < 4; j++) {
        __m512i ws = z;
        for (int kw = 0; kw < 3; kw++)
            ws = _mm512_dpbusd_epi32(ws, ones, b->wq[0][kw][j]);
        b->init[j] = _mm512_sub_epi32(bq[j], _mm512_mullo_epi32(ws, azero));
        q[j] = vq_rq_make(mq[j], sq[j]);
        b->mf[j] = vq_fmult(mq[j], sq[j]);
    }
}

/* Rows [r0, r1) of channel block c0, with the stride, output stage mode,
 * signedness and block fullness fixed. P2: C = 32 and dense rows, stride 1:
 * a block is a pair of pixels (a last odd pixel stores its half). */
VQ_AI void run(const vk_dwconv_q8_args *a, int r0, int r1, int c0, const vq_out *o,
               const uint8_t *zpad, const int S, const int MODE, const int SGN, const int FULL,
               const int P2)
{
    const vk_conv_geom *g = &a->g;
    const int H = g->H, W = g->W, OH = g->OH, OW = g->OW, pt = g->pad_t, pl = g->pad_l;
    const ptrdiff_t ld = g->in_ld, ldo = g->out_ld;
    qblk b;
    vq_rq q[4];
    b.zpad = zpad, b.W = W;
    setup(a, c0, P2, &b, q);
    /* interior outputs: every kernel column inside the image */
    const int owa = (pl + S - 1) / S;
    int owb = W - 3 + pl >= 0 ? (W - 3 + pl) / S + 1 : 0;
    owb = owb > OW ? OW : owb;
    const uint8_t *in = (const uint8_t *)a->in + c0;
    for (int r = r0; r < r1;) {
        const int n = r / OH, oh = r % OH;
        /* stride 1: two rows when both are in the range and the image */
        const int R = S == 1 && r + 1 < r1 && oh + 1 < OH ? 2 : 1;
        for (int k = 0; k < 4; k++) {
            const int ih = oh * S - pt + k;
            const int rok = ih >= 0 && ih < H && (S == 1 || k < 3);
            b.base[k] = rok ? in + ((ptrdiff_t)n * H + ih) * W * ld : zpad;
            b.cs[k] = rok ? ld : 0;
        }
        uint8_t *out = (uint8_t *)a->out + (ptrdiff_t)r * OW * ldo + c0;
        /* prefetch the outputs of the next pass, when it is in the range */
        const int step = S == 1 ? 2 : 1;
        const ptrdiff_t pf =
            r + R + step <= r1 && oh + R + step <= OH ? (ptrdiff_t)step * OW * ldo : 0;
        const ptrdiff_t ldrow = (ptrdiff_t)OW * ldo;
#define OUTS(NO, EDGE, CSTEP, LDO, SM, FULL_, CARRY, HAVE)                                         \
    do {                                                                                           \
        if (R == 2)                                                                                \
            outputs(&b, iw0, q, o, out + (ptrdiff_t)ow * ldo, LDO, ldrow, pf, SM, S, CSTEP, 2, NO, \
                    MODE, SGN, CARRY, HAVE, FULL_, EDGE, P2);                                      \
        else                                                                                       \
            outputs(&b, iw0, q, o, out + (ptrdiff_t)ow * ldo, LDO, ldrow, pf, SM, S, CSTEP, 1, NO, \
                    MODE, SGN, CARRY, HAVE, FULL_, EDGE, P2);                                      \
    } while (0)
        if (P2) {
            /* pixel pairs (ow, ow + 1): interior when both are; a run of
             * interior blocks hands its last column's quad on */
            __m512i carry[4];
            int have = 0;
            for (int ow = 0; ow < OW;) {
                const int iw0 = ow - pl;
                if (ow + 1 >= OW) { /* a last odd pixel: its half */
                    OUTS(1, 1, 2, 2 * ldo, (__mmask64)0xFFFFFFFF, 0, NULL, NULL);
                    ow += 2;
                } else if (ow < owa || ow + 1 >= owb) {
                    OUTS(1, 1, 2, 2 * ldo, b.m, 1, NULL, NULL);
                    ow += 2;
                } else if (ow + 3 < owb) {
                    OUTS(2, 0, 2, 2 * ldo, b.m, 1, carry, &have);
                    ow += 4;
                } else {
                    OUTS(1, 0, 2, 2 * ldo, b.m, 1, carry, &have);
                    ow += 2;
                }
            }
        } else {
            __m512i carry[4]; /* stride 2 only (see outputs) */
            int have = 0;
            for (int ow = 0; ow < OW;) {
                const int iw0 = ow * S - pl;
                if (ow < owa || ow >= owb) {
                    OUTS(1, 1, S, ldo, b.m, FULL, NULL, NULL);
                    ow++;
                } else if (ow + 2 <= owb) {
                    OUTS(2, 0, S, ldo, b.m, FULL, carry, &have);
                    ow += 2;
                } else {
                    OUTS(1, 0, S, ldo, b.m, FULL, carry, &have);
                    ow++;
                }
            }
        }
#undef OUTS
        r += R;
    }
}

#define RUN(S, MODE, SGN, FULL, P2)                                                        \
    __attribute__((noinline)) static void run_##S##_##MODE##_##SGN##_##FULL##_##P2(        \
        const vk_dwconv_q8_args *a, int r0, int r1, int c0, const vq_out *o,               \
        const uint8_t *zpad)                                                               \
    {                                                                                      \
        run(a, r0, r1, c0, o, zpad, S, MODE, SGN, FULL, P2);                               \
    }
#define RUNS(S, FULL, P2)                                                                  \
    RUN(S, VQ_CLAMP, 0, FULL, P2)                                                          \
    RUN(S, VQ_CLAMP, 1, FULL, P2) RUN(S, VQ_SAT_S8, 1, FULL, P2) RUN(S, VQ_SAT_U8, 0, FULL, P2)
RUNS(1, 0, 0) RUNS(1, 1, 0) RUNS(2, 0, 0) RUNS(2, 1, 0) RUNS(1, 1, 1)
#undef RUNS
#undef RUN

typedef void (*quad_fn)(const vk_dwconv_q8_args *, int, int, int, const vq_out *,
                        const uint8_t *);
#define FNS(S, FULL, P2)                                                                   \
    {run_##S##_VQ_CLAMP_0_##FULL##_##P2, run_##S##_VQ_CLAMP_1_##FULL##_##P2,               \
     run_##S##_VQ_SAT_S8_1_##FULL##_##P2, run_##S##_VQ_SAT_U8_0_##FULL##_##P2}
/* [stride 2][full block][mode], and the pixel-pair variants [mode] */
static const quad_fn fns[2][2][4] = {{FNS(1, 0, 0), FNS(1, 1, 0)}, {FNS(2, 0, 0), FNS(2, 1, 0)}};
static const quad_fn fns_p2[4] = FNS(1, 1, 1);
#undef FNS

int vk_dwq8_quad_ok(const vk_dwconv_q8_args *a, const vq_out *o)
{
    const vk_conv_geom *g = &a->g;
    return g->KH == 3 && g->KW == 3 && g->dil_h == 1 && g->dil_w == 1 &&
           g->stride_h == g->stride_w && (g->stride_h == 1 || g->stride_h == 2) &&
           a->b_offset == 0 && o->mode != VQ_CLAMP_LEFT;
}

int vk_dwq8_quad_rows(const vk_dwconv_q8_args *a, int r0, int r1, const vq_out *o,
                      const uint8_t *zpad)
{
    const int C = a->g.C, S = a->g.stride_h, sgn = a->a_signed != 0;
    const int m = o->mode == VQ_CLAMP ? sgn : o->mode == VQ_SAT_S8 ? 2 : 3;
    /* a last block of <= 32 channels would waste half the lanes or more:
     * the 32- and 16-channel paths take it */
    if (C == 32 && S == 1 && a->g.in_ld == 32 && a->g.out_ld == 32) {
        fns_p2[m](a, r0, r1, 0, o, zpad);
        return C;
    }
    const int rem = C % 64, end = rem > 32 ? C : C - rem;
    for (int c0 = 0; c0 < end; c0 += 64)
        fns[S == 2][c0 + 64 <= C][m](a, r0, r1, c0, o, zpad);
    return end;
}
