/* vireo search: query images against an index, through the same models and
 * transform the index was built with (tools/index_models.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "formats/errmsg.h"
#include "index_models.h"
#include "progress.h"
#include "runtime/index.h"
#include "runtime/retrieval.h"

static const char usage_text[] =
    "usage: vireo search -i INDEX.vix [options] QUERY_IMAGE...\n"
    "       vireo search -i INDEX.vix --text PHRASE [--text PHRASE]... [QUERY_IMAGE...]\n"
    "  --text PHRASE   query by text with the index's text model (index build --text-model);\n"
    "                  with images too: one phrase for every image, or one per image (in order),\n"
    "                  each query fusing the image and its phrase\n"
    "  --text-weight W the phrase's weight in an image + text query (default: the index's titles\n"
    "                  weight, or 0.5 when its items have no titles)\n"
    "  -k K            results per query (default 10)\n"
    "  --json          one JSON object per query\n"
    "  --rescore K     re-score the best K candidates exactly with the f16 copy (default 4k when\n"
    "                  the index has one; 0: off)\n"
    "  --qe K          alpha query expansion with the K best results (--alpha A, default 3)\n"
    "  --rerank        k-reciprocal re-ranking of the best 100 candidates (--rerank-k N)\n"
    "  -m MODEL        override the index's model(s) (must give the same embeddings)\n"
    "  -t THREADS, -q (no progress)\n";

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* The stored row as the search saw it: the f16 copy when there is one. */
static void decode_row(const vr_index_view *v, size_t row, float *out)
{
    if (v->rescore) {
        size_t fb = vk_code_row_bytes(VK_CODE_F16, v->dim);
        vk_code_decode(VK_CODE_F16, (const uint8_t *)v->rescore + row * fb, v->dim, NULL, NULL, out);
    } else
        vk_code_decode(v->kind, (const uint8_t *)v->codes + row * v->row_bytes, v->dim, v->a, v->b,
                       out);
}

typedef struct search_cfg {
    size_t k, rescore, qe, rerank_k;
    int rescore_set, rerank;
    float alpha;
} search_cfg;

/* One query q (dim): hits (cfg->k) into out, count into *cnt. */
static int search_one(const vr_index_view *v, float *q, const search_cfg *c, vr_pool *pool,
                      vr_hit *out, size_t *cnt, char *err, size_t errlen)
{
    size_t want = c->k;
    if (c->rerank && c->rerank_k > want)
        want = c->rerank_k;
    vr_hit *h = malloc(want * sizeof *h);
    float *buf = malloc((want + 1) * v->dim * sizeof *buf);
    int rc = -1;
    if (!h || !buf) {
        vf_fail(err, errlen, "out of memory");
        goto out;
    }
    vr_search_opts so = {.k = want, .shortlist = c->rescore > want ? c->rescore : c->rescore ? want : 0};
    size_t n;
    if (vr_index_search(v, q, 1, &so, pool, h, &n, err, errlen))
        goto out;
    if (c->qe && n) {
        size_t k = c->qe < n ? c->qe : n;
        uint32_t rows[256];
        float sims[256];
        if (k > 256)
            k = 256;
        for (size_t t = 0; t < k; t++) {
            rows[t] = (uint32_t)t;
            sims[t] = h[t].score;
            decode_row(v, h[t].row, buf + t * v->dim);
        }
        vr_neighbours nb = {.stride = k, .row = rows, .sim = sims};
        if (vr_alpha_qe(q, 1, buf, k, v->dim, &nb, k, c->alpha, q, err, errlen) ||
            vr_index_search(v, q, 1, &so, pool, h, &n, err, errlen))
            goto out;
    }
    if (c->rerank && n > 1) {
        for (size_t t = 0; t < n; t++)
            decode_row(v, h[t].row, buf + t * v->dim);
        float *d = malloc(n * sizeof *d);
        vr_rerank_opts ro = vr_rerank_opts_default();
        if (!d || vr_kreciprocal_shortlist(q, buf, n, v->dim, &ro, d, err, errlen)) {
            if (!d)
                vf_fail(err, errlen, "out of memory");
            free(d);
            goto out;
        }
        /* stable insertion sort by re-ranked distance (n ≤ a few hundred) */
        for (size_t i = 1; i < n; i++) {
            vr_hit hh = h[i];
            float dd = d[i];
            size_t j = i;
            while (j > 0 && d[j - 1] > dd) {
                h[j] = h[j - 1];
                d[j] = d[j - 1];
                j--;
            }
            h[j] = hh;
            d[j] = dd;
        }
        free(d);
    }
    *cnt = n < c->k ? n : c->k;
    memcpy(out, h, *cnt * sizeof *h);
    rc = 0;
out:
    free(h);
    free(buf);
    return rc;
}

int cmd_search(int argc, char **argv)
{
    const char *index = NULL;
    search_cfg c = {.k = 10, .alpha = 3, .rerank_k = 100};
    ix_models mo = {0};
    int json = 0, nq = 0, rc = 1;
    ixm_embed_opts eo = {.no_cache = 1, .label = "queries"};
    const char **queries = calloc((size_t)argc + 1, sizeof *queries);
    const char **texts = calloc((size_t)argc + 1, sizeof *texts);
    const char **qtext = NULL;
    int nt = 0;
    double wq = -1;
    char err[1024];
    double v = 0;
    if (!queries || !texts) {
        free(queries), free(texts);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int has = i + 1 < argc;
        char *end = NULL;
        if (has) {
            errno = 0;
            v = strtod(argv[i + 1], &end);
            if (end == argv[i + 1] || *end || errno || v < 0)
                end = NULL;
        }
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            fputs(usage_text, stdout);
            free(queries), free(texts);
            return 0;
        } else if (!strcmp(o, "-i") && has)
            index = argv[++i];
        else if (!strcmp(o, "--text") && has)
            texts[nt++] = argv[++i];
        else if (!strcmp(o, "--text-weight") && end && v <= 1)
            wq = v, i++;
        else if (!strcmp(o, "-k") && end && v >= 1 && v <= 100000)
            c.k = (size_t)v, i++;
        else if (!strcmp(o, "--rescore") && end && v <= 1e6)
            c.rescore = (size_t)v, c.rescore_set = 1, i++;
        else if (!strcmp(o, "--qe") && end && v >= 1 && v <= 256)
            c.qe = (size_t)v, i++;
        else if (!strcmp(o, "--alpha") && end && v <= 100)
            c.alpha = (float)v, i++;
        else if (!strcmp(o, "--rerank"))
            c.rerank = 1;
        else if (!strcmp(o, "--rerank-k") && end && v >= 2 && v <= 10000)
            c.rerank_k = (size_t)v, i++;
        else if (!strcmp(o, "--json"))
            json = 1;
        else if (!strcmp(o, "-q"))
            eo.quiet = 1;
        else if (!strcmp(o, "-t") && end && v <= 1024)
            eo.threads = (int)v, i++;
        else if (!strcmp(o, "-m") && has) {
            if (ixm_add(&mo, argv[++i], 1, err, sizeof err)) {
                fprintf(stderr, "vireo search: %s\n", err);
                free(queries), free(texts);
                return 1;
            }
        } else if (o[0] != '-')
            queries[nq++] = o;
        else {
            fprintf(stderr, "vireo search: bad argument '%s'\n%s", o, usage_text);
            free(queries), free(texts);
            return 2;
        }
    }
    if (!index || (!nq && !nt) || (nq && nt > 1 && nt != nq)) {
        if (nq && nt > 1 && nt != nq)
            fprintf(stderr, "vireo search: %d phrases for %d images: give one, or one per image\n",
                    nt, nq);
        fputs(usage_text, stderr);
        free(queries), free(texts);
        return 2;
    }
    if (nt) { /* one phrase per query */
        qtext = calloc((size_t)(nq ? nq : nt) + 1, sizeof *qtext);
        if (!qtext) {
            free(queries), free(texts);
            return 1;
        }
        for (int q = 0; q < (nq ? nq : nt); q++)
            qtext[q] = texts[nt == 1 ? 0 : q];
    }
    int nquery = nq ? nq : nt;
    vr_index *ix = NULL;
    float *x = NULL;
    uint8_t *ok = NULL;
    vr_hit *hits = NULL;
    vr_pool *pool = NULL;
    /* Structure is always validated; the bulk checksums (codes) are left to
     * `vireo index info --verify` so a large index opens at mmap speed. */
    if (vr_index_open(index, VR_INDEX_OPEN_SKIP_BULK_CRC, &ix, err, sizeof err))
        goto fail;
    static ix_models m; /* large: 50 kB of paths */
    if (mo.n) { /* other image models; the index's text side stays */
        m = mo;
        if (ixm_text_from_index(ix, &m, eo.quiet, err, sizeof err))
            goto fail;
    } else if (ixm_from_index(ix, &m, eo.quiet, err, sizeof err))
        goto fail;
    vr_whiten w;
    int hw = ixm_whiten_from_index(ix, &w, err, sizeof err);
    if (hw < 0)
        goto fail;
    size_t dim = 0;
    double ips = 0;
    if (wq < 0)
        wq = m.text_spec[0] && m.fusion.w > 0 ? m.fusion.w : 0.5;
    if (ixm_queries(&m, nq ? queries : NULL, qtext, (size_t)nquery, (float)wq, hw ? &w : NULL, &eo,
                    &x, &ok, &dim, &ips, err, sizeof err))
        goto fail;
    if (dim != vr_index_dim(ix)) {
        vf_fail(err, sizeof err, "queries embed to %zu-d, the index stores %zu-d", dim,
                vr_index_dim(ix));
        goto fail;
    }
    vr_index_view view;
    vr_index_get_view(ix, &view);
    if (!c.rescore_set && view.rescore)
        c.rescore = 4 * c.k;
    pool = vr_pool_create(eo.threads);
    hits = malloc(c.k * sizeof *hits);
    if (!pool || !hits) {
        vf_fail(err, sizeof err, "out of memory");
        goto fail;
    }
    double t0 = progress_now(), tsearch = 0;
    int failed = 0;
    for (int qi = 0; qi < nquery; qi++) {
        if (!ok[qi]) {
            failed++;
            continue; /* reported by the pipeline */
        }
        size_t n = 0;
        double ts = progress_now();
        if (search_one(&view, x + (size_t)qi * dim, &c, pool, hits, &n, err, sizeof err))
            goto fail;
        tsearch += progress_now() - ts;
        if (json) {
            printf("{\"query\":");
            json_str(stdout, nq ? queries[qi] : "");
            if (qtext) {
                printf(",\"text\":");
                json_str(stdout, qtext[qi]);
                if (nq)
                    printf(",\"text_weight\":%g", wq);
            }
            printf(",\"results\":[");
            for (size_t t = 0; t < n; t++) {
                printf("%s{\"rank\":%zu,\"id\":%llu,\"score\":%.6f,\"title\":", t ? "," : "", t + 1,
                       (unsigned long long)hits[t].id, (double)hits[t].score);
                json_str(stdout, vr_index_title(ix, hits[t].row));
                printf(",\"path\":");
                json_str(stdout, vr_index_path(ix, hits[t].row));
                printf("}");
            }
            printf("]}\n");
        } else {
            if (nq && qtext)
                printf("%s + \"%s\" (text weight %g)\n", queries[qi], qtext[qi], wq);
            else
                printf(nq ? "%s\n" : "\"%s\"\n", nq ? queries[qi] : qtext[qi]);
            for (size_t t = 0; t < n; t++)
                printf("  %2zu  %.4f  id %-8llu %-32s %s\n", t + 1, (double)hits[t].score,
                       (unsigned long long)hits[t].id, vr_index_title(ix, hits[t].row),
                       vr_index_path(ix, hits[t].row));
        }
    }
    (void)t0;
    if (!eo.quiet)
        fprintf(stderr, "vireo search: %d queries (%d unreadable) against %zu items: embedding %.1f "
                        "images/s, search %.2f ms/query\n",
                nquery, failed, vr_index_live(ix), ips,
                nquery > failed ? 1e3 * tsearch / (nquery - failed) : 0.0);
    rc = failed == nquery ? 1 : 0;
    goto out;
fail:
    fprintf(stderr, "vireo search: %s\n", err);
out:
    free(hits);
    free(x), free(ok);
    vr_pool_destroy(pool);
    vr_index_close(ix);
    free(queries), free(texts), free(qtext);
    return rc;
}
