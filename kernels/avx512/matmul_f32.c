/* AVX-512 f32 matmul: C = act(A·B + bias + residual) over [m0,m1)×[n0,n1).
 *
 * Register tile: up to 8 rows × 2 panels (8×32, 16 zmm accumulators). Per k the
 * kernel loads one 16-float row of each B panel and broadcasts one A element
 * per row (vbroadcastss, reused by both panels): 2 loads + 8 broadcasts per 16
 * FMAs, so the two FMA pipes stay busy with A and B read straight from the
 * caller's buffers (A row-major, B in the packed panel layout of kernels.h).
 * Small row counts (M range < 8) use tiles of all the rows × 4 panels (3 for 7
 * rows): more independent FMA chains per k for the 2 pipes × 4 cycles of
 * latency, and 4 B streams, software-prefetched since B is then read exactly
 * once (from L3 or DRAM) and the loop is bandwidth-bound. The first row tile of
 * each block of the main path prefetches B the same way.
 *
 * Blocking (Zen 5 here: 48 KB L1D, 1 MB L2 per core):
 *   for each column block of NC columns          (B block kc×NC ≈ 384 KB stays in L2)
 *     for each K block of kc ≤ 768                (C reloaded once per K block)
 *       for each row tile (rows split evenly, ≤ 8 per tile)
 *         one call sweeps the block's column tiles; the A tile (rows × kc) is
 *         re-read from L1/L2 by each, the B block from L2.
 * While a row tile runs, the next tile's A rows are prefetched into L2 (A is the
 * stream the hardware prefetcher handles worst: 8 short strided runs per tile).
 * And the row tiles after the first prefetch the *next* (column, K) block of B
 * into L2, each a share of its lines, spread over its k loop: so B's trip from
 * DRAM overlaps the block's compute instead of stalling its first row tile.
 * That matters at transformer shapes (M = 50 tokens of ViT-B/32: every weight
 * is used by 50 rows only, the first tile of 7 spent its time waiting on DRAM,
 * and an fc layer's B is 9.4 MB): 50×768×3072 went from 189 to 212 GFLOP/s
 * (median; docs/BENCHMARKS.md, "Figures: transformers").
 *
 * Accumulators start at zero; C (later K blocks) or bias + residual (first K
 * block) are added after the K loop, from lines prefetched at the start of the
 * tile, so no FMA chain waits on a cache miss. Reading the residual before
 * writing the same C elements makes residual == C (in place) safe. ReLU and
 * ReLU6 are applied in registers at the last K block; the GELUs (tens of
 * instructions per vector, where code size matters more than a reload) run
 * once per row tile after the last K block, over C lines still in L1. Columns
 * past N exist in packed B (zero) but not in C, bias or residual: the last
 * panel of a range ending at N uses masked loads and stores.
 *
 * K is blocked by K alone, so each element is summed in the same order
 * whatever range the caller asks for: results do not depend on how the output
 * is split across threads.
 */
#include <immintrin.h>
#include <stdint.h>

#include "avx512.h"
#include "vmath.h"

#define MR 8        /* rows of the main register tile */
#define NV 2        /* 16-column panels of the main register tile */
#define SMALL_NV 4  /* panels per tile when the row range is < MR */
#define KC_MAX 768  /* K block: 8 A rows of it (24 KB) fit L1 beside the B stream */
#define L2_B_BLOCK (384 * 1024 / 4) /* floats of B kept in L2 per (column, K) block */
#define PF_B_DIST 256 /* floats (16 k rows) of look-ahead per B panel when streaming */

typedef struct uk_args {
    const float *A; /* row 0 of the tile, column k0 */
    ptrdiff_t lda;
    const float *B; /* first panel of the first column tile, row k0 */
    ptrdiff_t bs;   /* floats between panels: K * 16 */
    float *C;       /* row 0, first column */
    ptrdiff_t ldc;
    const float *bias; /* at the first column, NULL if none or not the first K block */
    const float *res;  /* likewise for the residual */
    ptrdiff_t ldr;
    const float *pfa; /* mr rows of A at k0 covering the next row tile, or NULL */
    /* Next block's B into L2: lines [pf_l0, pf_l1) of the block (line l = row
     * l % pf_kc of panel l / pf_kc, at pf_base + panel·bs + row·16), pf_per
     * per 16 k of the k loop; pf_per = 0: none. */
    const float *pf_base;
    int pf_kc, pf_l0, pf_l1, pf_per;
    int kc;
    int ntiles;       /* column tiles of nv panels to sweep */
    int first;        /* first K block: add bias/residual instead of C */
    vk_act act;       /* last K block: RELU/RELU6 applied in registers, else NONE */
    __mmask16 mlast;  /* valid lanes of each tile's last panel */
} uk_args;

typedef void (*uk_fn)(const uk_args *p);

/* One k step: nv B loads, mr broadcasts, mr*nv FMAs. */
#define UK_STEP(kk)                                                                  \
    do {                                                                             \
        __m512 b_[SMALL_NV];                                                         \
        _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++)                         \
            b_[v] = _mm512_loadu_ps(B + v * bs + 16 * (kk));                         \
        _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++)                         \
        {                                                                            \
            const __m512 x_ = _mm512_set1_ps(a[i][kk]);                              \
            _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++)                     \
                acc[i][v] = _mm512_fmadd_ps(x_, b_[v], acc[i][v]);                  \
        }                                                                            \
    } while (0)

/* mr×(nv·16) tiles, mr and nv compile-time constants after inlining so the
 * accumulator array lives in registers. pfb: software-prefetch the B panels
 * ahead (B streamed once from L3/DRAM rather than re-read from L2). */
static inline __attribute__((always_inline)) void ukernel(const int mr, const int nv,
                                                          const int pfb, const uk_args *p)
{
    const ptrdiff_t lda = p->lda, ldc = p->ldc, ldr = p->ldr, bs = p->bs;
    const int kc = p->kc;
    const float *a[MR];
    for (int i = 0; i < mr; i++)
        a[i] = p->A + i * lda;
    int pl = p->pf_l0, pp = p->pf_kc ? pl / p->pf_kc : 0, pr = pl - pp * p->pf_kc;

    for (int t = 0; t < p->ntiles; t++) {
        const float *B = p->B + (ptrdiff_t)t * nv * bs;
        float *C = p->C + t * nv * 16;
        const float *bias = p->bias ? p->bias + t * nv * 16 : NULL;
        const float *res = p->res ? p->res + t * nv * 16 : NULL;
        __m512 acc[MR][SMALL_NV];
        _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++)
        {
            _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++)
            {
                acc[i][v] = _mm512_setzero_ps();
                /* what the epilogue adds, so its loads hit L1 */
                if (!p->first)
                    _mm_prefetch((const char *)(C + i * ldc + 16 * v), _MM_HINT_T0);
                else if (res)
                    _mm_prefetch((const char *)(res + i * ldr + 16 * v), _MM_HINT_T0);
            }
        }
        int k = 0;
        for (; k + 16 <= kc; k += 16) {
            if (p->pf_per) {
                for (int j = 0; j < p->pf_per && pl < p->pf_l1; j++, pl++) {
                    _mm_prefetch((const char *)(p->pf_base + (ptrdiff_t)pp * bs + 16 * pr),
                                 _MM_HINT_T1);
                    if (++pr == p->pf_kc)
                        pr = 0, pp++;
                }
            }
            /* One line per row of the next tile every 16 k of the first
             * column tile: the next A tile is in L2 long before it is used. */
            if (t == 0 && p->pfa) {
                _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++)
                    _mm_prefetch((const char *)(p->pfa + i * lda + k), _MM_HINT_T1);
            }
            _Pragma("GCC unroll 4") for (int kk = 0; kk < 16; kk++)
            {
                if (pfb) { /* one 64-byte line per panel per k */
                    _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++)
                        /* integer arithmetic: the look-ahead may pass the end of Bp */
                        _mm_prefetch((const char *)((uintptr_t)(B + v * bs + 16 * (k + kk)) +
                                                    PF_B_DIST * sizeof(float)),
                                     _MM_HINT_T0);
                }
                UK_STEP(k + kk);
            }
        }
        for (; k < kc; k++)
            UK_STEP(k);

        _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++)
        {
            const __mmask16 m = v == nv - 1 ? p->mlast : (__mmask16)0xFFFF;
            if (p->first) {
                if (bias) {
                    const __m512 bv = _mm512_maskz_loadu_ps(m, bias + 16 * v);
                    _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++)
                        acc[i][v] = _mm512_add_ps(acc[i][v], bv);
                }
                if (res) {
                    _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++)
                        acc[i][v] = _mm512_add_ps(
                            acc[i][v], _mm512_maskz_loadu_ps(m, res + i * ldr + 16 * v));
                }
            } else {
                _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++)
                    acc[i][v] = _mm512_add_ps(acc[i][v],
                                              _mm512_maskz_loadu_ps(m, C + i * ldc + 16 * v));
            }
        }
        if (p->act == VK_ACT_RELU) {
            _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++)
                _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++)
                    acc[i][v] = vk_act512(acc[i][v], VK_ACT_RELU);
        } else if (p->act == VK_ACT_RELU6) {
            _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++)
                _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++)
                    acc[i][v] = vk_act512(acc[i][v], VK_ACT_RELU6);
        }
        if (p->mlast == 0xFFFF) {
            _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++)
                _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++)
                    _mm512_storeu_ps(C + i * ldc + 16 * v, acc[i][v]);
        } else {
            _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++)
            {
                _Pragma("GCC unroll 4") for (int v = 0; v < nv - 1; v++)
                    _mm512_storeu_ps(C + i * ldc + 16 * v, acc[i][v]);
                _mm512_mask_storeu_ps(C + i * ldc + 16 * (nv - 1), p->mlast, acc[i][nv - 1]);
            }
        }
    }
}

#define UK_DEF(mr, nv, pfb)                                                          \
    static void uk_##mr##x##nv##_##pfb(const uk_args *p) { ukernel(mr, nv, pfb, p); }
#define UK_ROW2(mr, pfb) UK_DEF(mr, 1, pfb) UK_DEF(mr, 2, pfb)
#define UK_ROW4(mr) UK_ROW2(mr, 1) UK_DEF(mr, 3, 1) UK_DEF(mr, 4, 1)
UK_ROW2(4, 0) UK_ROW2(5, 0) UK_ROW2(6, 0) UK_ROW2(7, 0) UK_ROW2(8, 0)
UK_ROW4(1) UK_ROW4(2) UK_ROW4(3) UK_ROW4(4) UK_ROW4(5) UK_ROW4(6)
UK_ROW2(7, 1) UK_DEF(7, 3, 1) UK_ROW2(8, 1)

#define UK_E2(mr, pfb) {NULL, uk_##mr##x1_##pfb, uk_##mr##x2_##pfb, NULL, NULL}
#define UK_E4(mr) {NULL, uk_##mr##x1_1, uk_##mr##x2_1, uk_##mr##x3_1, uk_##mr##x4_1}
/* [B prefetch][rows][panels]. Tiles of the main path have 4..8 rows (M >= 8
 * split evenly) and 1..2 panels; small-M tiles 1..7 rows and up to 4 panels
 * (3 for 7 rows, to stay within 32 registers). NULL entries are never used. */
static const uk_fn uk_tab[2][MR + 1][SMALL_NV + 1] = {
    {{NULL}, {NULL}, {NULL}, {NULL}, UK_E2(4, 0), UK_E2(5, 0), UK_E2(6, 0), UK_E2(7, 0),
     UK_E2(8, 0)},
    {{NULL}, UK_E4(1), UK_E4(2), UK_E4(3), UK_E4(4), UK_E4(5), UK_E4(6),
     {NULL, uk_7x1_1, uk_7x2_1, uk_7x3_1, NULL}, UK_E2(8, 1)},
};

/* Applies a GELU to rows [0, rows) × columns [0, w) of C. */
static void act_rows(float *C, ptrdiff_t ldc, int rows, int w, vk_act act)
{
    const __mmask16 mt = (__mmask16)((1u << (w & 15)) - 1);
    for (int i = 0; i < rows; i++) {
        float *c = C + i * ldc;
        int j = 0;
        switch (act) {
#define ACT_ROW(A)                                                                   \
    for (; j + 16 <= w; j += 16)                                                     \
        _mm512_storeu_ps(c + j, vk_act512(_mm512_loadu_ps(c + j), A));               \
    if (j < w)                                                                       \
        _mm512_mask_storeu_ps(c + j, mt, vk_act512(_mm512_maskz_loadu_ps(mt, c + j), A));
        case VK_ACT_GELU: ACT_ROW(VK_ACT_GELU) break;
        case VK_ACT_QUICKGELU: ACT_ROW(VK_ACT_QUICKGELU) break;
        default: return;
#undef ACT_ROW
        }
    }
}

void vk_matmul_f32_avx512(const vk_matmul_f32_args *a, int m0, int m1, int n0, int n1)
{
    const int M = m1 - m0, K = a->K;
    if (M <= 0 || n1 <= n0)
        return;

    /* Tile shape and blocking for this range. */
    const int small = M < MR;
    const int mr_max = small ? M : MR;
    const int nv = !small ? NV : M <= 6 ? SMALL_NV : 3;
    /* K blocks (from K alone, see the header), rounded to 16 for the k loop. */
    int nkb = 1, kc_step = K;
    if (K > KC_MAX) {
        nkb = (K + KC_MAX - 1) / KC_MAX;
        kc_step = (K + nkb - 1) / nkb;
        kc_step = (kc_step + 15) & ~15;
        nkb = (K + kc_step - 1) / kc_step;
    }
    int nc = n1 - n0;
    if (!small) {
        const int w = 16 * nv;
        const int nc_l2 = kc_step > 0 ? L2_B_BLOCK / kc_step / w * w : nc;
        const int nc_min = 4 * w;
        nc = nc_l2 < nc_min ? nc_min : nc_l2 < nc ? nc_l2 : nc;
    }
    const int nt = (M + mr_max - 1) / mr_max; /* row tiles, sizes differing by <= 1 */
    const ptrdiff_t bs = (ptrdiff_t)K * VK_F32_NR;

    for (int jc = n0; jc < n1; jc += nc) {
        const int jce = n1 - jc < nc ? n1 : jc + nc;
        const int w = 16 * nv;
        const int nfull = (jce - jc) / w;
        const int tail = (jce - jc) - nfull * w;
        for (int kb = 0; kb < nkb; kb++) {
            const int k0 = kb * kc_step;
            const int kc = K - k0 < kc_step ? K - k0 : kc_step;
            uk_args p;
            p.lda = a->lda;
            p.bs = bs;
            p.ldc = a->ldc;
            p.ldr = a->ldr;
            p.kc = kc;
            p.first = kb == 0;
            /* ReLU/ReLU6 cost one or two instructions per register: applied
             * before the store. The GELUs run over the finished row tile. */
            const int last = kb == nkb - 1;
            p.act = last && (a->act == VK_ACT_RELU || a->act == VK_ACT_RELU6) ? a->act
                                                                               : VK_ACT_NONE;
            const int act_pass = last && (a->act == VK_ACT_GELU || a->act == VK_ACT_QUICKGELU);
            /* the next block in loop order, whose B rows tiles 1.. prefetch */
            int pf_lines = 0;
            p.pf_base = NULL;
            p.pf_kc = p.pf_l0 = p.pf_l1 = 0;
            if (!small && nt > 1) {
                const int jn = kb + 1 < nkb ? jc : jc + nc;
                const int kn0 = kb + 1 < nkb ? k0 + kc_step : 0;
                if (jn < n1) {
                    const int jne = n1 - jn < nc ? n1 : jn + nc;
                    const int np = (jne + 15) / 16 - jn / 16;
                    p.pf_kc = K - kn0 < kc_step ? K - kn0 : kc_step;
                    p.pf_base = a->Bp + (ptrdiff_t)(jn / 16) * bs + (ptrdiff_t)kn0 * 16;
                    pf_lines = np * p.pf_kc;
                }
            }
            for (int t = 0; t < nt; t++) {
                const int i0 = m0 + (int)((long)M * t / nt);
                const int i1 = m0 + (int)((long)M * (t + 1) / nt);
                const int r = i1 - i0;
                p.A = a->A + (ptrdiff_t)i0 * a->lda + k0;
                p.C = a->C + (ptrdiff_t)i0 * a->ldc + jc;
                p.B = a->Bp + (ptrdiff_t)(jc / VK_F32_NR) * bs + (ptrdiff_t)k0 * VK_F32_NR;
                p.bias = p.first && a->bias ? a->bias + jc : NULL;
                p.res = p.first && a->residual ? a->residual + (ptrdiff_t)i0 * a->ldr + jc
                                               : NULL;
                /* The kernel prefetches r rows: those ending where the next
                 * tile ends (it has r ± 1 rows; a row missed is only a missed
                 * prefetch), all inside [m0, m1). */
                const int i2 = t + 1 < nt ? m0 + (int)((long)M * (t + 2) / nt) : i1;
                p.pfa = t + 1 < nt ? a->A + (ptrdiff_t)(i2 - r) * a->lda + k0 : NULL;
                /* B comes from L3/DRAM for the first row tile of a block (and
                 * every tile when M is small), from L2 for the others. */
                const uk_fn(*tab)[SMALL_NV + 1] = uk_tab[small || t == 0];
                p.pf_per = 0;
                if (pf_lines && t > 0) {
                    p.pf_l0 = (int)((long)pf_lines * (t - 1) / (nt - 1));
                    p.pf_l1 = (int)((long)pf_lines * t / (nt - 1));
                    const int steps = (nfull > 0 ? nfull : 1) * (kc / 16);
                    p.pf_per = steps > 0 ? (p.pf_l1 - p.pf_l0 + steps - 1) / steps : 0;
                }
                if (nfull > 0) {
                    p.ntiles = nfull;
                    p.mlast = 0xFFFF;
                    tab[r][nv](&p);
                }
                if (tail > 0) {
                    const int off = nfull * w;
                    const int tv = (tail + 15) / 16;
                    const int rem = tail - 16 * (tv - 1);
                    p.B += (ptrdiff_t)nfull * nv * bs;
                    p.C += off;
                    p.bias = p.bias ? p.bias + off : NULL;
                    p.res = p.res ? p.res + off : NULL;
                    p.ntiles = 1;
                    p.mlast = (__mmask16)(rem == 16 ? 0xFFFF : (1u << rem) - 1);
                    if (nfull > 0)
                        p.pf_per = 0; /* the full tiles did this tile's share */
                    tab[r][tv](&p);
                }
                if (act_pass)
                    act_rows(a->C + (ptrdiff_t)i0 * a->ldc + jc, a->ldc, r, jce - jc, a->act);
            }
        }
    }
}
