/* Image → model input tensor, from the model's preproc.* metadata
 * (docs/WEIGHT_FORMAT.md, "KV").
 *
 * Steps and exact formulas (src: RGB8 image W×H; out: the model's input
 * value OW×OH×3, NHWC):
 *
 * 1. Crop (preproc.crop): "none" (or absent) keeps the whole image; "center"
 *    with f = preproc.crop_fraction (0 < f ≤ 1, default 0.875) keeps, like
 *    tf.image.central_crop, rows y0 … y0+CH−1 with y0 = floor((H − H·f)/2),
 *    CH = H − 2·y0 (columns likewise); a crop that would be empty keeps 1.
 * 2. Resize (preproc.resize = "bilinear"): half-pixel centres, no antialias
 *    (TF resize_bilinear(half_pixel_centers=True) / OpenCV INTER_LINEAR):
 *      sy = max(0, (oy + 0.5)·CH/OH − 0.5), y0 = floor(sy), y1 = min(y0+1, CH−1),
 *      fy = sy − y0 (x likewise), all in float,
 *      v = (1−fy)·((1−fx)·p[y0][x0] + fx·p[y0][x1]) + fy·((1−fx)·p[y1][x0] + fx·p[y1][x1])
 *    with v in 0 … 255. preproc.color = "bgr" swaps channels 0 and 2 after.
 * 3. Normalise, per channel c, when preproc.mean / preproc.std are present:
 *      r = (v − M[c]) / S[c]
 *    where M, S are the stored arrays scaled to 0 … 255: the converters write
 *    either 0 … 255 values (TF.js: mean 0, std 255) or 0 … 1 values
 *    (torchvision: mean 0.485…, std 0.229…); if every stored mean and std is
 *    ≤ 1 the arrays are taken as 0 … 1 and multiplied by 255, otherwise used
 *    as they are.
 * 4. Store, by preproc.input_dtype (must equal the graph's input dtype):
 *    - f32: r; without mean/std, r = (v − 127.5) / 127.5 (the TFLite float
 *      MobileNet convention).
 *    - u8 / s8 with mean/std: q = clamp(round(r / input_scale) + input_zero)
 *      (round half away from zero) into the dtype's range.
 *    - u8 / s8 without mean/std (what the TFLite converter writes for the
 *      Coral models): the quantized tensor is the image itself, as TFLite /
 *      Coral feed it: u8 q = round(v), s8 q = round(v) − 128.
 */
#ifndef VIREO_RUNTIME_PREPROCESS_H
#define VIREO_RUNTIME_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "formats/image.h"
#include "runtime/model.h"

typedef struct vr_preproc {
    int width, height;     /* output size = the graph input's w, h */
    int crop_center;       /* 0: none */
    float crop_fraction;
    int bgr;
    int have_norm;
    float mean[3], std[3]; /* 0 … 255 scale */
    vr_dtype dtype;        /* VR_F32, VR_U8 or VR_S8 */
    float in_scale;        /* quantized input */
    int32_t in_zero;
} vr_preproc;

/* Reads the metadata of m and checks it against the graph input (size, 3
 * channels, dtype, nhwc layout, supported resize / crop). Returns 0, or -1
 * with a message. */
int vr_preproc_from_model(const vr_model *m, vr_preproc *pp, char *err, size_t errlen);

/* Bytes of one preprocessed image: width·height·3·sizeof(dtype). */
size_t vr_preproc_bytes(const vr_preproc *pp);

/* Writes one image's input tensor (vr_preproc_bytes bytes) to out. Returns 0
 * or -1 (allocation failure, empty image) with a message. */
int vr_preprocess(const vr_preproc *pp, const vf_image *img, void *out, char *err, size_t errlen);

/* Decodes an encoded image (JPEG, PNG, BMP: buf, len bytes; lim may be NULL)
 * and writes its input tensor (vr_preproc_bytes bytes) to out. Thread-safe
 * (no shared state). Returns 0, or -1 with a message (decode errors as
 * vf_image_decode gives them). */
int vr_preprocess_encoded(const vr_preproc *pp, const void *buf, size_t len,
                          const vf_image_limits *lim, void *out, char *err, size_t errlen);

#endif
