/* Register tiles of the AVX-512 VNNI quantized conv (driver: conv2d_q8.c).
 *
 * R pixels × NV panels of 16 output channels, R·NV <= 24 s32 accumulators.
 * Per group of 4 k: NV 64-byte weight loads (the matmul-q8 B layout is
 * exactly one vpdpbusd operand per panel row), one 4-byte broadcast per pixel
 * (plus a byte XOR turning s8 activations into u8 = s8 + 128), R·NV vpdpbusd.
 * The accumulators start from the folded per-channel term (bias and
 * zero-point products) plus the per-pixel row-sum term, the K loop never
 * leaves registers, and the epilogue requantizes 16 channels at a time and
 * stores bytes.
 *
 * Every (sgn, NV, R) K loop is instantiated, so a tile of the rows left at the
 * end of a span runs at its own height rather than padding to the full one. */
#include <string.h>

#include "conv2d_q8.h"

/* The K loop alone, accumulators out through c[r*NV + v]: kept apart from the
 * epilogue (the driver calls both) because gcc, seeing both, keeps the
 * accumulators in registers *and* spills them on every k group; and without a
 * masked tail group after the loop for the same reason (K is a multiple of 4:
 * A rows are the padded im2col rows, or pixels with C % 4 == 0). */
VQ_AI void kloop(const cq_tile *t, const int R, const int NV, const int SGN, __m512i *c)
{
    const __m512i flip = _mm512_set1_epi32((int)0x80808080);
    __m512i acc[CQ_MR_MAX][4];
    /* start from the per-channel fold (bias, zero-point products) plus the
     * per-pixel row-sum term */
    __m512i fold[4];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
        fold[v] = t->cst[v].fold;
    if (t->rs) {
#pragma GCC unroll 12
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[r][v] = _mm512_add_epi32(fold[v], _mm512_set1_epi32(t->rs[r]));
    } else {
#pragma GCC unroll 12
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[r][v] = fold[v];
    }

    const uint8_t *a = t->a;
    const int8_t *b = t->b;
    const ptrdiff_t lda = t->lda, bs = t->bstride;
    for (int g = 0; g < t->kg; g++, a += 4, b += 64) {
        __m512i w[4];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            w[v] = _mm512_loadu_si512(b + v * bs);
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
            int32_t x;
            memcpy(&x, a + r * lda, 4);
            __m512i xv = _mm512_set1_epi32(x);
            if (SGN)
                xv = _mm512_xor_si512(xv, flip);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], xv, w[v]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            _mm512_store_si512(c + r * NV + v, acc[r][v]);
}

/* R is a runtime count here: the accumulators come from memory anyway, and
 * one copy per output mode (rather than per tile shape) keeps the code small. */
VQ_AI void epilogue(const cq_tile *t, int R, int NV, const __m512i *acc, const int MODE)
{
    /* locals: the byte stores below may alias *t as far as the compiler knows */
    const cq_panel *cst = t->cst;
    uint8_t *out = t->out;
    const ptrdiff_t ldo = t->ldo;
    const __mmask16 lastmask = t->lastmask;
    const vq_out o = t->o;
    for (int v = 0; v < NV; v++) {
        const vq_rq q = cst[v].q;
        const __mmask16 m = v == NV - 1 ? lastmask : 0xFFFF;
        uint8_t *p = out + v * 16;
#pragma GCC unroll 2
        for (int r = 0; r < R; r++, p += ldo)
            vq_store(p, m, vq_bytes(acc[r * NV + v], &q, &o, MODE));
    }
}

static void epi_clamp_left(const cq_tile *t, int R, int NV, const __m512i *acc)
{
    epilogue(t, R, NV, acc, VQ_CLAMP_LEFT);
}
static void epi_clamp(const cq_tile *t, int R, int NV, const __m512i *acc)
{
    epilogue(t, R, NV, acc, VQ_CLAMP);
}
static void epi_sat_s8(const cq_tile *t, int R, int NV, const __m512i *acc)
{
    epilogue(t, R, NV, acc, VQ_SAT_S8);
}
static void epi_sat_u8(const cq_tile *t, int R, int NV, const __m512i *acc)
{
    epilogue(t, R, NV, acc, VQ_SAT_U8);
}
const cq_epi_fn vk_cq_epi[4] = {epi_clamp_left, epi_clamp, epi_sat_s8, epi_sat_u8};

#define T(R, NV, S)                                                          \
    static void k_##R##_##NV##_##S(const cq_tile *t, __m512i *acc)           \
    {                                                                        \
        kloop(t, R, NV, S, acc);                                             \
    }
#define T12(NV, S)                                                                        \
    T(1, NV, S) T(2, NV, S) T(3, NV, S) T(4, NV, S) T(5, NV, S) T(6, NV, S) T(7, NV, S) \
    T(8, NV, S) T(9, NV, S) T(10, NV, S) T(11, NV, S) T(12, NV, S)
#define T8(NV, S)                                                                         \
    T(1, NV, S) T(2, NV, S) T(3, NV, S) T(4, NV, S) T(5, NV, S) T(6, NV, S) T(7, NV, S) \
    T(8, NV, S)
#define T6(NV, S) T(1, NV, S) T(2, NV, S) T(3, NV, S) T(4, NV, S) T(5, NV, S) T(6, NV, S)
T12(1, 0) T12(2, 0) T8(3, 0) T6(4, 0)
T12(1, 1) T12(2, 1) T8(3, 1) T6(4, 1)

#define L6(NV, S) k_1_##NV##_##S, k_2_##NV##_##S, k_3_##NV##_##S, k_4_##NV##_##S, \
                  k_5_##NV##_##S, k_6_##NV##_##S
#define L8(NV, S) L6(NV, S), k_7_##NV##_##S, k_8_##NV##_##S
#define L12(NV, S) L8(NV, S), k_9_##NV##_##S, k_10_##NV##_##S, k_11_##NV##_##S, k_12_##NV##_##S

const cq_tile_fn vk_cq_tiles[2][4][CQ_MR_MAX] = {
    {{L12(1, 0)}, {L12(2, 0)}, {L8(3, 0)}, {L6(4, 0)}},
    {{L12(1, 1)}, {L12(2, 1)}, {L8(3, 1)}, {L6(4, 1)}},
};
