/* Image preprocessing: see preprocess.h for the formulas. */
#include "runtime/preprocess.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "formats/errmsg.h"

static const char *kv_str(const vw_file *f, const char *key)
{
    const vw_kv *kv = vw_kv_find(f, key);
    return kv && kv->type == VW_KV_STR ? kv->v.s : NULL;
}

static int kv_num(const vw_file *f, const char *key, double *v)
{
    const vw_kv *kv = vw_kv_find(f, key);
    if (!kv)
        return 0;
    switch (kv->type) {
    case VW_KV_U64: *v = (double)kv->v.u; return 1;
    case VW_KV_I64: *v = (double)kv->v.i; return 1;
    case VW_KV_F64: *v = kv->v.f; return 1;
    default: return -1;
    }
}

int vr_preproc_from_model(const vr_model *m, vr_preproc *pp, char *err, size_t errlen)
{
    memset(pp, 0, sizeof *pp);
    const vw_file *f = m->file;
    const vr_value *iv = vr_graph_value(m->graph, vr_graph_input(m->graph));
    if (!iv)
        return vf_fail(err, errlen, "model has no input value");
    if (iv->c != 3)
        return vf_fail(err, errlen, "model input has %d channels, images give 3", iv->c);
    if (iv->dtype != VR_F32 && iv->dtype != VR_U8 && iv->dtype != VR_S8)
        return vf_fail(err, errlen, "model input dtype %d is not f32, u8 or s8", (int)iv->dtype);
    pp->width = iv->w;
    pp->height = iv->h;
    pp->dtype = iv->dtype;
    double v;
    if (kv_num(f, "preproc.width", &v) == 1 && v != iv->w)
        return vf_fail(err, errlen, "preproc.width %g differs from the graph input width %d", v, iv->w);
    if (kv_num(f, "preproc.height", &v) == 1 && v != iv->h)
        return vf_fail(err, errlen, "preproc.height %g differs from the graph input height %d", v,
                    iv->h);
    const char *s = kv_str(f, "preproc.resize");
    if (s && strcmp(s, "bilinear"))
        return vf_fail(err, errlen, "preproc.resize '%s' not supported (bilinear only)", s);
    s = kv_str(f, "preproc.layout");
    if (s && strcmp(s, "nhwc"))
        return vf_fail(err, errlen, "preproc.layout '%s' not supported (nhwc only)", s);
    s = kv_str(f, "preproc.color");
    if (s && strcmp(s, "rgb") && strcmp(s, "bgr"))
        return vf_fail(err, errlen, "preproc.color '%s' not supported (rgb, bgr)", s);
    pp->bgr = s && !strcmp(s, "bgr");
    s = kv_str(f, "preproc.crop");
    pp->crop_fraction = 1.0f;
    if (s && !strcmp(s, "center")) {
        pp->crop_center = 1;
        pp->crop_fraction = 0.875f;
        if (kv_num(f, "preproc.crop_fraction", &v) == 1)
            pp->crop_fraction = (float)v;
        if (!(pp->crop_fraction > 0 && pp->crop_fraction <= 1))
            return vf_fail(err, errlen, "preproc.crop_fraction %g outside (0, 1]", pp->crop_fraction);
    } else if (s && strcmp(s, "none")) {
        return vf_fail(err, errlen, "preproc.crop '%s' not supported (none, center)", s);
    }
    s = kv_str(f, "preproc.input_dtype");
    if (s) {
        vr_dtype want = !strcmp(s, "f32") ? VR_F32 : !strcmp(s, "u8") ? VR_U8
                      : !strcmp(s, "s8")  ? VR_S8 : (vr_dtype)-1;
        if (want != iv->dtype)
            return vf_fail(err, errlen, "preproc.input_dtype '%s' does not match the graph input", s);
    }
    if (iv->dtype != VR_F32) {
        pp->in_scale = iv->scale;
        pp->in_zero = iv->zero;
        if (kv_num(f, "preproc.input_scale", &v) == 1)
            pp->in_scale = (float)v;
        if (kv_num(f, "preproc.input_zero", &v) == 1)
            pp->in_zero = (int32_t)v;
        if (!(pp->in_scale > 0) || !isfinite(pp->in_scale))
            return vf_fail(err, errlen, "input scale %g invalid", pp->in_scale);
    }
    const vw_kv *mk = vw_kv_find(f, "preproc.mean"), *sk = vw_kv_find(f, "preproc.std");
    if (!mk != !sk)
        return vf_fail(err, errlen, "preproc.mean and preproc.std must come together");
    if (mk) {
        if (mk->type != VW_KV_F32S || sk->type != VW_KV_F32S || mk->n != 3 || sk->n != 3)
            return vf_fail(err, errlen, "preproc.mean / preproc.std must be 3 f32 values");
        int unit = 1;
        for (int c = 0; c < 3; c++) {
            if (!isfinite(mk->v.f32s[c]) || !isfinite(sk->v.f32s[c]) || !(sk->v.f32s[c] > 0))
                return vf_fail(err, errlen, "preproc.mean / std channel %d invalid (%g, %g)", c,
                            mk->v.f32s[c], sk->v.f32s[c]);
            if (fabsf(mk->v.f32s[c]) > 1 || sk->v.f32s[c] > 1)
                unit = 0;
        }
        for (int c = 0; c < 3; c++) {
            pp->mean[c] = mk->v.f32s[c] * (unit ? 255.0f : 1.0f);
            pp->std[c] = sk->v.f32s[c] * (unit ? 255.0f : 1.0f);
        }
        pp->have_norm = 1;
    }
    return 0;
}

size_t vr_preproc_bytes(const vr_preproc *pp)
{
    return (size_t)pp->width * (size_t)pp->height * 3 * vr_dtype_size(pp->dtype);
}

/* Source coordinate table for one axis: index pairs and weights. */
static void axis_table(int out_n, int in_n, int in_off, int *i0, int *i1, float *fr)
{
    float scale = (float)in_n / (float)out_n;
    for (int o = 0; o < out_n; o++) {
        float s = ((float)o + 0.5f) * scale - 0.5f;
        if (s < 0)
            s = 0;
        int a = (int)s; /* s ≥ 0: floor */
        if (a > in_n - 1)
            a = in_n - 1;
        int b = a + 1 < in_n ? a + 1 : in_n - 1;
        fr[o] = s - (float)a;
        if (fr[o] > 1)
            fr[o] = 1;
        i0[o] = a + in_off;
        i1[o] = b + in_off;
    }
}

static long round_half_away(float x)
{
    /* NaN / huge values (a tiny std): clamp first, the result is clamped anyway. */
    if (!(x > -1e9f))
        x = -1e9f;
    if (x > 1e9f)
        x = 1e9f;
    return x >= 0 ? (long)floorf(x + 0.5f) : -(long)floorf(-x + 0.5f);
}

int vr_preprocess(const vr_preproc *pp, const vf_image *img, void *out, char *err, size_t errlen)
{
    if (!img || !img->rgb || img->w <= 0 || img->h <= 0)
        return vf_fail(err, errlen, "empty image");
    int W = img->w, H = img->h, OW = pp->width, OH = pp->height;
    int x0 = 0, y0 = 0, CW = W, CH = H;
    if (pp->crop_center) {
        x0 = (int)floor(((double)W - (double)W * pp->crop_fraction) / 2);
        y0 = (int)floor(((double)H - (double)H * pp->crop_fraction) / 2);
        if (x0 < 0)
            x0 = 0;
        if (y0 < 0)
            y0 = 0;
        CW = W - 2 * x0;
        CH = H - 2 * y0;
        if (CW < 1) {
            x0 = (W - 1) / 2;
            CW = 1;
        }
        if (CH < 1) {
            y0 = (H - 1) / 2;
            CH = 1;
        }
    }
    int *xi0 = malloc(sizeof(int) * (size_t)OW * 2), *yi0 = malloc(sizeof(int) * (size_t)OH * 2);
    float *xf = malloc(sizeof(float) * (size_t)OW), *yf = malloc(sizeof(float) * (size_t)OH);
    if (!xi0 || !yi0 || !xf || !yf) {
        free(xi0), free(yi0), free(xf), free(yf);
        return vf_fail(err, errlen, "out of memory");
    }
    int *xi1 = xi0 + OW, *yi1 = yi0 + OH;
    axis_table(OW, CW, x0, xi0, xi1, xf);
    axis_table(OH, CH, y0, yi0, yi1, yf);
    const size_t stride = (size_t)W * 3;
    for (int oy = 0; oy < OH; oy++) {
        const uint8_t *r0 = img->rgb + (size_t)yi0[oy] * stride;
        const uint8_t *r1 = img->rgb + (size_t)yi1[oy] * stride;
        float fy = yf[oy];
        for (int ox = 0; ox < OW; ox++) {
            size_t a = (size_t)xi0[ox] * 3, b = (size_t)xi1[ox] * 3;
            float fx = xf[ox];
            size_t o = ((size_t)oy * OW + ox) * 3;
            for (int c = 0; c < 3; c++) {
                float top = (1 - fx) * r0[a + c] + fx * r0[b + c];
                float bot = (1 - fx) * r1[a + c] + fx * r1[b + c];
                float v = (1 - fy) * top + fy * bot;
                int oc = pp->bgr ? 2 - c : c;
                float r = pp->have_norm ? (v - pp->mean[oc]) / pp->std[oc] : v;
                if (pp->dtype == VR_F32) {
                    ((float *)out)[o + oc] = pp->have_norm ? r : (v - 127.5f) / 127.5f;
                    continue;
                }
                long q;
                if (pp->have_norm)
                    q = round_half_away(r / pp->in_scale) + pp->in_zero;
                else
                    q = round_half_away(v) - (pp->dtype == VR_S8 ? 128 : 0);
                if (pp->dtype == VR_U8)
                    ((uint8_t *)out)[o + oc] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
                else
                    ((int8_t *)out)[o + oc] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
            }
        }
    }
    free(xi0), free(yi0), free(xf), free(yf);
    return 0;
}

int vr_preprocess_encoded(const vr_preproc *pp, const void *buf, size_t len,
                          const vf_image_limits *lim, void *out, char *err, size_t errlen)
{
    vf_image img;
    if (vf_image_decode(buf, len, lim, &img, err, errlen))
        return -1;
    int rc = vr_preprocess(pp, &img, out, err, errlen);
    vf_image_free(&img);
    return rc;
}
