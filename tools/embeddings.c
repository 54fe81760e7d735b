#include "embeddings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/errmsg.h"
#include "models.h"
#include "progress.h"
#include "runtime/features.h"
#include "runtime/model.h"
#include "runtime/pipeline.h"

#define CACHE_MAGIC "VIREOEMB"
#define CACHE_VERSION 1u

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t hash_file(uint64_t h, const char *path)
{
    struct stat st;
    h = fnv(h, path, strlen(path) + 1);
    if (stat(path, &st) == 0) {
        int64_t v[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec};
        h = fnv(h, v, sizeof v);
    }
    return h;
}

static int cache_read(const char *file, size_t n, emb_matrix *m)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return -1;
    char magic[8];
    uint32_t ver;
    uint64_t cn, cd;
    int rc = -1;
    if (fread(magic, 8, 1, f) == 1 && !memcmp(magic, CACHE_MAGIC, 8) && fread(&ver, 4, 1, f) == 1 &&
        ver == CACHE_VERSION && fread(&cn, 8, 1, f) == 1 && fread(&cd, 8, 1, f) == 1 && cn == n &&
        cd > 0 && cd < (1u << 20)) {
        m->n = n;
        m->dim = (size_t)cd;
        m->ok = malloc(n ? n : 1);
        m->x = malloc(n * m->dim * sizeof *m->x + 1);
        if (m->ok && m->x && fread(m->ok, 1, n, f) == n &&
            fread(m->x, sizeof *m->x, n * m->dim, f) == n * m->dim && fgetc(f) == EOF)
            rc = 0;
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (m->ok[i] > 1)
                rc = -1;
        if (rc)
            emb_free(m);
    }
    fclose(f);
    return rc;
}

static void cache_write(const char *file, const emb_matrix *m)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", file, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return;
    uint32_t ver = CACHE_VERSION;
    uint64_t cn = m->n, cd = m->dim;
    int ok = fwrite(CACHE_MAGIC, 8, 1, f) == 1 && fwrite(&ver, 4, 1, f) == 1 &&
             fwrite(&cn, 8, 1, f) == 1 && fwrite(&cd, 8, 1, f) == 1 &&
             fwrite(m->ok, 1, m->n, f) == m->n &&
             fwrite(m->x, sizeof *m->x, m->n * m->dim, f) == m->n * m->dim;
    ok = (fflush(f) == 0) & ok;
    ok = (fsync(fileno(f)) == 0) & ok;
    ok = (fclose(f) == 0) & ok;
    if (!ok || rename(tmp, file))
        unlink(tmp);
}

typedef struct {
    emb_matrix *m;
    progress pr;
} run_ctx;

static int on_item(void *ctx, const vr_pipeline_item *it)
{
    run_ctx *c = ctx;
    if (it->error) {
        progress_clear(&c->pr);
        fprintf(stderr, "skipped %s\n", it->error);
    } else {
        memcpy(c->m->x + it->index * c->m->dim, it->embedding, c->m->dim * sizeof(float));
        c->m->ok[it->index] = 1;
    }
    progress_step(&c->pr, it->error != NULL);
    return 0;
}

int emb_compute(const char *model_path, const char *const *paths, size_t n, const emb_opts *o,
                emb_matrix *out, double *images_per_s, char *err, size_t errlen)
{
    emb_opts dflt = {0};
    if (!o)
        o = &dflt;
    memset(out, 0, sizeof *out);
    if (images_per_s)
        *images_per_s = 0;
    char file[4096] = "";
    if (!o->no_cache) {
        char dir[3800];
        uint64_t h = 14695981039346656037ull;
        char rp[4096];
        h = hash_file(h, realpath(model_path, rp) ? rp : model_path);
        /* The program too: a rebuild may change decoding or preprocessing. */
        h = hash_file(h, "/proc/self/exe");
        for (size_t i = 0; i < n; i++)
            h = hash_file(h, paths[i]);
        if (models_cache_dir(dir, sizeof dir) == 0) {
            snprintf(file, sizeof file, "%s/emb-%016llx.bin", dir, (unsigned long long)h);
            if (cache_read(file, n, out) == 0)
                return 0;
        }
    }
    char e2[512];
    vr_model *m;
    if (vr_model_open(model_path, &m, e2, sizeof e2))
        return vf_fail(err, errlen, "%s", e2);
    int dim = vr_model_use_features(m, e2, sizeof e2);
    if (dim <= 0) {
        vr_model_close(m);
        return vf_fail(err, errlen, "%s: %s", model_path, e2);
    }
    out->n = n;
    out->dim = (size_t)dim;
    out->x = calloc(n * out->dim + 1, sizeof *out->x);
    out->ok = calloc(n + 1, 1);
    if (!out->x || !out->ok) {
        vr_model_close(m);
        emb_free(out);
        return vf_fail(err, errlen, "out of memory for %zu x %d embeddings", n, dim);
    }
    run_ctx c = {.m = out};
    char what[256];
    snprintf(what, sizeof what, "embedding %s", o->label ? o->label : "images");
    progress_start(&c.pr, what, "images", n, o->quiet);
    vr_pipeline_opts po;
    vr_pipeline_defaults(&po);
    po.threads = o->threads;
    vr_pipeline_stats st;
    int rc = vr_pipeline_embed(m, paths, n, &po, on_item, &c, &st, e2, sizeof e2);
    double el = progress_end(&c.pr);
    vr_model_close(m);
    if (rc) {
        emb_free(out);
        return vf_fail(err, errlen, "%s", e2);
    }
    if (images_per_s)
        *images_per_s = el > 0 ? (double)n / el : 0;
    if (file[0])
        cache_write(file, out);
    return 0;
}

void emb_free(emb_matrix *m)
{
    free(m->x);
    free(m->ok);
    memset(m, 0, sizeof *m);
}
