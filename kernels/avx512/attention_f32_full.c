/* Fused multi-head attention, AVX-512: the whole-row path, for non-causal
 * attention over sequences short enough (ViT's 50, 197 and 257 tokens) that a
 * query block's scores against every key fit in L1. No online softmax: all of
 * a query's scores are computed before any exponential, so there is no
 * running-max rescaling of the output, and P·V runs over all keys in one
 * register-blocked loop per group of d chunks.
 *
 * K and V of a head are packed once per call and head into the workspace, and
 * every query block of that head in [w0, w1) reads the packed copies (gathering
 * the strided rows of a fused QKV buffer again for each block cost ~10 % of
 * the online path's time):
 *   Kt[b][d][c] = K[16b + c][d]        16-key panels: the keys of a d in one line
 *   Vp[e][j][c] = V[j][16e + c]        16-wide d chunks, zero past D
 * While a head's blocks run, each prefetches a share of the next head's K and
 * V rows into L2 (they are strided rows of a QKV buffer that does not fit L2:
 * the packing waited on them, 13 % of the time at L 197 before, 5 % after).
 *
 * A block of up to 16 queries, one query per row (q pre-scaled by
 * scale·log2e, zero rows past nq up to an even count NR):
 *   S[r][j]  = Σ_d q[r][d]·Kt[j/16][d][j%16]   groups of 8 rows × 3 key panels
 *                                              (the last ones 2 + 2, or 2, or 1):
 *                                              per d 3 panel loads and 8
 *                                              broadcasts for 24 FMAs
 *   m[r]     = max_j S[r][j]     running max vectors from the QK epilogue, one
 *                                transpose and a vertical max for all rows
 *   P[r][j]  = 2^(S[r][j] - m[r]),  l[r] = Σ_j P[r][j]  (per-row sum vectors,
 *                                transposed and added likewise: no horizontal
 *                                reduction on any row's dependency chain)
 *   O[r][e]  = Σ_j P[r][j]·Vp[e][j] / l[r]     6 rows × 4 d chunks (24 FMAs per
 *                                4 loads + 6 broadcasts), then 6 × 1 for the
 *                                chunks left; D 80 (5 chunks): 4 rows × 5
 * This replaced, where it is faster, a lane path with 16 queries per vector,
 * whose score and P·V loops broadcast one operand per FMA, and per-row
 * horizontal reductions in the softmax, which took 19 % of a block's time:
 * at L 197 and 257 the new path takes 0.87-1.00 of the old one's time
 * (median ~0.90, both alternating in one process; docs/BENCHMARKS.md). The
 * lane path stays for full blocks whose keys pad to round16(Lk) by more than 1/8
 * (ViT-B/32's 50 keys: 64), since it steps keys in 4s:
 *   Qt[d][i]  = scale·log2e·Q[i][d]
 *   St[j][i]  = Σ_d Qt[d][i]·Kt[j/16][d][j%16]   16 keys × 16 queries per step
 *   m[i]      = max_j St[j][i];  Pt = 2^(St - m) in place;  l = Σ_j Pt[j]
 *   Ot[e·16+c][i] = Σ_j Pt[j][i]·Vp[e][j][c],   O[i][d] = Ot[d][i] / l[i]
 * Keys past Lk in the last panel have Kt = 0; the block path's QK epilogue
 * sets their scores to -inf, and 2^(max(S - m, -256)) makes them exactly 0;
 * the lane path never stores them. No loop reads V past key Lk - 1.
 *
 * Workspace: on the stack, ~240 KB at most (Kt and Vp 96 KB each), so only
 * round16(Lk)·round16(D) <= FULL_KV, Lk <= FULL_LMAX, D <= FULL_DMAX take this
 * path; the rest, and causal attention, run the online path (attention_f32.c).
 *
 * Every query's arithmetic depends only on its block's size, never on
 * [w0, w1), so any split of the items gives the same bits.
 */
#include <immintrin.h>
#include <math.h>

#include "attention_f32.h"

#define FULL_DMAX 128   /* head dims */
#define FULL_LMAX 512   /* keys */
#define FULL_KV 24576   /* floats of Kt (and of Vp): round16(Lk)·round16(D) */

typedef struct full_ws {
    _Alignas(64) float qs[16 * FULL_DMAX]; /* block path: q rows, DP apart; lane path: Qt */
    _Alignas(64) float ot[FULL_DMAX * 16]; /* lane path */
    _Alignas(64) float st[16 * FULL_LMAX]; /* S, then P rows, LP apart */
    _Alignas(64) float kt[FULL_KV];
    _Alignas(64) float vp[FULL_KV];
    int bh;     /* (batch, head) packed, -1 none */
    int LP, DC; /* round16(Lk), D chunks */
} full_ws;

/* Causal attention stays with the online path: with most of each block's keys
 * hidden there is less to gain from whole rows, and measured (CLIP's L77, D 64
 * and 80) this path was 3-4 % slower there. */
static int fits(const vk_attention_f32_args *a)
{
    const long LP = (a->Lk + 15) / 16 * 16, DP = (a->D + 15) / 16 * 16;
    return !a->causal && a->Lk > 0 && a->D <= FULL_DMAX && a->Lk <= FULL_LMAX && LP * DP <= FULL_KV;
}

/* Packs K and V of one head (keys past Lk zero in Kt, absent from Vp). */
static void pack_kv(const vk_attention_f32_args *a, const float *k, const float *v, full_ws *ws)
{
    const int D = a->D;
    for (int b = 0; b < ws->LP / 16; b++) {
        const int j0 = 16 * b, nk = a->Lk - j0 < 16 ? a->Lk - j0 : 16;
        float *kt = ws->kt + (ptrdiff_t)b * D * 16;
        for (int d0 = 0; d0 < D; d0 += 16) {
            const int dn = D - d0 < 16 ? D - d0 : 16;
            const __mmask16 m = tail_mask(dn);
            __m512 r[16];
            for (int c = 0; c < 16; c++)
                r[c] = c < nk ? _mm512_maskz_loadu_ps(m, k + (j0 + c) * a->k_ld + d0)
                              : _mm512_setzero_ps();
            transpose16(r);
            for (int d = 0; d < dn; d++)
                _mm512_store_ps(kt + (d0 + d) * 16, r[d]);
            float *vp = ws->vp + (ptrdiff_t)(d0 / 16) * ws->LP * 16 + j0 * 16;
            for (int c = 0; c < nk; c++)
                _mm512_store_ps(vp + c * 16, _mm512_maskz_loadu_ps(m, v + (j0 + c) * a->v_ld + d0));
        }
    }
}

/* Lane path --------------------------------------------------------------- */

/* ot[c][:] = Σ_{j<nk} pt[j] · vp[j][c], c < 16 (one 16-d chunk). */
static inline void lane_pv(float *ot, const float *pt, const float *vp, int nk)
{
    __m512 acc[16];
    for (int c = 0; c < 16; c++)
        acc[c] = _mm512_setzero_ps();
    for (int j = 0; j < nk; j++) {
        const __m512 p = _mm512_load_ps(pt + j * 16);
        for (int c = 0; c < 16; c++)
            acc[c] = _mm512_fmadd_ps(p, _mm512_set1_ps(vp[j * 16 + c]), acc[c]);
    }
    for (int c = 0; c < 16; c++)
        _mm512_store_ps(ot + c * 16, acc[c]);
}

static void attend_lanes(const vk_attention_f32_args *a, const float *q, float *o, int nq,
                         full_ws *ws)
{
    const int D = a->D, kend = a->Lk;
    float *const qt = ws->qs, *const st = ws->st;
    load_qt(q, a->q_ld, nq, D, a->scale * VK_LOG2E, qt);

    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int k0 = 0; k0 < kend; k0 += 16) {
        const int nk = kend - k0 < 16 ? kend - k0 : 16;
        const int nr = nk > 8 ? 16 : nk > 4 ? 8 : 4;
        const float *kp = ws->kt + (ptrdiff_t)k0 * D;
        __m512 s[16];
        key_scores(nr, qt, kp, 1, 16, D, s);
        /* only keys j < nk exist: the rest are never stored */
        for (int j = 0; j < nk; j++) {
            m = _mm512_max_ps(m, s[j]);
            _mm512_store_ps(st + (k0 + j) * 16, s[j]);
        }
    }
    __m512 l0 = _mm512_setzero_ps(), l1 = _mm512_setzero_ps();
    int j = 0;
    for (; j + 2 <= kend; j += 2) {
        const __m512 p0 = exp2_nonpos(_mm512_sub_ps(_mm512_load_ps(st + j * 16), m));
        const __m512 p1 = exp2_nonpos(_mm512_sub_ps(_mm512_load_ps(st + j * 16 + 16), m));
        _mm512_store_ps(st + j * 16, p0);
        _mm512_store_ps(st + j * 16 + 16, p1);
        l0 = _mm512_add_ps(l0, p0);
        l1 = _mm512_add_ps(l1, p1);
    }
    if (j < kend) {
        const __m512 p0 = exp2_nonpos(_mm512_sub_ps(_mm512_load_ps(st + j * 16), m));
        _mm512_store_ps(st + j * 16, p0);
        l0 = _mm512_add_ps(l0, p0);
    }
    for (int e = 0; e < ws->DC; e++)
        lane_pv(ws->ot + e * 256, st, ws->vp + (ptrdiff_t)e * ws->LP * 16, kend);
    store_ot(ws->ot, _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(l0, l1)), D, o, a->o_ld,
             nq);
}

/* Block path -------------------------------------------------------------- */

/* s[r][16p..16p+16) = Σ_d qs[r][d] · kp[p][d][0..16) for r < NR, p < NP (q rows
 * DP apart, key panels ps apart, score rows LP apart): per d, NP panel loads
 * and NR broadcasts for NR·NP FMAs. */
#define ROW_QK(NR, NP)                                                                  \
    static void row_qk##NR##_##NP(const float *qs, int DP, const float *kp, ptrdiff_t ps, \
                                  int D, float *s, int LP, __m512 *mx, __mmask16 lastv) \
    {                                                                                   \
        __m512 acc[NR][NP];                                                             \
        for (int r = 0; r < NR; r++)                                                    \
            for (int p = 0; p < NP; p++)                                                \
                acc[r][p] = _mm512_setzero_ps();                                        \
        for (int d = 0; d < D; d++) {                                                   \
            __m512 kv[NP];                                                              \
            for (int p = 0; p < NP; p++)                                                \
                kv[p] = _mm512_load_ps(kp + p * ps + d * 16);                           \
            for (int r = 0; r < NR; r++) {                                              \
                const __m512 x = _mm512_set1_ps(qs[r * DP + d]);                        \
                for (int p = 0; p < NP; p++)                                            \
                    acc[r][p] = _mm512_fmadd_ps(x, kv[p], acc[r][p]);                   \
            }                                                                           \
        }                                                                               \
        const __m512 ninf_ = _mm512_set1_ps(-INFINITY);                                 \
        for (int r = 0; r < NR; r++) {                                                  \
            acc[r][NP - 1] = _mm512_mask_blend_ps(lastv, ninf_, acc[r][NP - 1]);       \
            __m512 m_ = mx[r];                                                          \
            for (int p = 0; p < NP; p++) {                                              \
                _mm512_store_ps(s + r * LP + 16 * p, acc[r][p]);                        \
                m_ = _mm512_max_ps(m_, acc[r][p]);                                      \
            }                                                                           \
            mx[r] = m_;                                                                 \
        }                                                                               \
    }
#define ROW_QK3(NR) ROW_QK(NR, 1) ROW_QK(NR, 2) ROW_QK(NR, 3)
ROW_QK3(2)
ROW_QK3(4)
ROW_QK3(6)
ROW_QK3(8)
typedef void (*row_qk_fn)(const float *, int, const float *, ptrdiff_t, int, float *, int, __m512 *,
                          __mmask16);
#define QK_ROW(NR) {NULL, row_qk##NR##_1, row_qk##NR##_2, row_qk##NR##_3}
static const row_qk_fn qk_tab[5][4] = {{NULL}, QK_ROW(2), QK_ROW(4), QK_ROW(6), QK_ROW(8)};

/* acc[r][c] = Σ_{j<nk} p[r][j] · vp[c][j][:] for r < NR, c < NC (P rows LP
 * apart, Vp chunks vs apart); o[r][16c..] = acc·inv[r], masked to D. */
#define ROW_PV(NR, NC)                                                                  \
    static void row_pv##NR##_##NC(const float *p, int LP, const float *vp, ptrdiff_t vs, \
                                  int nk, const float *inv, float *o, ptrdiff_t ld,     \
                                  int nq, int dleft)                                    \
    {                                                                                   \
        __m512 acc[NR][NC];                                                             \
        for (int r = 0; r < NR; r++)                                                    \
            for (int c = 0; c < NC; c++)                                                \
                acc[r][c] = _mm512_setzero_ps();                                        \
        for (int j = 0; j < nk; j++) {                                                  \
            __m512 vv[NC];                                                              \
            for (int c = 0; c < NC; c++)                                                \
                vv[c] = _mm512_load_ps(vp + c * vs + j * 16);                           \
            for (int r = 0; r < NR; r++) {                                              \
                const __m512 pr = _mm512_set1_ps(p[r * LP + j]);                        \
                for (int c = 0; c < NC; c++)                                            \
                    acc[r][c] = _mm512_fmadd_ps(pr, vv[c], acc[r][c]);                  \
            }                                                                           \
        }                                                                               \
        for (int r = 0; r < NR && r < nq; r++)                                          \
            for (int c = 0; c < NC && 16 * c < dleft; c++)                              \
                store_k(o + r * ld + 16 * c, tail_mask(dleft - 16 * c),                 \
                        _mm512_mul_ps(acc[r][c], _mm512_set1_ps(inv[r])));              \
    }
typedef void (*row_pv_fn)(const float *, int, const float *, ptrdiff_t, int, const float *,
                          float *, ptrdiff_t, int, int);
ROW_PV(2, 1)
ROW_PV(4, 1)
ROW_PV(6, 1)
ROW_PV(2, 4)
ROW_PV(4, 4)
ROW_PV(6, 4)
ROW_PV(2, 5)
ROW_PV(4, 5)
static const row_pv_fn pv1_tab[4] = {NULL, row_pv2_1, row_pv4_1, row_pv6_1};
static const row_pv_fn pv4_tab[4] = {NULL, row_pv2_4, row_pv4_4, row_pv6_4};
static const row_pv_fn pv5_tab[3] = {NULL, row_pv2_5, row_pv4_5};

#define QK_ROWS 8 /* rows per QK group (8 rows × 3 panels: 24 accumulators) */
#define QK_PANELS 3

static void attend_block(const vk_attention_f32_args *a, const float *q, float *o, int nq,
                         full_ws *ws)
{
    const int D = a->D, kend = a->Lk, DP = ws->DC * 16, LP = ws->LP, NR = (nq + 1) & ~1;
    const int NP = LP / 16;
    float *const qs = ws->qs, *const ps = ws->st;
    const __m512 scale = _mm512_set1_ps(a->scale * VK_LOG2E);
    for (int r = 0; r < NR; r++)
        for (int d0 = 0; d0 < DP; d0 += 16) {
            const __m512 x = r < nq ? _mm512_maskz_loadu_ps(tail_mask(D - d0), q + r * a->q_ld + d0)
                                    : _mm512_setzero_ps();
            _mm512_store_ps(qs + r * DP + d0, _mm512_mul_ps(x, scale));
        }
    const ptrdiff_t kps = (ptrdiff_t)D * 16;
    const __m512 ninf = _mm512_set1_ps(-INFINITY), lo = _mm512_set1_ps(-256.0f);
    __m512 mx[16], lv[16];
    for (int r = 0; r < 16; r++)
        mx[r] = ninf;
    /* keys past kend in the last panel: -inf, so 2^(max(S - m, -256)) is 0 */
    const __mmask16 lastv = tail_mask(kend - (LP - 16));
    for (int r0 = 0; r0 < NR; r0 += QK_ROWS) {
        const int nr = NR - r0 < QK_ROWS ? NR - r0 : QK_ROWS;
        for (int b = 0, np; b < NP; b += np) {
            /* 3 panels at a time, ending 2 + 2 rather than 3 + 1 (a 1-panel
             * group does a broadcast per FMA): 13 = 3·3 + 2·2, 4 = 2 + 2 */
            np = NP - b == 4 ? 2 : NP - b < QK_PANELS ? NP - b : QK_PANELS;
            qk_tab[nr / 2][np](qs + r0 * DP, DP, ws->kt + b * kps, kps, D, ps + r0 * LP + 16 * b,
                               LP, mx + r0, b + np == NP ? lastv : (__mmask16)0xFFFF);
        }
    }
    /* row maxima: lane r of one vector (transpose, then vertical max) */
    transpose16(mx);
    for (int r = 1; r < 16; r++)
        mx[0] = _mm512_max_ps(mx[0], mx[r]);
    _Alignas(64) float mrow[16], inv[16];
    _mm512_store_ps(mrow, mx[0]);
    for (int r = 0; r < NR; r++) {
        float *pr = ps + r * LP;
        const __m512 m = _mm512_set1_ps(mrow[r]);
        __m512 l = _mm512_setzero_ps();
        for (int k0 = 0; k0 < LP; k0 += 16) {
            const __m512 p = exp2_nonpos(_mm512_max_ps(_mm512_sub_ps(_mm512_load_ps(pr + k0), m), lo));
            _mm512_store_ps(pr + k0, p);
            l = _mm512_add_ps(l, p);
        }
        lv[r] = l;
    }
    for (int r = NR; r < 16; r++)
        lv[r] = _mm512_set1_ps(1.0f);
    transpose16(lv);
    for (int r = 1; r < 16; r++)
        lv[0] = _mm512_add_ps(lv[0], lv[r]);
    _mm512_store_ps(inv, _mm512_div_ps(_mm512_set1_ps(1.0f), lv[0]));
    const ptrdiff_t vs = (ptrdiff_t)LP * 16;
    if (ws->DC == 5) { /* D 80: 4 rows × all 5 chunks */
        for (int r0 = 0; r0 < NR; r0 += 4) {
            const int nr = NR - r0 < 4 ? NR - r0 : 4;
            pv5_tab[nr / 2](ps + r0 * LP, LP, ws->vp, vs, kend, inv + r0, o + r0 * a->o_ld,
                            a->o_ld, nq - r0, D);
        }
        return;
    }
    for (int e = 0; e < ws->DC;) {
        const int nc = ws->DC - e >= 4 ? 4 : 1;
        const row_pv_fn *tab = nc == 4 ? pv4_tab : pv1_tab;
        for (int r0 = 0; r0 < NR; r0 += 6) {
            const int nr = NR - r0 < 6 ? NR - r0 : 6;
            tab[nr / 2](ps + r0 * LP, LP, ws->vp + e * vs, vs, kend, inv + r0,
                        o + r0 * a->o_ld + 16 * e, a->o_ld, nq - r0, D - 16 * e);
        }
        e += nc;
    }
}

static __attribute__((noinline)) void run(const vk_attention_f32_args *a, int w0, int w1)
{
    full_ws ws;
    ws.bh = -1;
    ws.LP = (a->Lk + 15) / 16 * 16;
    ws.DC = (a->D + 15) / 16;
    const int QB = (a->Lq + VK_ATTN_QBLOCK - 1) / VK_ATTN_QBLOCK, D = a->D;
    for (int it = w0; it < w1; it++) {
        const int qb = it % QB, bh = it / QB, h = bh % a->H, b = bh / a->H;
        const int i0 = qb * VK_ATTN_QBLOCK;
        const int nq = a->Lq - i0 < VK_ATTN_QBLOCK ? a->Lq - i0 : VK_ATTN_QBLOCK;
        const float *q = a->q + ((ptrdiff_t)b * a->Lq + i0) * a->q_ld + (ptrdiff_t)h * D;
        float *o = a->o + ((ptrdiff_t)b * a->Lq + i0) * a->o_ld + (ptrdiff_t)h * D;
        if (ws.bh != bh) {
            ws.bh = bh;
            pack_kv(a, a->k + (ptrdiff_t)b * a->Lk * a->k_ld + (ptrdiff_t)h * D,
                    a->v + (ptrdiff_t)b * a->Lk * a->v_ld + (ptrdiff_t)h * D, &ws);
        }
        /* the next head's K and V rows (strided, from L2/L3 after the QKV
         * matmul) into L2, a share per query block of this head */
        if ((bh + 1) * QB < w1) {
            const int hn = (bh + 1) % a->H, bn = (bh + 1) / a->H;
            const int j0 = (int)((long)a->Lk * qb / QB), j1 = (int)((long)a->Lk * (qb + 1) / QB);
            const float *kn = a->k + (ptrdiff_t)bn * a->Lk * a->k_ld + (ptrdiff_t)hn * D;
            const float *vn = a->v + (ptrdiff_t)bn * a->Lk * a->v_ld + (ptrdiff_t)hn * D;
            for (int j = j0; j < j1; j++)
                for (int d = 0; d < D; d += 16) {
                    _mm_prefetch((const char *)(kn + j * a->k_ld + d), _MM_HINT_T1);
                    _mm_prefetch((const char *)(vn + j * a->v_ld + d), _MM_HINT_T1);
                }
        }
        /* Keys are the lanes of the block path's scores, so it computes
         * round16(Lk) of them; where that pads more than 1/8 (ViT-B/32's 50
         * keys: 64), the lane path's 4-key granularity wins (-13 % at L 50). */
        if (nq > VK_ATTN_ROWS_MAX && 8 * (ws.LP - a->Lk) > ws.LP)
            attend_lanes(a, q, o, nq, &ws);
        else
            attend_block(a, q, o, nq, &ws);
    }
}

int vk_attention_f32_full_avx512(const vk_attention_f32_args *a, int w0, int w1)
{
    if (!fits(a))
        return 0;
    run(a, w0, w1);
    return 1;
}
