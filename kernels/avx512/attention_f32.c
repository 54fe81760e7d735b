/* Fused multi-head attention, AVX-512: the online path, and the entry.
 *
 * Non-causal attention whose K and V of a head fit the whole-row path's
 * workspace (ViT's 50, 197, 257 tokens) runs that path instead
 * (attention_f32_full.c: exact row softmax, K and V packed once per head);
 * this file serves causal attention, longer sequences and larger heads.
 *
 * Lane path: one work item = 16 queries of one (batch, head), one query per
 * vector lane. With queries along the lanes every step of the online softmax
 * is vertical:
 *
 *   Qt[d][i]   = scale·log2e·Q[i][d]            transposed once per item (stack)
 *   for each block of 16 keys j:
 *     Kp[j][d] = K[j][d]                        packed copy (see KP_LD)
 *     S[j][i]  = Σ_d Qt[d][i] · Kp[j][d]        16 accumulators, Kp broadcast
 *     m'       = max(m, max_j S[j])             per lane: no horizontal ops
 *     P[j]     = 2^(S[j] - m'), l = l·2^(m-m') + Σ_j P[j]
 *     Ot[d][i] = Ot[d][i]·2^(m-m') + Σ_j P[j][i] · V[j][d]   (stack, 16 d at a time,
 *                                               V broadcast in place)
 *   O[i][d]    = Ot[d][i] / l[i]                transposed back once per item
 *
 * Row path: the last query block of a head, when it holds few queries (ViT's
 * 197 = 12·16 + 5, 257 = 16·16 + 1, 50 = 3·16 + 2), would waste most lanes; it
 * runs one query at a time with the keys of a block on the lanes instead
 * (16 dot products reduced into one vector of scores, one exp per block).
 *
 * Masking: keys past the visible range (Lk tail, causal diagonal) get S = -inf
 * and P = 0 exactly; the P·V loops stop at the last key, so no memory outside
 * K/V is read. Keys hidden by the causal mask inside a diagonal block of the
 * lane path contribute 0·v, which is 0 for finite V.
 *
 * Head dims above VK_ATTN_DMAX (no model we serve) go to the reference.
 */
#include <immintrin.h>
#include <math.h>

#include "../ref/ref.h"
#include "attention_f32.h"
#include "avx512.h"

#define KBLK 16
#define VK_ATTN_DMAX 256

/* Packed K block: row stride of 17 cache lines, so that the 16 rows the score
 * loop broadcasts from in the same iteration fall in distinct L1 sets (rows of
 * a fused QKV buffer are typically 2^k·9 KB apart, which costs a quarter of
 * the throughput in set conflicts), and the broadcast addresses are constant
 * offsets from one pointer. */
#define KP_LD 272
_Static_assert(KP_LD >= VK_ATTN_DMAX, "packed K rows hold a whole head");

/* kp[j][d] = k[j][d] for j < nk; rows nk..15 zero. */
static inline void pack_k(const float *k, ptrdiff_t ld, int nk, int D, float *kp)
{
    for (int j = 0; j < KBLK; j++) {
        for (int d0 = 0; d0 < D; d0 += 16) {
            const __mmask16 m = tail_mask(D - d0);
            _mm512_store_ps(kp + j * KP_LD + d0,
                            j < nk ? _mm512_maskz_loadu_ps(m, k + j * ld + d0) : _mm512_setzero_ps());
        }
    }
}

/* ot[d0..d0+R)[:] = ot·alpha + Σ_{j<nk} pt[j] · v[j][d] for R consecutive d.
 * rescale: 0 = first block (ot is not read), 1 = alpha is 1 in every lane,
 * 2 = multiply by alpha. */
#define PV_CHUNK(R)                                                                     \
    static inline void pv_chunk##R(float *ot, const float *pt, const float *v,         \
                                   ptrdiff_t v_ld, int nk, __m512 alpha, int rescale)   \
    {                                                                                   \
        __m512 acc[R];                                                                  \
        for (int r = 0; r < R; r++)                                                     \
            acc[r] = rescale == 0 ? _mm512_setzero_ps()                                 \
                     : rescale == 1 ? _mm512_load_ps(ot + r * 16)                       \
                                    : _mm512_mul_ps(_mm512_load_ps(ot + r * 16), alpha); \
        for (int j = 0; j < nk; j++) {                                                  \
            const __m512 p = _mm512_load_ps(pt + j * 16);                               \
            const float *vr = v + j * v_ld;                                             \
            for (int r = 0; r < R; r++)                                                 \
                acc[r] = _mm512_fmadd_ps(p, _mm512_set1_ps(vr[r]), acc[r]);             \
        }                                                                               \
        for (int r = 0; r < R; r++)                                                     \
            _mm512_store_ps(ot + r * 16, acc[r]);                                       \
    }
PV_CHUNK(16)
PV_CHUNK(4)
PV_CHUNK(1)

/* Stack workspace of one call (about 50 KB, sized for VK_ATTN_DMAX; a call
 * touches D/256 of the Q/O parts and 16 rows of D floats of Kp). */
typedef struct attn_ws {
    _Alignas(64) float qt[VK_ATTN_DMAX * 16]; /* lane path: Qt; row path: scaled q rows */
    _Alignas(64) float ot[VK_ATTN_DMAX * 16]; /* lane path: Ot; row path: output rows */
    _Alignas(64) float pt[KBLK * 16];
    _Alignas(64) float kp[KBLK * KP_LD];
} attn_ws;

typedef struct attn_pos {
    int i0, nq;  /* queries [i0, i0 + nq) */
    int kend;    /* keys [0, kend) are visible to at least one of them */
    const float *q, *k, *v;
    float *o;
} attn_pos;

static void attend_lanes(const vk_attention_f32_args *a, const attn_pos *w, attn_ws *ws)
{
    const int D = a->D, i0 = w->i0, kend = w->kend;
    float *const qt = ws->qt, *const ot = ws->ot, *const pt = ws->pt, *const kp = ws->kp;
    /* scores in log2 units: exp(s - m) = 2^(s·log2e - m·log2e) */
    load_qt(w->q, a->q_ld, w->nq, D, a->scale * VK_LOG2E, qt);

    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 m = ninf, l = _mm512_setzero_ps();
    for (int k0 = 0; k0 < kend; k0 += KBLK) {
        const int nk = kend - k0 < KBLK ? kend - k0 : KBLK;
        const int nr = nk > 8 ? 16 : nk > 4 ? 8 : 4;
        __m512 s[KBLK];
        pack_k(w->k + (ptrdiff_t)k0 * a->k_ld, a->k_ld, nk, D, kp);
        key_scores(nr, qt, kp, KP_LD, 1, D, s);

        /* lane i sees key k0+j iff j < nk and (not causal or i0+i >= k0+j) */
        const int masked = nk < KBLK || (a->causal && k0 + KBLK - 1 > i0);
        __mmask16 vis[KBLK];
        if (masked) {
            for (int j = 0; j < nr; j++) {
                vis[j] = j < nk ? 0xFFFF : 0;
                if (a->causal)
                    vis[j] &= _mm512_cmpge_epi32_mask(lane, _mm512_set1_epi32(k0 + j - i0));
                s[j] = _mm512_mask_blend_ps(vis[j], ninf, s[j]);
            }
        }
        __m512 mx = s[0];
        for (int j = 1; j < nr; j++)
            mx = _mm512_max_ps(mx, s[j]);
        /* every lane sees key 0, so m is finite from the first block on */
        const __m512 mnew = _mm512_max_ps(m, mx);
        const int rescale = k0 == 0 ? 0 : _mm512_cmp_ps_mask(mnew, m, _CMP_NEQ_UQ) ? 2 : 1;
        const __m512 alpha =
            rescale == 2 ? exp2_nonpos(_mm512_sub_ps(m, mnew)) : _mm512_set1_ps(1.0f);
        m = mnew;
        __m512 sum = _mm512_setzero_ps();
        for (int j = 0; j < nr; j++) {
            __m512 p = exp2_nonpos(_mm512_sub_ps(s[j], mnew));
            if (masked)
                p = _mm512_maskz_mov_ps(vis[j], p);
            _mm512_store_ps(pt + j * 16, p);
            sum = _mm512_add_ps(sum, p);
        }
        l = rescale == 0 ? sum : _mm512_fmadd_ps(l, alpha, sum);

        const float *vb = w->v + (ptrdiff_t)k0 * a->v_ld;
        int d = 0;
        for (; d + 16 <= D; d += 16)
            pv_chunk16(ot + d * 16, pt, vb + d, a->v_ld, nk, alpha, rescale);
        for (; d + 4 <= D; d += 4)
            pv_chunk4(ot + d * 16, pt, vb + d, a->v_ld, nk, alpha, rescale);
        for (; d < D; d++)
            pv_chunk1(ot + d * 16, pt, vb + d, a->v_ld, nk, alpha, rescale);
    }
    store_ot(ot, _mm512_div_ps(_mm512_set1_ps(1.0f), l), D, w->o, a->o_ld, w->nq);
}

/* Row path. */
#define ROWS_MAX VK_ATTN_ROWS_MAX
_Static_assert(ROWS_MAX * VK_ATTN_DMAX <= VK_ATTN_DMAX * 16, "row buffers fit the workspace");

/* One vector whose lane j is the sum of the 16 lanes of acc[slot(j)],
 * slot(j) = j/4 + 4·(j%4) (the order the shuffle tree leaves them in). */
#define SLOT(j) (((j) >> 2) | (((j)&3) << 2))
static inline __m512 reduce16(const __m512 acc[16])
{
    __m512 t[8], u[4], w[2];
    for (int k = 0; k < 8; k++)
        t[k] = _mm512_add_ps(_mm512_shuffle_f32x4(acc[2 * k], acc[2 * k + 1], 0x44),
                             _mm512_shuffle_f32x4(acc[2 * k], acc[2 * k + 1], 0xEE));
    for (int k = 0; k < 4; k++)
        u[k] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * k], t[2 * k + 1], 0x88),
                             _mm512_shuffle_f32x4(t[2 * k], t[2 * k + 1], 0xDD));
    for (int k = 0; k < 2; k++)
        w[k] = _mm512_add_ps(_mm512_shuffle_ps(u[2 * k], u[2 * k + 1], 0x44),
                             _mm512_shuffle_ps(u[2 * k], u[2 * k + 1], 0xEE));
    return _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], 0x88), _mm512_shuffle_ps(w[0], w[1], 0xDD));
}

/* o[0..D) = o·alpha + Σ_{j<nk} p[j] · v[j][0..D) (o padded to a multiple of 64;
 * first: o is not read). Two key parities keep eight FMA chains in flight. */
static inline void pv_row(float *o, const float *p, const float *v, ptrdiff_t v_ld, int nk,
                          int D, __m512 alpha, int first)
{
    for (int d0 = 0; d0 < D; d0 += 64) {
        __mmask16 mk[4];
        __m512 x[4], y[4];
        for (int t = 0; t < 4; t++) {
            const int n = D - d0 - 16 * t;
            mk[t] = n <= 0 ? 0 : tail_mask(n);
            x[t] = first ? _mm512_setzero_ps() : _mm512_mul_ps(_mm512_load_ps(o + d0 + 16 * t), alpha);
            y[t] = _mm512_setzero_ps();
        }
        int j = 0;
        for (; j + 2 <= nk; j += 2) {
            const float *va = v + j * v_ld + d0, *vb = va + v_ld;
            const __m512 pa = _mm512_set1_ps(p[j]), pb = _mm512_set1_ps(p[j + 1]);
            for (int t = 0; t < 4; t++) {
                x[t] = _mm512_fmadd_ps(pa, _mm512_maskz_loadu_ps(mk[t], va + 16 * t), x[t]);
                y[t] = _mm512_fmadd_ps(pb, _mm512_maskz_loadu_ps(mk[t], vb + 16 * t), y[t]);
            }
        }
        if (j < nk) {
            const float *va = v + j * v_ld + d0;
            const __m512 pa = _mm512_set1_ps(p[j]);
            for (int t = 0; t < 4; t++)
                x[t] = _mm512_fmadd_ps(pa, _mm512_maskz_loadu_ps(mk[t], va + 16 * t), x[t]);
        }
        for (int t = 0; t < 4; t++)
            _mm512_store_ps(o + d0 + 16 * t, _mm512_add_ps(x[t], y[t]));
    }
}

static void attend_rows(const vk_attention_f32_args *a, const attn_pos *w, attn_ws *ws)
{
    const int D = a->D, DP = (D + 63) / 64 * 64, nq = w->nq;
    float *const qs = ws->qt, *const os = ws->ot, *const pb = ws->pt, *const kp = ws->kp;
    const __m512 scale = _mm512_set1_ps(a->scale * VK_LOG2E);
    float m[ROWS_MAX], l[ROWS_MAX];
    for (int r = 0; r < nq; r++) {
        for (int d0 = 0; d0 < DP; d0 += 16) {
            const int n = D - d0;
            const __m512 x = n <= 0 ? _mm512_setzero_ps()
                                    : _mm512_maskz_loadu_ps(tail_mask(n), w->q + r * a->q_ld + d0);
            _mm512_store_ps(qs + r * DP + d0, _mm512_mul_ps(x, scale));
        }
        m[r] = -INFINITY, l[r] = 0.0f;
    }
    const __m512i key = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    for (int k0 = 0; k0 < w->kend; k0 += KBLK) {
        const int nk = w->kend - k0 < KBLK ? w->kend - k0 : KBLK;
        pack_k(w->k + (ptrdiff_t)k0 * a->k_ld, a->k_ld, nk, D, kp);
        for (int r = 0; r < nq; r++) {
            const int i = w->i0 + r;
            const int nv = a->causal && i - k0 + 1 < nk ? i - k0 + 1 : nk; /* visible keys */
            if (nv <= 0)
                continue;
            __m512 acc[16];
            for (int j = 0; j < 16; j++)
                acc[j] = _mm512_setzero_ps();
            for (int d0 = 0; d0 < D; d0 += 16) {
                const __m512 qv = _mm512_load_ps(qs + r * DP + d0);
                for (int j = 0; j < 16; j++)
                    acc[SLOT(j)] = _mm512_fmadd_ps(qv, _mm512_load_ps(kp + j * KP_LD + d0), acc[SLOT(j)]);
            }
            const __mmask16 vis = _mm512_cmplt_epi32_mask(key, _mm512_set1_epi32(nv));
            const __m512 sc = _mm512_mask_blend_ps(vis, _mm512_set1_ps(-INFINITY), reduce16(acc));
            const float mnew = fmaxf(m[r], _mm512_reduce_max_ps(sc));
            const __m512 p = _mm512_maskz_mov_ps(vis, exp2_nonpos(_mm512_sub_ps(sc, _mm512_set1_ps(mnew))));
            /* first block (k0 = 0: every query sees key 0): nothing to rescale */
            const __m512 alpha = k0 == 0 ? _mm512_setzero_ps()
                                         : exp2_nonpos(_mm512_set1_ps(m[r] - mnew));
            l[r] = l[r] * _mm512_cvtss_f32(alpha) + _mm512_reduce_add_ps(p);
            m[r] = mnew;
            _mm512_store_ps(pb, p);
            pv_row(os + r * DP, pb, w->v + (ptrdiff_t)k0 * a->v_ld, a->v_ld, nv, D, alpha, k0 == 0);
        }
    }
    for (int r = 0; r < nq; r++) {
        const __m512 inv = _mm512_set1_ps(1.0f / l[r]);
        for (int d0 = 0; d0 < D; d0 += 16)
            store_k(w->o + r * a->o_ld + d0, tail_mask(D - d0),
                    _mm512_mul_ps(_mm512_load_ps(os + r * DP + d0), inv));
    }
}

static void online(const vk_attention_f32_args *a, int w0, int w1);

void vk_attention_f32_avx512(const vk_attention_f32_args *a, int w0, int w1)
{
    if (a->D > VK_ATTN_DMAX) {
        vk_attention_f32_ref(a, w0, w1);
        return;
    }
    if (vk_attention_f32_full_avx512(a, w0, w1))
        return;
    online(a, w0, w1);
}

/* Separate from the entry so that its 50 KB of stack and the whole-row path's
 * are never live at once. */
static __attribute__((noinline)) void online(const vk_attention_f32_args *a, int w0, int w1)
{
    attn_ws ws;
    const int QB = (a->Lq + VK_ATTN_QBLOCK - 1) / VK_ATTN_QBLOCK, D = a->D;
    for (int it = w0; it < w1; it++) {
        const int qb = it % QB, bh = it / QB, h = bh % a->H, b = bh / a->H;
        attn_pos w;
        w.i0 = qb * VK_ATTN_QBLOCK;
        w.nq = a->Lq - w.i0 < VK_ATTN_QBLOCK ? a->Lq - w.i0 : VK_ATTN_QBLOCK;
        w.kend = a->causal && w.i0 + w.nq < a->Lk ? w.i0 + w.nq : a->Lk;
        w.q = a->q + ((ptrdiff_t)b * a->Lq + w.i0) * a->q_ld + (ptrdiff_t)h * D;
        w.k = a->k + (ptrdiff_t)b * a->Lk * a->k_ld + (ptrdiff_t)h * D;
        w.v = a->v + (ptrdiff_t)b * a->Lk * a->v_ld + (ptrdiff_t)h * D;
        w.o = a->o + ((ptrdiff_t)b * a->Lq + w.i0) * a->o_ld + (ptrdiff_t)h * D;
        if (w.kend <= 0) { /* no keys: softmax over nothing, output 0 */
            for (int r = 0; r < w.nq; r++)
                for (int d = 0; d < D; d++)
                    w.o[r * a->o_ld + d] = 0.0f;
        } else if (w.nq <= ROWS_MAX) {
            attend_rows(a, &w, &ws);
        } else {
            attend_lanes(a, &w, &ws);
        }
    }
}
