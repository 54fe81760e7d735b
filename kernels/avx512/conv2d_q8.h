/* Shared by the AVX-512 quantized convolutions (conv2d_q8*.c, dwconv_q8*.c):
 * the TFLite output stage on 16 lanes, and the conv register tiles. */
#ifndef VIREO_KERNELS_AVX512_CONV2D_Q8_H
#define VIREO_KERNELS_AVX512_CONV2D_Q8_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define VQ_AI static inline __attribute__((always_inline))

/* Per 16 channels, the requantization constants as vectors; the even lanes'
 * (e) and odd lanes' (o) 64-bit terms sit in 64-bit lanes, as vpmuldq's
 * products do. With e the right shift (0 when the shift is to the left):
 *   mult_odd  the odd multipliers, in the low half of each 64-bit lane;
 *   add       2^(30+e), half of the final divisor;
 *   sh        31 + e. */
typedef struct vq_rq {
    __m512i mult, mult_odd, add_e, add_o, sh_e, sh_o, lsh;
} vq_rq;

/* From 16 multipliers and 16 shifts (TFLite convention). */
VQ_AI vq_rq vq_rq_make(__m512i m, __m512i s)
{
    vq_rq q;
    const __m512i zero = _mm512_setzero_si512();
    /* shifts clamped to [-31, 30] as requant.h does */
    s = _mm512_min_epi32(_mm512_max_epi32(s, _mm512_set1_epi32(-31)), _mm512_set1_epi32(30));
    const __m512i e = _mm512_max_epi32(_mm512_sub_epi32(zero, s), zero);
    const __m512i ee = _mm512_and_si512(e, _mm512_set1_epi64(0xFFFFFFFF));
    const __m512i eo = _mm512_srli_epi64(e, 32);
    const __m512i one = _mm512_set1_epi64(1), c30 = _mm512_set1_epi64(30);
    q.mult = m;
    q.mult_odd = _mm512_srli_epi64(m, 32);
    q.add_e = _mm512_sllv_epi64(one, _mm512_add_epi64(ee, c30));
    q.add_o = _mm512_sllv_epi64(one, _mm512_add_epi64(eo, c30));
    q.sh_e = _mm512_add_epi64(ee, _mm512_set1_epi64(31));
    q.sh_o = _mm512_add_epi64(eo, _mm512_set1_epi64(31));
    q.lsh = _mm512_max_epi32(s, zero);
    return q;
}

/* From per-channel arrays at channel c0 (or element 0 broadcast), with lanes
 * outside `valid` set like element 0. */
VQ_AI vq_rq vq_rq_load(const int32_t *mult, const int8_t *shift, int per_channel, int c0,
                       __mmask16 valid)
{
    if (!per_channel)
        return vq_rq_make(_mm512_set1_epi32(mult[0]), _mm512_set1_epi32(shift[0]));
    return vq_rq_make(
        _mm512_mask_loadu_epi32(_mm512_set1_epi32(mult[0]), valid, mult + c0),
        _mm512_cvtepi8_epi32(_mm_mask_loadu_epi8(_mm_set1_epi8(shift[0]), valid, shift + c0)));
}

/* vk_mbqm (requant.h) on 16 lanes, bit-exact:
 *  - x << lsh saturated to int32 (only when some shift is > 0);
 *  - one rounding of the exact 64-bit product p = x·m:
 *      floor((p + 2^(30+e)) / 2^(31+e)). */
VQ_AI __m512i vq_mbqm(__m512i x, const vq_rq *q, int has_left)
{
    if (has_left) {
        const __m512i y = _mm512_sllv_epi32(x, q->lsh);
        const __mmask16 ovf = _mm512_cmpneq_epi32_mask(_mm512_srav_epi32(y, q->lsh), x);
        const __m512i sat =
            _mm512_xor_si512(_mm512_srai_epi32(x, 31), _mm512_set1_epi32(INT32_MAX));
        x = _mm512_mask_mov_epi32(y, ovf, sat);
    }
    __m512i pe = _mm512_mul_epi32(x, q->mult);
    __m512i po = _mm512_mul_epi32(_mm512_shuffle_epi32(x, _MM_PERM_DDBB), q->mult_odd);
    pe = _mm512_srav_epi64(_mm512_add_epi64(pe, q->add_e), q->sh_e);
    po = _mm512_srav_epi64(_mm512_add_epi64(po, q->add_o), q->sh_o);
    /* the results fit 32 bits: the low halves, odd ones moved up */
    return _mm512_mask_shuffle_epi32(pe, 0xAAAA, po, _MM_PERM_CCAA);
}

/* The output stage after vk_mbqm: + zero point, clamp to [lo, hi] (already
 * within the output type), bytes. Modes, chosen once per call:
 *  VQ_CLAMP[_LEFT]: the clamp applied as [lo - zero, hi - zero] before adding
 *    the zero point, so that the addition cannot overflow (requant.h adds it
 *    in 64 bits); _LEFT when some shift is > 0;
 *  VQ_SAT_S8 / VQ_SAT_U8: [lo, hi] is the whole type (no activation, or a
 *    ReLU6 that spans it, as in TFLite's int8 models), every right shift is
 *    >= 1 and none is left, so |vk_mbqm| <= 2^30 and adding a zero point of
 *    |zero| <= 2^30 cannot overflow: the saturating byte conversion is the
 *    clamp (after max(·, 0) for u8). */
enum { VQ_CLAMP_LEFT, VQ_CLAMP, VQ_SAT_S8, VQ_SAT_U8 };

typedef struct vq_out {
    __m512i lo, hi, zero;
    int mode;
    /* vq_mbqm_f32's trust band: fractions in [ftol, ftol_hi) are trusted.
     * vq_out_make sets ftol = 2 (nothing trusted: always the exact form);
     * vq_out_allow_f32 narrows it when the layer qualifies. */
    __m512 ftol, ftol_hi;
} vq_out;

/* min_rsh: the smallest right shift of any channel. */
VQ_AI vq_out vq_out_make(int a_signed, int32_t out_min, int32_t out_max, int32_t zero,
                         int has_left, int min_rsh)
{
    int64_t lo = out_min, hi = out_max;
    const int64_t tlo = a_signed ? -128 : 0, thi = a_signed ? 127 : 255;
    lo = lo < tlo ? tlo : lo;
    hi = hi > thi ? thi : hi;
    vq_out o;
    o.mode = has_left ? VQ_CLAMP_LEFT : VQ_CLAMP;
    if (!has_left && min_rsh >= 1 && lo == tlo && hi == thi && zero > -(1 << 30) &&
        zero < (1 << 30))
        o.mode = a_signed ? VQ_SAT_S8 : VQ_SAT_U8;
    lo -= zero, hi -= zero;
    lo = lo < INT32_MIN ? INT32_MIN : lo > INT32_MAX ? INT32_MAX : lo;
    hi = hi < INT32_MIN ? INT32_MIN : hi > INT32_MAX ? INT32_MAX : hi;
    o.lo = _mm512_set1_epi32((int32_t)lo);
    o.hi = _mm512_set1_epi32((int32_t)hi);
    o.zero = _mm512_set1_epi32(zero);
    o.ftol = _mm512_set1_ps(2.0f);
    o.ftol_hi = _mm512_set1_ps(-1.0f);
    return o;
}

/* ------------------------------------------- requantization through f32 ---
 *
 * vq_mbqm costs 8 integer vector operations per 16 lanes (two vpmuldq
 * halves); depthwise layers, with only 9 products per output, spend more on
 * it than on their vpdpbusd. vq_mbqm_f32 gets the same integers from 4 f32
 * operations, and flags the lanes whose f32 value is too close to a rounding
 * boundary to be trusted; the caller recomputes those vectors with vq_mbqm.
 *
 * Exact value v = x·m / 2^(31+e) (m < 2^31, right shift e >= 0, so
 * |v| < |x| < 2^31), wanted r = floor(v + 1/2) (vk_mbqm). Computed in f32,
 * each step rounded once to nearest (relative error <= 2^-24; embedded
 * rounding, whatever MXCSR says): x, M = m·2^-(31+e),
 * then y = x·M + 1/2 in one FMA. So |y - (v + 1/2)| <= (3|v| + 1/2)·2^-24.
 *  - |v| <= 2^10 + 1: the error is < 2^-12.4. If frac(y) = y - floor(y) lies
 *    in [2^-12, 1 - 2^-12), v + 1/2 lies strictly between floor(y) and
 *    floor(y) + 1, so floor(y) = r exactly. Otherwise the lane is flagged.
 *  - |v| > 2^10 + 1: floor(y) may be off, but y > 1023 for v > 2^10 + 1
 *    (symmetrically below), so when the output window [lo - zero, hi - zero]
 *    lies within ±1000, floor(y) and r are both beyond it on the same side
 *    and the clamp (or the saturating packs) gives the same byte.
 *  - |y| >= 2^24 is an integer in f32: frac 0, always flagged (so the f32 to
 *    int32 conversion never overflows unflagged).
 * vq_out_allow_f32 admits a layer only with no left shift and an output
 * window within ±1000 (every TFLite model: |zero point| <= 255). Flagged
 * lanes come at a rate of about 2^-11 (uniform fractions), one 64-lane
 * group in ~30. */

/* Round to nearest, whatever MXCSR says (the bound above assumes it). */
#define VQ_RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* Per lane m·2^(s-31) rounded once to f32 (s clamped as vq_rq_make does). */
VQ_AI __m512 vq_fmult(__m512i m, __m512i s)
{
    s = _mm512_min_epi32(_mm512_max_epi32(s, _mm512_set1_epi32(-31)), _mm512_set1_epi32(30));
    const __m512i e = _mm512_sub_epi32(s, _mm512_set1_epi32(31));
    /* exact in f64: m < 2^31 times a power of two */
    const __m512d lo = _mm512_scalef_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(m)),
                                        _mm512_cvtepi32_pd(_mm512_castsi512_si256(e)));
    const __m512d hi = _mm512_scalef_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(m, 1)),
                                        _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(e, 1)));
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvt_roundpd_ps(lo, VQ_RN)),
                              _mm512_cvt_roundpd_ps(hi, VQ_RN), 1);
}

/* Narrows o's trust band when the layer qualifies (see above). */
static inline void vq_out_allow_f32(vq_out *o)
{
    const int64_t lo = _mm512_cvtsi512_si32(o->lo), hi = _mm512_cvtsi512_si32(o->hi);
    if (o->mode == VQ_CLAMP_LEFT || lo < -1000 || hi > 1000 || lo > 1000 || hi < -1000)
        return;
    o->ftol = _mm512_set1_ps(0x1p-12f);
    o->ftol_hi = _mm512_set1_ps(1.0f - 0x1p-12f);
}

/* vk_mbqm of 16 lanes for right shifts, through f32: lanes it cannot vouch
 * for are added to *bad (their results are then to be recomputed). */
VQ_AI __m512i vq_mbqm_f32(__m512i x, __m512 mf, const vq_out *o, __mmask16 *bad)
{
    const __m512 y = _mm512_fmadd_round_ps(_mm512_cvt_roundepi32_ps(x, VQ_RN), mf,
                                           _mm512_set1_ps(0.5f), VQ_RN);
    /* y - floor(y), exactly */
    const __m512 f = _mm512_reduce_ps(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    *bad |= _mm512_cmp_ps_mask(f, o->ftol, _CMP_LT_OQ) |
            _mm512_cmp_ps_mask(f, o->ftol_hi, _CMP_GE_OQ);
    return _mm512_cvt_roundps_epi32(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
}

/* vk_mbqm of N vectors (acc[j] with q[j], mf[j]): through f32 unless some
 * shift is to the left, and exactly for all N when a lane is flagged (or the
 * layer is not admitted: then every lane is). */
VQ_AI void vq_mbqm_n(const __m512i *acc, const vq_rq *q, const __m512 *mf, const vq_out *o,
                     __m512i *v, const int N, const int MODE)
{
    __mmask16 bad = 0;
    if (MODE != VQ_CLAMP_LEFT) {
#pragma GCC unroll 4
        for (int j = 0; j < N; j++)
            v[j] = vq_mbqm_f32(acc[j], mf[j], o, &bad);
    }
    if (MODE == VQ_CLAMP_LEFT || __builtin_expect(bad != 0, 0)) {
#pragma GCC unroll 4
        for (int j = 0; j < N; j++)
            v[j] = vq_mbqm(acc[j], &q[j], MODE == VQ_CLAMP_LEFT);
    }
}

/* The output stage after vk_mbqm (v) on 16 lanes: bytes (MODE a
 * compile-time constant). */
VQ_AI __m128i vq_finish(__m512i v, const vq_out *o, const int MODE)
{
    if (MODE == VQ_SAT_S8)
        return _mm512_cvtsepi32_epi8(_mm512_add_epi32(v, o->zero));
    if (MODE == VQ_SAT_U8)
        return _mm512_cvtusepi32_epi8(
            _mm512_max_epi32(_mm512_add_epi32(v, o->zero), _mm512_setzero_si512()));
    v = _mm512_min_epi32(_mm512_max_epi32(v, o->lo), o->hi);
    return _mm512_cvtepi32_epi8(_mm512_add_epi32(v, o->zero));
}

/* Requantized bytes of 16 accumulators (MODE a compile-time constant), the
 * exact form (the conv tiles and the 16-channel depthwise path: in the conv
 * tiles the f32 form measured 2–16 % slower). */
VQ_AI __m128i vq_bytes(__m512i acc, const vq_rq *q, const vq_out *o, const int MODE)
{
    return vq_finish(vq_mbqm(acc, q, MODE == VQ_CLAMP_LEFT), o, MODE);
}

/* Stores 16 bytes under a mask (a plain store when it is full). */
VQ_AI void vq_store(uint8_t *p, __mmask16 m, __m128i y)
{
    if (m == 0xFFFF)
        _mm_storeu_si128((__m128i *)p, y);
    else
        _mm_mask_storeu_epi8(p, m, y);
}

/* ---------------------------------------------------------- conv tiles --- */

/* Constants of one 16-column panel in the conv scratch: the folded term
 * (bias and zero-point products), then the vq_rq vectors. */
typedef struct cq_panel {
    __m512i fold;
    vq_rq q;
} cq_panel;

/* One register tile: R pixels (rows of A, lda bytes apart, K bytes each in
 * the u8 domain, or s8 when sgn; K a multiple of 4) × NV panels of 16 output
 * channels. */
typedef struct cq_tile {
    const uint8_t *a;
    ptrdiff_t lda;
    int kg;              /* groups of 4 bytes (K / 4) */
    const int8_t *b;     /* first panel of the group */
    ptrdiff_t bstride;   /* bytes between panels: K4·64 */
    const int32_t *rs;   /* R per-pixel terms b_offset·Σ a, or NULL when b_offset = 0 */
    const cq_panel *cst; /* first panel of the group */
    uint8_t *out;        /* pixel 0, first channel of the group */
    ptrdiff_t ldo;
    __mmask16 lastmask;  /* valid channels of the group's last panel */
    vq_out o;
} cq_tile;

/* The K loop of an R × NV tile: accumulators to acc[r*NV + v]. */
typedef void (*cq_tile_fn)(const cq_tile *t, __m512i *acc);
/* Requantizes and stores an R × NV tile; one per vq_out mode. */
typedef void (*cq_epi_fn)(const cq_tile *t, int R, int NV, const __m512i *acc);
extern const cq_epi_fn vk_cq_epi[4];

#define CQ_MR_MAX 12
/* Register tile heights per panel count (24 accumulators but for NV = 1). */
static const int cq_mr[5] = {0, 12, 12, 8, 6};
/* [sgn][NV - 1][R - 1], R <= cq_mr[NV] */
extern const cq_tile_fn vk_cq_tiles[2][4][CQ_MR_MAX];

/* conv2d_q8.c: the per-panel constants of a call (fold: bias − zu·colsum −
 * zu·bo·K; requantization vectors); returns whether some channel shifts left
 * and the smallest right shift in *min_rsh. */
struct vk_conv2d_q8_args;
int vk_cq_setup(const struct vk_conv2d_q8_args *a, cq_panel *cst, int32_t zu, int K, int *min_rsh);
/* conv2d_q8_stem.c: few-channel stems (C <= 4) without an im2col; returns 0
 * when it ran rows [r0, r1), nonzero when the geometry is not one it takes. */
int vk_conv2d_q8_stem_avx512(const struct vk_conv2d_q8_args *a, int r0, int r1);

#endif
