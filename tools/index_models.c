#include "index_models.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embeddings.h"
#include "formats/errmsg.h"
#include "models.h"
#include "runtime/text_encoder.h"

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
    if (models_resolve(spec, "image", m->path[i], sizeof m->path[i], quiet, err, errlen))
        return -1;
    snprintf(m->spec[i], sizeof m->spec[i], "%s", spec);
    m->weight[i] = w;
    m->dim[i] = 0;
    m->n++;
    return 0;
}

int ixm_set_text(ix_models *m, const char *spec, const char *mode, float titles, int quiet,
                 char *err, size_t errlen)
{
    if (snprintf(m->text_spec, sizeof m->text_spec, "%s", spec) >= (int)sizeof m->text_spec)
        return vf_fail(err, errlen, "text model argument too long");
    if (models_resolve(spec, "text", m->text_path, sizeof m->text_path, quiet, err, errlen))
        return -1;
    m->fusion = (vr_fusion){.mode = VR_FUSION_SUM, .w = titles};
    m->fusion_auto = !mode;
    if (mode && (vr_fusion_mode_parse(mode, &m->fusion.mode) || m->fusion.mode == VR_FUSION_NONE))
        return vf_fail(err, errlen, "--fusion takes sum or concat, not '%s'", mode);
    if (!(titles >= 0 && titles <= 1))
        return vf_fail(err, errlen, "--titles takes a weight in 0 ... 1");
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
    return ixm_text_from_index(ix, m, quiet, err, errlen);
}

int ixm_text_from_index(const vr_index *ix, ix_models *m, int quiet, char *err, size_t errlen)
{
    size_t d_img = 0;
    for (int i = 0; i < IXM_MAX; i++) {
        char key[64];
        snprintf(key, sizeof key, "model.%d.dim", i);
        const char *d = vr_index_meta(ix, key);
        if (!d)
            break;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(d, &end, 10);
        if (end == d || *end || errno || d[0] == '-' || v < 1 || v > 65536)
            return vf_fail(err, errlen, "index: %s is '%s' (1 ... 65536)", key, d);
        d_img += (size_t)v;
    }
    m->text_spec[0] = 0;
    m->fusion = (vr_fusion){0};
    vr_fusion f;
    int ht = vr_fusion_from_index(ix, d_img, &f, err, errlen);
    if (ht < 0)
        return -1;
    if (ht) {
        const char *spec = vr_index_meta(ix, "text.spec");
        if (ixm_set_text(m, spec, vr_fusion_mode_name(f.mode), f.w, quiet, err, errlen))
            return -1;
        m->fusion = f;
    }
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
    if (m->text_spec[0] && k < n)
        snprintf(buf + k, n - k, "|text:%s:%s:%g", models_short_name(m->text_spec),
                 vr_fusion_mode_name(m->fusion.mode), (double)m->fusion.w);
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
    if (m->text_spec[0]) {
        PUT("%s", "text.spec", "%s", m->text_spec);
        PUT("%s", "text.dim", "%zu", m->fusion.d_txt);
        PUT("%s", "text.fusion", "%s", vr_fusion_mode_name(m->fusion.mode));
        PUT("%s", "text.titles", "%.9g", (double)m->fusion.w);
    }
#undef PUT
}

/* The image side: every model, fused by vr_ensemble_concat (unit rows). */
static int embed_images(ix_models *m, const char *const *paths, size_t n, const ixm_embed_opts *o,
                        float **out, uint8_t *ok, size_t *dim, double *images_per_s, char *err,
                        size_t errlen)
{
    emb_matrix em[IXM_MAX] = {0};
    const float *parts[IXM_MAX];
    size_t dims[IXM_MAX], total = 0;
    double slow = 0;
    int rc = -1;
    float *fused = NULL;
    *out = NULL;
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
            ok[j] &= em[i].ok[j];
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
    for (size_t j = 0; j < n; j++)
        if (!ok[j])
            memset(fused + j * total, 0, total * sizeof *fused);
    *out = fused;
    fused = NULL;
    *dim = total;
    rc = 0;
out:
    for (int i = 0; i < m->n; i++)
        emb_free(&em[i]);
    free(fused);
    return rc;
}

static const char *const *g_sort_texts;

static int cmp_text_index(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(g_sort_texts[x], g_sort_texts[y]);
    return c ? c : (x > y) - (x < y);
}

int ixm_embed_texts(const char *model_path, const char *const *texts, size_t n, int threads,
                    float **out, size_t *dim, char *err, size_t errlen)
{
    *out = NULL;
    vr_text_encoder *e = NULL;
    vr_pool *pool = NULL;
    size_t *order = malloc((n + 1) * sizeof *order), *slot = malloc((n + 1) * sizeof *slot);
    const char **uniq = malloc((n + 1) * sizeof *uniq);
    float *u = NULL, *x = NULL;
    int rc = -1;
    if (!order || !slot || !uniq) {
        vf_fail(err, errlen, "out of memory");
        goto out;
    }
    if (vr_text_encoder_open(model_path, models_clip_vocab(), &e, err, errlen))
        goto out;
    size_t d = vr_text_encoder_dim(e), nu = 0;
    /* each distinct text once (titles repeat: a class name per photo) */
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    g_sort_texts = texts;
    qsort(order, n, sizeof *order, cmp_text_index);
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        if (!nu || strcmp(uniq[nu - 1], texts[i]))
            uniq[nu++] = texts[i];
        slot[i] = nu - 1;
    }
    u = malloc((nu + 1) * d * sizeof *u);
    x = malloc((n + 1) * d * sizeof *x);
    pool = vr_pool_create(threads);
    if (!u || !x || !pool) {
        vf_fail(err, errlen, "out of memory");
        goto out;
    }
    if (vr_text_encoder_run(e, uniq, nu, pool, u, err, errlen))
        goto out;
    vr_l2_normalize_rows(u, nu, d);
    for (size_t i = 0; i < n; i++)
        memcpy(x + i * d, u + slot[i] * d, d * sizeof *x);
    *out = x;
    x = NULL;
    *dim = d;
    rc = 0;
out:
    vr_text_encoder_close(e);
    vr_pool_destroy(pool);
    free(order), free(slot), free(uniq), free(u), free(x);
    return rc;
}

/* Fusion dimensions now known: the mode (auto: sum for one image model in the
 * text tower's space, else concat) and the checks. */
static int settle_fusion(ix_models *m, size_t d_img, size_t d_txt, char *err, size_t errlen)
{
    if (m->fusion.d_txt && m->fusion.d_txt != d_txt)
        return vf_fail(err, errlen, "%s gives %zu-d text embeddings, the index was built with %zu",
                       m->text_spec, d_txt, m->fusion.d_txt);
    m->fusion.d_img = d_img;
    m->fusion.d_txt = d_txt;
    if (m->fusion_auto) {
        m->fusion.mode = m->n == 1 && d_img == d_txt ? VR_FUSION_SUM : VR_FUSION_CONCAT;
        m->fusion_auto = 0;
    }
    if (m->fusion.mode == VR_FUSION_CONCAT && m->fusion.w == 0)
        return vf_fail(err, errlen,
                       "%s (%zu-d) is not in the image side's space (%zu-d%s), so a text query "
                       "could only search titles fused into the items: give --titles W (0 < W < 1)",
                       m->text_spec, d_txt, d_img, m->n > 1 ? ", an ensemble" : "");
    if (vr_fusion_check(&m->fusion, err, errlen))
        return -1;
    return 0;
}

static int apply_whiten(const vr_whiten *w, float **x, size_t n, size_t *d, char *err,
                        size_t errlen)
{
    if (!w)
        return 0;
    if (w->d_in != *d)
        return vf_fail(err, errlen, "the whitening takes %zu dimensions, the embeddings have %zu",
                       w->d_in, *d);
    float *y = malloc(n * w->d_out * sizeof *y + 1);
    if (!y)
        return vf_fail(err, errlen, "out of memory");
    if (vr_whiten_apply(w, *x, n, y, NULL, err, errlen)) {
        free(y);
        return -1;
    }
    free(*x);
    *x = y;
    *d = w->d_out;
    return 0;
}

static void zero_failed(float *x, const uint8_t *ok, size_t n, size_t d)
{
    for (size_t j = 0; j < n; j++)
        if (!ok[j])
            memset(x + j * d, 0, d * sizeof *x);
}

int ixm_embed(ix_models *m, const char *const *paths, const char *const *titles, size_t n,
              const vr_whiten *w, const ixm_embed_opts *o, float **out, uint8_t **ok, size_t *dim,
              double *images_per_s, char *err, size_t errlen)
{
    float *img = NULL, *txt = NULL, *x = NULL;
    size_t d_img = 0, d_txt = 0, d;
    *out = NULL;
    *ok = calloc(n + 1, 1);
    if (!*ok)
        return vf_fail(err, errlen, "out of memory");
    memset(*ok, 1, n);
    if (embed_images(m, paths, n, o, &img, *ok, &d_img, images_per_s, err, errlen))
        goto fail;
    x = img;
    d = d_img;
    img = NULL;
    if (m->text_spec[0]) {
        if (!titles) {
            vf_fail(err, errlen, "items need titles with a text model");
            goto fail;
        }
        if (m->fusion.w == 0) { /* items are the image rows: the titles are not needed */
            vr_text_encoder *e;
            if (vr_text_encoder_open(m->text_path, models_clip_vocab(), &e, err, errlen))
                goto fail;
            d_txt = vr_text_encoder_dim(e);
            vr_text_encoder_close(e);
        } else if (ixm_embed_texts(m->text_path, titles, n, o->threads, &txt, &d_txt, err,
                                   errlen))
            goto fail;
        if (settle_fusion(m, d, d_txt, err, errlen))
            goto fail;
        d = vr_fusion_dim(&m->fusion);
        float *f = txt ? malloc(n * d * sizeof *f + 1) : NULL;
        if (!txt) /* W = 0, SUM: normalise((1 − 0)·î) = î */
            goto fused;
        if (!f || vr_fusion_items(&m->fusion, x, txt, n, f, err, errlen)) {
            if (!f)
                vf_fail(err, errlen, "out of memory");
            free(f);
            goto fail;
        }
        free(x);
        x = f;
    }
fused:
    if (apply_whiten(w, &x, n, &d, err, errlen))
        goto fail;
    zero_failed(x, *ok, n, d);
    free(txt);
    *out = x;
    *dim = d;
    return 0;
fail:
    free(img), free(txt), free(x);
    free(*ok);
    *ok = NULL;
    return -1;
}

int ixm_queries(ix_models *m, const char *const *paths, const char *const *texts, size_t n,
                float wq, const vr_whiten *w, const ixm_embed_opts *o, float **out, uint8_t **ok,
                size_t *dim, double *images_per_s, char *err, size_t errlen)
{
    float *img = NULL, *txt = NULL, *x = NULL;
    size_t d_img = 0, d_txt = 0, d;
    *out = NULL;
    if (images_per_s)
        *images_per_s = 0;
    *ok = calloc(n + 1, 1);
    if (!*ok)
        return vf_fail(err, errlen, "out of memory");
    memset(*ok, 1, n);
    if (texts && !m->text_spec[0]) {
        vf_fail(err, errlen, "this index was built without a text model (index build "
                             "--text-model): it cannot take text queries");
        goto fail;
    }
    if (paths && embed_images(m, paths, n, o, &img, *ok, &d_img, images_per_s, err, errlen))
        goto fail;
    if (!paths) /* the index's image side (model dimensions may be unknown under -m) */
        d_img = m->fusion.d_img;
    if (!m->text_spec[0]) {
        x = img, img = NULL, d = d_img;
    } else {
        if (texts && ixm_embed_texts(m->text_path, texts, n, o->threads, &txt, &d_txt, err, errlen))
            goto fail;
        if (texts && settle_fusion(m, d_img, d_txt, err, errlen))
            goto fail;
        if (!texts && vr_fusion_check(&m->fusion, err, errlen))
            goto fail;
        d = vr_fusion_dim(&m->fusion);
        x = malloc(n * d * sizeof *x + 1);
        /* a concat query missing a side takes the whitening mean's block there */
        const float *fill = w && m->fusion.mode == VR_FUSION_CONCAT && w->d_in == d ? w->mean : NULL;
        if (!x || vr_fusion_queries(&m->fusion, img, txt, n, wq, fill, x, err, errlen)) {
            if (!x)
                vf_fail(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (apply_whiten(w, &x, n, &d, err, errlen))
        goto fail;
    zero_failed(x, *ok, n, d);
    free(img), free(txt);
    *out = x;
    *dim = d;
    return 0;
fail:
    free(img), free(txt), free(x);
    free(*ok);
    *ok = NULL;
    return -1;
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
