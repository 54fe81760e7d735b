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
 * in L1 (L2 for K = 3072) while every row tile of the block runs over it, each
 * row tile prefetching a share of the next B slice (weights usually come from
 * memory). Row tiles have balanced heights too (197 rows = 10×12 + 7×11, not
 * 16×12 + 5). Full-width s32 tiles are stored by the microkernel; the others go
 * through a stack tile to the epilogue (requantization exactly as requant.h,
 * dequantization, masked stores).
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
/* Outputs bigger than this are taken not to be in L1/L2 when written: each
 * row tile then prefetches its output lines, else the stores stall on them
 * (-40 % for MobileNet's 3136×24 s32 output coming from memory); when they are
 * cached after all, that costs up to 10 %. */
#define C_L2_BYTES (256 * 1024)

/* ------------------------------------------------------------ column terms */

/* Output-stage parameters of one vector of 16 columns. Requantization
 * (requant.h: r = (xs·m + 2^(t-1)) >> t, xs the left-shifted accumulator,
 * t = 31 + right shift): per 32-bit lane the multiplier, left shift and t;
 * per 64-bit lane, for the even and the odd lanes' products, the multiplier
 * (odd: moved to the even position), the shift and the rounding term. */
typedef struct vec_params {
    __m512i mult, left, t;
    __m512i mult_odd, sh_e, sh_o, rnd_e, rnd_o;
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
    int odd_fast;       /* every channel has shift < 0 (t >= 32) */
    int32_t lo_z, hi_z; /* clamp bounds minus the output zero point */
} q8_ctx;

static int32_t clamp32(int64_t v) { return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v; }

/* The 64-bit-lane fields from the 32-bit ones. Odd lanes: with t >= 32 for
 * all, shifting their product right by t - 32 leaves the result in place in
 * the high half (odd_fast); else by t, and moved up afterwards. */
static void vec_finish(const q8_ctx *q, vec_params *v)
{
    const __m512i lo32 = _mm512_set1_epi64(0xffffffff), one = _mm512_set1_epi64(1);
    const __m512i te = _mm512_and_si512(v->t, lo32), to = _mm512_srli_epi64(v->t, 32);
    v->mult_odd = _mm512_srli_epi64(v->mult, 32);
    v->sh_e = te;
    v->sh_o = q->odd_fast ? _mm512_sub_epi64(to, _mm512_set1_epi64(32)) : to;
    v->rnd_e = _mm512_sllv_epi64(one, _mm512_sub_epi64(te, one));
    v->rnd_o = _mm512_sllv_epi64(one, _mm512_sub_epi64(to, one));
}

static void vec_setup(const q8_ctx *q, int nj, __mmask16 m, vec_params *v)
{
    const vk_matmul_q8_args *a = q->a;
    if (a->out == VK_Q8_OUT_U8 || a->out == VK_Q8_OUT_S8) {
        const int pc = a->rq.per_channel;
        __m512i sh = pc ? _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a->rq.shift + nj))
                        : _mm512_set1_epi32(a->rq.shift[0]);
        /* requant.h clamps shifts to [-31, 30] */
        sh = _mm512_max_epi32(_mm512_min_epi32(sh, _mm512_set1_epi32(30)), _mm512_set1_epi32(-31));
        v->mult = pc ? _mm512_maskz_loadu_epi32(m, a->rq.mult + nj) : _mm512_set1_epi32(a->rq.mult[0]);
        v->left = _mm512_max_epi32(sh, _mm512_setzero_si512());
        v->t = _mm512_sub_epi32(_mm512_set1_epi32(31), _mm512_min_epi32(sh, _mm512_setzero_si512()));
        vec_finish(q, v);
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
#define TWICE(f) v->f = _mm512_permutexvar_epi32(twice, v->f)
        TWICE(mult), TWICE(left), TWICE(t);
#undef TWICE
        if (a->out == VK_Q8_OUT_U8 || a->out == VK_Q8_OUT_S8)
            vec_finish(q, v);
        v->wscale = _mm512_permutexvar_ps(twice, v->wscale);
        v->bias_f = _mm512_permutexvar_ps(twice, v->bias_f);
    }
}

/* ----------------------------------------------------------- requantization */

/* vk_mbqm (requant.h), 16 lanes: one rounding, half up, of the exact 64-bit
 * product (|result| < 2^31, see there). */
AI __m512i mbqm16(__m512i x, const vec_params *p, const int HL, const int OF)
{
    if (HL) {
        /* x << left, saturated: an overflow shows as a shift that does not
         * round-trip. */
        const __m512i y = _mm512_sllv_epi32(x, p->left);
        const __mmask16 ovf = _mm512_cmpneq_epi32_mask(_mm512_srav_epi32(y, p->left), x);
        const __m512i sat = _mm512_xor_si512(_mm512_srai_epi32(x, 31), _mm512_set1_epi32(INT32_MAX));
        x = _mm512_mask_mov_epi32(y, ovf, sat);
    }
    const __m512i pe = _mm512_add_epi64(_mm512_mul_epi32(x, p->mult), p->rnd_e);
    const __m512i po = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), p->mult_odd), p->rnd_o);
    const __m512i re = _mm512_srav_epi64(pe, p->sh_e);
    const __m512i ro = OF ? _mm512_srav_epi64(po, p->sh_o)
                          : _mm512_slli_epi64(_mm512_srav_epi64(po, p->sh_o), 32);
    return _mm512_mask_blend_epi32(0xAAAA, re, ro);
}

/* ---------------------------------------------------------------- epilogue */

/* Output kinds: s32; U8 and S8 alike (the clamp bounds lie inside the output
 * type, so truncating and saturating narrowing both store the right byte);
 * f32. Q8 variants: HL some left shift, OF see vec_finish. */
enum { KIND_S32, KIND_Q8, KIND_F32 };

typedef struct epi_consts {
    __m512i lo, hi, zero;
    __m512 as;   /* activation scale of the row (F32) */
    int has_res; /* F32: a residual to add (res below) */
    __m512 res;  /* F32: the residual of the vector being stored */
} epi_consts;

AI __m512i out_val(const int KIND, const int HL, const int OF, const vk_act ACT, __m512i v,
                   const vec_params *p, const epi_consts *k)
{
    if (KIND == KIND_Q8) {
        v = mbqm16(v, p, HL, OF);
        /* Clamp before adding the zero point: cannot overflow. */
        return _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(v, k->lo), k->hi), k->zero);
    }
    if (KIND == KIND_F32) {
        /* Same operations and roundings as the reference (no FMA). */
        const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_mul_ps(k->as, p->wscale));
        __m512 g = _mm512_add_ps(f, p->bias_f);
        if (k->has_res)
            g = _mm512_add_ps(g, k->res);
        return _mm512_castps_si512(vk_act512(g, ACT));
    }
    return v;
}

/* Stores the lanes of mask m of one output vector from element c on. */
AI void out_put(const int KIND, const vk_matmul_q8_args *a, ptrdiff_t c, __mmask16 m, __m512i v)
{
    /* vpmovdb to a register, then a masked store: the memory form of
     * vpmovdb is slower. */
    if (KIND == KIND_Q8)
        _mm_mask_storeu_epi8((int8_t *)a->C + c, m, _mm512_cvtepi32_epi8(v));
    else if (KIND == KIND_F32)
        _mm512_mask_storeu_ps((float *)a->C + c, m, _mm512_castsi512_ps(v));
    else
        _mm512_mask_storeu_epi32((int32_t *)a->C + c, m, v);
}

/* acc: the stack tile, rows NT apart, or for a half tile rows 16 apart and
 * the shared vectors from acc + 16·MRH on (see matmul_q8_uk.h). */
AI void epi(const int KIND, const int HL, const int OF, const vk_act ACT, const q8_ctx *q,
            const col_tile *t, const int32_t *acc, int m, int rows, int n)
{
    const vk_matmul_q8_args *a = q->a;
    epi_consts k = {.lo = _mm512_set1_epi32(q->lo_z), .hi = _mm512_set1_epi32(q->hi_z),
                    .zero = _mm512_set1_epi32(a->rq.out_zero),
                    .has_res = KIND == KIND_F32 && a->residual != NULL};
    /* The residual of row m + i from column c on, lanes of mask mk (read
     * before the store: residual may be C itself). */
#define RES(i, c, mk) \
    (k.has_res ? _mm512_maskz_loadu_ps(mk, a->residual + (ptrdiff_t)(m + (i)) * a->ldr + (c)) \
               : _mm512_setzero_ps())
    /* Local copies: the parameters then stay in registers, where through t
     * every output store (which may alias anything) would force a reload. */
    const vec_params p0 = t->p[0], p1 = t->nv > 1 ? t->p[1] : t->p[0];
#define VAL(v, j) out_val(KIND, HL, OF, ACT, v, (j) ? &p1 : &p0, &k)
#define ASCALE(i) \
    (KIND == KIND_F32 ? _mm512_set1_ps(a->a_scale[a->a_scale_per_row ? m + (i) : 0]) : k.as)
    if (KIND == KIND_Q8 && !t->half && t->nv == 2) {
        /* Both vectors of a row in one store: saturating packs (exact, the
         * values are clamped into the type) interleave them by 128-bit lane,
         * a permutation restores the order. */
        const __mmask32 m32 = (__mmask32)t->mask[0] | (__mmask32)t->mask[1] << 16;
        const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
        for (int i = 0; i < rows; i++) {
            const __m512i w = _mm512_packs_epi32(VAL(_mm512_load_si512(acc + i * NT), 0),
                                                 VAL(_mm512_load_si512(acc + i * NT + 16), 1));
            const __m512i b = a->out == VK_Q8_OUT_U8 ? _mm512_packus_epi16(w, w) : _mm512_packs_epi16(w, w);
            _mm256_mask_storeu_epi8((int8_t *)a->C + (ptrdiff_t)(m + i) * a->ldc + n, m32,
                                    _mm512_castsi512_si256(_mm512_permutexvar_epi32(order, b)));
        }
        return;
    }
    if (!t->half) {
        for (int i = 0; i < rows; i++) {
            const ptrdiff_t c = (ptrdiff_t)(m + i) * a->ldc + n;
            k.as = ASCALE(i);
            for (int j = 0; j < t->nv; j++) {
                k.res = RES(i, n + 16 * j, t->mask[j]);
                out_put(KIND, a, c + 16 * j, t->mask[j], VAL(_mm512_load_si512(acc + i * NT + 16 * j), j));
            }
        }
        return;
    }
    for (int i = 0; i < rows; i++) {
        k.as = ASCALE(i);
        k.res = RES(i, n, 0xffff);
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
        if (k.has_res) { /* columns 16-23 of row i in lanes 0-7, of row i + 1 in 8-15 */
            k.res = RES(i, n + 16, t->mask[1] & 0x00ff);
            if (two)
                k.res = _mm512_mask_loadu_ps(k.res, t->mask[1] & 0xff00,
                                             a->residual + (ptrdiff_t)(m + i + 1) * a->ldr + n + 8);
        }
        const __m512i v = VAL(_mm512_load_si512(acc + 16 * MRH + 8 * i), 1);
        out_put(KIND, a, c0, t->mask[1] & 0x00ff, v);
        if (two)
            out_put(KIND, a, c1, t->mask[1] & 0xff00, v);
    }
#undef VAL
#undef ASCALE
#undef RES
}

typedef void (*epi_fn)(const q8_ctx *q, const col_tile *t, const int32_t *acc, int m, int rows,
                       int n);
#define EPI_DEF(NAME, KIND, HL, OF, ACT)                                                      \
    static void NAME(const q8_ctx *q, const col_tile *t, const int32_t *acc, int m, int rows,  \
                     int n)                                                                   \
    {                                                                                         \
        epi(KIND, HL, OF, ACT, q, t, acc, m, rows, n);                                        \
    }
EPI_DEF(epi_s32, KIND_S32, 0, 0, VK_ACT_NONE)
EPI_DEF(epi_q8_00, KIND_Q8, 0, 0, VK_ACT_NONE)
EPI_DEF(epi_q8_01, KIND_Q8, 0, 1, VK_ACT_NONE)
EPI_DEF(epi_q8_10, KIND_Q8, 1, 0, VK_ACT_NONE)
EPI_DEF(epi_q8_11, KIND_Q8, 1, 1, VK_ACT_NONE)
EPI_DEF(epi_f32_none, KIND_F32, 0, 0, VK_ACT_NONE)
EPI_DEF(epi_f32_relu, KIND_F32, 0, 0, VK_ACT_RELU)
EPI_DEF(epi_f32_relu6, KIND_F32, 0, 0, VK_ACT_RELU6)
EPI_DEF(epi_f32_gelu, KIND_F32, 0, 0, VK_ACT_GELU)
EPI_DEF(epi_f32_quickgelu, KIND_F32, 0, 0, VK_ACT_QUICKGELU)

static epi_fn pick_epilogue(const q8_ctx *q)
{
    const vk_matmul_q8_args *a = q->a;
    switch (a->out) {
    case VK_Q8_OUT_U8:
    case VK_Q8_OUT_S8:
        return q->any_left ? (q->odd_fast ? epi_q8_11 : epi_q8_10)
                           : (q->odd_fast ? epi_q8_01 : epi_q8_00);
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
        const int c0 = a->rq.per_channel ? n0 : 0, c1 = a->rq.per_channel ? n1 : 1;
        q.odd_fast = 1;
        for (int c = c0; c < c1; c++) {
            q.any_left |= a->rq.shift[c] > 0;
            q.odd_fast &= a->rq.shift[c] < 0;
        }
    }
    const epi_fn epi_f = pick_epilogue(&q);
    const int c_far = (size_t)(m1 - m0) * (size_t)(n1 - n0) * osz > C_L2_BYTES;

    /* Row blocks of at most A_BLOCK_BYTES of A, as even as possible. */
    int mc = K > 0 ? A_BLOCK_BYTES / K : MC_MAX;
    mc = mc < MR ? MR : mc > MC_MAX ? MC_MAX : mc;
    const int nmb = (m1 - m0 + mc - 1) / mc;
    mc = (m1 - m0 + nmb - 1) / nmb;
    int32_t rterm[MC_MAX];
    int32_t acc[MR * NT] __attribute__((aligned(64))); /* also MRH × 24 */

    for (int mb = m0; mb < m1; mb += mc) {
        const int rows = m1 - mb < mc ? m1 - mb : mc;
        const uint8_t *ab = (const uint8_t *)a->A + (ptrdiff_t)mb * a->lda;
        if (a->b_offset)
            for (int i = 0; i < rows; i++)
                rterm[i] = (int32_t)((uint32_t)a->b_offset *
                                     (uint32_t)row_sum(ab + (ptrdiff_t)i * a->lda, K, sgn));
        for (int n = n0; n < n1; n += NT) {
            const int n_end = n1 - n < NT ? n1 : n + NT;
            col_tile t;
            col_setup(&q, n, n_end, &t);
            /* Balanced row tiles: ntile tiles of base or base + 1 rows. */
            const int mr = t.half ? MRH : MR;
            const int ntile = (rows + mr - 1) / mr, base = rows / ntile, extra = rows % ntile;
            const vk_q8_ukr_fn *tab = t.half ? vk_q8_ukr_half[sgn] : vk_q8_ukr[sgn][t.nv - 1];
            const int direct = a->out == VK_Q8_OUT_S32 && n_end - n == 16 * t.nv;
            const int8_t *bp = a->Bp + (ptrdiff_t)(n / VK_Q8_NR) * bs;
            /* The next tile's B columns, a share per row tile, prefetched
             * along its K loop: weights mostly come from L3 or memory (this
             * costs a few % when B is in L2). */
            const int bnext_lines = n + NT < n1 ? (int)((n1 - n - NT > 16 ? 2 : 1) * bs / 64) : 0;
            const int share = (bnext_lines + ntile - 1) / ntile;
            for (int ti = 0, i0 = 0, h; ti < ntile; ti++, i0 += h) {
                h = base + (ti < extra ? 1 : 0);
                if (c_far)
                    prefetch_c(&q, mb + i0, h, n, n_end);
                vk_q8_ukr_io io = {.init = t.cterm, .rterm = a->b_offset ? rterm + i0 : NULL,
                                   .c = acc, .c2 = acc + 16 * MRH, .ldc = t.half ? 16 : NT,
                                   .pf2 = share > kg};
                if (share * ti < bnext_lines) {
                    io.pf = bp + NT / VK_Q8_NR * bs + (ptrdiff_t)64 * share * ti;
                    io.pfn = share * (ti + 1) > bnext_lines ? bnext_lines - share * ti : share;
                }
                if (direct) {
                    io.c = (int32_t *)a->C + (ptrdiff_t)(mb + i0) * a->ldc + n;
                    io.ldc = a->ldc;
                }
                tab[h - 1](ab + (ptrdiff_t)i0 * a->lda, a->lda, bp, bs, kg, ktail, &io);
                if (!direct)
                    epi_f(&q, &t, acc, mb + i0, h, n);
            }
        }
    }
}
