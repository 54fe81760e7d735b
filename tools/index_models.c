#include "index_models.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embeddings.h"
#include "formats/errmsg.h"
#include "models.h"

int ixm_add(ix_models *m, const char *arg, int quiet, char *err, size_t errlen)
{
    if (m->n == IXM_MAX)
        return vf_fail(err, errlen, "at most %d models", IXM_MAX);
    char spec[1024];
    if (snprintf(spec, sizeof spec, "%s", arg) >= (int)sizeof spec)
        return vf_fail(err, errlen, "model argument too long");
    float w = 1;
    char *colon = strrchr(spec, ':');
    if (colon) {
        char *end;
        errno = 0;
        double v = strtod(colon + 1, &end);
        if (end != colon + 1 && !*end && !errno) {
            if (!(v >= 0 && v <= 1e6))
                return vf_fail(err, errlen, "%s: weight must be in 0 ... 1e6", arg);
            w = (float)v;
            *colon = 0;
        }
    }
    int i = m->n;
    if (models_resolve(spec, m->path[i], sizeof m->path[i], quiet, err, errlen))
        return -1;
    snprintf(m->spec[i], sizeof m->spec[i], "%s", spec);
    m->weight[i] = w;
    m->dim[i] = 0;
    m->n++;
    return 0;
}

int ixm_from_index(const vr_index *ix, ix_models *m, int quiet, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    for (int i = 0; i < IXM_MAX; i++) {
        char key[64];
        snprintf(key, sizeof key, "model.%d.spec", i);
        const char *spec = vr_index_meta(ix, key);
        if (!spec)
            break;
        snprintf(key, sizeof key, "model.%d.weight", i);
        const char *w = vr_index_meta(ix, key);
        char arg[1100];
        snprintf(arg, sizeof arg, "%s:%s", spec, w ? w : "1");
        if (ixm_add(m, arg, quiet, err, errlen))
            return -1;
        snprintf(key, sizeof key, "model.%d.dim", i);
        const char *d = vr_index_meta(ix, key);
        m->dim[i] = d ? (size_t)strtoull(d, NULL, 10) : 0;
    }
    if (m->n == 0)
        return vf_fail(err, errlen, "the index records no embedding model (model.0.spec): give -m");
    return 0;
}

void ixm_identity(const ix_models *m, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < m->n && k < n; i++) {
        int w = snprintf(buf + k, n - k, "%s%s:%g", i ? "+" : "", models_short_name(m->spec[i]),
                         (double)m->weight[i]);
        if (w < 0)
            break;
        k += (size_t)w;
    }
}

void ixm_to_kv(const ix_models *m, const char *transform, ixm_kv *o)
{
    o->n = 0;
#define PUT(fmtk, k1, fmtv, v1)                                                                 \
    do {                                                                                         \
        snprintf(o->buf[o->n][0], sizeof o->buf[0][0], fmtk, k1);                                \
        snprintf(o->buf[o->n][1], sizeof o->buf[0][1], fmtv, v1);                                \
        o->kv[o->n] = (vr_index_kv){o->buf[o->n][0], o->buf[o->n][1]};                           \
        o->n++;                                                                                  \
    } while (0)
    for (int i = 0; i < m->n; i++) {
        PUT("model.%d.spec", i, "%s", m->spec[i]);
        PUT("model.%d.weight", i, "%g", (double)m->weight[i]);
        PUT("model.%d.dim", i, "%zu", m->dim[i]);
    }
    PUT("%s", "transform", "%s", transform);
#undef PUT
}

int ixm_embed(ix_models *m, const char *const *paths, size_t n, const vr_whiten *w,
              const ixm_embed_opts *o, float **out, uint8_t **ok, size_t *dim, double *images_per_s,
              char *err, size_t errlen)
{
    emb_matrix em[IXM_MAX] = {0};
    const float *parts[IXM_MAX];
    size_t dims[IXM_MAX], total = 0;
    double slow = 0;
    int rc = -1;
    float *fused = NULL;
    *out = NULL;
    *ok = calloc(n + 1, 1);
    if (!*ok)
        return vf_fail(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++)
        (*ok)[i] = 1;
    for (int i = 0; i < m->n; i++) {
        char lab[1200];
        snprintf(lab, sizeof lab, "%s with %s", o->label ? o->label : "images",
                 models_short_name(m->spec[i]));
        emb_opts eo = {.threads = o->threads, .quiet = o->quiet, .no_cache = o->no_cache, .label = lab};
        double r = 0;
        if (emb_compute(m->path[i], paths, n, &eo, &em[i], &r, err, errlen))
            goto out;
        if (m->dim[i] && m->dim[i] != em[i].dim) {
            vf_fail(err, errlen, "%s gives %zu-d embeddings, the index was built with %zu",
                    m->spec[i], em[i].dim, m->dim[i]);
            goto out;
        }
        m->dim[i] = em[i].dim;
        for (size_t j = 0; j < n; j++)
            (*ok)[j] &= em[i].ok[j];
        if (r > 0)
            slow += 1.0 / r;
        parts[i] = em[i].x;
        dims[i] = em[i].dim;
        total += em[i].dim;
    }
    if (images_per_s)
        *images_per_s = slow > 0 ? 1.0 / slow : 0;
    fused = malloc(n * total * sizeof *fused + 1);
    if (!fused) {
        vf_fail(err, errlen, "out of memory");
        goto out;
    }
    if (vr_ensemble_concat(parts, dims, m->weight, (size_t)m->n, n, fused, err, errlen))
        goto out;
    if (w) {
        if (w->d_in != total) {
            vf_fail(err, errlen, "the whitening takes %zu dimensions, the models give %zu", w->d_in,
                    total);
            goto out;
        }
        float *y = malloc(n * w->d_out * sizeof *y + 1);
        if (!y) {
            vf_fail(err, errlen, "out of memory");
            goto out;
        }
        if (vr_whiten_apply(w, fused, n, y, NULL, err, errlen)) {
            free(y);
            goto out;
        }
        free(fused);
        fused = y;
        total = w->d_out;
    }
    for (size_t j = 0; j < n; j++)
        if (!(*ok)[j])
            memset(fused + j * total, 0, total * sizeof *fused);
    *out = fused;
    fused = NULL;
    *dim = total;
    rc = 0;
out:
    for (int i = 0; i < m->n; i++)
        emb_free(&em[i]);
    free(fused);
    if (rc) {
        free(*ok);
        *ok = NULL;
    }
    return rc;
}

int ixm_whiten_from_index(const vr_index *ix, vr_whiten *w, char *err, size_t errlen)
{
    vr_index_tensor mean, proj;
    memset(w, 0, sizeof *w);
    int hm = vr_index_tensor_find(ix, "whiten.mean", &mean);
    int hp = vr_index_tensor_find(ix, "whiten.proj", &proj);
    if (!hm && !hp)
        return 0;
    if (!hm || !hp || mean.rows != 1 || proj.cols != mean.cols)
        return vf_fail(err, errlen, "index: inconsistent whitening tensors");
    w->d_in = mean.cols;
    w->d_out = proj.rows;
    w->mean = (float *)mean.data;
    w->proj = (float *)proj.data;
    if (vr_whiten_check(w, err, errlen))
        return -1;
    return 1;
}
