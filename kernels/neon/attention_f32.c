/* Fused multi-head attention, NEON: online softmax over blocks of 4 keys for
 * groups of 4 queries (kernels.h; work items of kernels/attention.c: 16
 * queries of one batch and head, run as 4 groups).
 *
 * Per group and key block: the 4×4 scores as 16 FMA chains over D (each
 * q and k vector loaded once for 4 products), reduced by pairwise adds into
 * one vector of 4 keys per query, times scale; then per query
 *   m' = max(m, max_j s_j), p_j = exp(s_j − m'), α = exp(m − m'),
 *   l = α·l + Σ_j p_j,  o = α·o + Σ_j p_j·v_j   (o: D floats on the stack)
 * with each V row loaded once for the 4 queries; at the end O = o / l.
 * Keys past a query's visible range (Lk, causal diagonal) get p = 0 exactly;
 * no K or V row past Lk is read. exp is vmath_neon.h's (2 ulp).
 *
 * Head dims above VK_ATTN_DMAX_NEON (no model we serve) go to the reference.
 */
#include <math.h>
#include <string.h>

#include "../ref/ref.h"
#include "neon.h"
#include "vmath_neon.h"

#define QG 4 /* queries per group */
#define KB 4 /* keys per block */
#define VK_ATTN_DMAX_NEON 256

/* s[r] = the 4 keys' scores of query r (unscaled dot products). */
static inline void scores(const float *const q[QG], const float *const k[KB], int D,
                          float32x4_t s[QG])
{
    float32x4_t acc[QG][KB];
    for (int r = 0; r < QG; r++)
        for (int j = 0; j < KB; j++)
            acc[r][j] = vdupq_n_f32(0.0f);
    int d = 0;
    for (; d + 4 <= D; d += 4) {
        float32x4_t kv[KB];
        for (int j = 0; j < KB; j++)
            kv[j] = vld1q_f32(k[j] + d);
        for (int r = 0; r < QG; r++) {
            const float32x4_t qv = vld1q_f32(q[r] + d);
            for (int j = 0; j < KB; j++)
                acc[r][j] = vfmaq_f32(acc[r][j], qv, kv[j]);
        }
    }
    for (int r = 0; r < QG; r++) {
        s[r] = vpaddq_f32(vpaddq_f32(acc[r][0], acc[r][1]), vpaddq_f32(acc[r][2], acc[r][3]));
        if (d < D) {
            float t[KB];
            for (int j = 0; j < KB; j++) {
                float x = 0.0f;
                for (int e = d; e < D; e++)
                    x += q[r][e] * k[j][e];
                t[j] = x;
            }
            s[r] = vaddq_f32(s[r], vld1q_f32(t));
        }
    }
}

/* o[r] = α_r·o[r] + Σ_{j < kn} p_r[j]·v_j over D. */
static inline void accumulate(float *const o[QG], const float al[QG], const float32x4_t p[QG],
                              const float *const v[KB], int kn, int D)
{
    float32x4_t alpha[QG];
    for (int r = 0; r < QG; r++)
        alpha[r] = vdupq_n_f32(al[r]);
    int d = 0;
    for (; d + 4 <= D; d += 4) {
        float32x4_t vv[KB];
        for (int j = 0; j < kn; j++)
            vv[j] = vld1q_f32(v[j] + d);
        for (int r = 0; r < QG; r++) {
            float32x4_t x = vmulq_f32(vld1q_f32(o[r] + d), alpha[r]);
            x = vfmaq_laneq_f32(x, vv[0], p[r], 0);
            if (kn > 1)
                x = vfmaq_laneq_f32(x, vv[1], p[r], 1);
            if (kn > 2)
                x = vfmaq_laneq_f32(x, vv[2], p[r], 2);
            if (kn > 3)
                x = vfmaq_laneq_f32(x, vv[3], p[r], 3);
            vst1q_f32(o[r] + d, x);
        }
    }
    for (; d < D; d++)
        for (int r = 0; r < QG; r++) {
            float pr[KB];
            vst1q_f32(pr, p[r]);
            float x = o[r][d] * al[r];
            for (int j = 0; j < kn; j++)
                x += pr[j] * v[j][d];
            o[r][d] = x;
        }
}

/* Queries [i, i + nq) (nq <= 4) of batch b, head h. */
static void group(const vk_attention_f32_args *a, int b, int h, int i, int nq)
{
    const int D = a->D;
    const float *kb = a->k + (ptrdiff_t)b * a->Lk * a->k_ld + (ptrdiff_t)h * D;
    const float *vb = a->v + (ptrdiff_t)b * a->Lk * a->v_ld + (ptrdiff_t)h * D;
    float ot[QG][VK_ATTN_DMAX_NEON];
    const float *q[QG];
    float *o[QG];
    int nk[QG], nkmax = 0;
    for (int r = 0; r < QG; r++) {
        const int ir = i + (r < nq ? r : 0);
        q[r] = a->q + ((ptrdiff_t)b * a->Lq + ir) * a->q_ld + (ptrdiff_t)h * D;
        nk[r] = a->causal && ir + 1 < a->Lk ? ir + 1 : a->Lk;
        nkmax = nk[r] > nkmax ? nk[r] : nkmax;
        o[r] = ot[r];
        memset(ot[r], 0, (size_t)D * sizeof(float));
    }
    float m[QG], l[QG];
    for (int r = 0; r < QG; r++)
        m[r] = -INFINITY, l[r] = 0.0f;
    const float32x4_t scale = vdupq_n_f32(a->scale);
    const int32x4_t lane = {0, 1, 2, 3};
    for (int j0 = 0; j0 < nkmax; j0 += KB) {
        const int kn = nkmax - j0 < KB ? nkmax - j0 : KB;
        const float *k[KB], *v[KB];
        for (int j = 0; j < KB; j++) {
            const int jj = j0 + (j < kn ? j : 0);
            k[j] = kb + (ptrdiff_t)jj * a->k_ld;
            v[j] = vb + (ptrdiff_t)jj * a->v_ld;
        }
        float32x4_t s[QG], p[QG];
        scores(q, k, D, s);
        float al[QG];
        for (int r = 0; r < QG; r++) {
            /* visible: key j0 + j < nk[r] */
            const uint32x4_t vis = vcltq_s32(vaddq_s32(lane, vdupq_n_s32(j0)), vdupq_n_s32(nk[r]));
            const float32x4_t sr = vbslq_f32(vis, vmulq_f32(s[r], scale), vdupq_n_f32(-INFINITY));
            const float mb = vmaxvq_f32(sr);
            const float mn = mb > m[r] ? mb : m[r];
            if (mn == -INFINITY) { /* nothing visible yet (cannot happen past key 0) */
                p[r] = vdupq_n_f32(0.0f);
                al[r] = 1.0f;
                continue;
            }
            p[r] = vreinterpretq_f32_u32(
                vandq_u32(vis, vreinterpretq_u32_f32(vk_exp_neon(vsubq_f32(sr, vdupq_n_f32(mn))))));
            al[r] = m[r] == -INFINITY ? 0.0f : vgetq_lane_f32(vk_exp_neon(vdupq_n_f32(m[r] - mn)), 0);
            l[r] = l[r] * al[r] + vaddvq_f32(p[r]);
            m[r] = mn;
        }
        accumulate(o, al, p, v, kn, D);
    }
    for (int r = 0; r < nq; r++) {
        float *dst = a->o + ((ptrdiff_t)b * a->Lq + i + r) * a->o_ld + (ptrdiff_t)h * D;
        if (nkmax <= 0) {
            memset(dst, 0, (size_t)D * sizeof *dst);
            continue;
        }
        const float32x4_t lv = vdupq_n_f32(l[r]);
        int d = 0;
        for (; d + 4 <= D; d += 4)
            vst1q_f32(dst + d, vdivq_f32(vld1q_f32(ot[r] + d), lv));
        for (; d < D; d++)
            dst[d] = ot[r][d] / l[r];
    }
}

void vk_attention_f32_neon(const vk_attention_f32_args *a, int w0, int w1)
{
    if (a->D > VK_ATTN_DMAX_NEON) {
        vk_attention_f32_ref(a, w0, w1);
        return;
    }
    const int QB = (a->Lq + VK_ATTN_QBLOCK - 1) / VK_ATTN_QBLOCK;
    for (int w = w0; w < w1; w++) {
        const int qb = w % QB, bh = w / QB, h = bh % a->H, b = bh / a->H;
        const int i0 = qb * VK_ATTN_QBLOCK;
        const int i1 = i0 + VK_ATTN_QBLOCK < a->Lq ? i0 + VK_ATTN_QBLOCK : a->Lq;
        for (int i = i0; i < i1; i += QG)
            group(a, b, h, i, i1 - i < QG ? i1 - i : QG);
    }
}
