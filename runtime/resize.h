/* Pillow's antialiased resampling (Image.resize with BILINEAR or BICUBIC) on
 * RGB8, bit for bit: libImaging/Resample.c as in Pillow 7 … 10 (Debian 12
 * ships 9.4).
 *
 * The algorithm, per axis (in = input length, [in0, in1) the box, out = the
 * output length):
 *   scale = (in1 − in0) / out (float box, difference in float as Pillow takes
 *   the box as C floats), fs = max(scale, 1), support = filter support · fs
 *   (bilinear 1, bicubic 2: the filter is stretched when downscaling — the
 *   antialiasing), ksize = 2·⌈support⌉ + 1.
 *   For output i: c = in0 + (i + 0.5)·scale, taps x = xmin … xmax−1 with
 *   xmin = max(0, (int)(c − support + 0.5)), xmax = min(in, (int)(c + support
 *   + 0.5)), weight w(x) = filter((x − c + 0.5) / fs) normalised to sum 1,
 *   then fixed point: k = (int)(w·2^22 ± 0.5) (away from zero).
 *   Bilinear: filter(t) = max(0, 1 − |t|). Bicubic (a = −0.5):
 *   (a+2)|t|³ − (a+3)|t|² + 1 for |t| < 1, a(|t|³ − 5|t|² + 8|t| − 4) for |t| < 2.
 * Horizontal pass first into 8-bit rows (only the rows the vertical pass
 * reads), then the vertical pass; each output sample is
 *   clip8((2^21 + Σ k·v) >> 22),  clip8 clamping to 0 … 255,
 * in 32-bit integers (|Σ k·v| < 1.3·2^30: no overflow).
 * A pass whose axis keeps its size over the whole image is skipped, as in
 * Pillow (it would be the identity anyway).
 *
 * Crop after resize (torchvision's Resize + CenterCrop) is done by computing
 * only the output rows / columns kept: Pillow's coefficients for an output
 * index depend on that index alone, so this equals resizing everything and
 * cropping. */
#ifndef VIREO_RUNTIME_RESIZE_H
#define VIREO_RUNTIME_RESIZE_H

#include <stddef.h>
#include <stdint.h>

typedef enum vr_filter { VR_FILTER_BILINEAR = 1, VR_FILTER_BICUBIC = 2 } vr_filter;

typedef struct vr_resize_args {
    const uint8_t *src;   /* RGB8; taps never leave src_w × src_h */
    int src_w, src_h;
    size_t src_stride;    /* bytes per row, ≥ 3·src_w */
    float box[4];         /* x0, y0, x1, y1: the region resized (Pillow's box);
                             0 ≤ x0 < x1 ≤ src_w, likewise y */
    int out_w, out_h;     /* the size Pillow resizes to */
    int crop_x, crop_y;   /* the part of that output written: crop_w × crop_h at */
    int crop_w, crop_h;   /*   (crop_x, crop_y), inside out_w × out_h */
    vr_filter filter;
    uint8_t *dst;         /* crop_w × crop_h RGB8 */
    size_t dst_stride;    /* bytes per row, ≥ 3·crop_w */
} vr_resize_args;

/* Fills the box with the whole source and the crop with the whole output. */
void vr_resize_args_whole(vr_resize_args *a);

/* Returns 0, or −1 with a message (invalid arguments, out of memory). */
int vr_resize_pil(const vr_resize_args *a, char *err, size_t errlen);

#endif
