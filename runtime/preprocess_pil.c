/* Mode B of preprocess.h: Pillow's resize (runtime/resize.h), with
 * torchvision's Resize(S) + CenterCrop geometry when resize_shorter is set. */
#include <math.h>
#include <stdlib.h>

#include "formats/errmsg.h"
#include "runtime/preprocess_internal.h"
#include "runtime/resize.h"

void vr_pp_shorter_geometry(const vr_preproc *pp, int W, int H, int *rw, int *rh, int *left,
                            int *top)
{
    /* torchvision _compute_resized_output_size: short side to S, the long one
     * int(S·long/short) (exact integer product, one correctly rounded division
     * in Python and here alike). */
    int S = pp->resize_shorter;
    int shrt = W <= H ? W : H, lng = W <= H ? H : W;
    int new_long = (int)((double)S * (double)lng / (double)shrt);
    *rw = W <= H ? S : new_long;
    *rh = W <= H ? new_long : S;
    /* center_crop: int(round((size − crop) / 2.0)), halves to even (rint in
     * the default rounding mode). resize_shorter ≥ width, height: no padding. */
    *left = (int)rint((*rw - pp->width) / 2.0);
    *top = (int)rint((*rh - pp->height) / 2.0);
}

int vr_pp_pil(const vr_preproc *pp, const vf_image *img, void *out, char *err, size_t errlen)
{
    int OW = pp->width, OH = pp->height;
    int scaled = vr_pp_is_scaled(img);
    int W = scaled ? img->full_w : img->w, H = scaled ? img->full_h : img->h;
    /* k maps full-size coordinates into the decoded image; exact in float for
     * any size the pixel limit admits (< 2^21 · 8). */
    float k = scaled ? (float)img->scale_num / 8.0f : 1.0f;
    vr_resize_args a = {
        .src = img->rgb, .src_w = img->w, .src_h = img->h, .src_stride = (size_t)img->w * 3,
        .filter = pp->resize == VR_RESIZE_PIL_BICUBIC ? VR_FILTER_BICUBIC : VR_FILTER_BILINEAR,
        .dst_stride = (size_t)OW * 3,
    };
    if (pp->resize_shorter > 0) {
        int rw, rh, left, top;
        vr_pp_shorter_geometry(pp, W, H, &rw, &rh, &left, &top);
        a.out_w = rw, a.out_h = rh;
        a.box[0] = 0, a.box[1] = 0, a.box[2] = (float)W * k, a.box[3] = (float)H * k;
        a.crop_x = left, a.crop_y = top, a.crop_w = OW, a.crop_h = OH;
    } else {
        int x0, y0, cw, ch;
        vr_pp_center_crop(pp, W, H, &x0, &y0, &cw, &ch);
        a.out_w = OW, a.out_h = OH;
        a.crop_x = a.crop_y = 0, a.crop_w = OW, a.crop_h = OH;
        if (scaled) { /* the crop as a box in the scaled image */
            a.box[0] = (float)x0 * k, a.box[1] = (float)y0 * k;
            a.box[2] = (float)(x0 + cw) * k, a.box[3] = (float)(y0 + ch) * k;
        } else { /* img.crop(...).resize(...): the crop is the image */
            a.src = img->rgb + ((size_t)y0 * (size_t)img->w + (size_t)x0) * 3;
            a.src_w = cw, a.src_h = ch;
            vr_resize_args_whole(&a);
        }
    }
    uint8_t *rgb = malloc((size_t)OW * (size_t)OH * 3);
    if (!rgb)
        return vf_fail(err, errlen, "out of memory");
    a.dst = rgb;
    if (vr_resize_pil(&a, err, errlen)) {
        free(rgb);
        return -1;
    }
    size_t npix = (size_t)OW * (size_t)OH;
    for (size_t pix = 0; pix < npix; pix++)
        for (int c = 0; c < 3; c++)
            vr_pp_store(pp, out, pix, c, (float)rgb[pix * 3 + (size_t)c]);
    free(rgb);
    return 0;
}
