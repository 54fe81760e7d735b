/* int8 matmul, AVX-512 VNNI: driver, column and row terms, epilogues. The
 * microkernels are in matmul_q8_uk.c.
 *
 * vpdpbusd multiplies u8 by s8, so s8 activations are fed as a' = a + 128 (a
 * byte XOR); everything else is folded into per-column and per-row terms that
 * seed the accumulators (all modulo 2^32, which is exact because vpdpbusd
 * itself wraps and never saturates):
 *   Σ(a - za)(b + bo) = Σ a'b - (s + za)·colsum + bo·Σ a' - K·bo·(s + za)
 * with s = 128 for s8 activations, 0 for u8. Every intermediate is reduced
 * modulo 2^32 like the exact sum, so none can overflow differently from it.
 *
 * Loop order: blocks of rows whose A slice stays in L2 (balanced, so that no
 * block is a sliver); inside, 32-column tiles whose B slice (K×32 bytes) stays
 * in L1 (L2 for K = 3072) while every row tile of the block runs over it. Row
 * tiles have balanced heights too (197 rows = 10×12 + 7×11, not 16×12 + 5).
 * Full-width s32 tiles are stored by the microkernel; the others go through a
 * stack tile to the epilogue (requantization, dequantization, masked stores).
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "../kernels.h"
#include "avx512.h"
#include "matmul_q8_uk.h"
#include "vmath.h"

#define AI static inline __attribute__((always_inline))

#define MR VK_Q8_MR
#define MRH VK_Q8_MRH
#define NT 32 /* columns of a tile (two panels) */
/* A rows per block: an A block of at most this many bytes stays in L2. */
#define A_BLOCK_BYTES (640 * 1024)
#define MC_MAX 480
/* B bigger than this is taken to live beyond L2 (1 MB on Zen 5, shared with A):
 * the next tile's B columns are then prefetched. */
#define B_L2_BYTES (640 * 1024)
/* Outputs bigger than this are taken not to be in cache when written: each
 * row tile then prefetches its output lines (the stores would stall on them),
 * which only costs when they are cached anyway. */
#define C_L2_BYTES (1024 * 1024)

/* ------------------------------------------------------------ column terms */

/* Output-stage parameters of one vector of 16 columns. */
typedef struct vec_params {
    vk_q8_rq rq;
    __m512 wscale, bias_f;
} vec_params;

/* Per-column data of one tile of up to 32 columns. In a half tile (17-24
 * columns) the second vector serves two rows: its terms and parameters hold
 * columns 16-23 twice. */
typedef struct col_tile {
    int nv;            /* vectors per row (1 or 2) */
    int half;          /* half tile */
    __mmask16 mask[2]; /* valid columns of each vector (half: of both rows) */
    __m512i cterm[2];  /* -(s + za)·colsum + bias - K·bo·(s + za) */
    vec_params p[2];
} col_tile;

/* Per-call constants. */
typedef struct q8_ctx {
    const vk_matmul_q8_args *a;
    int32_t cz;         /* -(s + za) */
    int32_t kconst;     /* -K·bo·(s + za) */
    int any_left;       /* some channel has shift > 0 */
    int32_t lo_z, hi_z; /* clamp bounds minus the output zero point */
    int right_pt;       /* per-tensor right shift (>= 0) */
} q8_ctx;

static int32_t clamp32(int64_t v) { return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v; }

static void vec_setup(const q8_ctx *q, int nj, __mmask16 m, vec_params *v)
{
    const vk_matmul_q8_args *a = q->a;
    if (a->out == VK_Q8_OUT_U8 || a->out == VK_Q8_OUT_S8) {
        vk_q8_rq *r = &v->rq;
        const int pc = a->rq.per_channel;
        const __m512i sh = pc ? _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a->rq.shift + nj))
                              : _mm512_set1_epi32(a->rq.shift[0]);
        const __m512i e = _mm512_max_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), sh),
                                           _mm512_setzero_si512());
        r->mult = pc ? _mm512_maskz_loadu_epi32(m, a->rq.mult + nj) : _mm512_set1_epi32(a->rq.mult[0]);
        r->mult_odd = _mm512_srli_epi64(r->mult, 32);
        r->left = _mm512_max_epi32(sh, _mm512_setzero_si512());
        r->rm1 = _mm512_max_epi32(_mm512_sub_epi32(e, _mm512_set1_epi32(1)), _mm512_setzero_si512());
        r->rone = _mm512_min_epi32(e, _mm512_set1_epi32(1));
        r->rnz = _mm512_test_epi32_mask(e, e);
        r->lo = _mm512_set1_epi32(q->lo_z);
        r->hi = _mm512_set1_epi32(q->hi_z);
        r->zero = _mm512_set1_epi32(a->rq.out_zero);
    } else if (a->out == VK_Q8_OUT_F32) {
        v->wscale = a->w_scale_per_channel ? _mm512_maskz_loadu_ps(m, a->w_scale + nj)
                                           : _mm512_set1_ps(a->w_scale[0]);
        v->bias_f = a->bias_f32 ? _mm512_maskz_loadu_ps(m, a->bias_f32 + nj) : _mm512_setzero_ps();
    }
}

static void col_setup(const q8_ctx *q, int n, int n_end, col_tile *t)
{
    const vk_matmul_q8_args *a = q->a;
    const int w = n_end - n;
    t->nv = w > 16 ? 2 : 1;
    t->half = w > 16 && w <= 24;
    memset(t->p, 0, sizeof t->p);
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
        vec_setup(q, nj, m, &t->p[j]);
    }
    if (t->half) {
        const __m512i twice = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7);
        vec_params *v = &t->p[1];
        t->mask[1] = (__mmask16)(t->mask[1] | t->mask[1] << 8);
        t->cterm[1] = _mm512_permutexvar_epi32(twice, t->cterm[1]);
#define TWICE(f) v->rq.f = _mm512_permutexvar_epi32(twice, v->rq.f)
        TWICE(mult), TWICE(left), TWICE(rm1), TWICE(rone);
#undef TWICE
        v->rq.mult_odd = _mm512_srli_epi64(v->rq.mult, 32);
        v->rq.rnz = _mm512_test_epi32_mask(v->rq.rone, v->rq.rone);
        v->wscale = _mm512_permutexvar_ps(twice, v->wscale);
        v->bias_f = _mm512_permutexvar_ps(twice, v->bias_f);
    }
}

/* ---------------------------------------------------------------- epilogue */

/* Output kinds: s32; U8 and S8 alike (the clamp bounds lie inside the output
 * type, so vpmovdb's truncation stores the right byte); f32. Q8 variants: PC
 * per-channel multipliers, HL some left shift, RS per-tensor right shift > 0. */
enum { KIND_S32, KIND_Q8, KIND_F32 };

typedef struct epi_consts {
    int rs;    /* per-tensor right shift */
    __m512 as; /* activation scale of the row (F32) */
} epi_consts;

AI __m512i out_val(const int KIND, const int PC, const int HL, const int RS, const vk_act ACT,
                   __m512i v, const vec_params *p, const epi_consts *k)
{
    if (KIND == KIND_Q8) {
        v = vk_q8_mbqm16(v, &p->rq, HL);
        if (PC)
            v = vk_q8_rdivpot16_v(v, &p->rq);
        else if (RS)
            v = vk_q8_rdivpot16_s(v, k->rs);
        return vk_q8_clamp16(v, &p->rq);
    }
    if (KIND == KIND_F32) {
        /* Same operations and roundings as the reference (no FMA). */
        const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_mul_ps(k->as, p->wscale));
        return _mm512_castps_si512(vk_act512(_mm512_add_ps(f, p->bias_f), ACT));
    }
    return v;
}

/* Stores the lanes of mask m of one output vector from element c on. */
AI void out_put(const int KIND, const vk_matmul_q8_args *a, ptrdiff_t c, __mmask16 m, __m512i v)
{
    if (KIND == KIND_Q8)
        _mm512_mask_cvtepi32_storeu_epi8((int8_t *)a->C + c, m, v);
    else if (KIND == KIND_F32)
        _mm512_mask_storeu_ps((float *)a->C + c, m, _mm512_castsi512_ps(v));
    else
        _mm512_mask_storeu_epi32((int32_t *)a->C + c, m, v);
}

/* acc: the stack tile, rows NT apart, or for a half tile rows 16 apart and
 * the shared vectors from acc + 16·MRH on (see matmul_q8_uk.h). */
AI void epi(const int KIND, const int PC, const int HL, const int RS, const vk_act ACT,
            const q8_ctx *q, const col_tile *t, const int32_t *acc, int m, int rows, int n)
{
    const vk_matmul_q8_args *a = q->a;
    epi_consts k = {.rs = q->right_pt};
#define VAL(v, j) out_val(KIND, PC, HL, RS, ACT, v, &t->p[j], &k)
#define ASCALE(i) \
    (KIND == KIND_F32 ? _mm512_set1_ps(a->a_scale[a->a_scale_per_row ? m + (i) : 0]) : k.as)
    if (!t->half) {
        for (int i = 0; i < rows; i++) {
            const ptrdiff_t c = (ptrdiff_t)(m + i) * a->ldc + n;
            k.as = ASCALE(i);
            for (int j = 0; j < t->nv; j++)
                out_put(KIND, a, c + 16 * j, t->mask[j], VAL(_mm512_load_si512(acc + i * NT + 16 * j), j));
        }
        return;
    }
    for (int i = 0; i < rows; i++) {
        k.as = ASCALE(i);
        out_put(KIND, a, (ptrdiff_t)(m + i) * a->ldc + n, 0xffff, VAL(_mm512_load_si512(acc + 16 * i), 0));
    }
    /* Shared vectors: lanes 0-7 end row 2p, lanes 8-15 end row 2p + 1 (the
     * second store is offset by -8 so that lane 8 lands on column 16). */
    for (int i = 0; i < rows; i += 2) {
        const ptrdiff_t c0 = (ptrdiff_t)(m + i) * a->ldc + n + 16, c1 = c0 + a->ldc - 8;
        const int two = i + 1 < rows;
        k.as = ASCALE(i);
        if (KIND == KIND_F32 && two)
            k.as = _mm512_mask_blend_ps(0xff00, k.as, ASCALE(i + 1));
        const __m512i v = VAL(_mm512_load_si512(acc + 16 * MRH + 8 * i), 1);
        out_put(KIND, a, c0, t->mask[1] & 0x00ff, v);
        if (two)
            out_put(KIND, a, c1, t->mask[1] & 0xff00, v);
    }
#undef VAL
#undef ASCALE
}

typedef void (*epi_fn)(const q8_ctx *q, const col_tile *t, const int32_t *acc, int m, int rows,
                       int n);
#define EPI_DEF(NAME, KIND, PC, HL, RS, ACT)                                                  \
    static void NAME(const q8_ctx *q, const col_tile *t, const int32_t *acc, int m, int rows,  \
                     int n)                                                                   \
    {                                                                                         \
        epi(KIND, PC, HL, RS, ACT, q, t, acc, m, rows, n);                                    \
    }
EPI_DEF(epi_s32, KIND_S32, 0, 0, 0, VK_ACT_NONE)
EPI_DEF(epi_q8_010, KIND_Q8, 0, 1, 0, VK_ACT_NONE)
EPI_DEF(epi_q8_011, KIND_Q8, 0, 1, 1, VK_ACT_NONE)
EPI_DEF(epi_q8_110, KIND_Q8, 1, 1, 0, VK_ACT_NONE)
EPI_DEF(epi_f32_none, KIND_F32, 0, 0, 0, VK_ACT_NONE)
EPI_DEF(epi_f32_relu, KIND_F32, 0, 0, 0, VK_ACT_RELU)
EPI_DEF(epi_f32_relu6, KIND_F32, 0, 0, 0, VK_ACT_RELU6)
EPI_DEF(epi_f32_gelu, KIND_F32, 0, 0, 0, VK_ACT_GELU)
EPI_DEF(epi_f32_quickgelu, KIND_F32, 0, 0, 0, VK_ACT_QUICKGELU)

static epi_fn pick_epilogue(const q8_ctx *q)
{
    const vk_matmul_q8_args *a = q->a;
    switch (a->out) {
    case VK_Q8_OUT_U8:
    case VK_Q8_OUT_S8:
        /* Only with left shifts: the others run as jobs (make_jobs). */
        if (a->rq.per_channel)
            return epi_q8_110;
        return q->right_pt ? epi_q8_011 : epi_q8_010;
    case VK_Q8_OUT_F32:
        switch (a->act) {
        case VK_ACT_RELU: return epi_f32_relu;
        case VK_ACT_RELU6: return epi_f32_relu6;
        case VK_ACT_GELU: return epi_f32_gelu;
        case VK_ACT_QUICKGELU: return epi_f32_quickgelu;
        default: return epi_f32_none;
        }
    default: return epi_s32;
    }
}

/* The requantization of a finished tile as jobs (matmul_q8_uk.h) for the
 * next microkernel call; same layouts as epi(). Returns their number. */
static int make_jobs(const q8_ctx *q, const col_tile *t, const int32_t *acc, int m, int rows,
                     int n, vk_q8_job *job)
{
    const vk_matmul_q8_args *a = q->a;
    int8_t *c = (int8_t *)a->C + (ptrdiff_t)m * a->ldc + n;
    int nj = 0;
    if (!t->half) {
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < t->nv; j++)
                job[nj++] = (vk_q8_job){.src = acc + i * NT + 16 * j, .p = &t->p[j].rq,
                                        .d0 = c + i * a->ldc + 16 * j, .m0 = t->mask[j]};
        return nj;
    }
    for (int i = 0; i < rows; i++)
        job[nj++] = (vk_q8_job){.src = acc + 16 * i, .p = &t->p[0].rq, .d0 = c + i * a->ldc, .m0 = 0xffff};
    for (int i = 0; i < rows; i += 2)
        job[nj++] = (vk_q8_job){.src = acc + 16 * MRH + 8 * i, .p = &t->p[1].rq,
                                .d0 = c + i * a->ldc + 16, .m0 = t->mask[1] & 0x00ff,
                                .d1 = c + (i + 1 < rows ? (i + 1) * a->ldc + 8 : 0),
                                .m1 = i + 1 < rows ? t->mask[1] & 0xff00 : 0};
    return nj;
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

/* prefetchw / prefetcht2 (every AVX-512 CPU has both). Inline asm: GCC
 * deletes loops whose only statements are __builtin_prefetch as dead code. */
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
    const size_t osz = a->out == VK_Q8_OUT_U8 || a->out == VK_Q8_OUT_S8 ? 1 : 4;

    q8_ctx q = {.a = a};
    q.cz = (int32_t)(0u - sz);
    q.kconst = (int32_t)(0u - (uint32_t)K * (uint32_t)a->b_offset * sz);
    if (osz == 1) {
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
    const epi_fn epi_f = pick_epilogue(&q);
    /* Requantization without left shifts runs as jobs inside the next
     * microkernel call (the last tile's after the loops). */
    const int jobs = osz == 1 && !q.any_left;
    const int b_far = (size_t)K4 * 4 * (size_t)(n1 - n0) > B_L2_BYTES;
    const int c_far = (size_t)(m1 - m0) * (size_t)(n1 - n0) * osz > C_L2_BYTES;

    /* Row blocks of at most A_BLOCK_BYTES of A, as even as possible. */
    int mc = K > 0 ? A_BLOCK_BYTES / K : MC_MAX;
    mc = mc < MR ? MR : mc > MC_MAX ? MC_MAX : mc;
    const int nmb = (m1 - m0 + mc - 1) / mc;
    mc = (m1 - m0 + nmb - 1) / nmb;
    int32_t rterm[MC_MAX];
    /* Stack tiles (MRH × 24 fits too) and jobs: the previous tile's are still
     * pending while the next one runs, and so are its column data. */
    int32_t acc2[2][MR * NT] __attribute__((aligned(64)));
    vk_q8_job job[2][2 * MR];
    col_tile ct[2];
    int cur = 0, ctile = 0, npend = 0;
    const vk_q8_job *pend = NULL;

    for (int mb = m0; mb < m1; mb += mc) {
        const int rows = m1 - mb < mc ? m1 - mb : mc;
        const uint8_t *ab = (const uint8_t *)a->A + (ptrdiff_t)mb * a->lda;
        if (a->b_offset)
            for (int i = 0; i < rows; i++)
                rterm[i] = (int32_t)((uint32_t)a->b_offset *
                                     (uint32_t)row_sum(ab + (ptrdiff_t)i * a->lda, K, sgn));
        for (int n = n0; n < n1; n += NT) {
            const int n_end = n1 - n < NT ? n1 : n + NT;
            col_tile *const tp = &ct[ctile++ & 1];
            col_setup(&q, n, n_end, tp);
            const col_tile t = *tp;
            /* Balanced row tiles: ntile tiles of base or base + 1 rows. */
            const int mr = t.half ? MRH : MR;
            const int ntile = (rows + mr - 1) / mr, base = rows / ntile, extra = rows % ntile;
            const vk_q8_ukr_fn *tab = t.half ? vk_q8_ukr_half[sgn] : vk_q8_ukr[sgn][t.nv - 1];
            const int direct = a->out == VK_Q8_OUT_S32 && n_end - n == 16 * t.nv;
            const int8_t *bp = a->Bp + (ptrdiff_t)(n / VK_Q8_NR) * bs;
            /* The next tile's B columns, a share per row tile, when B comes
             * from L3 or memory (when it fits in L2, the prefetches only cost). */
            const char *bnext = (const char *)(bp + NT / VK_Q8_NR * bs);
            const ptrdiff_t bnext_len = b_far && n + NT < n1 ? (n1 - n - NT > 16 ? 2 : 1) * bs : 0;
            for (int ti = 0, i0 = 0, h; ti < ntile; ti++, i0 += h) {
                h = base + (ti < extra ? 1 : 0);
                for (ptrdiff_t o = bnext_len * ti / ntile / 64 * 64; o < bnext_len * (ti + 1) / ntile; o += 64)
                    prefetch_l2(bnext + o);
                if (c_far)
                    prefetch_c(&q, mb + i0, h, n, n_end);
                int32_t *acc = acc2[cur];
                vk_q8_ukr_io io = {.init = t.cterm, .rterm = a->b_offset ? rterm + i0 : NULL,
                                   .c = acc, .c2 = acc + 16 * MRH, .ldc = t.half ? 16 : NT,
                                   .jobs = pend, .njobs = npend};
                if (direct) {
                    io.c = (int32_t *)a->C + (ptrdiff_t)(mb + i0) * a->ldc + n;
                    io.ldc = a->ldc;
                }
                tab[h - 1](ab + (ptrdiff_t)i0 * a->lda, a->lda, bp, bs, kg, ktail, &io);
                if (jobs) {
                    npend = make_jobs(&q, tp, acc, mb + i0, h, n, job[cur]);
                    pend = job[cur];
                    cur ^= 1;
                } else if (!direct) {
                    epi_f(&q, &t, acc, mb + i0, h, n);
                }
            }
        }
    }
    for (int j = 0; j < npend; j++)
        vk_q8_run_job(&pend[j]);
}
