/* Flat-index search (runtime/index_view.h): prepares the batch of queries
 * for the index's code kind, scans the rows in blocks with the dispatched
 * scan kernel (one pass over the codes for the whole batch), keeps a top-k
 * per query and thread, merges, and optionally re-scores a shortlist exactly.
 *
 * Query preparation (kernels/codes.h: x ≈ a·c + b per dimension):
 *   S8: q·x ≈ Σ (q·a)[d]·c[d]. q' = q·a is quantized symmetrically to int8,
 *       q' ≈ s·q8 with s = max|q'| / 127, so score = s·dot(q8, c).
 *   U4, U8: q·x ≈ Σ q[d]·b[d] + Σ (q·a)[d]·c[d]: the same with add = Σ q·b
 *       (a constant per query, so it does not change the ranking), plus the
 *       constant part of the query's rounding error (prepare()).
 *   F32: the query itself.
 * The kernels' int32 dots are exact, so the ranking by dot is the ranking by
 * the quantized score, identical at every ISA level; ties go to the lower row.
 * Rows whose score is NaN (only from non-finite stored f32 values) are never
 * returned.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/errmsg.h"
#include "kernels/kernels.h"
#include "runtime/index_view.h"
#include "runtime/search_topk.h"

#define BLOCK_CODE_BYTES (64 * 1024) /* codes per kernel call: stays in L2 */
#define BLOCK_OUT_BYTES (512 * 1024) /* dots per kernel call */
#define MAX_CANDIDATES (1u << 20)    /* max(k, shortlist) per query */

typedef struct scan_job {
    const vr_index_view *v;
    vk_scan_fn fn;
    const void *q, *qt;
    size_t qlen;
    int nq;
    size_t cap, block_rows;
    vr_cand *cands; /* [thread][query][cap] */
    size_t *ncand;  /* [thread][query] */
    int failed;     /* a worker could not allocate (set before returning) */
} scan_job;

static int is_dead(const uint8_t *dead, size_t r) { return dead && (dead[r >> 3] >> (r & 7)) & 1; }

static void thread_rows(size_t n, int tid, int nt, size_t *b, size_t *e)
{
    size_t blocks = (n + 7) / 8, per = blocks / (size_t)nt, extra = blocks % (size_t)nt;
    size_t t = (size_t)tid;
    size_t b0 = t * per + (t < extra ? t : extra);
    size_t b1 = b0 + per + (t < extra);
    *b = b0 * 8 < n ? b0 * 8 : n;
    *e = b1 * 8 < n ? b1 * 8 : n;
}

/* Integer dots of rows [r0, r0 + rows): offers those above each query's
 * threshold. Within a thread rows arrive in increasing order, so a dot equal
 * to a full heap's worst loses the tie: strict > is exact. */
static void offer_i32(const int32_t *dots, size_t rows, size_t r0, int nq, int32_t *thr,
                      vr_topk *tk, const uint8_t *dead)
{
    size_t i = 0;
    if (nq == 1) /* one query: skip 16 rows at a time while none beats the threshold */
        for (; i + 16 <= rows; i += 16) {
            int any = 0;
            for (size_t t = 0; t < 16; t++) /* vectorised: no early exit */
                any |= dots[i + t] > thr[0];
            if (!any)
                continue;
            for (size_t t = i; t < i + 16; t++)
                if (dots[t] > thr[0] && !is_dead(dead, r0 + t)) {
                    vr_topk_push(&tk[0], dots[t], (uint32_t)(r0 + t));
                    if (tk[0].n == tk[0].cap)
                        thr[0] = (int32_t)tk[0].c[0].key;
                }
        }
    for (; i < rows; i++) {
        const int32_t *d = dots + i * (size_t)nq;
        int any = 0;
        for (int j = 0; j < nq; j++)
            any |= d[j] > thr[j];
        if (!any || is_dead(dead, r0 + i))
            continue;
        for (int j = 0; j < nq; j++)
            if (d[j] > thr[j]) {
                vr_topk_push(&tk[j], d[j], (uint32_t)(r0 + i));
                if (tk[j].n == tk[j].cap)
                    thr[j] = (int32_t)tk[j].c[0].key;
            }
    }
}

static void offer_f32(const float *dots, size_t rows, size_t r0, int nq, float *thr, vr_topk *tk,
                      const uint8_t *dead)
{
    for (size_t i = 0; i < rows; i++) {
        const float *d = dots + i * (size_t)nq;
        int any = 0;
        for (int j = 0; j < nq; j++)
            any |= d[j] > thr[j];
        if (!any || is_dead(dead, r0 + i))
            continue;
        for (int j = 0; j < nq; j++)
            if (d[j] > thr[j]) {
                vr_topk_push(&tk[j], d[j], (uint32_t)(r0 + i));
                if (tk[j].n == tk[j].cap)
                    thr[j] = (float)tk[j].c[0].key;
            }
    }
}

static void scan_task(void *ctx, int tid, int nt)
{
    scan_job *J = ctx;
    const vr_index_view *v = J->v;
    size_t r0, r1;
    thread_rows(v->n, tid, nt, &r0, &r1);
    int nq = J->nq;
    vr_topk *tk = malloc(sizeof *tk * (size_t)nq);
    void *thr = malloc(sizeof(int32_t) * (size_t)nq);
    void *dots = aligned_alloc(64, (J->block_rows * (size_t)nq * 4 + 63) / 64 * 64);
    if (!tk || !thr || !dots) {
        free(tk), free(thr), free(dots);
        __atomic_store_n(&J->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    int is_f32 = v->kind == VK_CODE_F32;
    for (int j = 0; j < nq; j++) {
        size_t slot = (size_t)tid * (size_t)nq + (size_t)j;
        tk[j] = (vr_topk){J->cands + slot * J->cap, 0, J->cap};
        if (is_f32)
            ((float *)thr)[j] = -INFINITY;
        else
            ((int32_t *)thr)[j] = INT32_MIN; /* below every dot: |dot| < 2^31 − 1 */
    }
    vk_scan_args a = {v->codes, v->row_bytes, v->dim, J->q, J->qlen, J->qt, nq, dots,
                      (size_t)nq};
    for (size_t b = r0; b < r1; b += J->block_rows) {
        size_t e = r1 - b < J->block_rows ? r1 : b + J->block_rows;
        J->fn(&a, b, e);
        if (is_f32)
            offer_f32(dots, e - b, b, nq, thr, tk, v->dead);
        else
            offer_i32(dots, e - b, b, nq, thr, tk, v->dead);
    }
    for (int j = 0; j < nq; j++)
        J->ncand[(size_t)tid * (size_t)nq + (size_t)j] = tk[j].n;
    free(tk), free(thr), free(dots);
}

/* Prepared queries: int8 (S8 / U8 / U4, nq × qlen, kernels.h layouts) or f32. */
typedef struct prepared {
    void *q, *qt;
    size_t qlen;
    float *mul, *add;
} prepared;

static int prepare(const vr_index_view *v, const float *q, size_t nq, prepared *p, char *err,
                   size_t errlen)
{
    size_t dim = v->dim;
    int inq = (int)nq;
    p->mul = malloc(sizeof(float) * nq);
    p->add = malloc(sizeof(float) * nq);
    if (!p->mul || !p->add)
        return vf_fail(err, errlen, "search: out of memory for %zu queries", nq);
    if (v->kind == VK_CODE_F32) {
        p->qlen = dim;
        p->q = (void *)q;
        for (size_t j = 0; j < nq; j++)
            p->mul[j] = 1.0f, p->add[j] = 0.0f;
        if (nq >= 6) {
            size_t bytes = vk_scan_pack_f32_bytes(inq, dim);
            p->qt = bytes ? aligned_alloc(64, (bytes + 63) / 64 * 64) : NULL;
            if (!p->qt)
                return vf_fail(err, errlen, "search: out of memory packing %zu queries", nq);
            vk_scan_pack_queries_f32(q, inq, dim, dim, p->qt);
        }
        return 0;
    }
    int bytes_per_dim = v->kind == VK_CODE_S8 || v->kind == VK_CODE_U8;
    p->qlen = bytes_per_dim ? v->row_bytes : 2 * v->row_bytes;
    if (p->qlen > (v->kind == VK_CODE_U8 ? VK_SCAN_MAX_QLEN_U8 : VK_SCAN_MAX_QLEN))
        return vf_fail(err, errlen, "search: dimension %zu is above the scan's limit", dim);
    /* 64-byte aligned: the scans load 64 query bytes per code chunk, and a
     * load split across two cache lines cost the 4-bit scan (two query loads
     * per chunk) a quarter of its rate */
    size_t q8_bytes = (nq * p->qlen + 63) / 64 * 64; /* qlen a multiple of 64 */
    int8_t *q8 = aligned_alloc(64, q8_bytes);
    if (q8)
        memset(q8, 0, q8_bytes);
    float *qa = malloc(sizeof(float) * dim);
    p->q = q8;
    if (!q8 || !qa) {
        free(qa);
        return vf_fail(err, errlen, "search: out of memory for %zu queries", nq);
    }
    for (size_t j = 0; j < nq; j++) {
        const float *qj = q + j * dim;
        double add = 0.0;
        float m = 0.0f;
        for (size_t d = 0; d < dim; d++) {
            qa[d] = qj[d] * v->a[d];
            if (v->kind != VK_CODE_S8)
                add += (double)qj[d] * v->b[d];
            m = fmaxf(m, fabsf(qa[d]));
        }
        if (!isfinite(m) || !isfinite(add)) {
            free(qa);
            return vf_fail(err, errlen,
                           "search: query %zu is not finite once scaled by the index's "
                           "parameters",
                           j);
        }
        float s = m > 0.0f ? m / 127.0f : 1.0f;
        if (!(s > 0.0f)) /* m denormal */
            s = FLT_MIN;
        int8_t *o = q8 + j * p->qlen;
        double err_sum = 0.0; /* Σ (q'[d] − s·q8[d]): the query's rounding error */
        for (size_t d = 0; d < dim; d++) {
            float t = qa[d] / s;
            long c = t >= 127.0f ? 127 : t <= -127.0f ? -127 : lrintf(t);
            o[bytes_per_dim ? d : vk_scan_u4_query_index(d)] = (int8_t)c;
            err_sum += (double)qa[d] - (double)s * (double)c;
        }
        /* Unsigned codes (U8 0 … 255, U4 0 … 15) are centred on C = 127.5 /
         * 7.5, not 0: the query's rounding error e adds Σ e·c = C·Σ e +
         * Σ e·(c − C) to every row's score. The first term is the same for
         * every row (no effect on the ranking) and known exactly: taken out
         * here, the scores keep only the part a symmetric code has too. */
        if (v->kind != VK_CODE_S8)
            add += (v->kind == VK_CODE_U8 ? 127.5 : 7.5) * err_sum;
        p->mul[j] = s;
        p->add[j] = (float)add;
    }
    free(qa);
    if (nq >= 6) {
        size_t bytes = vk_scan_pack_q8_bytes(inq, p->qlen);
        p->qt = bytes ? aligned_alloc(64, (bytes + 63) / 64 * 64) : NULL;
        if (!p->qt)
            return vf_fail(err, errlen, "search: out of memory packing %zu queries", nq);
        vk_scan_pack_queries_q8(p->q, inq, p->qlen, p->qt);
    }
    return 0;
}

/* Re-scores the first s candidates exactly: the f16 copy through the dot_f16
 * kernel when the index has one, else the decoded codes in f32. */
static void rescore_head(const vr_index_view *v, const vk_ops *ops, const float *q, vr_cand *c,
                         size_t s, uint32_t *idx, float *sc, float *x)
{
    if (v->rescore) {
        for (size_t i = 0; i < s; i++)
            idx[i] = c[i].row;
        ops->dot_f16(q, v->dim, v->rescore, vk_code_row_bytes(VK_CODE_F16, v->dim), idx, s, sc);
        for (size_t i = 0; i < s; i++)
            c[i].key = sc[i];
        return;
    }
    for (size_t i = 0; i < s; i++) {
        vk_code_decode(v->kind, (const uint8_t *)v->codes + (size_t)c[i].row * v->row_bytes, v->dim,
                       v->a, v->b, x);
        double d = 0.0;
        for (size_t t = 0; t < v->dim; t++)
            d += (double)q[t] * x[t];
        c[i].key = d;
    }
}

static int check_view(const vr_index_view *v, char *err, size_t errlen)
{
    if (!vk_code_name(v->kind))
        return vf_fail(err, errlen, "search: unknown code kind %d", (int)v->kind);
    if (v->dim == 0 || v->row_bytes != vk_code_row_bytes(v->kind, v->dim))
        return vf_fail(err, errlen, "search: row size %zu does not match %s codes of dim %zu",
                       v->row_bytes, vk_code_name(v->kind), v->dim);
    if (v->n > UINT32_MAX)
        return vf_fail(err, errlen, "search: %zu rows is above the limit of 2^32 − 1", v->n);
    if (v->n && (!v->codes || !v->ids))
        return vf_fail(err, errlen, "search: the view has rows but no codes or ids");
    if ((uintptr_t)v->codes % 64)
        return vf_fail(err, errlen, "search: codes are not 64-byte aligned");
    if (vk_code_is_quantized(v->kind) && (!v->a || !v->b))
        return vf_fail(err, errlen, "search: %s codes need their parameters a and b",
                       vk_code_name(v->kind));
    return 0;
}

int vr_index_search(const vr_index_view *v, const float *q, size_t nq, const vr_search_opts *o,
                    vr_pool *pool, vr_hit *out, size_t *count, char *err, size_t errlen)
{
    if (!v || !o || (nq && (!q || !out || !count)))
        return vf_fail(err, errlen, "search: missing argument");
    if (o->k == 0)
        return vf_fail(err, errlen, "search: k must be at least 1");
    if (nq == 0)
        return 0;
    if (nq > INT_MAX / 2)
        return vf_fail(err, errlen, "search: %zu queries in one batch is too many", nq);
    if (check_view(v, err, errlen))
        return -1;
    for (size_t i = 0; i < nq * v->dim; i++)
        if (!isfinite(q[i]))
            return vf_fail(err, errlen, "search: query %zu has a non-finite value at dim %zu",
                           i / v->dim, i % v->dim);
    int rescore = o->shortlist > 0 && v->kind != VK_CODE_F32;
    size_t cap = rescore && o->shortlist > o->k ? o->shortlist : o->k;
    if (cap > MAX_CANDIDATES)
        cap = MAX_CANDIDATES; /* the result cannot hold more than n rows anyway */
    if (cap > v->n)
        cap = v->n ? v->n : 1;
    int nt = pool ? vr_pool_size(pool) : 1;
    if (nt < 1)
        nt = 1;

    const vk_ops *ops = vk_ops_get();
    scan_job J = {.v = v, .nq = (int)nq, .cap = cap};
    J.fn = v->kind == VK_CODE_F32 ? ops->scan_f32
           : v->kind == VK_CODE_S8 ? ops->scan_s8
           : v->kind == VK_CODE_U8 ? ops->scan_u8
                                   : ops->scan_u4;
    prepared P = {0};
    vr_cand *merged = NULL;
    float *x = NULL, *sc = NULL;
    uint32_t *idx = NULL;
    int rc = -1;
    if (v->kind == VK_CODE_F16) {
        vf_fail(err, errlen, "search: f16 codes are a re-scoring copy, not a scan kind");
        goto done;
    }
    if (prepare(v, q, nq, &P, err, errlen))
        goto done;
    J.q = P.q, J.qt = P.qt, J.qlen = P.qlen;
    size_t br = BLOCK_CODE_BYTES / v->row_bytes;
    size_t br_out = BLOCK_OUT_BYTES / 4 / nq;
    br = br < br_out ? br : br_out;
    J.block_rows = br < 8 ? 8 : br / 8 * 8;
    J.cands = malloc(sizeof *J.cands * cap * nq * (size_t)nt);
    J.ncand = calloc(nq * (size_t)nt, sizeof *J.ncand);
    merged = malloc(sizeof *merged * cap * (size_t)nt);
    x = malloc(sizeof(float) * v->dim);
    idx = malloc(sizeof *idx * cap);
    sc = malloc(sizeof *sc * cap);
    if (!J.cands || !J.ncand || !merged || !x || !idx || !sc) {
        vf_fail(err, errlen, "search: out of memory for %zu candidates", cap * nq * (size_t)nt);
        goto done;
    }
    if (pool && nt > 1)
        vr_pool_run(pool, scan_task, &J);
    else
        scan_task(&J, 0, 1);
    if (J.failed) {
        vf_fail(err, errlen, "search: out of memory in a scan thread");
        goto done;
    }
    for (size_t j = 0; j < nq; j++) {
        size_t m = 0;
        for (int t = 0; t < nt; t++) {
            size_t slot = (size_t)t * nq + j;
            memcpy(merged + m, J.cands + slot * cap, sizeof *merged * J.ncand[slot]);
            m += J.ncand[slot];
        }
        vr_topk_sort(merged, m);
        if (m > cap)
            m = cap;
        /* The first `head` candidates re-scored and re-ordered; the rest (a
         * ranking longer than the shortlist) keep the codes' order. */
        size_t head = rescore ? (m < o->shortlist ? m : o->shortlist) : 0;
        for (size_t i = head; i < m; i++)
            merged[i].key = P.mul[j] * merged[i].key + P.add[j];
        if (head) {
            rescore_head(v, ops, q + j * v->dim, merged, head, idx, sc, x);
            vr_topk_sort(merged, head);
        }
        size_t kk = m < o->k ? m : o->k;
        for (size_t i = 0; i < kk; i++)
            out[j * o->k + i] = (vr_hit){v->ids[merged[i].row], merged[i].row, (float)merged[i].key};
        count[j] = kk;
    }
    rc = 0;
done:
    if (P.q != (const void *)q)
        free(P.q);
    free(P.qt), free(P.mul), free(P.add);
    free(J.cands), free(J.ncand), free(merged), free(x), free(idx), free(sc);
    return rc;
}
