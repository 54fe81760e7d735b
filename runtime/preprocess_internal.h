/* Shared by preprocess.c (metadata, dispatch), preprocess_tf.c (mode A) and
 * preprocess_pil.c (mode B): the crop geometry and the store step. */
#ifndef VIREO_RUNTIME_PREPROCESS_INTERNAL_H
#define VIREO_RUNTIME_PREPROCESS_INTERNAL_H

#include <math.h>

#include "runtime/preprocess.h"

/* Step A.1 on a W×H image: the kept region. */
void vr_pp_center_crop(const vr_preproc *pp, int W, int H, int *x0, int *y0, int *cw, int *ch);

/* Mode B with resize_shorter: the resized size and the crop's top-left. */
void vr_pp_shorter_geometry(const vr_preproc *pp, int W, int H, int *rw, int *rh, int *left,
                            int *top);

int vr_pp_tf(const vr_preproc *pp, const vf_image *img, void *out, char *err, size_t errlen);
int vr_pp_pil(const vr_preproc *pp, const vf_image *img, void *out, char *err, size_t errlen);

static inline long vr_pp_round_half_away(float x)
{
    /* NaN / huge values (a tiny std): clamp first, the result is clamped anyway. */
    if (!(x > -1e9f))
        x = -1e9f;
    if (x > 1e9f)
        x = 1e9f;
    return x >= 0 ? (long)floorf(x + 0.5f) : -(long)floorf(-x + 0.5f);
}

/* Steps 3 and 4 for sample v of channel c (before the bgr swap) of output
 * pixel pix (oy·OW + ox). */
static inline void vr_pp_store(const vr_preproc *pp, void *out, size_t pix, int c, float v)
{
    int oc = pp->bgr ? 2 - c : c;
    size_t o = pp->nchw ? (size_t)oc * (size_t)pp->width * (size_t)pp->height + pix : pix * 3 + (size_t)oc;
    float r = pp->have_norm ? (v - pp->mean[oc]) / pp->std[oc] : v;
    if (pp->dtype == VR_F32) {
        ((float *)out)[o] = pp->have_norm ? r : (v - 127.5f) / 127.5f;
        return;
    }
    long q;
    if (pp->have_norm)
        q = vr_pp_round_half_away(r / pp->in_scale) + pp->in_zero;
    else
        q = vr_pp_round_half_away(v) - (pp->dtype == VR_S8 ? 128 : 0);
    if (pp->dtype == VR_U8)
        ((uint8_t *)out)[o] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
    else
        ((int8_t *)out)[o] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
}

/* The image was decoded DCT-scaled (geometry on full_w × full_h, mapped by
 * scale_num / 8). */
static inline int vr_pp_is_scaled(const vf_image *img)
{
    return img->scale_num >= 1 && img->scale_num < 8 && img->full_w > 0 && img->full_h > 0;
}

#endif
