/* Image → model input tensor, from the model's preproc.* metadata
 * (docs/WEIGHT_FORMAT.md, "KV").
 *
 * Steps and exact formulas (src: RGB8 image W×H; out: the model's input
 * value OW×OH×3):
 *
 * Resize modes (preproc.resize):
 *
 * A. "bilinear" (or absent): TF / TFLite style, what the Coral references use.
 *   1. Crop (preproc.crop): "none" (or absent) keeps the whole image; "center"
 *      with f = preproc.crop_fraction (0 < f ≤ 1, default 0.875) keeps, like
 *      tf.image.central_crop, rows y0 … y0+CH−1 with y0 = floor((H − H·f)/2),
 *      CH = H − 2·y0 (columns likewise); a crop that would be empty keeps 1.
 *   2. Resize: half-pixel centres, no antialias
 *      (TF resize_bilinear(half_pixel_centers=True) / OpenCV INTER_LINEAR):
 *        sy = max(0, (oy + 0.5)·CH/OH − 0.5), y0 = floor(sy), y1 = min(y0+1, CH−1),
 *        fy = sy − y0 (x likewise), all in float,
 *        v = (1−fy)·((1−fx)·p[y0][x0] + fx·p[y0][x1]) + fy·((1−fx)·p[y1][x0] + fx·p[y1][x1])
 *      with v in 0 … 255.
 *
 * B. "pil_bilinear" / "pil_bicubic": Pillow's antialiased Image.resize
 *    (runtime/resize.h, bit for bit), what torchvision's PIL transforms use.
 *   - With preproc.resize_shorter = S (S ≥ OW, OH): torchvision
 *     Resize(S) + CenterCrop((OH, OW)): the shorter side becomes S, the longer
 *     int(S·long/short) (W ≤ H: W is the shorter); then the crop keeps OW×OH
 *     at left = round((RW − OW)/2), top = round((RH − OH)/2), Python's round
 *     (halves to even). preproc.crop must be absent or "center" (without a
 *     crop_fraction).
 *   - Without: the crop of step A.1, then Image.resize((OW, OH)) of it.
 *   v = the resized uint8 sample.
 *
 * Then, for every mode: preproc.color = "bgr" swaps channels 0 and 2.
 * 3. Normalise, per channel c, when preproc.mean / preproc.std are present:
 *      r = (v − M[c]) / S[c]
 *    where M, S are the stored arrays scaled to 0 … 255: the converters write
 *    either 0 … 255 values (TF.js: mean 0, std 255) or 0 … 1 values
 *    (torchvision: mean 0.485…, std 0.229…); if every stored mean and std is
 *    ≤ 1 the arrays are taken as 0 … 1 and multiplied by 255, otherwise used
 *    as they are. (torchvision computes (v/255 − m)/s: the same value up to a
 *    few float32 rounding steps, relative 2^-21.)
 * 4. Store, by preproc.input_dtype (must equal the graph's input dtype):
 *    - f32: r; without mean/std, r = (v − 127.5) / 127.5 (the TFLite float
 *      MobileNet convention).
 *    - u8 / s8 with mean/std: q = clamp(round(r / input_scale) + input_zero)
 *      (round half away from zero) into the dtype's range.
 *    - u8 / s8 without mean/std (what the TFLite converter writes for the
 *      Coral models): the quantized tensor is the image itself, as TFLite /
 *      Coral feed it: u8 q = round(v), s8 q = round(v) − 128.
 *    Layout NHWC (the graph's); nchw = 1 writes planes instead (for callers
 *    feeding another runtime; models always get NHWC).
 *
 * DCT-scaled decoding (scaled_decode, vr_preprocess_encoded only): a JPEG is
 * decoded at the smallest of 1/8, 1/4, 1/2 whose image still covers the
 * output at ≥ 1 source pixel per output pixel (vr_preproc_decode_scale; full
 * size when none does); the geometry
 * (crop box, resize box, resize_shorter's size) is computed on the full-size
 * image and mapped by n/8, so the result shows the same region. It is not
 * the same result: the scaled IDCT averages each 8/n × 8/n area where the
 * full decode keeps the detail for the resize to filter (mode B: a slightly
 * softer image, small differences; mode A, which does not antialias: less
 * aliasing). Neither Pillow nor the TFLite references decode scaled (Pillow
 * only in draft mode, which torchvision does not use), so the tests and the
 * reference comparisons run with it off. The effect on retrieval is measured
 * in the pipeline's evaluation. */
#ifndef VIREO_RUNTIME_PREPROCESS_H
#define VIREO_RUNTIME_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "formats/image.h"
#include "runtime/model.h"

typedef enum vr_resize_mode {
    VR_RESIZE_TF_BILINEAR = 0, /* "bilinear" */
    VR_RESIZE_PIL_BILINEAR,    /* "pil_bilinear" */
    VR_RESIZE_PIL_BICUBIC,     /* "pil_bicubic" */
} vr_resize_mode;

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
    vr_resize_mode resize;
    int resize_shorter;    /* PIL modes: shorter side to this, then crop; 0: none */
    int nchw;              /* planar output; vr_preproc_from_model sets 0 */
    int scaled_decode;     /* vr_preprocess_encoded decodes JPEGs DCT-scaled;
                              vr_preproc_from_model sets 0 (exact references) */
} vr_preproc;

/* Reads the metadata of m and checks it against the graph input (size, 3
 * channels, dtype, nhwc layout, supported resize / crop). Returns 0, or -1
 * with a message. */
int vr_preproc_from_model(const vr_model *m, vr_preproc *pp, char *err, size_t errlen);

/* Bytes of one preprocessed image: width·height·3·sizeof(dtype). */
size_t vr_preproc_bytes(const vr_preproc *pp);

/* Writes one image's input tensor (vr_preproc_bytes bytes) to out. The image
 * may be a DCT-scaled decode (img->scale_num < 8): the geometry is then
 * computed on img->full_w × full_h and mapped. Returns 0 or -1 (allocation
 * failure, empty image) with a message. */
int vr_preprocess(const vr_preproc *pp, const vf_image *img, void *out, char *err, size_t errlen);

/* The DCT scale n (1, 2, 4 or 8, meaning n/8) vr_preprocess_encoded decodes
 * a W×H JPEG at when scaled_decode is on: the smallest n for which the region
 * the resize reads, scaled by n/8, is at least its output size in both
 * directions (at least resize_shorter on the shorter side); 8 when no
 * reduction covers it. Only powers of two: libjpeg-turbo's other scaled IDCTs
 * are slower than its full-size one (see preprocess.c). */
int vr_preproc_decode_scale(const vr_preproc *pp, int W, int H);

/* Decodes an encoded image (JPEG, PNG, BMP: buf, len bytes; lim may be NULL)
 * and writes its input tensor (vr_preproc_bytes bytes) to out: with
 * scaled_decode, a JPEG at vr_preproc_decode_scale's scale, else at full
 * size (then equal to vf_image_decode + vr_preprocess). Thread-safe (no
 * shared state). Returns 0, or -1 with a message (decode errors as
 * vf_image_decode gives them). */
int vr_preprocess_encoded(const vr_preproc *pp, const void *buf, size_t len,
                          const vf_image_limits *lim, void *out, char *err, size_t errlen);

/* A benchmark of vr_preprocess_encoded, full-size against DCT-scaled JPEG
 * decoding, on one thread (CPU time of the calling thread, so other load on
 * the machine counts little): for vireo-bench. Each run times one pass over
 * the n images both ways; the medians over runs are reported. Accuracy: the
 * scaled result against the full one, on the resized 8-bit image (pp with
 * u8 output and no mean / std), in levels. */
typedef struct vr_preproc_bench {
    size_t images;              /* decoded both ways (the others are skipped) */
    double full_s, scaled_s;    /* CPU seconds per pass: decode + preprocess */
    double full_decode_s, scaled_decode_s; /* of which decoding */
    double mean_abs_diff;       /* scaled vs full, mean |difference| in levels */
    double within1;             /* fraction of samples within ±1 level */
    int max_diff;
} vr_preproc_bench;

int vr_preproc_bench_run(const vr_preproc *pp, const void *const *bufs, const size_t *lens,
                         size_t n, int runs, vr_preproc_bench *res, char *err, size_t errlen);

#endif
