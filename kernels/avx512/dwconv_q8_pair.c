/* Depthwise fast path (driver: dwconv_q8.c): 3×3 and 5×5, stride 1 or 2, no
 * dilation, blocks of 32 channels, two taps per vpdpwssd.
 *
 * An input column X(c) of a kernel row is 32 channels widened to 16 bits
 * (vpmovzxbw / vpmovsxbw). vpunpck{l,h}wd of X(c) and X(c+1) makes the tap
 * pair P(c): 32-bit lanes (x_c, x_c+1) for channels {0-3, 8-11, 16-19, 24-27}
 * (lo) and {4-7, 12-15, 20-23, 28-31} (hi), and the same unpack of the
 * weights (w + b_offset, 16 bits) gives the matching (w_a, w_b) lanes: one
 * vpdpwssd adds x_c·w_a + x_c+1·w_b per channel, exactly. A kernel row of KS
 * taps is (KS-1)/2 pairs and one single tap, the single a pair whose other
 * weight is 0:
 *   stride 1: output o, row kh uses P(o), P(o+2).., and P(o+KS-2) with
 *             (0, w_KS-1); every P(c) serves several outputs;
 *   stride 2: P(2o), P(2o+2).. and P(2o+KS-1) with (w_KS-1, 0), which is the
 *             next output's first pair.
 * Per 16 outputs of 3×3 that is 6 vpdpwssd instead of 9, and ~2 loads.
 *
 * The accumulators stay in that lane order; the bias, start value and
 * requantization constants are permuted to it, and two dword unpacks of the
 * output bytes restore the channel order. Pixels whose kernel leaves the image
 * read the zero-point buffer for the missing columns (and rows), so the same
 * code serves borders, one output at a time.
 *
 * At stride 1 each output pixel's store is paired with a prefetchw of the
 * same 32 channels one row down (the next row of the range): outputs not in
 * cache then cost their read for ownership a row ahead instead of stalling
 * the stores (measured with outputs larger than the LLC: +8..17 % on the
 * 28×28..7×7 MobileNetV2 stride-1 layers, neutral on 112×112 and 56×56 and
 * with outputs in cache).
 */
/* prefetchw (every AVX-512 CPU has it) for __builtin_prefetch(p, 1, ·) */
#pragma GCC target("prfchw")
#include <string.h>

#include "../pack.h"
#include "avx512.h"
#include "conv2d_q8.h"
#include "dwconv_q8.h"

#define PCHUNK 32 /* outputs requantized together */

typedef struct pblk {
    const uint8_t *zpad;
    const uint8_t *base[5]; /* kernel rows: in-image row start + c0, or zpad */
    ptrdiff_t cs[5];        /* their column stride: in_ld, or 0 for zpad */
    int W;
    __m512i wp[5][2][2];    /* [kh][pair][lo/hi] */
    __m512i ws[5][2];       /* single tap: [kh][lo/hi] */
    __m512i init[2];
} pblk;

VQ_AI __m512i widen16(const uint8_t *p, const int SGN)
{
    const __m256i b = _mm256_loadu_si256((const __m256i *)p);
    return SGN ? _mm512_cvtepi8_epi16(b) : _mm512_cvtepu8_epi16(b);
}

/* NO outputs starting at input column iw0 (first kernel column); EDGE: some
 * columns may be outside the image. acc[o][0/1]: lo/hi lanes. */
VQ_AI void outputs(const pblk *b, int iw0, __m512i (*acc)[2], const int KS, const int S,
                   const int NO, const int SGN, const int EDGE)
{
    const int NP = (KS - 1) / 2;
    /* columns read: s1 NO+KS-1, s2 2·NO+KS-2 (at most 11) */
    const int NCOL = S == 1 ? NO + KS - 1 : 2 * NO + KS - 2;
    __m512i a[4][2];
#pragma GCC unroll 4
    for (int o = 0; o < NO; o++)
        a[o][0] = b->init[0], a[o][1] = b->init[1];
#pragma GCC unroll 5
    for (int kh = 0; kh < KS; kh++) {
        __m512i x[11];
#pragma GCC unroll 16
        for (int j = 0; j < NCOL; j++) {
            const int iw = iw0 + j;
            const uint8_t *p = b->base[kh] + (ptrdiff_t)iw * b->cs[kh];
            if (EDGE && (iw < 0 || iw >= b->W))
                p = b->zpad;
            x[j] = widen16(p, SGN);
        }
        /* pairs starting at every column (s1) or every even column (s2) */
        __m512i pl[11], ph[11];
#pragma GCC unroll 16
        for (int j = 0; j < NCOL; j += S) {
            const __m512i y = j + 1 < NCOL ? x[j + 1] : x[j];
            pl[j] = _mm512_unpacklo_epi16(x[j], y);
            ph[j] = _mm512_unpackhi_epi16(x[j], y);
        }
#pragma GCC unroll 4
        for (int o = 0; o < NO; o++) {
            const int c = o * S;
#pragma GCC unroll 2
            for (int p = 0; p < NP; p++) {
                a[o][0] = _mm512_dpwssd_epi32(a[o][0], pl[c + 2 * p], b->wp[kh][p][0]);
                a[o][1] = _mm512_dpwssd_epi32(a[o][1], ph[c + 2 * p], b->wp[kh][p][1]);
            }
            const int cs_ = S == 1 ? c + KS - 2 : c + KS - 1;
            a[o][0] = _mm512_dpwssd_epi32(a[o][0], pl[cs_], b->ws[kh][0]);
            a[o][1] = _mm512_dpwssd_epi32(a[o][1], ph[cs_], b->ws[kh][1]);
        }
    }
#pragma GCC unroll 4
    for (int o = 0; o < NO; o++)
        acc[o][0] = a[o][0], acc[o][1] = a[o][1];
}

/* Lanes lo = channels {0-3, 8-11, 16-19, 24-27}, hi = {4-7, ...} of a
 * natural-order pair of vectors (channels 0-15, 16-31). */
VQ_AI __m512i perm_lo(__m512i a, __m512i b)
{
    return _mm512_permutex2var_epi32(
        a, _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27), b);
}
VQ_AI __m512i perm_hi(__m512i a, __m512i b)
{
    return _mm512_permutex2var_epi32(
        a, _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31), b);
}

/* Requantizes cnt outputs of lo/hi accumulators and stores them in channel
 * order: the bytes of lo are channel groups 0-3, 8-11, 16-19, 24-27 and of
 * hi 4-7, 12-15, ..., so dword unpacks interleave them back. */
VQ_AI void epi_body(__m512i (*acc)[2], int cnt, uint8_t *out, ptrdiff_t ldo, ptrdiff_t pf,
                    const vq_rq *q, const __m512 *mf, const vq_out *o, const int MODE)
{
    for (int i = 0; i < cnt; i++, out += ldo) {
        if (pf)
            __builtin_prefetch(out + pf, 1, 3);
        __m512i v[2];
        vq_mbqm_n(acc[i], q, mf, o, v, 2, MODE);
        const __m128i lo = vq_finish(v[0], o, MODE);
        const __m128i hi = vq_finish(v[1], o, MODE);
        _mm_storeu_si128((__m128i *)out, _mm_unpacklo_epi32(lo, hi));
        _mm_storeu_si128((__m128i *)(out + 16), _mm_unpackhi_epi32(lo, hi));
    }
}

static void epilogue(__m512i (*acc)[2], int cnt, uint8_t *out, ptrdiff_t ldo, ptrdiff_t pf,
                     const vq_rq *q, const __m512 *mf, const vq_out *o)
{
    switch (o->mode) {
    case VQ_CLAMP_LEFT: epi_body(acc, cnt, out, ldo, pf, q, mf, o, VQ_CLAMP_LEFT); break;
    case VQ_CLAMP: epi_body(acc, cnt, out, ldo, pf, q, mf, o, VQ_CLAMP); break;
    case VQ_SAT_S8: epi_body(acc, cnt, out, ldo, pf, q, mf, o, VQ_SAT_S8); break;
    default: epi_body(acc, cnt, out, ldo, pf, q, mf, o, VQ_SAT_U8); break;
    }
}

VQ_AI void run(const vk_dwconv_q8_args *a, int r0, int r1, int c0, const vq_out *o,
               const uint8_t *zpad, const int KS, const int S, const int SGN)
{
    const vk_conv_geom *g = &a->g;
    const int H = g->H, W = g->W, OH = g->OH, OW = g->OW, pt = g->pad_t, pl = g->pad_l;
    const ptrdiff_t ld = g->in_ld, ldo = g->out_ld;
    const ptrdiff_t Cp = (ptrdiff_t)vk_round_up((size_t)g->C, 16);
    pblk b;
    b.zpad = zpad, b.W = W;

    /* weights (w + bo) in 16 bits, their pairs, the start value */
    const __m512i bo = _mm512_set1_epi16((short)a->b_offset), z = _mm512_setzero_si512();
    __m512i wsum = z;
    for (int kh = 0; kh < KS; kh++) {
        __m512i w[5];
        for (int kw = 0; kw < KS; kw++) {
            w[kw] = _mm512_add_epi16(
                _mm512_cvtepi8_epi16(
                    _mm256_loadu_si256((const __m256i *)(a->Wp + (kh * KS + kw) * Cp + c0))),
                bo);
            wsum = _mm512_add_epi16(wsum, w[kw]); /* |Σ| <= 25·255: no overflow */
        }
        for (int p = 0; p < (KS - 1) / 2; p++) {
            b.wp[kh][p][0] = _mm512_unpacklo_epi16(w[2 * p], w[2 * p + 1]);
            b.wp[kh][p][1] = _mm512_unpackhi_epi16(w[2 * p], w[2 * p + 1]);
        }
        const __m512i wl = w[KS - 1];
        b.ws[kh][0] = S == 1 ? _mm512_unpacklo_epi16(z, wl) : _mm512_unpacklo_epi16(wl, z);
        b.ws[kh][1] = S == 1 ? _mm512_unpackhi_epi16(z, wl) : _mm512_unpackhi_epi16(wl, z);
    }
    /* Σ w, sign-extended, in the lo/hi lane order (as the unpacks order it) */
    const __m512i wsg = _mm512_srai_epi16(wsum, 15);
    const __m512i az = _mm512_set1_epi32(a->a_zero);
    const __m512i b0 = a->bias ? _mm512_loadu_si512(a->bias + c0) : z;
    const __m512i b1 = a->bias ? _mm512_loadu_si512(a->bias + c0 + 16) : z;
    b.init[0] = _mm512_sub_epi32(perm_lo(b0, b1),
                                 _mm512_mullo_epi32(_mm512_unpacklo_epi16(wsum, wsg), az));
    b.init[1] = _mm512_sub_epi32(perm_hi(b0, b1),
                                 _mm512_mullo_epi32(_mm512_unpackhi_epi16(wsum, wsg), az));

    /* requantization constants in the same order */
    vq_rq q[2];
    __m512 mf[2];
    {
        __m512i m0, m1, s0, s1;
        if (a->rq.per_channel) {
            m0 = _mm512_loadu_si512(a->rq.mult + c0), m1 = _mm512_loadu_si512(a->rq.mult + c0 + 16);
            s0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(a->rq.shift + c0)));
            s1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(a->rq.shift + c0 + 16)));
        } else {
            m0 = m1 = _mm512_set1_epi32(a->rq.mult[0]);
            s0 = s1 = _mm512_set1_epi32(a->rq.shift[0]);
        }
        const __m512i ml = perm_lo(m0, m1), sl = perm_lo(s0, s1);
        const __m512i mh = perm_hi(m0, m1), sh = perm_hi(s0, s1);
        q[0] = vq_rq_make(ml, sl), mf[0] = vq_fmult(ml, sl);
        q[1] = vq_rq_make(mh, sh), mf[1] = vq_fmult(mh, sh);
    }

    /* interior outputs: every kernel column inside the image */
    const int owa = (pl + S - 1) / S;
    int owb = W - KS + pl >= 0 ? (W - KS + pl) / S + 1 : 0;
    owb = owb > OW ? OW : owb;
    const uint8_t *in = (const uint8_t *)a->in + c0;
    __m512i acc[PCHUNK][2];
    for (int r = r0; r < r1; r++) {
        const int n = r / OH, oh = r % OH;
        for (int kh = 0; kh < KS; kh++) {
            const int ih = oh * S - pt + kh;
            const int rok = ih >= 0 && ih < H;
            b.base[kh] = rok ? in + ((ptrdiff_t)n * H + ih) * W * ld : zpad;
            b.cs[kh] = rok ? ld : 0;
        }
        uint8_t *out = (uint8_t *)a->out + (ptrdiff_t)r * OW * ldo + c0;
        /* stride 1: prefetch (for writing) the next row's outputs */
        const ptrdiff_t pf = S == 1 && r + 1 < r1 && oh + 1 < OH ? (ptrdiff_t)OW * ldo : 0;
        for (int ow0 = 0; ow0 < OW; ow0 += PCHUNK) {
            const int ow1 = ow0 + PCHUNK < OW ? ow0 + PCHUNK : OW;
            for (int ow = ow0; ow < ow1;) {
                const int iw0 = ow * S - pl;
                __m512i(*ac)[2] = acc + (ow - ow0);
                if (ow < owa || ow >= owb) {
                    outputs(&b, iw0, ac, KS, S, 1, SGN, 1);
                    ow++;
                } else if (ow + 4 <= owb && ow + 4 <= ow1) {
                    outputs(&b, iw0, ac, KS, S, 4, SGN, 0);
                    ow += 4;
                } else if (ow + 2 <= owb && ow + 2 <= ow1) {
                    outputs(&b, iw0, ac, KS, S, 2, SGN, 0);
                    ow += 2;
                } else {
                    outputs(&b, iw0, ac, KS, S, 1, SGN, 0);
                    ow++;
                }
            }
            epilogue(acc, ow1 - ow0, out + (ptrdiff_t)ow0 * ldo, ldo, pf, q, mf, o);
        }
    }
}

#define RUN(KS, S, SGN)                                                                      \
    __attribute__((noinline)) static void run_##KS##_##S##_##SGN(                            \
        const vk_dwconv_q8_args *a, int r0, int r1, int c0, const vq_out *o,                 \
        const uint8_t *zpad)                                                                 \
    {                                                                                        \
        run(a, r0, r1, c0, o, zpad, KS, S, SGN);                                             \
    }
RUN(3, 1, 0) RUN(3, 1, 1) RUN(3, 2, 0) RUN(3, 2, 1)
RUN(5, 1, 0) RUN(5, 1, 1) RUN(5, 2, 0) RUN(5, 2, 1)
#undef RUN

void vk_dwq8_pair_rows(const vk_dwconv_q8_args *a, int r0, int r1, int c0, const vq_out *o,
                       const uint8_t *zpad)
{
    const int KS = a->g.KH, S = a->g.stride_h, sgn = a->a_signed;
    static void (*const fn[2][2][2])(const vk_dwconv_q8_args *, int, int, int, const vq_out *,
                                      const uint8_t *) = {
        {{run_3_1_0, run_3_1_1}, {run_3_2_0, run_3_2_1}},
        {{run_5_1_0, run_5_1_1}, {run_5_2_0, run_5_2_1}},
    };
    fn[KS == 5][S == 2][sgn](a, r0, r1, c0, o, zpad);
}
