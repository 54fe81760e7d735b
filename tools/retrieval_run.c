#include "retrieval_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/errmsg.h"
#include "progress.h"
#include "runtime/index.h"

void rr_cfg_default(rr_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->codes = VK_CODE_F32;
    c->wopt = vr_whiten_opts_default();
    c->dba_alpha = 3.0f;
    c->qe_alpha = 3.0f;
    c->ropt = vr_rerank_opts_default();
}

const char *rr_cfg_name(const rr_cfg *c, char *buf, size_t n)
{
    int k = snprintf(buf, n, "%s", vk_code_name(c->codes));
    if (c->rescore && k >= 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, "+rescore%zu", c->rescore);
    if (c->whiten && k >= 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, "+whiten");
    if (c->dba && k >= 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, "+dba%zu", c->dba);
    if (c->qe && k >= 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, "+qe%zu", c->qe);
    if (c->rerank && k >= 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, "+rerank%d,%d", c->ropt.k1, c->ropt.k2);
    return buf;
}

void rr_result_free(rr_result *r)
{
    free(r->ranked);
    memset(r, 0, sizeof *r);
}

/* The gallery as an index would hold it: the store (runtime/index.h) in
 * memory, ids = row numbers, codes fitted on x. */
typedef struct mem_index {
    vr_index *ix;
    vr_index_view v;
} mem_index;

static void mem_index_free(mem_index *m)
{
    vr_index_close(m->ix);
    memset(m, 0, sizeof *m);
}

static int mem_index_build(const float *x, size_t n, size_t d, vk_code_kind kind, int rescore,
                           mem_index *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    uint64_t *ids = malloc((n + 1) * sizeof *ids);
    if (!ids)
        return vf_fail(err, errlen, "out of memory for a %zu x %zu index", n, d);
    for (size_t i = 0; i < n; i++)
        ids[i] = i;
    vr_index_params p = {.kind = kind, .dim_in = d, .dim = d, .model = "eval",
                         .rescore = rescore && vk_code_is_quantized(kind)};
    int rc = vr_index_create(&p, &m->ix, err, errlen) || vr_index_fit(m->ix, x, n, err, errlen) ||
             vr_index_add(m->ix, n, x, ids, NULL, NULL, err, errlen);
    free(ids);
    if (rc) {
        mem_index_free(m);
        return -1;
    }
    vr_index_get_view(m->ix, &m->v);
    return 0;
}

/* Full ranking: rows/sims are nq·n. */
static int search_full(const mem_index *m, const float *q, size_t nq, size_t shortlist, vr_pool *pool,
                       uint32_t *rows, float *sims, char *err, size_t errlen)
{
    size_t n = m->v.n, chunk = 64;
    vr_hit *h = malloc(chunk * n * sizeof *h);
    size_t *cnt = malloc(chunk * sizeof *cnt);
    if (!h || !cnt) {
        free(h), free(cnt);
        return vf_fail(err, errlen, "out of memory for search results");
    }
    int rc = 0;
    vr_search_opts so = {.k = n, .shortlist = shortlist > n ? n : shortlist};
    for (size_t q0 = 0; q0 < nq && !rc; q0 += chunk) {
        size_t c = nq - q0 < chunk ? nq - q0 : chunk;
        rc = vr_index_search(&m->v, q + q0 * m->v.dim, c, &so, pool, h, cnt, err, errlen);
        for (size_t i = 0; !rc && i < c; i++) {
            if (cnt[i] != n) {
                rc = vf_fail(err, errlen, "search returned %zu of %zu rows", cnt[i], n);
                break;
            }
            for (size_t t = 0; t < n; t++) {
                rows[(q0 + i) * n + t] = h[i * n + t].row;
                if (sims)
                    sims[(q0 + i) * n + t] = h[i * n + t].score;
            }
        }
    }
    free(h);
    free(cnt);
    return rc;
}

typedef struct {
    float d;
    uint32_t i;
} dpair;

static int cmp_dpair(const void *a, const void *b)
{
    const dpair *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* sims (nq·n, in rows order per query) → a dense similarity matrix nq·n by column. */
static void scatter(const uint32_t *rows, const float *sims, size_t nq, size_t n, float *dense,
                    size_t ld, size_t col0)
{
    for (size_t i = 0; i < nq; i++)
        for (size_t t = 0; t < n; t++)
            dense[i * ld + col0 + rows[i * n + t]] = sims[i * n + t];
}

int rr_run(const float *Q, size_t nq, const float *G, size_t ng, size_t d, const float *T, size_t nt,
           int queries_are_gallery, const rr_cfg *cfg, vr_pool *pool, rr_result *res, char *err,
           size_t errlen)
{
    memset(res, 0, sizeof *res);
    if (!nq || !ng || !d || (queries_are_gallery && nq != ng))
        return vf_fail(err, errlen, "empty query or gallery set");
    int rc = -1;
    size_t dd = d;
    float *q = NULL, *g = NULL, *g2 = NULL, *gd = NULL, *sims = NULL, *dist = NULL, *fin = NULL;
    uint32_t *rows = NULL;
    mem_index mi = {0}, exact = {0};
    vr_whiten w = {0};
    dpair *pairs = NULL;

    /* 1. whitening */
    if (cfg->whiten) {
        if (!T || !nt) {
            vf_fail(err, errlen, "whitening needs a training set");
            goto out;
        }
        if (vr_whiten_fit(T, nt, d, &cfg->wopt, pool, &w, err, errlen))
            goto out;
        dd = w.d_out;
        q = malloc(nq * dd * sizeof *q);
        g = malloc(ng * dd * sizeof *g);
        if (!q || !g) {
            vf_fail(err, errlen, "out of memory");
            goto out;
        }
        if (vr_whiten_apply(&w, Q, nq, q, pool, err, errlen) ||
            vr_whiten_apply(&w, G, ng, g, pool, err, errlen))
            goto out;
    } else {
        q = malloc(nq * d * sizeof *q);
        g = malloc(ng * d * sizeof *g);
        if (!q || !g) {
            vf_fail(err, errlen, "out of memory");
            goto out;
        }
        memcpy(q, Q, nq * d * sizeof *q);
        memcpy(g, G, ng * d * sizeof *g);
    }
    res->stored_dim = dd;
    rows = malloc(nq * ng * sizeof *rows);
    sims = malloc(nq * ng * sizeof *sims);
    if (!rows || !sims) {
        vf_fail(err, errlen, "out of memory for %zu x %zu results", nq, ng);
        goto out;
    }

    /* 2. DBA on the gallery (exact search of the gallery by itself). */
    if (cfg->dba) {
        uint32_t *gr = malloc(ng * ng * sizeof *gr);
        float *gs = malloc(ng * ng * sizeof *gs);
        g2 = malloc(ng * dd * sizeof *g2);
        int bad = !gr || !gs || !g2 || mem_index_build(g, ng, dd, VK_CODE_F32, 0, &exact, err, errlen);
        if (!bad)
            bad = search_full(&exact, g, ng, 0, pool, gr, gs, err, errlen);
        if (!bad) {
            vr_neighbours nb = {.stride = ng, .row = gr, .sim = gs};
            bad = vr_dba(g, ng, dd, &nb, cfg->dba, cfg->dba_alpha, g2, err, errlen);
        }
        free(gr);
        free(gs);
        mem_index_free(&exact);
        if (bad) {
            if (!gr || !gs || !g2)
                vf_fail(err, errlen, "out of memory");
            goto out;
        }
        free(g);
        g = g2;
        g2 = NULL;
        if (queries_are_gallery)
            memcpy(q, g, ng * dd * sizeof *q);
    }

    /* 3. codes, 4. search */
    if (mem_index_build(g, ng, dd, cfg->codes, cfg->rescore > 0, &mi, err, errlen))
        goto out;
    {
        /* Throughput as a user sees it: top 10 of every query, one batch. */
        size_t k10 = ng < 10 ? ng : 10;
        vr_hit *h = malloc(nq * k10 * sizeof *h);
        size_t *cnt = malloc(nq * sizeof *cnt);
        vr_search_opts so = {.k = k10, .shortlist = cfg->rescore};
        double t0 = progress_now();
        int bad = !h || !cnt || vr_index_search(&mi.v, q, nq, &so, pool, h, cnt, err, errlen);
        res->search_s = progress_now() - t0;
        free(h);
        free(cnt);
        if (bad)
            goto out;
    }
    if (search_full(&mi, q, nq, cfg->rescore, pool, rows, sims, err, errlen))
        goto out;

    /* The database as the index holds it: decoded codes. */
    gd = malloc(ng * dd * sizeof *gd);
    if (!gd) {
        vf_fail(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ng; i++)
        vk_code_decode(cfg->codes, (const uint8_t *)mi.v.codes + i * mi.v.row_bytes, dd, mi.v.a, mi.v.b,
                       gd + i * dd);

    /* 5. αQE */
    if (cfg->qe) {
        vr_neighbours nb = {.stride = ng, .row = rows, .sim = sims};
        if (vr_alpha_qe(q, nq, gd, ng, dd, &nb, cfg->qe, cfg->qe_alpha, q, err, errlen) ||
            search_full(&mi, q, nq, cfg->rescore, pool, rows, sims, err, errlen))
            goto out;
    }

    /* 6. k-reciprocal re-ranking */
    if (cfg->rerank) {
        size_t N = queries_are_gallery ? ng : nq + ng, col0 = queries_are_gallery ? 0 : nq;
        dist = malloc(N * N * sizeof *dist);
        fin = malloc(nq * N * sizeof *fin);
        size_t tn = ng * ng > nq * nq ? ng * ng : nq * nq; /* g×g and q×q searches */
        uint32_t *tr = malloc(tn * sizeof *tr);
        float *ts = malloc(tn * sizeof *ts);
        int bad = !dist || !fin || !tr || !ts;
        if (!bad) {
            scatter(rows, sims, nq, ng, dist, N, col0); /* query → gallery */
            if (!queries_are_gallery) {
                /* gallery → gallery: the decoded database searched against the codes */
                bad = search_full(&mi, gd, ng, cfg->rescore, pool, tr, ts, err, errlen);
                if (!bad)
                    scatter(tr, ts, ng, ng, dist + nq * N, N, nq);
                /* query → query (exact), gallery → query by symmetry of the codes' scores */
                mem_index qi = {0};
                if (!bad)
                    bad = mem_index_build(q, nq, dd, VK_CODE_F32, 0, &qi, err, errlen);
                if (!bad)
                    bad = search_full(&qi, q, nq, 0, pool, tr, ts, err, errlen);
                if (!bad)
                    scatter(tr, ts, nq, nq, dist, N, 0);
                mem_index_free(&qi);
                for (size_t j = 0; !bad && j < ng; j++)
                    for (size_t i = 0; i < nq; i++)
                        dist[(nq + j) * N + i] = dist[i * N + nq + j];
            }
        }
        free(tr);
        free(ts);
        if (bad) {
            if (!dist || !fin)
                vf_fail(err, errlen, "out of memory for a %zu^2 re-ranking matrix", N);
            goto out;
        }
        vr_sims_to_dists(dist, N * N, dist);
        if (vr_kreciprocal_rerank(dist, N, nq, &cfg->ropt, pool, fin, err, errlen))
            goto out;
        pairs = malloc(ng * sizeof *pairs);
        if (!pairs) {
            vf_fail(err, errlen, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < nq; i++) {
            for (size_t j = 0; j < ng; j++)
                pairs[j] = (dpair){fin[i * N + col0 + j], (uint32_t)j};
            qsort(pairs, ng, sizeof *pairs, cmp_dpair);
            for (size_t j = 0; j < ng; j++)
                rows[i * ng + j] = pairs[j].i;
        }
    }
    res->nq = nq;
    res->ng = ng;
    res->ranked = rows;
    rows = NULL;
    rc = 0;
out:
    free(q);
    free(g);
    free(g2);
    free(gd);
    free(sims);
    free(dist);
    free(fin);
    free(rows);
    free(pairs);
    mem_index_free(&mi);
    vr_whiten_free(&w);
    return rc;
}
