/* Quantized convolution of few-channel inputs (the 3-channel first layer:
 * MobileNetV2's 3×3 s2, ResNet-50's 7×7 s2), AVX-512 VNNI, without an
 * im2col: bit-identical to the reference, like every conv2d_q8 path.
 *
 * The generic path (conv2d_q8.c) gathers each pixel's K = KH·KW·C bytes into
 * a dense im2col row and the register tile broadcasts them 4 at a time.
 * With C = 3 that gather is a third of the time, and a kernel row's KW·C
 * bytes are already contiguous in the input. So here the weights of every
 * kernel row are re-laid in groups of 4 that start at the row (a row of
 * KW·C bytes takes G = ceil(KW·C / 4) groups; the bytes past KW·C meet zero
 * weights), and the tile broadcasts its 4-byte groups straight from the
 * input rows: pixel p, kernel row kh, group j reads in_row(kh) + p·sw·C + 4j.
 * That costs (G·4·KH − K) / K more multiply-adds (MobileNetV2: 36 vs 28
 * bytes, ResNet-50: 168 vs 148), and saves the gather's stores.
 *
 * What the broadcasts cannot read: kernel rows above or below the image read
 * a row of zero points on the stack (so they add (za − za)·w = 0, as the
 * reference's padding does); pixels whose groups would start left of the row
 * or end past it (the left and right padding, and the overhang of the last
 * group) are copied into a small patch with the zero point outside the image
 * and run as a tile of one. The groups' bytes past KW·C may be anything (the
 * next pixels, or the patch's filler): their weights are zero, and the row
 * sums (for b_offset != 0) count the KW·C bytes of each row only.
 *
 * Zero points and bias fold exactly as in conv2d_q8.c (vk_cq_setup; s8
 * inputs as u = x + 128), and the output stage is its epilogue.
 *
 * Taken when C <= 4, dilation 1, dense pixels (in_ld == C), KW·C <= 64,
 * KH·G <= 64, OC <= 64 (at most 4 panels: one group of the register tile;
 * at most 2 when b_offset != 0) and W·C <= ST_ROWMAX; anything else returns
 * nonzero and the generic path runs.
 */
#include <string.h>

#include "../pack.h"
#include "avx512.h"
#include "conv2d_q8.h"

#define ST_GMAX 64       /* groups (kernel rows × groups per row) */
#define ST_ROWMAX 4096   /* bytes of the zero-point row */
#define ST_PATCH 64      /* bytes of a patch row (4·G <= 64 + 3, rounded) */

typedef struct st_tile {
    const uint8_t *row[16]; /* KH row starts of the tile's first pixel */
    ptrdiff_t ps;           /* bytes between the tile's pixels */
    int KH, G;
    const int8_t *w;        /* [P][KH·G][64] */
    ptrdiff_t wstride;      /* bytes between panels */
    const cq_panel *cst;
    const __m512i *ones;    /* G vectors: byte 1 where 4j + t < KWC (row sums) */
    int32_t bo;             /* b_offset */
} st_tile;

typedef void (*st_kfn)(const st_tile *t, __m512i *acc);

/* The K loop of an R × NV tile. RS (b_offset != 0): the row-sum term
 * bo·Σu of each pixel accumulates beside its tile row, by vpdpbusd of the
 * same broadcast bytes with a vector of ones (zero past KW·C), replicated in
 * every lane, so it adds to the accumulators without a horizontal sum. */
VQ_AI void st_kloop(const st_tile *t, const int R, const int NV, const int SGN, const int RS,
                    __m512i *c)
{
    const __m512i flip = _mm512_set1_epi32((int)0x80808080);
    __m512i acc[CQ_MR_MAX][4], rsum[CQ_MR_MAX];
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[r][v] = t->cst[v].fold;
        if (RS)
            rsum[r] = _mm512_setzero_si512();
    }
    const int8_t *w = t->w;
    const ptrdiff_t ws = t->wstride, ps = t->ps;
    for (int kh = 0; kh < t->KH; kh++) {
        const uint8_t *a = t->row[kh];
        for (int j = 0; j < t->G; j++, a += 4, w += 64) {
            __m512i wv[4], on = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                wv[v] = _mm512_loadu_si512(w + v * ws);
            if (RS)
                on = _mm512_load_si512(t->ones + j);
#pragma GCC unroll 12
            for (int r = 0; r < R; r++) {
                int32_t x;
                memcpy(&x, a + r * ps, 4);
                __m512i xv = _mm512_set1_epi32(x);
                if (SGN)
                    xv = _mm512_xor_si512(xv, flip);
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++)
                    acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], xv, wv[v]);
                if (RS)
                    rsum[r] = _mm512_dpbusd_epi32(rsum[r], xv, on);
            }
        }
    }
    const __m512i bo = _mm512_set1_epi32(t->bo);
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
        /* bo·Σu modulo 2^32, as the accumulators wrap */
        const __m512i rt = RS ? _mm512_mullo_epi32(rsum[r], bo) : _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            _mm512_store_si512(c + r * NV + v, RS ? _mm512_add_epi32(acc[r][v], rt) : acc[r][v]);
    }
}

#define T(R, NV, S, RS)                                                       \
    static void s_##R##_##NV##_##S##_##RS(const st_tile *t, __m512i *acc)     \
    {                                                                         \
        st_kloop(t, R, NV, S, RS, acc);                                       \
    }
#define T4(NV, S, RS) T(1, NV, S, RS) T(2, NV, S, RS) T(3, NV, S, RS) T(4, NV, S, RS)
#define T6(NV, S, RS) T4(NV, S, RS) T(5, NV, S, RS) T(6, NV, S, RS)
#define T8(NV, S, RS) T6(NV, S, RS) T(7, NV, S, RS) T(8, NV, S, RS)
#define T12(NV, S, RS) T8(NV, S, RS) T(9, NV, S, RS) T(10, NV, S, RS) T(11, NV, S, RS) T(12, NV, S, RS)
/* tile heights: 24 accumulators, or (RS) 24 with the row-sum ones */
static const int st_mr[2][5] = {{0, 12, 12, 8, 6}, {0, 12, 8, 6, 4}};
T12(1, 0, 0) T12(2, 0, 0) T8(3, 0, 0) T6(4, 0, 0)
T12(1, 1, 0) T12(2, 1, 0) T8(3, 1, 0) T6(4, 1, 0)
T12(1, 0, 1) T8(2, 0, 1) T6(3, 0, 1) T4(4, 0, 1)
T12(1, 1, 1) T8(2, 1, 1) T6(3, 1, 1) T4(4, 1, 1)
#undef T
#undef T4
#undef T6
#undef T8
#undef T12

#define L4(NV, S, RS) s_1_##NV##_##S##_##RS, s_2_##NV##_##S##_##RS, s_3_##NV##_##S##_##RS, \
                      s_4_##NV##_##S##_##RS
#define L6(NV, S, RS) L4(NV, S, RS), s_5_##NV##_##S##_##RS, s_6_##NV##_##S##_##RS
#define L8(NV, S, RS) L6(NV, S, RS), s_7_##NV##_##S##_##RS, s_8_##NV##_##S##_##RS
#define L12(NV, S, RS) L8(NV, S, RS), s_9_##NV##_##S##_##RS, s_10_##NV##_##S##_##RS, \
                       s_11_##NV##_##S##_##RS, s_12_##NV##_##S##_##RS
/* [rs][sgn][NV - 1][R - 1], R <= st_mr[rs][NV] */
static const st_kfn st_tiles[2][2][4][CQ_MR_MAX] = {
    {{{L12(1, 0, 0)}, {L12(2, 0, 0)}, {L8(3, 0, 0)}, {L6(4, 0, 0)}},
     {{L12(1, 1, 0)}, {L12(2, 1, 0)}, {L8(3, 1, 0)}, {L6(4, 1, 0)}}},
    {{{L12(1, 0, 1)}, {L8(2, 0, 1)}, {L6(3, 0, 1)}, {L4(4, 0, 1)}},
     {{L12(1, 1, 1)}, {L8(2, 1, 1)}, {L6(3, 1, 1)}, {L4(4, 1, 1)}}},
};
#undef L4
#undef L6
#undef L8
#undef L12

/* Weights re-laid per kernel row: ws[((v·KH + kh)·G + j)·64 + c·4 + t] =
 * W[kh·KWC + 4j + t][16v + c] for 4j + t < KWC, else 0; from the packed conv
 * layout (kernels.h: K4 groups of 16 channels × 4 bytes per panel). */
static void relay_weights(const int8_t *Wp, int P, int K4, int KH, int KWC, int G, int8_t *ws)
{
    for (int v = 0; v < P; v++)
        for (int kh = 0; kh < KH; kh++)
            for (int j = 0; j < G; j++) {
                int8_t *d = ws + ((ptrdiff_t)(v * KH + kh) * G + j) * 64;
                for (int t = 0; t < 4; t++) {
                    const int kr = 4 * j + t, k = kh * KWC + kr;
                    for (int c = 0; c < 16; c++)
                        d[c * 4 + t] =
                            kr < KWC ? Wp[(((ptrdiff_t)v * K4 + k / 4) * 16 + c) * 4 + k % 4] : 0;
                }
            }
}

int vk_conv2d_q8_stem_avx512(const vk_conv2d_q8_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    const int C = g->C, KH = g->KH, KW = g->KW, KWC = KW * C, G = (KWC + 3) / 4;
    const int OC = g->OC, P = (OC + 15) / 16;
    if (C > 4 || C < 1 || g->dil_h != 1 || g->dil_w != 1 || g->in_ld != C || KWC > 64 ||
        KH > 16 || KH * G > ST_GMAX || P > 4 || (ptrdiff_t)g->W * C > ST_ROWMAX ||
        g->stride_w < 1)
        return 1;
    /* with row sums, 3-4 panels leave tiles of 4-6 pixels: the im2col path's
     * 6-8 are faster there (measured on ResNet-50's 7×7 stem) */
    if (a->b_offset && P > 2)
        return 1;
    /* padding bytes hold the zero point: it must be a value of the input type */
    if (a->a_signed ? a->a_zero < -128 || a->a_zero > 127 : a->a_zero < 0 || a->a_zero > 255)
        return 1;
    if (r0 >= r1)
        return 0;
    const int K = KH * KWC, K4 = (K + 3) / 4, sgn = a->a_signed;
    const int32_t zu = a->a_zero + (sgn ? 128 : 0);
    const int H = g->H, W = g->W, OH = g->OH, OW = g->OW, sw = g->stride_w;

    cq_panel *cst = a->scratch;
    int min_rsh;
    const int has_left = vk_cq_setup(a, cst, zu, K, &min_rsh);
    const vq_out o = vq_out_make(sgn, a->rq.out_min, a->rq.out_max, a->rq.out_zero, has_left,
                                 min_rsh);
    const cq_epi_fn epi = vk_cq_epi[o.mode];

    _Alignas(64) int8_t ws[4 * ST_GMAX * 64];
    relay_weights(a->Wp, P, K4, KH, KWC, G, ws);
    /* a row of zero points for kernel rows outside the image, and the patch
     * of one edge pixel (raw input bytes: s8 inputs are flipped on use) */
    _Alignas(64) uint8_t zrow[ST_ROWMAX + 64];
    _Alignas(64) uint8_t patch[16 * ST_PATCH];
    memset(zrow, (uint8_t)a->a_zero, (size_t)W * C + 64);

    /* interior pixels: every group of every kernel row inside the input row */
    int ow_lo = 0, ow_hi = OW;
    while (ow_lo < OW && ow_lo * sw - g->pad_l < 0)
        ow_lo++;
    while (ow_hi > ow_lo && ((ptrdiff_t)(ow_hi - 1) * sw - g->pad_l) * C + 4 * G > (ptrdiff_t)W * C)
        ow_hi--;

    __m512i ones[16];
    for (int j = 0; j < G; j++) {
        const int nb = KWC - 4 * j; /* valid bytes of group j (>= 1) */
        const __m512i one = _mm512_set1_epi8(1);
        ones[j] = nb >= 4 ? one : _mm512_and_si512(one, _mm512_set1_epi32((int)(0xFFFFFFFFu >> (32 - 8 * nb))));
    }
    st_tile t = {.ps = (ptrdiff_t)sw * C, .KH = KH, .G = G, .w = ws,
                 .wstride = (ptrdiff_t)KH * G * 64, .cst = cst, .ones = ones,
                 .bo = a->b_offset};
    cq_tile et;
    memset(&et, 0, sizeof et);
    et.cst = cst, et.ldo = g->out_ld, et.o = o;
    et.lastmask = OC % 16 ? (__mmask16)((1u << (OC % 16)) - 1) : 0xFFFF;
    const int rsf = a->b_offset != 0, mr = st_mr[rsf][P];
    const st_kfn *tiles = st_tiles[rsf][sgn][P - 1];
    __m512i acc[24];
    const uint8_t *in = a->in;
    uint8_t *out = a->out;
    for (int r = r0; r < r1; r++) {
        const int n = r / OH, oh = r % OH;
        const uint8_t *rows[16];
        for (int kh = 0; kh < KH; kh++) {
            const int ih = oh * g->stride_h - g->pad_t + kh;
            rows[kh] = ih >= 0 && ih < H ? in + ((ptrdiff_t)n * H + ih) * W * C : zrow;
        }
        uint8_t *orow = out + (ptrdiff_t)r * OW * g->out_ld;
        /* edge pixels, one at a time through the patch */
        for (int ow = 0; ow < OW; ow++) {
            if (ow == ow_lo && ow_hi > ow_lo)
                ow = ow_hi; /* skip the interior */
            if (ow >= OW)
                break;
            const int iw0 = ow * sw - g->pad_l;
            st_tile e = t;
            for (int kh = 0; kh < KH; kh++) {
                uint8_t *d = patch + kh * ST_PATCH;
                memset(d, (uint8_t)a->a_zero, ST_PATCH);
                for (int kw = 0; kw < KW; kw++)
                    if (iw0 + kw >= 0 && iw0 + kw < W)
                        memcpy(d + kw * C, rows[kh] + (ptrdiff_t)(iw0 + kw) * C, (size_t)C);
                e.row[kh] = d;
            }
            tiles[0](&e, acc);
            et.out = orow + (ptrdiff_t)ow * g->out_ld;
            epi(&et, 1, P, acc);
        }
        /* interior pixels in balanced tiles */
        const int M = ow_hi - ow_lo, nt = (M + mr - 1) / mr;
        for (int ti = 0, ow = ow_lo; ti < nt; ti++) {
            const int R = M / nt + (ti < M % nt);
            const ptrdiff_t off = ((ptrdiff_t)ow * sw - g->pad_l) * C;
            for (int kh = 0; kh < KH; kh++)
                t.row[kh] = rows[kh] + off;
            tiles[R - 1](&t, acc);
            et.out = orow + (ptrdiff_t)ow * g->out_ld;
            epi(&et, R, P, acc);
            ow += R;
        }
    }
    return 0;
}
