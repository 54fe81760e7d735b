/* Activation ranges of a float model, for static post-training quantization
 * (runtime/convert_quant.h, docs/QUANTIZATION.md).
 *
 * The f32 graph runs over calibration inputs with an observer after every
 * node (vr_plan_run_observed) that records each value's range over every
 * element of every image:
 *   MINMAX      the smallest and largest value seen;
 *   MEAN_MINMAX the mean over images of each image's smallest and largest
 *               value (TensorFlow's moving-average min/max without the decay);
 *   PERCENTILE  a second pass histograms each value (2048 bins over its
 *               MINMAX range) and clips each side at the given percentile of
 *               all its elements (99.99: the 0.01 % most extreme values on
 *               each side saturate), never past 0;
 *   MSE         the same histograms; the range [lo, hi] (lo from the MINMAX
 *               minimum times u/128, hi from the maximum times t/128, every
 *               u, t) whose uint8 quantization has the least expected squared
 *               error over the histogram: step²/12 per element inside, the
 *               squared distance to the range per element outside.
 * Every range is then widened to contain 0 (a quantized zero must be exact:
 * padding and ReLU produce it). */
#ifndef VIREO_RUNTIME_CALIBRATE_H
#define VIREO_RUNTIME_CALIBRATE_H

#include <stddef.h>

#include "runtime/model.h"
#include "runtime/threadpool.h"

typedef enum vr_calib_method {
    VR_CALIB_DEFAULT = 0, /* MSE: the best on the models measured (docs/QUANTIZATION.md) */
    VR_CALIB_MINMAX,
    VR_CALIB_MEAN_MINMAX,
    VR_CALIB_PERCENTILE,
    VR_CALIB_MSE,
} vr_calib_method;

const char *vr_calib_method_name(vr_calib_method m);
/* "minmax", "mean", "percentile" (or "percentile:P", P in (50, 100]), "mse":
 * 0, or -1 for anything else. */
int vr_calib_method_parse(const char *s, vr_calib_method *m, double *percentile);

#define VR_CALIB_DEFAULT_PERCENTILE 99.99

typedef struct vr_calib_opts {
    vr_calib_method method;
    double percentile; /* PERCENTILE; 0: VR_CALIB_DEFAULT_PERCENTILE */
    int batch;         /* images per forward pass; 0: 4 */
    vr_pool *pool;     /* NULL: a pool of the default size for the call */
} vr_calib_opts;

typedef struct vr_range {
    float lo, hi; /* lo <= 0 <= hi */
} vr_range;

/* Runs g (f32 input and values) over n inputs (n × the input value's h·w·c
 * floats, consecutive) and writes ranges[v] for every value of g (the graph
 * input included). Returns 0, or -1 with a message. */
int vr_calibrate(const vr_graph *g, const float *inputs, int n, const vr_calib_opts *o,
                 vr_range *ranges, char *err, size_t errlen);

/* Calibration images for model m (f32 input): spec is a directory or @LIST
 * (runtime/filelist.h; the CLI's default is VR_CALIB_DEFAULT_DIR under the
 * shared data directory). Takes n images spread evenly over the sorted list
 * (image i·len/n), so a directory sorted by class gives every class its
 * share; an image that does not decode is replaced by the next one in the
 * list, and fewer than n usable images is an error. Each is decoded and
 * preprocessed from m's metadata (as vireo run does). *inputs (malloc'd,
 * caller frees) receives the n inputs as vr_calibrate takes them. */
#define VR_CALIB_DEFAULT_DIR "data/grocery/train"
int vr_calib_load_images(const vr_model *m, const char *spec, int n, float **inputs, char *err,
                         size_t errlen);

#endif
