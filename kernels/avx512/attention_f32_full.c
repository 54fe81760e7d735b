/* Fused multi-head attention, AVX-512: the whole-row path, for non-causal
 * attention over sequences short enough (ViT's 50, 197 and 257 tokens) that a
 * query block's scores against every key fit in L1. No online softmax: all of
 * a query's scores are computed before any exponential, so there is no
 * running-max rescaling of the output, and P·V runs over all keys in one
 * register-blocked loop per 16-d chunk.
 *
 * K and V of a head are packed once per call and head into the workspace, and
 * every query block of that head in [w0, w1) reads the packed copies (gathering
 * the strided rows of a fused QKV buffer again for each block cost ~10 % of
 * the online path's time):
 *   Kt[b][d][c] = K[16b + c][d]        16-key panels: the keys of a d in one line
 *   Vp[e][j][c] = V[j][16e + c]        16-wide d chunks, zero past D
 *
 * Lane path (a block of more than VK_ATTN_ROWS_MAX queries, one per lane):
 *   Qt[d][i]  = scale·log2e·Q[i][d]
 *   St[j][i]  = Σ_d Qt[d][i]·Kt[j/16][d][j%16]   16 keys × 16 queries per step,
 *                                               keys broadcast from their panel
 *   m[i]      = max_j St[j][i];  Pt = 2^(St - m) in place;  l = Σ_j Pt[j]
 *   Ot[e·16+c][i] = Σ_j Pt[j][i]·Vp[e][j][c]    16 accumulators per chunk e,
 *                                               V broadcast
 *   O[i][d]   = Ot[d][i] / l[i]
 * Row path (the short last block of ViT's lengths: 197 = 12·16 + 5, 257 =
 * 16·16 + 1, 50 = 3·16 + 2), queries padded to an even count NR, keys or d on
 * the lanes:
 *   S[r][j]   = Σ_d q[r][d]·Kt[j/16][d]          NR rows per panel load
 *   P[r][j]   = 2^(S[r][j] - max_j S[r]),  l[r] = Σ_j P[r][j]   (horizontal, once)
 *   O[r][e]   = Σ_j P[r][j]·Vp[e][j] / l[r]      NR rows × 4 chunks per step
 * Keys past Lk in the last panel: the lane path never stores their scores;
 * the row path sets them to -inf and 2^(max(S - m, -256)) makes them exactly 0.
 * No loop reads V past key Lk - 1.
 *
 * Workspace: on the stack, ~210 KB at most (Kt and Vp 96 KB each), so only
 * round16(Lk)·round16(D) <= FULL_KV, Lk <= FULL_LMAX, D <= FULL_DMAX take this
 * path; the rest, and causal attention, run the online path (attention_f32.c).
 *
 * Every query's arithmetic depends only on which path its block takes, never
 * on [w0, w1), so any split of the items gives the same bits.
 */
#include <immintrin.h>
#include <math.h>

#include "attention_f32.h"

#define FULL_DMAX 128   /* head dims */
#define FULL_LMAX 512   /* keys */
#define FULL_KV 24576   /* floats of Kt (and of Vp): round16(Lk)·round16(D) */

typedef struct full_ws {
    _Alignas(64) float qt[FULL_DMAX * 16]; /* lane path: Qt; row path: q rows */
    _Alignas(64) float ot[FULL_DMAX * 16];
    _Alignas(64) float st[FULL_LMAX * 16]; /* lane path: St/Pt; row path: S/P rows */
    _Alignas(64) float kt[FULL_KV];
    _Alignas(64) float vp[FULL_KV];
    int bh;     /* (batch, head) packed, -1 none */
    int LP, DC; /* round16(Lk), D chunks */
} full_ws;
_Static_assert(VK_ATTN_ROWS_MAX * FULL_LMAX <= FULL_LMAX * 16, "row path S fits st");

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
    float *const qt = ws->qt, *const st = ws->st;
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

/* Row path ---------------------------------------------------------------- */

/* s[r][0..16) = Σ_d qs[r][d] · kp[d][0..16) for r < NR (q rows DP apart). */
#define ROW_SCORES(NR)                                                                  \
    static inline void row_scores##NR(const float *qs, int DP, const float *kp, int D,  \
                                      __m512 *s)                                        \
    {                                                                                   \
        __m512 acc[NR];                                                                 \
        for (int r = 0; r < NR; r++)                                                    \
            acc[r] = _mm512_setzero_ps();                                               \
        for (int d = 0; d < D; d++) {                                                   \
            const __m512 kv = _mm512_load_ps(kp + d * 16);                              \
            for (int r = 0; r < NR; r++)                                                \
                acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(qs[r * DP + d]), kv, acc[r]);   \
        }                                                                               \
        for (int r = 0; r < NR; r++)                                                    \
            s[r] = acc[r];                                                              \
    }
ROW_SCORES(2)
ROW_SCORES(4)
ROW_SCORES(6)
_Static_assert(VK_ATTN_ROWS_MAX == 6, "row kernels for 2, 4 and 6 rows");

/* acc[r][c] = Σ_{j<nk} p[r][j] · vp[c][j][:] for r < NR, c < NC (P rows LP
 * apart, Vp chunks vs apart); o[r][16c..] = acc·inv[r], masked to D. */
#define ROW_PV(NR, NC)                                                                  \
    static inline void row_pv##NR##_##NC(const float *p, int LP, const float *vp,       \
                                         ptrdiff_t vs, int nk, const float *inv,        \
                                         float *o, ptrdiff_t ld, int nq, int dleft)     \
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
ROW_PV(2, 4)
ROW_PV(4, 4)
ROW_PV(6, 4)
ROW_PV(2, 1)
ROW_PV(4, 1)
ROW_PV(6, 1)

static void attend_rows(const vk_attention_f32_args *a, const float *q, float *o, int nq,
                        full_ws *ws)
{
    const int D = a->D, kend = a->Lk, DP = ws->DC * 16, LP = ws->LP, NR = (nq + 1) & ~1;
    float *const qs = ws->qt, *const ps = ws->st;
    const __m512 scale = _mm512_set1_ps(a->scale * VK_LOG2E);
    for (int r = 0; r < NR; r++)
        for (int d0 = 0; d0 < DP; d0 += 16) {
            const __m512 x = r < nq ? _mm512_maskz_loadu_ps(tail_mask(D - d0), q + r * a->q_ld + d0)
                                    : _mm512_setzero_ps();
            _mm512_store_ps(qs + r * DP + d0, _mm512_mul_ps(x, scale));
        }

    const __m512i key = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 mx[VK_ATTN_ROWS_MAX];
    for (int r = 0; r < NR; r++)
        mx[r] = ninf;
    for (int k0 = 0; k0 < kend; k0 += 16) {
        const float *kp = ws->kt + (ptrdiff_t)k0 * D;
        __m512 s[VK_ATTN_ROWS_MAX];
        if (NR == 2)
            row_scores2(qs, DP, kp, D, s);
        else if (NR == 4)
            row_scores4(qs, DP, kp, D, s);
        else
            row_scores6(qs, DP, kp, D, s);
        const __mmask16 vis = _mm512_cmplt_epi32_mask(key, _mm512_set1_epi32(kend - k0));
        for (int r = 0; r < NR; r++) {
            s[r] = _mm512_mask_blend_ps(vis, ninf, s[r]);
            mx[r] = _mm512_max_ps(mx[r], s[r]);
            _mm512_store_ps(ps + r * LP + k0, s[r]);
        }
    }
    /* exponentials over whole panels: lanes past kend of the last one are -inf
     * in S and come out 0 */
    const __m512 lo = _mm512_set1_ps(-256.0f);
    float inv[VK_ATTN_ROWS_MAX];
    for (int r = 0; r < NR; r++) {
        const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx[r]));
        __m512 l = _mm512_setzero_ps();
        for (int k0 = 0; k0 < kend; k0 += 16) {
            float *pr = ps + r * LP + k0;
            const __m512 p = exp2_nonpos(_mm512_max_ps(_mm512_sub_ps(_mm512_load_ps(pr), m), lo));
            _mm512_store_ps(pr, p);
            l = _mm512_add_ps(l, p);
        }
        inv[r] = 1.0f / _mm512_reduce_add_ps(l);
    }
    const ptrdiff_t vs = (ptrdiff_t)LP * 16;
    for (int e = 0; e < ws->DC;) {
        const float *vp = ws->vp + e * vs;
        float *oe = o + 16 * e;
        const int dleft = D - 16 * e;
        if (ws->DC - e >= 4) {
            if (NR == 2)
                row_pv2_4(ps, LP, vp, vs, kend, inv, oe, a->o_ld, nq, dleft);
            else if (NR == 4)
                row_pv4_4(ps, LP, vp, vs, kend, inv, oe, a->o_ld, nq, dleft);
            else
                row_pv6_4(ps, LP, vp, vs, kend, inv, oe, a->o_ld, nq, dleft);
            e += 4;
        } else {
            if (NR == 2)
                row_pv2_1(ps, LP, vp, vs, kend, inv, oe, a->o_ld, nq, dleft);
            else if (NR == 4)
                row_pv4_1(ps, LP, vp, vs, kend, inv, oe, a->o_ld, nq, dleft);
            else
                row_pv6_1(ps, LP, vp, vs, kend, inv, oe, a->o_ld, nq, dleft);
            e += 1;
        }
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
        if (nq <= VK_ATTN_ROWS_MAX)
            attend_rows(a, q, o, nq, &ws);
        else
            attend_lanes(a, q, o, nq, &ws);
    }
}

int vk_attention_f32_full_avx512(const vk_attention_f32_args *a, int w0, int w1)
{
    if (!fits(a))
        return 0;
    run(a, w0, w1);
    return 1;
}
