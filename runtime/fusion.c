/* Image + title fusion (runtime/fusion.h). */
#include "runtime/fusion.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/errmsg.h"

#define MAX_DIM 65536

int vr_fusion_mode_parse(const char *s, vr_fusion_mode *m)
{
    if (!s || !strcmp(s, "none"))
        *m = VR_FUSION_NONE;
    else if (!strcmp(s, "sum"))
        *m = VR_FUSION_SUM;
    else if (!strcmp(s, "concat"))
        *m = VR_FUSION_CONCAT;
    else
        return -1;
    return 0;
}

const char *vr_fusion_mode_name(vr_fusion_mode m)
{
    return m == VR_FUSION_SUM ? "sum" : m == VR_FUSION_CONCAT ? "concat" : "none";
}

int vr_fusion_check(const vr_fusion *f, char *err, size_t errlen)
{
    if (f->mode == VR_FUSION_NONE)
        return 0;
    if (f->mode != VR_FUSION_SUM && f->mode != VR_FUSION_CONCAT)
        return vf_fail(err, errlen, "fusion: unknown mode %d", (int)f->mode);
    if (!(f->w >= 0 && f->w <= 1))
        return vf_fail(err, errlen, "fusion: titles weight %g is not in 0 ... 1", (double)f->w);
    if (f->d_img < 1 || f->d_img > MAX_DIM || f->d_txt < 1 || f->d_txt > MAX_DIM)
        return vf_fail(err, errlen, "fusion: dimensions %zu (image) and %zu (text) not in 1 ... %d",
                       f->d_img, f->d_txt, MAX_DIM);
    if (f->mode == VR_FUSION_SUM && f->d_img != f->d_txt)
        return vf_fail(err, errlen,
                       "fusion sum needs the image and text embeddings in one space, but they are "
                       "%zu-d and %zu-d (use concat)", f->d_img, f->d_txt);
    if (f->mode == VR_FUSION_CONCAT && !(f->w > 0 && f->w < 1))
        return vf_fail(err, errlen,
                       "fusion concat needs a titles weight strictly between 0 and 1 (got %g): "
                       "the image or the title block would be empty in every item", (double)f->w);
    return 0;
}

size_t vr_fusion_dim(const vr_fusion *f)
{
    return f->mode == VR_FUSION_CONCAT ? f->d_img + f->d_txt : f->d_img;
}

static double sq_norm(const float *x, size_t d)
{
    double s = 0;
    for (size_t i = 0; i < d; i++)
        s += (double)x[i] * x[i];
    return s;
}

/* out = normalise(a·x + b·y) over d (x or y may be NULL: that term is 0);
 * a zero result stays zero. */
static void sum_row(const float *x, double a, const float *y, double b, size_t d, float *out)
{
    double n2 = 0;
    for (size_t i = 0; i < d; i++) {
        double v = (x ? a * x[i] : 0) + (y ? b * y[i] : 0);
        n2 += v * v;
    }
    double inv = n2 > 0 ? 1 / sqrt(n2) : 0;
    for (size_t i = 0; i < d; i++)
        out[i] = (float)(((x ? a * x[i] : 0) + (y ? b * y[i] : 0)) * inv);
}

/* out = normalise([a·x (or fx) ; b·y (or fy)]) over d1 + d2; absent x / y take
 * the fill block (NULL: zeros). */
static void concat_row(const float *x, double a, const float *fx, size_t d1, const float *y,
                       double b, const float *fy, size_t d2, float *out)
{
    double n2 = 0;
    for (size_t i = 0; i < d1; i++) {
        double v = x ? a * x[i] : fx ? fx[i] : 0;
        n2 += v * v;
    }
    for (size_t i = 0; i < d2; i++) {
        double v = y ? b * y[i] : fy ? fy[i] : 0;
        n2 += v * v;
    }
    double inv = n2 > 0 ? 1 / sqrt(n2) : 0;
    for (size_t i = 0; i < d1; i++)
        out[i] = (float)((x ? a * x[i] : fx ? fx[i] : 0) * inv);
    for (size_t i = 0; i < d2; i++)
        out[d1 + i] = (float)((y ? b * y[i] : fy ? fy[i] : 0) * inv);
}

int vr_fusion_items(const vr_fusion *f, const float *img, const float *txt, size_t n, float *out,
                    char *err, size_t errlen)
{
    if (vr_fusion_check(f, err, errlen))
        return -1;
    if (f->mode == VR_FUSION_NONE) {
        memcpy(out, img, n * f->d_img * sizeof *out);
        return 0;
    }
    if (!img || !txt)
        return vf_fail(err, errlen, "fusion: items need both image and title embeddings");
    size_t d = vr_fusion_dim(f);
    double W = f->w;
    for (size_t r = 0; r < n; r++) {
        const float *x = img + r * f->d_img, *y = txt + r * f->d_txt;
        float *o = out + r * d;
        if (!(sq_norm(x, f->d_img) > 0)) { /* the image failed: no item */
            memset(o, 0, d * sizeof *o);
            continue;
        }
        if (f->mode == VR_FUSION_SUM)
            sum_row(x, 1 - W, y, W, d, o);
        else
            concat_row(x, sqrt(1 - W), NULL, f->d_img, y, sqrt(W), NULL, f->d_txt, o);
    }
    return 0;
}

int vr_fusion_queries(const vr_fusion *f, const float *img, const float *txt, size_t n, float wq,
                      const float *fill, float *out, char *err, size_t errlen)
{
    if (vr_fusion_check(f, err, errlen))
        return -1;
    if (!img && !txt)
        return vf_fail(err, errlen, "fusion: a query needs an image or a text");
    if (f->mode == VR_FUSION_NONE) {
        if (!img)
            return vf_fail(err, errlen, "this index has no text model: it cannot take text queries");
        memcpy(out, img, n * f->d_img * sizeof *out);
        return 0;
    }
    if (img && txt && !(wq >= 0 && wq <= 1))
        return vf_fail(err, errlen, "text weight %g is not in 0 ... 1", (double)wq);
    size_t d = vr_fusion_dim(f);
    double W = f->w;
    for (size_t r = 0; r < n; r++) {
        const float *x = img ? img + r * f->d_img : NULL, *y = txt ? txt + r * f->d_txt : NULL;
        float *o = out + r * d;
        if (f->mode == VR_FUSION_SUM) {
            if (x && y)
                sum_row(x, 1 - (double)wq, y, wq, d, o);
            else
                sum_row(x, 1, y, 1, d, o);
        } else if (x && y) {
            concat_row(x, sqrt(1 - (double)wq), NULL, f->d_img, y, sqrt((double)wq), NULL,
                       f->d_txt, o);
        } else {
            concat_row(x, sqrt(1 - W), fill, f->d_img, y, sqrt(W), fill ? fill + f->d_img : NULL,
                       f->d_txt, o);
        }
    }
    return 0;
}

/* A decimal in [0, 1]. */
static int parse_weight(const char *s, float *w)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= 0 && v <= 1))
        return -1;
    *w = (float)v;
    return 0;
}

static int parse_dim(const char *s, size_t *d)
{
    if (!s || !*s || strlen(s) > 6)
        return -1;
    size_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (size_t)(*p - '0');
    }
    if (v < 1 || v > MAX_DIM)
        return -1;
    *d = v;
    return 0;
}

int vr_fusion_from_index(const vr_index *ix, size_t d_img, vr_fusion *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->d_img = d_img;
    const char *mode = vr_index_meta(ix, "text.fusion");
    const char *w = vr_index_meta(ix, "text.titles");
    const char *dim = vr_index_meta(ix, "text.dim");
    const char *spec = vr_index_meta(ix, "text.spec");
    if (!mode) {
        if (w || dim || spec)
            return vf_fail(err, errlen, "index: text.titles / text.dim / text.spec without "
                                        "text.fusion");
        return 0;
    }
    if (vr_fusion_mode_parse(mode, &f->mode) || f->mode == VR_FUSION_NONE)
        return vf_fail(err, errlen, "index: text.fusion is '%s' (sum or concat)", mode);
    if (!w || parse_weight(w, &f->w))
        return vf_fail(err, errlen, "index: text.titles is %s%s%s (a weight in 0 ... 1)",
                       w ? "'" : "", w ? w : "missing", w ? "'" : "");
    if (!dim || parse_dim(dim, &f->d_txt))
        return vf_fail(err, errlen, "index: text.dim is %s%s%s (1 ... %d)", dim ? "'" : "",
                       dim ? dim : "missing", dim ? "'" : "", MAX_DIM);
    if (!spec || !*spec)
        return vf_fail(err, errlen, "index: text.spec (the text model) is missing or empty");
    char e2[256];
    if (vr_fusion_check(f, e2, sizeof e2))
        return vf_fail(err, errlen, "index: %s", e2);
    if (vr_fusion_dim(f) != vr_index_dim_in(ix))
        return vf_fail(err, errlen,
                       "index: image (%zu-d) and text (%zu-d) fused by %s give %zu-d rows, but the "
                       "index's rows come from %zu-d ones", f->d_img, f->d_txt, mode,
                       vr_fusion_dim(f), vr_index_dim_in(ix));
    return 1;
}
