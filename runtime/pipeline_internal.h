/* Inside the image pipeline: model lanes (pipeline_lane.c), shared with the
 * scheduler (pipeline.c). */
#ifndef VIREO_RUNTIME_PIPELINE_INTERNAL_H
#define VIREO_RUNTIME_PIPELINE_INTERNAL_H

#include <stddef.h>

#include "runtime/graph.h"
#include "runtime/model.h"
#include "runtime/threadpool.h"

/* One model instance: a plan for the batch size and, made when the first
 * short batch comes (the list's tail), one for a single image; its own
 * kernel pool (NULL for one thread: the worker itself runs the kernels). */
typedef struct pl_lane {
    const vr_graph *g;
    int batch;
    vr_plan *plan;   /* batch images */
    vr_plan *plan1;  /* 1 image; == plan when batch == 1 */
    vr_pool *pool;
    void *in, *out;  /* batch inputs, batch outputs */
    size_t in_bytes, out_bytes; /* per image */
    int busy;
} pl_lane;

int pl_lane_init(pl_lane *ln, const vr_model *m, int batch, int threads, char *err, size_t errlen);
void pl_lane_free(pl_lane *ln);

/* Runs the model on r ≤ batch images (ins[k]: in_bytes each) and writes each
 * image's output as f32 (dequantized) to rows[k]. Returns 0 or -1 with a
 * message. */
int pl_lane_run(pl_lane *ln, const void *const *ins, float *const *rows, int r, char *err,
                size_t errlen);

/* Output value of m as f32: dst[0..d) from src of the value's dtype. */
void pl_dequantize(const vr_value *ov, const void *src, float *dst, size_t d);

#endif
