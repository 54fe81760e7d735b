/* vireo eval: retrieval quality on the shared evaluation sets
 * (../shared/README.md), for one model or an ensemble, per code kind and
 * retrieval configuration. See `vireo eval --help`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "datasets.h"
#include "embeddings.h"
#include "formats/errmsg.h"
#include "index_models.h"
#include "models.h"
#include "progress.h"
#include "retrieval_run.h"
#include "runtime/fusion.h"
#include "runtime/metrics.h"
#include "runtime/retrieval.h"
#include "runtime/threadpool.h"

#define MAX_MODELS 8
#define MAX_CFGS 64
#define MAX_RESCORE 4 /* 3 code kinds × 4 depths × 5 sweep rows ≤ MAX_CFGS */

static const char usage_text[] =
    "usage: vireo eval grocery|ukbench [options]\n"
    "  -m MODEL[:WEIGHT]   model (repeat for an ensemble; default " MODEL_DEFAULT "): a .vwt file, a\n"
    "                      .tflite / model.json / .safetensors source (converted once, cached), or\n"
    "                      mnv1-embed, mnv2, mnv2-ptq, nsfw-mnv2, nsfw-incv3 (models in ../shared)\n"
    "  --codes LIST        f32,int8,int8-sym,int4 (default int8)\n"
    "  --whiten[=POWER]    PCA whitening fitted on GroceryStore train (power 0.5 default)\n"
    "  --whiten-dim D      keep D components (default: all)\n"
    "  --dba K             database-side augmentation with K neighbours\n"
    "  --qe K              alpha query expansion with K neighbours\n"
    "  --alpha A           alpha of QE and DBA (default 3)\n"
    "  --rerank            k-reciprocal re-ranking; --k1 N (20), --k2 N (6), --lambda L (0.3):\n"
    "                      k1 near the number of relevant items per query works best\n"
    "  --rescore LIST      re-score the best K of each query exactly with the index's f16\n"
    "                      copy, K per value (e.g. 0,40; default 0: the codes alone)\n"
    "  --sweep             run a grid: plain, whiten, whiten+qe, whiten+dba+qe, +rerank\n"
    "  --json              one JSON object per line per protocol and configuration\n"
    "  --limit N           about N photos per list (quick runs)\n"
    "  --data DIR          dataset directory (default ../shared/data/grocery or ukbench1000)\n"
    "  -t THREADS, --no-cache, -q (no progress)\n"
    "  text side (grocery; docs/RETRIEVAL.md, \"Text and unified embeddings\"):\n"
    "  --text-model T      a text tower: descriptions -> images (text->catalogue, text->photo)\n"
    "                      when it shares the image model's space\n"
    "  --titles LIST       unified gallery: iconic images fused with their product names, weight\n"
    "                      W per value (e.g. 0.3 or 0.1,0.3,0.5); queries by photo, by\n"
    "                      description, by photo + product name\n"
    "  --fusion MODE       sum (same space) or concat; default sum when the dimensions match\n"
    "  --text-weight W     the name's weight in photo + name queries (default: each W)\n";

typedef struct model_arg {
    const char *spec;
    float weight;
    char path[4096];
} model_arg;

typedef struct eval_args {
    const char *dataset, *data;
    model_arg models[MAX_MODELS];
    int nmodels;
    rr_cfg cfgs[MAX_CFGS];
    int ncfgs;
    int json, quiet, no_cache, threads;
    size_t limit;
    /* text side */
    const char *text_spec, *fusion;
    char text_path[4096];
    float titles[8];
    int ntitles;
    float text_weight; /* < 0: each titles weight */
} eval_args;

/* What a text-side row adds to the report (NULL for image-only protocols). */
typedef struct text_row {
    vr_fusion_mode mode;
    float titles;      /* W (0: the gallery has no titles) */
    float text_weight; /* < 0: not a query with both */
} text_row;

/* Embeds one image set with every model and fuses them (normalised rows). */
static int embed_fused(eval_args *a, const ds_set *s, const char *label, float **out, size_t *dim,
                       double *ips)
{
    const float *parts[MAX_MODELS];
    size_t dims[MAX_MODELS], total = 0;
    float weights[MAX_MODELS];
    emb_matrix em[MAX_MODELS] = {0};
    char err[1024];
    int rc = -1;
    double slow = 0;
    *ips = 0;
    for (int m = 0; m < a->nmodels; m++) {
        char lab[512];
        snprintf(lab, sizeof lab, "%s with %s", label, models_short_name(a->models[m].spec));
        emb_opts eo = {.threads = a->threads, .quiet = a->quiet, .no_cache = a->no_cache, .label = lab};
        double r;
        if (emb_compute(a->models[m].path, (const char *const *)s->paths, s->n, &eo, &em[m], &r, err,
                        sizeof err)) {
            fprintf(stderr, "vireo eval: %s\n", err);
            goto out;
        }
        size_t bad = 0;
        for (size_t i = 0; i < s->n; i++)
            bad += !em[m].ok[i];
        if (bad == s->n) {
            fprintf(stderr, "vireo eval: %s: no image could be embedded\n", label);
            goto out;
        }
        /* ensemble rate: one image through every model */
        if (r > 0)
            slow += 1.0 / r;
        parts[m] = em[m].x;
        dims[m] = em[m].dim;
        weights[m] = a->models[m].weight;
        total += em[m].dim;
    }
    *ips = slow > 0 ? 1.0 / slow : 0;
    *dim = total;
    *out = malloc(s->n * total * sizeof **out + 1);
    if (!*out || vr_ensemble_concat(parts, dims, weights, (size_t)a->nmodels, s->n, *out, err,
                                    sizeof err)) {
        fprintf(stderr, "vireo eval: %s\n", *out ? err : "out of memory");
        free(*out);
        *out = NULL;
        goto out;
    }
    rc = 0;
out:
    for (int m = 0; m < a->nmodels; m++)
        emb_free(&em[m]);
    return rc;
}

static void print_models(FILE *f, const eval_args *a)
{
    fputc('[', f);
    for (int m = 0; m < a->nmodels; m++)
        fprintf(f, "%s\"%s\"", m ? "," : "", models_short_name(a->models[m].spec));
    fputc(']', f);
}

static int report(const eval_args *a, const char *protocol, const text_row *tr, const rr_cfg *c,
                  const vr_eval *e, const vr_eval *self_kept, size_t nq, size_t ng, size_t dim,
                  double embed_ips, double search_qps)
{
    char name[128];
    rr_cfg_name(c, name, sizeof name);
    if (a->json) {
        printf("{\"dataset\":\"%s\",\"protocol\":\"%s\",\"models\":", a->dataset, protocol);
        print_models(stdout, a);
        printf(",\"weights\":[");
        for (int m = 0; m < a->nmodels; m++)
            printf("%s%g", m ? "," : "", (double)a->models[m].weight);
        printf("],\"codes\":\"%s\",\"config\":\"%s\",\"whiten\":%s,\"dba\":%zu,\"qe\":%zu,"
               "\"rerank\":%s,\"k1\":%d,\"k2\":%d,\"rescore\":%zu,\"queries\":%zu,\"gallery\":%zu,\"dim\":%zu,"
               "\"recall_at_1\":%.4f,\"recall_at_5\":%.4f,\"recall_at_10\":%.4f,\"mar_at_10\":%.4f,"
               "\"map\":%.4f",
               vk_code_name(c->codes), name, c->whiten ? "true" : "false", c->dba, c->qe,
               c->rerank ? "true" : "false", c->ropt.k1, c->ropt.k2, c->rescore, nq, ng, dim, e->recall1, e->recall5,
               e->recall10, e->mar10, e->map);
        if (self_kept)
            printf(",\"ns_score\":%.4f,\"self_match\":\"kept for ns_score, excluded for the rest\"",
                   self_kept->ns_score);
        if (tr) {
            printf(",\"text_model\":\"%s\",\"fusion\":\"%s\",\"titles_weight\":%g",
                   models_short_name(a->text_spec), vr_fusion_mode_name(tr->mode),
                   (double)tr->titles);
            if (tr->text_weight >= 0)
                printf(",\"text_weight\":%g", (double)tr->text_weight);
        }
        printf(",\"embed_images_per_s\":%.1f,\"search_queries_per_s\":%.1f}\n", embed_ips, search_qps);
    } else {
        char proto[160];
        if (tr && tr->titles > 0)
            snprintf(proto, sizeof proto, "%s W=%g", protocol, (double)tr->titles);
        else
            snprintf(proto, sizeof proto, "%s", protocol);
        if (tr && tr->text_weight >= 0)
            snprintf(proto + strlen(proto), sizeof proto - strlen(proto), " w=%g",
                     (double)tr->text_weight);
        printf("%-8s %-18s %-36s R@1 %6.2f  R@5 %6.2f  R@10 %6.2f  MAR@10 %6.2f  mAP %6.2f", a->dataset,
               proto, name, 100 * e->recall1, 100 * e->recall5, 100 * e->recall10, 100 * e->mar10,
               100 * e->map);
        if (self_kept)
            printf("  N-S %.3f", self_kept->ns_score);
        printf("  (%zu queries, %zu gallery, dim %zu, %.0f queries/s)\n", nq, ng, dim, search_qps);
    }
    fflush(stdout);
    return 0;
}

/* Qw: the queries for whitened configurations when they differ (a concat
 * query missing a side is filled with the whitening mean's block), else NULL. */
static int eval_protocol_text(const eval_args *a, const char *protocol, const text_row *tr,
                              const float *Q, const float *Qw, const int32_t *ql, size_t nq,
                              const float *G, const int32_t *gl, size_t ng, size_t d, const float *T,
                              size_t nt, int same, double ips, vr_pool *pool)
{
    char err[1024];
    size_t *self = NULL;
    if (same) {
        self = malloc(nq * sizeof *self);
        if (!self)
            return -1;
        for (size_t i = 0; i < nq; i++)
            self[i] = i;
    }
    int rc = 0;
    for (int ci = 0; ci < a->ncfgs && !rc; ci++) {
        rr_result r;
        const float *q = Qw && a->cfgs[ci].whiten ? Qw : Q;
        if (rr_run(q, nq, G, ng, d, T, nt, same, &a->cfgs[ci], pool, &r, err, sizeof err)) {
            fprintf(stderr, "vireo eval: %s: %s\n", protocol, err);
            rc = -1;
            break;
        }
        vr_eval e, kept;
        if (vr_eval_by_labels(r.ranked, NULL, ng, nq, ql, gl, ng, self, &e, err, sizeof err) ||
            (same && vr_eval_by_labels(r.ranked, NULL, ng, nq, ql, gl, ng, NULL, &kept, err,
                                       sizeof err))) {
            fprintf(stderr, "vireo eval: %s: %s\n", protocol, err);
            rc = -1;
        } else
            report(a, protocol, tr, &a->cfgs[ci], &e, same ? &kept : NULL, nq, ng, r.stored_dim,
                   ips, r.search_s > 0 ? (double)nq / r.search_s : 0);
        rr_result_free(&r);
    }
    free(self);
    return rc;
}

static int eval_protocol(const eval_args *a, const char *protocol, const float *Q, const int32_t *ql,
                         size_t nq, const float *G, const int32_t *gl, size_t ng, size_t d,
                         const float *T, size_t nt, int same, double ips, vr_pool *pool)
{
    return eval_protocol_text(a, protocol, NULL, Q, NULL, ql, nq, G, gl, ng, d, T, nt, same, ips,
                              pool);
}

static int32_t *labels32(const ds_set *s)
{
    int32_t *l = malloc((s->n + 1) * sizeof *l);
    for (size_t i = 0; l && i < s->n; i++)
        l[i] = s->label[i];
    return l;
}

static int needs_train(const eval_args *a)
{
    for (int i = 0; i < a->ncfgs; i++)
        if (a->cfgs[i].whiten)
            return 1;
    return 0;
}

static int needs_train(const eval_args *a);

/* Column means of x (n·d) in double: the mean vr_whiten_fit centres with. */
static float *column_mean(const float *x, size_t n, size_t d)
{
    double *acc = calloc(d + 1, sizeof *acc);
    float *m = malloc((d + 1) * sizeof *m);
    if (!acc || !m) {
        free(acc), free(m);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            acc[j] += x[i * d + j];
    for (size_t j = 0; j < d; j++)
        m[j] = (float)(acc[j] / (double)(n ? n : 1));
    free(acc);
    return m;
}

/* The queries of one protocol for plain and whitened configurations. */
static int fused_queries(const vr_fusion *f, const float *img, const float *txt, size_t n, float wq,
                         const float *fill, float **q, float **qw)
{
    char err[512];
    size_t d = vr_fusion_dim(f);
    *q = malloc(n * d * sizeof **q + 1);
    *qw = NULL;
    if (!*q || vr_fusion_queries(f, img, txt, n, wq, NULL, *q, err, sizeof err))
        goto fail;
    if (fill && !(img && txt)) {
        *qw = malloc(n * d * sizeof **qw + 1);
        if (!*qw || vr_fusion_queries(f, img, txt, n, wq, fill, *qw, err, sizeof err))
            goto fail;
    }
    return 0;
fail:
    fprintf(stderr, "vireo eval: %s\n", *q ? err : "out of memory");
    free(*q), free(*qw);
    *q = *qw = NULL;
    return -1;
}

/* GroceryStore's text side (docs/RETRIEVAL.md): descriptions → images when the
 * text tower shares the image space, and the unified gallery per titles
 * weight. Q, I, T: test, iconic and train image rows (d, unit). */
static int run_grocery_text(eval_args *a, const ds_grocery *g, const float *Q, const float *I,
                            const float *T, size_t d, double ips, const int32_t *ql,
                            const int32_t *il, vr_pool *pool)
{
    size_t nc = g->iconic.n, nq = g->test.n, nt = g->train.n, ntext = 2 * nc + nq + nt;
    const char **texts = calloc(ntext + 1, sizeof *texts);
    const char **names = calloc((size_t)g->nclasses + 1, sizeof *names);
    float *X = NULL, *U = NULL, *Tu = NULL, *fill = NULL, *q = NULL, *qw = NULL;
    size_t E = 0;
    int rc = -1;
    char err[1024];
    if (!texts || !names) {
        fprintf(stderr, "vireo eval: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < nc; i++)
        if (g->iconic.label[i] >= 0 && g->iconic.label[i] < g->nclasses)
            names[g->iconic.label[i]] = g->iconic.title[i];
    /* [descriptions | iconic names | test photos' names | train photos' names] */
    for (size_t i = 0; i < nc; i++) {
        texts[i] = g->iconic.text[i] && g->iconic.text[i][0] ? g->iconic.text[i] : g->iconic.title[i];
        texts[nc + i] = g->iconic.title[i];
    }
    for (size_t i = 0; i < nq + nt; i++) {
        int l = i < nq ? g->test.label[i] : g->train.label[i - nq];
        texts[2 * nc + i] = l >= 0 && l < g->nclasses && names[l] ? names[l] : "";
    }
    double t0 = progress_now();
    if (ixm_embed_texts(a->text_path, texts, ntext, a->threads, &X, &E, err, sizeof err)) {
        fprintf(stderr, "vireo eval: %s\n", err);
        goto out;
    }
    if (!a->quiet) /* the texts repeat (a name per photo): each distinct one is embedded once */
        fprintf(stderr, "vireo eval: %zu texts (%zu descriptions, %zu product names) embedded with "
                        "%s in %.2f s\n", ntext, nc, nc, models_short_name(a->text_spec),
                progress_now() - t0);
    const float *Dsc = X, *Ni = X + nc * E, *Nq = X + 2 * nc * E, *Nt = X + (2 * nc + nq) * E;
    vr_fusion_mode mode = a->nmodels == 1 && d == E ? VR_FUSION_SUM : VR_FUSION_CONCAT;
    if (a->fusion && (vr_fusion_mode_parse(a->fusion, &mode) || mode == VR_FUSION_NONE)) {
        fprintf(stderr, "vireo eval: --fusion takes sum or concat\n");
        goto out;
    }
    vr_fusion f = {.mode = mode, .w = 0, .d_img = d, .d_txt = E};
    if (mode == VR_FUSION_SUM) {
        if (vr_fusion_check(&f, err, sizeof err)) {
            fprintf(stderr, "vireo eval: %s\n", err);
            goto out;
        }
        text_row tr = {VR_FUSION_SUM, 0, -1};
        if (eval_protocol_text(a, "text->catalogue", &tr, Dsc, NULL, il, nc, I, il, nc, d, T, nt, 0,
                               ips, pool) ||
            eval_protocol_text(a, "text->photo", &tr, Dsc, NULL, il, nc, Q, ql, nq, d, T, nt, 0, ips,
                               pool))
            goto out;
    } else if (!a->quiet)
        fprintf(stderr, "vireo eval: the text tower (%zu-d) is not in the image side's space "
                        "(%zu-d%s): text->catalogue and text->photo need a CLIP pair; skipped\n",
                E, d, a->nmodels > 1 ? ", an ensemble" : "");
    for (int k = 0; k < a->ntitles; k++) {
        f.w = a->titles[k];
        if (vr_fusion_check(&f, err, sizeof err)) {
            fprintf(stderr, "vireo eval: --titles %g: %s\n", (double)f.w, err);
            goto out;
        }
        size_t du = vr_fusion_dim(&f);
        float wq = a->text_weight >= 0 ? a->text_weight : f.w;
        free(U), free(Tu), free(fill);
        U = malloc(nc * du * sizeof *U + 1);
        Tu = malloc(nt * du * sizeof *Tu + 1);
        fill = NULL;
        if (!U || !Tu || vr_fusion_items(&f, I, Ni, nc, U, err, sizeof err) ||
            vr_fusion_items(&f, T, Nt, nt, Tu, err, sizeof err)) {
            fprintf(stderr, "vireo eval: %s\n", U && Tu ? err : "out of memory");
            goto out;
        }
        if (mode == VR_FUSION_CONCAT && needs_train(a) && !(fill = column_mean(Tu, nt, du))) {
            fprintf(stderr, "vireo eval: out of memory\n");
            goto out;
        }
        text_row tr = {mode, f.w, -1}, trb = {mode, f.w, wq};
        int bad = fused_queries(&f, Q, NULL, nq, wq, fill, &q, &qw) ||
                  eval_protocol_text(a, "photo->unified", &tr, q, qw, ql, nq, U, il, nc, du, Tu, nt,
                                     0, ips, pool);
        free(q), free(qw);
        q = qw = NULL;
        if (!bad)
            bad = fused_queries(&f, NULL, Dsc, nc, wq, fill, &q, &qw) ||
                  eval_protocol_text(a, "text->unified", &tr, q, qw, il, nc, U, il, nc, du, Tu, nt,
                                     0, ips, pool);
        free(q), free(qw);
        q = qw = NULL;
        if (!bad)
            bad = fused_queries(&f, Q, Nq, nq, wq, fill, &q, &qw) ||
                  eval_protocol_text(a, "photo+name->unified", &trb, q, qw, ql, nq, U, il, nc, du,
                                     Tu, nt, 0, ips, pool);
        free(q), free(qw);
        q = qw = NULL;
        if (bad)
            goto out;
    }
    rc = 0;
out:
    free(texts), free(names), free(X), free(U), free(Tu), free(fill);
    return rc;
}

static int run_grocery(eval_args *a, vr_pool *pool)
{
    char err[1024], dir[4096];
    if (a->data)
        snprintf(dir, sizeof dir, "%s", a->data);
    else
        snprintf(dir, sizeof dir, "%s/data/grocery", models_shared_dir());
    ds_grocery g;
    if (ds_grocery_load(dir, a->limit, &g, err, sizeof err)) {
        fprintf(stderr, "vireo eval: %s\n", err);
        return 1;
    }
    float *T = NULL, *Q = NULL, *I = NULL;
    int32_t *tl = labels32(&g.train), *ql = labels32(&g.test), *il = labels32(&g.iconic);
    size_t d = 0;
    double ips = 0, r;
    int rc = 1;
    if (!tl || !ql || !il)
        goto out;
    if (embed_fused(a, &g.test, "grocery test", &Q, &d, &ips) ||
        embed_fused(a, &g.iconic, "grocery iconic", &I, &d, &r) ||
        embed_fused(a, &g.train, "grocery train", &T, &d, &r))
        goto out;
    if (r > 0 && (ips == 0 || r < ips))
        ips = r;
    if (eval_protocol(a, "photo->catalogue", Q, ql, g.test.n, I, il, g.iconic.n, d, T, g.train.n, 0,
                      ips, pool) ||
        eval_protocol(a, "photo->photo", Q, ql, g.test.n, T, tl, g.train.n, d, T, g.train.n, 0, ips,
                      pool))
        goto out;
    if (a->text_spec && run_grocery_text(a, &g, Q, I, T, d, ips, ql, il, pool))
        goto out;
    rc = 0;
out:
    free(T), free(Q), free(I), free(tl), free(ql), free(il);
    ds_grocery_free(&g);
    return rc;
}

static int run_ukbench(eval_args *a, vr_pool *pool)
{
    char err[1024], dir[4096];
    if (a->data)
        snprintf(dir, sizeof dir, "%s", a->data);
    else
        snprintf(dir, sizeof dir, "%s/data/ukbench1000", models_shared_dir());
    ds_set s;
    if (ds_ukbench_load(dir, a->limit, &s, err, sizeof err)) {
        fprintf(stderr, "vireo eval: %s\n", err);
        return 1;
    }
    float *X = NULL, *T = NULL;
    int32_t *l = labels32(&s);
    size_t d = 0, nt = 0;
    double ips = 0, r;
    int rc = 1;
    ds_grocery g = {0};
    if (!l || embed_fused(a, &s, "ukbench", &X, &d, &ips))
        goto out;
    if (needs_train(a)) {
        /* UKBench has no training split: whitening is learned on another
         * set, GroceryStore's train photos (never on the evaluated images). */
        snprintf(dir, sizeof dir, "%s/data/grocery", models_shared_dir());
        if (ds_grocery_load(dir, a->limit, &g, err, sizeof err)) {
            fprintf(stderr, "vireo eval: whitening for ukbench is fitted on GroceryStore train: %s\n",
                    err);
            goto out;
        }
        if (embed_fused(a, &g.train, "grocery train (whitening)", &T, &d, &r))
            goto out;
        nt = g.train.n;
    }
    if (eval_protocol(a, "all->all", X, l, s.n, X, l, s.n, d, T, nt, 1, ips, pool))
        goto out;
    rc = 0;
out:
    free(X), free(T), free(l);
    ds_set_free(&s);
    ds_grocery_free(&g);
    return rc;
}

static int parse_codes(const char *s, vk_code_kind *k, int *n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (*n >= 3)
            return -1;
        if (!strcmp(tok, "f32"))
            k[(*n)++] = VK_CODE_F32;
        else if (!strcmp(tok, "int8") || !strcmp(tok, "uint8"))
            k[(*n)++] = VK_CODE_U8;
        else if (!strcmp(tok, "int8-sym"))
            k[(*n)++] = VK_CODE_S8;
        else if (!strcmp(tok, "int4"))
            k[(*n)++] = VK_CODE_U4;
        else
            return -1;
    }
    return *n ? 0 : -1;
}

static int num(const char *s, double lo, double hi, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end == s || *end || errno || *v < lo || *v > hi ? -1 : 0;
}

/* A comma-separated list of at most max numbers in [lo, hi] into v: how many,
 * or -1 (too many, or one that is not a number in range). */
static int num_list(const char *s, double lo, double hi, double *v, int max)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    int n = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","))
        if (n == max || num(tok, lo, hi, &v[n++]))
            return -1;
    return n;
}

int cmd_eval(int argc, char **argv)
{
    eval_args a = {.text_weight = -1};
    rr_cfg base;
    rr_cfg_default(&base);
    vk_code_kind kinds[3] = {VK_CODE_U8};
    size_t rescores[MAX_RESCORE] = {0};
    int nkinds = 1, nrescore = 1, sweep = 0;
    double v;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(o, "-m") && has) {
            if (a.nmodels == MAX_MODELS) {
                fprintf(stderr, "vireo eval: at most %d models\n", MAX_MODELS);
                return 2;
            }
            model_arg *m = &a.models[a.nmodels++];
            m->spec = argv[++i];
            m->weight = 1;
            char *colon = strrchr(argv[i], ':');
            if (colon && num(colon + 1, 0, 1e6, &v) == 0) {
                *colon = 0;
                m->weight = (float)v;
            }
        } else if (!strcmp(o, "--codes") && has) {
            if (parse_codes(argv[++i], kinds, &nkinds)) {
                fprintf(stderr, "vireo eval: --codes takes f32, int8, int8-sym, int4 (comma-separated)\n");
                return 2;
            }
        } else if (!strncmp(o, "--whiten", 8) && (o[8] == 0 || o[8] == '=')) {
            base.whiten = 1;
            if (o[8] == '=' && num(o + 9, 0, 1, &v) == 0)
                base.wopt.power = (float)v;
            else if (o[8] == '=') {
                fprintf(stderr, "vireo eval: --whiten=POWER takes 0 ... 1\n");
                return 2;
            }
        } else if (!strcmp(o, "--whiten-dim") && has && num(argv[i + 1], 1, 1e6, &v) == 0) {
            base.wopt.d_out = (size_t)v;
            i++;
        } else if (!strcmp(o, "--dba") && has && num(argv[i + 1], 1, 1e4, &v) == 0) {
            base.dba = (size_t)v;
            i++;
        } else if (!strcmp(o, "--qe") && has && num(argv[i + 1], 1, 1e4, &v) == 0) {
            base.qe = (size_t)v;
            i++;
        } else if (!strcmp(o, "--alpha") && has && num(argv[i + 1], 0, 100, &v) == 0) {
            base.qe_alpha = base.dba_alpha = (float)v;
            i++;
        } else if (!strcmp(o, "--rescore") && has) {
            double d[MAX_RESCORE];
            nrescore = num_list(argv[++i], 0, 1e6, d, MAX_RESCORE);
            if (nrescore < 1) {
                fprintf(stderr, "vireo eval: --rescore takes 1 to %d depths in 0 ... 1000000\n",
                        MAX_RESCORE);
                return 2;
            }
            for (int r = 0; r < nrescore; r++)
                rescores[r] = (size_t)d[r];
        } else if (!strcmp(o, "--rerank"))
            base.rerank = 1;
        else if (!strcmp(o, "--k1") && has && num(argv[i + 1], 1, 1e4, &v) == 0) {
            base.ropt.k1 = (int)v;
            i++;
        } else if (!strcmp(o, "--k2") && has && num(argv[i + 1], 1, 1e4, &v) == 0) {
            base.ropt.k2 = (int)v;
            i++;
        } else if (!strcmp(o, "--lambda") && has && num(argv[i + 1], 0, 1, &v) == 0) {
            base.ropt.lambda = (float)v;
            i++;
        }
        else if (!strcmp(o, "--text-model") && has)
            a.text_spec = argv[++i];
        else if (!strcmp(o, "--fusion") && has)
            a.fusion = argv[++i];
        else if (!strcmp(o, "--text-weight") && has && num(argv[i + 1], 0, 1, &v) == 0) {
            a.text_weight = (float)v;
            i++;
        } else if (!strcmp(o, "--titles") && has) {
            double w[8];
            int nw = num_list(argv[++i], 0, 1, w, 8 - a.ntitles);
            if (nw < 0) {
                fprintf(stderr, "vireo eval: --titles takes up to 8 weights in 0 ... 1\n");
                return 2;
            }
            for (int t = 0; t < nw; t++)
                a.titles[a.ntitles++] = (float)w[t];
        } else if (!strcmp(o, "--sweep"))
            sweep = 1;
        else if (!strcmp(o, "--json"))
            a.json = 1;
        else if (!strcmp(o, "-q"))
            a.quiet = 1;
        else if (!strcmp(o, "--no-cache"))
            a.no_cache = 1;
        else if (!strcmp(o, "--limit") && has && num(argv[i + 1], 1, 1e9, &v) == 0) {
            a.limit = (size_t)v;
            i++;
        } else if (!strcmp(o, "-t") && has && num(argv[i + 1], 0, 1024, &v) == 0) {
            a.threads = (int)v;
            i++;
        } else if (!strcmp(o, "--data") && has)
            a.data = argv[++i];
        else if (o[0] != '-' && !a.dataset)
            a.dataset = o;
        else {
            fprintf(stderr, "vireo eval: bad argument '%s'\n%s", o, usage_text);
            return 2;
        }
    }
    if (!a.dataset || (strcmp(a.dataset, "grocery") && strcmp(a.dataset, "ukbench"))) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (a.nmodels == 0) {
        a.models[0] = (model_arg){.spec = MODEL_DEFAULT, .weight = 1};
        a.nmodels = 1;
    }
    char err[1024];
    for (int m = 0; m < a.nmodels; m++)
        if (models_resolve(a.models[m].spec, "image", a.models[m].path, sizeof a.models[m].path, a.quiet, err,
                           sizeof err)) {
            fprintf(stderr, "vireo eval: %s\n", err);
            return 1;
        }
    if ((a.ntitles || a.fusion) && !a.text_spec) {
        fprintf(stderr, "vireo eval: --titles and --fusion need --text-model\n");
        return 2;
    }
    if (a.text_spec && strcmp(a.dataset, "grocery")) {
        fprintf(stderr, "vireo eval: the text protocols are GroceryStore's (its descriptions)\n");
        return 2;
    }
    if (a.text_spec &&
        models_resolve(a.text_spec, "text", a.text_path, sizeof a.text_path, a.quiet, err, sizeof err)) {
        fprintf(stderr, "vireo eval: %s\n", err);
        return 1;
    }
    /* configurations: codes × re-scoring depths (quantized codes only) ×
     * (flags | the sweep grid) */
    for (int k = 0; k < nkinds * nrescore; k++) {
        vk_code_kind kind = kinds[k / nrescore];
        base.rescore = rescores[k % nrescore];
        if (base.rescore && !vk_code_is_quantized(kind)) {
            int plain = 0; /* f32 once, without re-scoring */
            for (int r = 0; r < nrescore; r++)
                plain |= rescores[r] == 0;
            if (plain || k % nrescore != 0)
                continue;
            base.rescore = 0;
        }
        if (!sweep) {
            a.cfgs[a.ncfgs] = base;
            a.cfgs[a.ncfgs++].codes = kind;
            continue;
        }
        size_t qe = base.qe ? base.qe : 2, dba = base.dba ? base.dba : 2;
        rr_cfg grid[5];
        for (int j = 0; j < 5; j++) {
            grid[j] = base;
            grid[j].codes = kind;
            grid[j].whiten = j >= 1;
            grid[j].qe = j >= 2 ? qe : 0;
            grid[j].dba = j >= 3 ? dba : 0;
            grid[j].rerank = j >= 4;
            a.cfgs[a.ncfgs++] = grid[j];
        }
    }
    vr_pool *pool = vr_pool_create(a.threads);
    if (!pool) {
        fprintf(stderr, "vireo eval: cannot start threads\n");
        return 1;
    }
    int rc = !strcmp(a.dataset, "grocery") ? run_grocery(&a, pool) : run_ukbench(&a, pool);
    vr_pool_destroy(pool);
    return rc;
}
