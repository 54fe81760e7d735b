/* int8 matmul, AVX-512 VNNI.
 *
 * Register tile: up to 12 rows × 32 columns (two B panels) of s32
 * accumulators, 24 zmm; per group of 4 k: two 64-byte B loads, one 4-byte
 * broadcast of each A row, 24 vpdpbusd. M is cut into tiles of balanced height
 * (197 rows = 10×12 + 7×11 rather than 16×12 + 5) so that no tile runs with a
 * starved register block; tiles too small to cover the vpdpbusd latency with
 * independent accumulators split K across several accumulator sets instead.
 *
 * vpdpbusd multiplies u8 by s8, so s8 activations are fed as a' = a + 128 (a
 * byte XOR); everything else is folded into per-column and per-row terms added
 * in the epilogue (all modulo 2^32, which is exact because vpdpbusd itself
 * wraps and never saturates):
 *   Σ(a - za)(b + bo) = Σ a'b - (s + za)·colsum + bo·Σ a' - K·bo·(s + za)
 * with s = 128 for s8 activations, 0 for u8.
 *
 * Loop order: blocks of rows whose A slice stays in L2; inside, 32-column
 * tiles whose B slice (K×32 bytes) stays in L1 (or L2 for K = 3072) while every
 * row tile of the block runs over it. The microkernel writes its accumulators
 * to a small stack tile; the epilogue (requantization, dequantization) reads
 * them from there, so one epilogue serves every tile shape.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "../kernels.h"
#include "avx512.h"
#include "vmath.h"

#define AI static inline __attribute__((always_inline))

#define MR 12 /* rows of the register tile */
#define NT 32 /* columns of the register tile (two panels) */
/* A rows per block: A block of MC×K bytes kept in (a share of) L2. */
#define A_BLOCK_BYTES (256 * 1024)
#define MC_MAX 480
/* B bigger than this is taken to live beyond L2 (1 MB on Zen 5, shared with A). */
#define B_L2_BYTES (640 * 1024)
/* Outputs bigger than this are taken not to be in cache when written: each
 * row tile then prefetches its output lines (the stores would stall on them),
 * which only costs when they are cached anyway. */
#define C_L2_BYTES (1024 * 1024)

/* ------------------------------------------------------------ microkernel */

/* Where a tile starts and ends: accumulators start at the column terms plus
 * the row terms (so the epilogue has nothing left to add) and are stored to c
 * (the output itself for s32 when the tile is full width, else a stack tile). */
typedef struct ukr_io {
    const __m512i *init;  /* per vector: column terms */
    const int32_t *rterm; /* per row, or NULL */
    int32_t *c;
    ptrdiff_t ldc;
} ukr_io;

/* acc[MRr][NV] over K: U independent accumulator sets (interleaved k groups)
 * keep at least 8 vpdpbusd chains in flight for small tiles. */
AI void ukr(const int MRr, const int NV, const int SGN, const uint8_t *a, ptrdiff_t lda,
            const int8_t *b, ptrdiff_t bs, int kg, int ktail, const ukr_io *io)
{
    const int U = MRr * NV >= 8 ? 1 : MRr * NV >= 4 ? 2 : 4;
    const __m512i flip = _mm512_set1_epi32((int)0x80808080);
    __m512i acc[4][MR][2];
    const __m512i ct[2] = {io->init[0], NV > 1 ? io->init[1] : _mm512_setzero_si512()};
    const int32_t *rterm = io->rterm;
#pragma GCC unroll 4
    for (int u = 0; u < U; u++)
#pragma GCC unroll 12
        for (int i = 0; i < MRr; i++)
#pragma GCC unroll 2
            for (int j = 0; j < NV; j++)
                acc[u][i][j] = u ? _mm512_setzero_si512()
                                 : _mm512_add_epi32(ct[j], _mm512_set1_epi32(rterm ? rterm[i] : 0));

    /* Rows addressed as base + {0, 1, 2}·lda from four bases: few enough
     * registers that no address spills inside the loop. */
    const uint8_t *p[4];
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++)
        p[q] = 3 * q < MRr ? a + 3 * q * lda : a;
    const ptrdiff_t l2 = 2 * lda;
    const int8_t *b0 = b, *b1 = b + bs;
    int g = 0;
    for (; g + U <= kg; g += U) {
#pragma GCC unroll 4
        for (int u = 0; u < U; u++) {
            __m512i bv[2];
            bv[0] = _mm512_loadu_si512(b0 + 64 * u);
            if (NV > 1)
                bv[1] = _mm512_loadu_si512(b1 + 64 * u);
#pragma GCC unroll 12
            for (int i = 0; i < MRr; i++) {
                const uint8_t *r = p[i / 3] + (i % 3 == 0 ? 0 : i % 3 == 1 ? lda : l2);
                int32_t x;
                memcpy(&x, r + 4 * u, 4);
                __m512i av = _mm512_set1_epi32(x);
                if (SGN)
                    av = _mm512_xor_si512(av, flip);
#pragma GCC unroll 2
                for (int j = 0; j < NV; j++)
                    acc[u][i][j] = _mm512_dpbusd_epi32(acc[u][i][j], av, bv[j]);
            }
        }
        b0 += 64 * U, b1 += 64 * U;
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            p[q] += 4 * U;
    }
    /* Leftover full groups, then the partial group: only K % 4 bytes of each
     * A row remain, so they are copied rather than loaded as a dword (the
     * packed B is zero past K, whatever stands in the other bytes). */
    const int rest = kg - g + (ktail ? 1 : 0);
    for (int r = 0; r < rest; r++, g++) {
        const int nb = g < kg ? 4 : ktail;
        __m512i bv[2];
#pragma GCC unroll 2
        for (int j = 0; j < NV; j++)
            bv[j] = _mm512_loadu_si512(b + j * bs + 64 * g);
#pragma GCC unroll 12
        for (int i = 0; i < MRr; i++) {
            int32_t x = 0;
            memcpy(&x, a + i * lda + 4 * g, (size_t)nb);
            __m512i av = _mm512_set1_epi32(x);
            if (SGN)
                av = _mm512_xor_si512(av, flip);
#pragma GCC unroll 2
            for (int j = 0; j < NV; j++)
                acc[0][i][j] = _mm512_dpbusd_epi32(acc[0][i][j], av, bv[j]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < MRr; i++)
#pragma GCC unroll 2
        for (int j = 0; j < NV; j++) {
            __m512i s = acc[0][i][j];
#pragma GCC unroll 4
            for (int u = 1; u < U; u++)
                s = _mm512_add_epi32(s, acc[u][i][j]);
            /* Unmasked: with a masked store GCC keeps acc in memory and
             * spills every accumulator in the loop above. */
            _mm512_storeu_si512(io->c + i * io->ldc + j * 16, s);
        }
}

typedef void (*ukr_fn)(const uint8_t *a, ptrdiff_t lda, const int8_t *b, ptrdiff_t bs, int kg,
                       int ktail, const ukr_io *io);

#define UKR_DEF(M_, NV_, S_)                                                                  \
    static void ukr_##M_##_##NV_##_##S_(const uint8_t *a, ptrdiff_t lda, const int8_t *b,     \
                                        ptrdiff_t bs, int kg, int ktail, const ukr_io *io)    \
    {                                                                                         \
        ukr(M_, NV_, S_, a, lda, b, bs, kg, ktail, io);                                       \
    }
#define UKR_ROWS(X, NV_, S_)                                                                  \
    X(1, NV_, S_) X(2, NV_, S_) X(3, NV_, S_) X(4, NV_, S_) X(5, NV_, S_) X(6, NV_, S_)        \
    X(7, NV_, S_) X(8, NV_, S_) X(9, NV_, S_) X(10, NV_, S_) X(11, NV_, S_) X(12, NV_, S_)
UKR_ROWS(UKR_DEF, 1, 0)
UKR_ROWS(UKR_DEF, 2, 0)
UKR_ROWS(UKR_DEF, 1, 1)
UKR_ROWS(UKR_DEF, 2, 1)
#define UKR_REF(M_, NV_, S_) ukr_##M_##_##NV_##_##S_,
/* [signed][NV - 1][rows - 1] */
static const ukr_fn ukr_tab[2][2][MR] = {
    {{UKR_ROWS(UKR_REF, 1, 0)}, {UKR_ROWS(UKR_REF, 2, 0)}},
    {{UKR_ROWS(UKR_REF, 1, 1)}, {UKR_ROWS(UKR_REF, 2, 1)}},
};

/* --------------------------------------------------------------- epilogue */

/* Per-column data of one 32-column tile. */
typedef struct col_tile {
    int nv;                    /* vectors (1 or 2) */
    __mmask16 mask[2];         /* valid columns of each vector */
    __m512i cterm[2];          /* -(s + za)·colsum + bias - K·bo·(s + za) */
    __m512i mult[2], mult_odd[2], left[2], right[2], rmask[2], rthr[2];
    __m512 wscale[2], bias_f[2];
} col_tile;

/* Per-call constants. */
typedef struct q8_ctx {
    const vk_matmul_q8_args *a;
    int32_t cz;     /* -(s + za) */
    int32_t kconst; /* -K·bo·(s + za) */
    int any_left;   /* some channel has shift > 0 */
    int32_t lo_z, hi_z; /* clamp bounds minus the output zero point */
    int right_pt;   /* per-tensor right shift (>= 0) */
} q8_ctx;

static int32_t clamp32(int64_t v) { return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v; }

static void col_setup(const q8_ctx *q, int n, int n_end, col_tile *t)
{
    const vk_matmul_q8_args *a = q->a;
    const int w = n_end - n;
    t->nv = w > 16 ? 2 : 1;
    for (int j = 0; j < t->nv; j++) {
        const int nj = n + 16 * j, wj = n_end - nj < 16 ? n_end - nj : 16;
        const __mmask16 m = (__mmask16)((1u << wj) - 1);
        t->mask[j] = m;
        __m512i ct = _mm512_set1_epi32(q->kconst);
        if (q->cz)
            ct = _mm512_add_epi32(ct, _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(m, a->b_colsum + nj),
                                                          _mm512_set1_epi32(q->cz)));
        if (a->bias)
            ct = _mm512_add_epi32(ct, _mm512_maskz_loadu_epi32(m, a->bias + nj));
        t->cterm[j] = ct;
        if ((a->out == VK_Q8_OUT_U8 || a->out == VK_Q8_OUT_S8) && a->rq.per_channel) {
            const __m512i mu = _mm512_maskz_loadu_epi32(m, a->rq.mult + nj);
            const __m512i sh = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a->rq.shift + nj));
            const __m512i r = _mm512_max_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), sh),
                                               _mm512_setzero_si512());
            const __m512i rm = _mm512_sub_epi32(_mm512_sllv_epi32(_mm512_set1_epi32(1), r),
                                                _mm512_set1_epi32(1));
            t->mult[j] = mu;
            t->mult_odd[j] = _mm512_srli_epi64(mu, 32);
            t->left[j] = _mm512_max_epi32(sh, _mm512_setzero_si512());
            t->right[j] = r;
            t->rmask[j] = rm;
            t->rthr[j] = _mm512_srli_epi32(rm, 1);
        } else if (a->out == VK_Q8_OUT_U8 || a->out == VK_Q8_OUT_S8) {
            const int s = a->rq.shift[0];
            t->mult[j] = t->mult_odd[j] = _mm512_set1_epi32(a->rq.mult[0]);
            t->left[j] = _mm512_set1_epi32(s > 0 ? s : 0);
        } else if (a->out == VK_Q8_OUT_F32) {
            t->wscale[j] = a->w_scale_per_channel ? _mm512_maskz_loadu_ps(m, a->w_scale + nj)
                                                  : _mm512_set1_ps(a->w_scale[0]);
            t->bias_f[j] = a->bias_f32 ? _mm512_maskz_loadu_ps(m, a->bias_f32 + nj)
                                       : _mm512_setzero_ps();
        }
    }
}

/* vk_mbqm (requant.h), 16 lanes. Multipliers are Q31 values >= 0 (kernels.h),
 * so the srdhm saturation case (both operands INT32_MIN) cannot arise. */
AI __m512i mbqm16(__m512i x, __m512i mult, __m512i mult_odd, __m512i left, int has_left)
{
    if (has_left) {
        /* x << left, saturated like requant.h: an overflow shows as a shift
         * that does not round-trip (also for left >= 32, where sllv gives 0). */
        const __m512i y = _mm512_sllv_epi32(x, left);
        const __mmask16 ovf = _mm512_cmpneq_epi32_mask(_mm512_srav_epi32(y, left), x);
        const __m512i sat = _mm512_xor_si512(_mm512_srai_epi32(x, 31), _mm512_set1_epi32(INT32_MAX));
        x = _mm512_mask_mov_epi32(y, ovf, sat);
    }
    /* srdhm: (x·m + nudge) / 2^31 truncated toward zero, with nudge 2^30 for
     * x·m >= 0 and 1 - 2^30 otherwise, equals floor((x·m + 2^30) / 2^31) in
     * both cases; bits 31..62 of the 64-bit sum. */
    const __m512i half = _mm512_set1_epi64(1ll << 30);
    const __m512i pe = _mm512_add_epi64(_mm512_mul_epi32(x, mult), half);
    const __m512i po = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), mult_odd), half);
    return _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 31), _mm512_slli_epi64(po, 1));
}

/* vk_rdivpot with a per-lane exponent e >= 0 (mask = 2^e - 1, thr = mask >> 1). */
AI __m512i rdivpot16_v(__m512i x, __m512i e, __m512i mask, __m512i thr)
{
    const __mmask16 neg = _mm512_movepi32_mask(x);
    const __m512i t = _mm512_mask_add_epi32(thr, neg, thr, _mm512_set1_epi32(1));
    const __mmask16 up = _mm512_cmpgt_epi32_mask(_mm512_and_si512(x, mask), t);
    const __m512i r = _mm512_srav_epi32(x, e);
    return _mm512_mask_add_epi32(r, up, r, _mm512_set1_epi32(1));
}

/* vk_rdivpot with one exponent e >= 1: round half away from zero is
 * floor(x'/2^e + 1/2) with x' = x - (x < 0), i.e. ((x' >> (e-1)) + 1) >> 1.
 * x' cannot wrap: srdhm with a multiplier < 2^31 never returns INT32_MIN. */
AI __m512i rdivpot16_s(__m512i x, int e)
{
    const __m512i xm = _mm512_add_epi32(x, _mm512_srai_epi32(x, 31));
    const __m512i q = _mm512_srai_epi32(xm, (unsigned)(e - 1));
    return _mm512_srai_epi32(_mm512_add_epi32(q, _mm512_set1_epi32(1)), 1);
}

typedef void (*epi_fn)(const q8_ctx *q, const col_tile *t, const int32_t *acc, int m, int rows,
                       int n);

/* s32, partial-width tiles only (full ones are stored by the microkernel). */
static void epi_s32(const q8_ctx *q, const col_tile *t, const int32_t *acc, int m, int rows, int n)
{
    const vk_matmul_q8_args *a = q->a;
    for (int i = 0; i < rows; i++) {
        int32_t *c = (int32_t *)a->C + (ptrdiff_t)(m + i) * a->ldc + n;
        for (int j = 0; j < t->nv; j++)
            _mm512_mask_storeu_epi32(c + 16 * j, t->mask[j], _mm512_load_si512(acc + i * NT + 16 * j));
    }
}

/* U8 and S8 alike: the clamp bounds already lie inside the output type, so the
 * truncating vpmovdb stores the right byte. PC: per-channel multipliers;
 * HL: some left shift; RS: per-tensor right shift > 0. */
AI void epi_q8(const int PC, const int HL, const int RS, const q8_ctx *q, const col_tile *t,
               const int32_t *acc, int m, int rows, int n)
{
    const vk_matmul_q8_args *a = q->a;
    const __m512i lo = _mm512_set1_epi32(q->lo_z), hi = _mm512_set1_epi32(q->hi_z);
    const __m512i zero = _mm512_set1_epi32(a->rq.out_zero);
    const int rs = q->right_pt;
    for (int i = 0; i < rows; i++) {
        uint8_t *c = (uint8_t *)a->C + (ptrdiff_t)(m + i) * a->ldc + n;
        for (int j = 0; j < t->nv; j++) {
            __m512i v = _mm512_load_si512(acc + i * NT + 16 * j);
            v = mbqm16(v, t->mult[j], t->mult_odd[j], t->left[j], HL);
            if (PC)
                v = rdivpot16_v(v, t->right[j], t->rmask[j], t->rthr[j]);
            else if (RS)
                v = rdivpot16_s(v, rs);
            /* Clamp before adding the zero point: cannot overflow. */
            v = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(v, lo), hi), zero);
            _mm512_mask_cvtepi32_storeu_epi8(c + 16 * j, t->mask[j], v);
        }
    }
}

AI void epi_f32(const vk_act ACT, const q8_ctx *q, const col_tile *t, const int32_t *acc,
                int m, int rows, int n)
{
    const vk_matmul_q8_args *a = q->a;
    for (int i = 0; i < rows; i++) {
        float *c = (float *)a->C + (ptrdiff_t)(m + i) * a->ldc + n;
        const __m512 as = _mm512_set1_ps(a->a_scale[a->a_scale_per_row ? m + i : 0]);
        for (int j = 0; j < t->nv; j++) {
            /* Same operations and roundings as the reference (no FMA). */
            const __m512 sc = _mm512_mul_ps(as, t->wscale[j]);
            __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(acc + i * NT + 16 * j)), sc);
            f = vk_act512(_mm512_add_ps(f, t->bias_f[j]), ACT);
            _mm512_mask_storeu_ps(c + 16 * j, t->mask[j], f);
        }
    }
}

#define EPI_Q8(PC, HL, RS)                                                                    \
    static void epi_q8_##PC##HL##RS(const q8_ctx *q, const col_tile *t, const int32_t *acc,   \
                                    int m, int rows, int n)                                   \
    {                                                                                         \
        epi_q8(PC, HL, RS, q, t, acc, m, rows, n);                                            \
    }
EPI_Q8(0, 0, 0)
EPI_Q8(0, 0, 1)
EPI_Q8(0, 1, 0)
EPI_Q8(0, 1, 1)
EPI_Q8(1, 0, 0)
EPI_Q8(1, 1, 0)
#define EPI_F32(ACT)                                                                          \
    static void epi_f32_##ACT(const q8_ctx *q, const col_tile *t, const int32_t *acc,         \
                              int m, int rows, int n)                                         \
    {                                                                                         \
        epi_f32(ACT, q, t, acc, m, rows, n);                                                  \
    }
EPI_F32(VK_ACT_NONE)
EPI_F32(VK_ACT_RELU)
EPI_F32(VK_ACT_RELU6)
EPI_F32(VK_ACT_GELU)
EPI_F32(VK_ACT_QUICKGELU)

static epi_fn pick_epilogue(const q8_ctx *q)
{
    const vk_matmul_q8_args *a = q->a;
    switch (a->out) {
    case VK_Q8_OUT_U8:
    case VK_Q8_OUT_S8:
        if (a->rq.per_channel)
            return q->any_left ? epi_q8_110 : epi_q8_100;
        return q->any_left ? (q->right_pt ? epi_q8_011 : epi_q8_010)
                           : (q->right_pt ? epi_q8_001 : epi_q8_000);
    case VK_Q8_OUT_F32:
        switch (a->act) {
        case VK_ACT_RELU: return epi_f32_VK_ACT_RELU;
        case VK_ACT_RELU6: return epi_f32_VK_ACT_RELU6;
        case VK_ACT_GELU: return epi_f32_VK_ACT_GELU;
        case VK_ACT_QUICKGELU: return epi_f32_VK_ACT_QUICKGELU;
        default: return epi_f32_VK_ACT_NONE;
        }
    default: return epi_s32;
    }
}

/* ------------------------------------------------------------------ driver */

/* Σ a' over one row (a' = a, or a ^ 0x80 for s8 activations). */
static int32_t row_sum(const uint8_t *p, int K, int sgn)
{
    const __m512i flip = _mm512_set1_epi8(sgn ? (char)0x80 : 0);
    __m512i s = _mm512_setzero_si512();
    int k = 0;
    for (; k + 64 <= K; k += 64)
        s = _mm512_add_epi64(s, _mm512_sad_epu8(_mm512_xor_si512(_mm512_loadu_si512(p + k), flip),
                                                _mm512_setzero_si512()));
    if (k < K) {
        const __mmask64 m = ((__mmask64)1 << (K - k)) - 1;
        const __m512i v = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, p + k), flip);
        s = _mm512_add_epi64(s, _mm512_sad_epu8(_mm512_maskz_mov_epi8(m, v), _mm512_setzero_si512()));
    }
    return (int32_t)_mm512_reduce_add_epi64(s);
}

/* prefetchw (every AVX-512 CPU has it). Inline asm: GCC deletes loops whose
 * only statements are __builtin_prefetch as dead code. */
static inline void prefetchw(const void *p) { __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p)); }
static inline void prefetch_l2(const void *p) { __asm__ volatile("prefetcht2 %0" : : "m"(*(const char *)p)); }

/* The tile's output lines, requested before its K loop so that the epilogue's
 * stores do not wait for them. */
static inline void prefetch_c(const q8_ctx *q, int m, int rows, int n, int n_end)
{
    const vk_matmul_q8_args *a = q->a;
    const size_t osz = a->out == VK_Q8_OUT_U8 || a->out == VK_Q8_OUT_S8 ? 1 : 4;
    const uintptr_t w = (uintptr_t)(n_end - n) * osz;
    for (int i = 0; i < rows; i++) {
        const uintptr_t c = (uintptr_t)a->C + (uintptr_t)(((ptrdiff_t)(m + i) * a->ldc + n) * (ptrdiff_t)osz);
        for (uintptr_t l = c & ~(uintptr_t)63; l < c + w; l += 64)
            prefetchw((const void *)l);
    }
}

void vk_matmul_q8_avx512(const vk_matmul_q8_args *a, int m0, int m1, int n0, int n1)
{
    if (m0 >= m1 || n0 >= n1)
        return;
    const int K = a->K, kg = K / 4, ktail = K % 4, K4 = (K + 3) / 4;
    const int sgn = a->a_signed ? 1 : 0;
    const ptrdiff_t bs = (ptrdiff_t)K4 * 64; /* bytes per panel */
    const uint32_t sz = (uint32_t)(sgn ? 128 : 0) + (uint32_t)a->a_zero;

    q8_ctx q = {.a = a};
    q.cz = (int32_t)(0u - sz);
    q.kconst = (int32_t)(0u - (uint32_t)K * (uint32_t)a->b_offset * sz);
    if (a->out == VK_Q8_OUT_U8 || a->out == VK_Q8_OUT_S8) {
        int64_t lo = a->rq.out_min, hi = a->rq.out_max;
        const int64_t tlo = a->out == VK_Q8_OUT_U8 ? 0 : -128, thi = a->out == VK_Q8_OUT_U8 ? 255 : 127;
        lo = lo < tlo ? tlo : lo;
        hi = hi > thi ? thi : hi;
        q.lo_z = clamp32(lo - a->rq.out_zero);
        q.hi_z = clamp32(hi - a->rq.out_zero);
        if (a->rq.per_channel) {
            for (int n = n0; n < n1 && !q.any_left; n++)
                q.any_left = a->rq.shift[n] > 0;
        } else {
            q.any_left = a->rq.shift[0] > 0;
            q.right_pt = a->rq.shift[0] < 0 ? -a->rq.shift[0] : 0;
        }
    }

    int mc = K > 0 ? A_BLOCK_BYTES / K : MC_MAX;
    mc = mc < MR ? MR : mc > MC_MAX ? MC_MAX : mc;
    int32_t rterm[MC_MAX];
    int32_t acc[MR * NT] __attribute__((aligned(64)));
    const ukr_fn *tab = ukr_tab[sgn][1];
    const epi_fn epi = pick_epilogue(&q);
    const int b_far = (size_t)K4 * 4 * (size_t)(n1 - n0) > B_L2_BYTES;
    const int c_far = (size_t)(m1 - m0) * (size_t)(n1 - n0) *
                          (a->out == VK_Q8_OUT_U8 || a->out == VK_Q8_OUT_S8 ? 1 : 4) > C_L2_BYTES;

    for (int mb = m0; mb < m1; mb += mc) {
        const int rows = m1 - mb < mc ? m1 - mb : mc;
        const uint8_t *ab = (const uint8_t *)a->A + (ptrdiff_t)mb * a->lda;
        if (a->b_offset)
            for (int i = 0; i < rows; i++)
                rterm[i] = (int32_t)((uint32_t)a->b_offset *
                                     (uint32_t)row_sum(ab + (ptrdiff_t)i * a->lda, K, sgn));
        /* Balanced row tiles: ntile tiles of base or base + 1 rows. */
        const int ntile = (rows + MR - 1) / MR, base = rows / ntile, extra = rows % ntile;
        for (int n = n0; n < n1; n += NT) {
            const int n_end = n1 - n < NT ? n1 : n + NT;
            col_tile t;
            col_setup(&q, n, n_end, &t);
            tab = ukr_tab[sgn][t.nv - 1];
            const int direct = a->out == VK_Q8_OUT_S32 && n_end - n == 16 * t.nv;
            const int8_t *bp = a->Bp + (ptrdiff_t)(n / VK_Q8_NR) * bs;
            /* The next tile's B columns, a share per row tile, when B is too
             * big for L2 and they come from L3 or memory (when B fits, the
             * prefetches only cost: AMD fills L1 for every prefetch hint). */
            const char *bnext = (const char *)(bp + NT / VK_Q8_NR * bs);
            const ptrdiff_t bnext_len = b_far && n + NT < n1 ? (ptrdiff_t)((n1 - n - NT > 16 ? 2 : 1) * bs) : 0;
            int i0 = 0;
            for (int ti = 0; ti < ntile; ti++) {
                const int h = base + (ti < extra ? 1 : 0);
                for (ptrdiff_t o = bnext_len * ti / ntile / 64 * 64; o < bnext_len * (ti + 1) / ntile; o += 64)
                    prefetch_l2(bnext + o);
                if (c_far)
                    prefetch_c(&q, mb + i0, h, n, n_end);
                ukr_io io = {.init = t.cterm, .rterm = a->b_offset ? rterm + i0 : NULL,
                             .c = acc, .ldc = NT};
                if (direct) {
                    io.c = (int32_t *)a->C + (ptrdiff_t)(mb + i0) * a->ldc + n;
                    io.ldc = a->ldc;
                }
                tab[h - 1](ab + (ptrdiff_t)i0 * a->lda, a->lda, bp, bs, kg, ktail, &io);
                if (!direct)
                    epi(&q, &t, acc, mb + i0, h, n);
                i0 += h;
            }
        }
    }
}
