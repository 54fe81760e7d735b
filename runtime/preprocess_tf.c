/* Mode A of preprocess.h: TF-style crop + half-pixel bilinear, no antialias. */
#include <math.h>
#include <stdlib.h>

#include "formats/errmsg.h"
#include "runtime/preprocess_internal.h"

void vr_pp_center_crop(const vr_preproc *pp, int W, int H, int *px0, int *py0, int *pcw, int *pch)
{
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
    *px0 = x0, *py0 = y0, *pcw = CW, *pch = CH;
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

/* The same for a DCT-scaled image: the crop [off, off + len) in the scaled
 * image's coordinates is fractional; samples are clamped to the image (n
 * pixels). Only used when scaled, so the exact path above stays as it is. */
static void axis_table_box(int out_n, double off, double len, int n, int *i0, int *i1, float *fr)
{
    double scale = len / out_n;
    for (int o = 0; o < out_n; o++) {
        double s = off + (o + 0.5) * scale - 0.5;
        if (s < 0)
            s = 0;
        if (s > n - 1)
            s = n - 1;
        int a = (int)s;
        i0[o] = a;
        i1[o] = a + 1 < n ? a + 1 : n - 1;
        fr[o] = (float)(s - a);
    }
}

int vr_pp_tf(const vr_preproc *pp, const vf_image *img, void *out, char *err, size_t errlen)
{
    int W = img->w, OW = pp->width, OH = pp->height;
    int *xi0 = malloc(sizeof(int) * (size_t)OW * 2), *yi0 = malloc(sizeof(int) * (size_t)OH * 2);
    float *xf = malloc(sizeof(float) * (size_t)OW), *yf = malloc(sizeof(float) * (size_t)OH);
    if (!xi0 || !yi0 || !xf || !yf) {
        free(xi0), free(yi0), free(xf), free(yf);
        return vf_fail(err, errlen, "out of memory");
    }
    int *xi1 = xi0 + OW, *yi1 = yi0 + OH;
    if (vr_pp_is_scaled(img)) {
        int x0, y0, CW, CH;
        vr_pp_center_crop(pp, img->full_w, img->full_h, &x0, &y0, &CW, &CH);
        double k = img->scale_num / 8.0;
        axis_table_box(OW, x0 * k, CW * k, img->w, xi0, xi1, xf);
        axis_table_box(OH, y0 * k, CH * k, img->h, yi0, yi1, yf);
    } else {
        int x0, y0, CW, CH;
        vr_pp_center_crop(pp, img->w, img->h, &x0, &y0, &CW, &CH);
        axis_table(OW, CW, x0, xi0, xi1, xf);
        axis_table(OH, CH, y0, yi0, yi1, yf);
    }
    const size_t stride = (size_t)W * 3;
    for (int oy = 0; oy < OH; oy++) {
        const uint8_t *r0 = img->rgb + (size_t)yi0[oy] * stride;
        const uint8_t *r1 = img->rgb + (size_t)yi1[oy] * stride;
        float fy = yf[oy];
        for (int ox = 0; ox < OW; ox++) {
            size_t a = (size_t)xi0[ox] * 3, b = (size_t)xi1[ox] * 3;
            float fx = xf[ox];
            size_t pix = (size_t)oy * OW + ox;
            for (int c = 0; c < 3; c++) {
                float top = (1 - fx) * r0[a + c] + fx * r0[b + c];
                float bot = (1 - fx) * r1[a + c] + fx * r1[b + c];
                vr_pp_store(pp, out, pix, c, (1 - fy) * top + fy * bot);
            }
        }
    }
    free(xi0), free(yi0), free(xf), free(yf);
    return 0;
}
