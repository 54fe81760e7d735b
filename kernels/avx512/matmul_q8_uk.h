/* int8 matmul, AVX-512 VNNI: the microkernels (matmul_q8_uk.c), shared with
 * the driver (matmul_q8.c). */
#ifndef VIREO_KERNELS_AVX512_MATMUL_Q8_UK_H
#define VIREO_KERNELS_AVX512_MATMUL_Q8_UK_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define VK_Q8_MR 12  /* rows of the register tile, 32 columns */
#define VK_Q8_MRH 16 /* rows of the half tile, 16 + up to 8 columns */

/* Requantization parameters of one vector of 16 columns (TFLite, requant.h):
 * Q31 multipliers (mult_odd: those of the odd lanes, in the even positions),
 * left shifts, right shifts e as rm1 = max(e - 1, 0) and rone = min(e, 1)
 * (rnz: e > 0), clamp bounds minus the output zero point, zero point. */
typedef struct vk_q8_rq {
    __m512i mult, mult_odd, left, rm1, rone, lo, hi, zero;
    __mmask16 rnz;
} vk_q8_rq;

/* vk_mbqm, 16 lanes. Multipliers are Q31 values >= 0 (kernels.h), so the
 * srdhm saturation case (both operands INT32_MIN) cannot arise. */
static inline __m512i vk_q8_mbqm16(__m512i x, const vk_q8_rq *p, int has_left)
{
    if (has_left) {
        /* x << left, saturated like requant.h: an overflow shows as a shift
         * that does not round-trip (also for left >= 32, where sllv gives 0). */
        const __m512i y = _mm512_sllv_epi32(x, p->left);
        const __mmask16 ovf = _mm512_cmpneq_epi32_mask(_mm512_srav_epi32(y, p->left), x);
        const __m512i sat = _mm512_xor_si512(_mm512_srai_epi32(x, 31), _mm512_set1_epi32(INT32_MAX));
        x = _mm512_mask_mov_epi32(y, ovf, sat);
    }
    /* srdhm: (x·m + nudge) / 2^31 truncated toward zero, with nudge 2^30 for
     * x·m >= 0 and 1 - 2^30 otherwise, equals floor((x·m + 2^30) / 2^31) in
     * both cases; bits 31..62 of the 64-bit sum. */
    const __m512i half = _mm512_set1_epi64(1ll << 30);
    const __m512i pe = _mm512_add_epi64(_mm512_mul_epi32(x, p->mult), half);
    const __m512i po = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), p->mult_odd), half);
    return _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 31), _mm512_slli_epi64(po, 1));
}

/* vk_rdivpot, one exponent e >= 1: round half away from zero is
 * floor(x'/2^e + 1/2) with x' = x - (x < 0), i.e. ((x' >> (e-1)) + 1) >> 1.
 * Neither step can wrap: srdhm with a multiplier < 2^31 returns values in
 * [-2^31 + 1, 2^31 - 2]. */
static inline __m512i vk_q8_rdivpot16_s(__m512i x, int e)
{
    const __m512i xm = _mm512_add_epi32(x, _mm512_srai_epi32(x, 31));
    const __m512i q = _mm512_srai_epi32(xm, (unsigned)(e - 1));
    return _mm512_srai_epi32(_mm512_add_epi32(q, _mm512_set1_epi32(1)), 1);
}

/* The same with a per-lane e >= 0: lanes with e = 0 pass through (x' = x,
 * shifts by 0, + 0). */
static inline __m512i vk_q8_rdivpot16_v(__m512i x, const vk_q8_rq *p)
{
    const __m512i xm = _mm512_mask_add_epi32(x, p->rnz, x, _mm512_srai_epi32(x, 31));
    const __m512i q = _mm512_srav_epi32(xm, p->rm1);
    return _mm512_srav_epi32(_mm512_add_epi32(q, p->rone), p->rone);
}

/* Clamp, then add the zero point: cannot overflow. */
static inline __m512i vk_q8_clamp16(__m512i x, const vk_q8_rq *p)
{
    return _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(x, p->lo), p->hi), p->zero);
}

/* One requantized output vector of a finished tile, done while the next
 * tile's K loop runs (its multiplies and shifts fit beside the vpdpbusd
 * stream): lanes of m0 are stored from d0 on, of m1 from d1 on (U8 and S8
 * alike: the clamp bounds lie inside the type, vpmovdb truncates). No left
 * shifts (those tiles use the driver's epilogue). */
typedef struct vk_q8_job {
    const int32_t *src; /* 16 accumulators, 64-byte aligned */
    const vk_q8_rq *p;
    int8_t *d0, *d1;
    __mmask16 m0, m1;
} vk_q8_job;

static inline void vk_q8_run_job(const vk_q8_job *j)
{
    const vk_q8_rq *p = j->p;
    const __m512i v = vk_q8_clamp16(vk_q8_rdivpot16_v(vk_q8_mbqm16(_mm512_load_si512(j->src), p, 0), p), p);
    _mm512_mask_cvtepi32_storeu_epi8(j->d0, j->m0, v);
    if (j->m1)
        _mm512_mask_cvtepi32_storeu_epi8(j->d1, j->m1, v);
}

/* Where a tile starts and ends. Accumulators start at the column terms plus
 * the row terms (the epilogue has nothing left to add). Full vectors go to
 * c + i·ldc + 16·j. A half tile's second vector covers columns 16-23 for two
 * rows at once (lanes 0-7: row 2p, lanes 8-15: row 2p + 1), so its column
 * terms hold columns 16-23 twice; pair p goes to c2 + 16·p. */
typedef struct vk_q8_ukr_io {
    const __m512i *init;  /* per vector: column terms */
    const int32_t *rterm; /* per row, or NULL */
    int32_t *c, *c2;
    ptrdiff_t ldc;
    const vk_q8_job *jobs; /* of the previous tile, to run meanwhile */
    int njobs;
} vk_q8_ukr_io;

/* A = rows of a (stride lda bytes), B = panels from b (stride bs bytes), kg
 * groups of 4 k and ktail more k. */
typedef void (*vk_q8_ukr_fn)(const uint8_t *a, ptrdiff_t lda, const int8_t *b, ptrdiff_t bs,
                             int kg, int ktail, const vk_q8_ukr_io *io);

/* [a_signed][full vectors - 1][rows - 1]: tiles of 16 or 32 columns. */
extern const vk_q8_ukr_fn vk_q8_ukr[2][2][VK_Q8_MR];
/* [a_signed][rows - 1]: half tiles, 17 to 24 columns. */
extern const vk_q8_ukr_fn vk_q8_ukr_half[2][VK_Q8_MRH];

#endif
