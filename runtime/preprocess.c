/* Image preprocessing: see preprocess.h for the formulas. */
#include "runtime/preprocess.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "formats/errmsg.h"
#include "runtime/preprocess_internal.h"

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
    if (!s || !strcmp(s, "bilinear"))
        pp->resize = VR_RESIZE_TF_BILINEAR;
    else if (!strcmp(s, "pil_bilinear"))
        pp->resize = VR_RESIZE_PIL_BILINEAR;
    else if (!strcmp(s, "pil_bicubic"))
        pp->resize = VR_RESIZE_PIL_BICUBIC;
    else
        return vf_fail(err, errlen,
                       "preproc.resize '%s' not supported (bilinear, pil_bilinear, pil_bicubic)", s);
    int r = kv_num(f, "preproc.resize_shorter", &v);
    if (r) {
        if (r < 0 || !(v >= 1 && v <= 65535) || v != floor(v))
            return vf_fail(err, errlen, "preproc.resize_shorter must be an integer in 1 … 65535");
        if (pp->resize == VR_RESIZE_TF_BILINEAR)
            return vf_fail(err, errlen, "preproc.resize_shorter needs preproc.resize pil_bilinear "
                           "or pil_bicubic");
        if (v < iv->w || v < iv->h)
            return vf_fail(err, errlen, "preproc.resize_shorter %g is below the input size %dx%d "
                           "(the center crop would need padding)", v, iv->w, iv->h);
        pp->resize_shorter = (int)v;
    }
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
    if (pp->resize_shorter) {
        /* torchvision's CenterCrop to the input size is implied */
        if (s && strcmp(s, "center"))
            return vf_fail(err, errlen, "preproc.resize_shorter crops the center to the input "
                           "size: preproc.crop '%s' contradicts it", s);
        if (vw_kv_find(f, "preproc.crop_fraction"))
            return vf_fail(err, errlen, "preproc.crop_fraction has no meaning with "
                           "preproc.resize_shorter (the crop is the input size)");
        pp->crop_center = 0;
        pp->crop_fraction = 1.0f;
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

int vr_preprocess(const vr_preproc *pp, const vf_image *img, void *out, char *err, size_t errlen)
{
    if (!img || !img->rgb || img->w <= 0 || img->h <= 0)
        return vf_fail(err, errlen, "empty image");
    if (pp->width <= 0 || pp->height <= 0)
        return vf_fail(err, errlen, "output size %dx%d invalid", pp->width, pp->height);
    if (pp->resize == VR_RESIZE_TF_BILINEAR)
        return vr_pp_tf(pp, img, out, err, errlen);
    if (pp->resize == VR_RESIZE_PIL_BILINEAR || pp->resize == VR_RESIZE_PIL_BICUBIC) {
        if (pp->resize_shorter && (pp->resize_shorter < pp->width || pp->resize_shorter < pp->height))
            return vf_fail(err, errlen, "resize_shorter %d below the output size %dx%d",
                           pp->resize_shorter, pp->width, pp->height);
        return vr_pp_pil(pp, img, out, err, errlen);
    }
    return vf_fail(err, errlen, "unknown resize mode %d", (int)pp->resize);
}

/* Smallest n of 1, 2, 4 with len·n ≥ 8·need (the scaled length covers
 * need), else 8. Only the power-of-two scales: libjpeg-turbo has SIMD IDCTs
 * for 1/2 and 1/4 (1/8 is the DC alone), while its 3/8, 5/8, 6/8 and 7/8
 * IDCTs are plain C — measured on 1.4–10 MP photos, 5/8 … 7/8 decode slower
 * than the full size and 3/8 slower than 1/2. */
static int scale_for(int64_t len, int64_t need)
{
    for (int n = 1; n < 8; n *= 2)
        if (len * n >= 8 * need)
            return n;
    return 8;
}

int vr_preproc_decode_scale(const vr_preproc *pp, int W, int H)
{
    if (W <= 0 || H <= 0 || pp->width <= 0 || pp->height <= 0)
        return 8;
    if (pp->resize != VR_RESIZE_TF_BILINEAR && pp->resize_shorter > 0)
        return scale_for(W < H ? W : H, pp->resize_shorter);
    int x0, y0, cw, ch;
    vr_pp_center_crop(pp, W, H, &x0, &y0, &cw, &ch);
    int nx = scale_for(cw, pp->width), ny = scale_for(ch, pp->height);
    return nx > ny ? nx : ny;
}

int vr_preprocess_encoded(const vr_preproc *pp, const void *buf, size_t len,
                          const vf_image_limits *lim, void *out, char *err, size_t errlen)
{
    int n = 8;
    if (pp->scaled_decode && vf_image_sniff(buf, len) == VF_IMG_JPEG) {
        vf_image_format fmt;
        int W, H;
        if (vf_image_probe(buf, len, &fmt, &W, &H, err, errlen))
            return -1;
        n = vr_preproc_decode_scale(pp, W, H);
    }
    vf_image img;
    if (vf_image_decode_scaled(buf, len, lim, n, &img, err, errlen))
        return -1;
    int rc = vr_preprocess(pp, &img, out, err, errlen);
    vf_image_free(&img);
    return rc;
}
