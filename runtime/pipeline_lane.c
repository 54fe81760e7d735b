/* Model lanes of the image pipeline: see pipeline_internal.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/errmsg.h"
#include "runtime/pipeline_internal.h"

void pl_dequantize(const vr_value *ov, const void *src, float *dst, size_t d)
{
    switch (ov->dtype) {
    case VR_F32:
        memcpy(dst, src, d * sizeof *dst);
        break;
    case VR_U8:
        for (size_t i = 0; i < d; i++)
            dst[i] = ov->scale * (float)((int32_t)((const uint8_t *)src)[i] - ov->zero);
        break;
    case VR_S8:
        for (size_t i = 0; i < d; i++)
            dst[i] = ov->scale * (float)((int32_t)((const int8_t *)src)[i] - ov->zero);
        break;
    default:
        for (size_t i = 0; i < d; i++)
            dst[i] = (float)((const int32_t *)src)[i];
        break;
    }
}

int pl_lane_init(pl_lane *ln, const vr_model *m, int batch, int threads, char *err, size_t errlen)
{
    memset(ln, 0, sizeof *ln);
    ln->g = m->graph;
    ln->batch = batch;
    const vr_value *iv = vr_graph_value(m->graph, vr_graph_input(m->graph));
    const vr_value *ov = vr_graph_value(m->graph, vr_graph_output(m->graph));
    ln->in_bytes = (size_t)iv->h * iv->w * iv->c * vr_dtype_size(iv->dtype);
    ln->out_bytes = (size_t)ov->h * ov->w * ov->c * vr_dtype_size(ov->dtype);
    ln->plan = vr_plan_create(m->graph, batch, vk_ops_get(), err, errlen);
    if (!ln->plan)
        return -1;
    if (batch == 1)
        ln->plan1 = ln->plan;
    ln->in = malloc(ln->in_bytes * (size_t)batch);
    ln->out = malloc(ln->out_bytes * (size_t)batch);
    if (threads > 1 && !(ln->pool = vr_pool_create(threads))) {
        pl_lane_free(ln);
        return vf_fail(err, errlen, "cannot start a kernel pool of %d threads", threads);
    }
    if (!ln->in || !ln->out) {
        pl_lane_free(ln);
        return vf_fail(err, errlen, "out of memory for a batch of %d", batch);
    }
    return 0;
}

void pl_lane_free(pl_lane *ln)
{
    if (ln->plan1 != ln->plan)
        vr_plan_free(ln->plan1);
    vr_plan_free(ln->plan);
    vr_pool_destroy(ln->pool);
    free(ln->in);
    free(ln->out);
    memset(ln, 0, sizeof *ln);
}

int pl_lane_run(pl_lane *ln, const void *const *ins, float *const *rows, int r, char *err,
                size_t errlen)
{
    const vr_value *ov = vr_graph_value(ln->g, vr_graph_output(ln->g));
    size_t d = (size_t)ov->h * ov->w * ov->c;
    if (r == ln->batch) {
        for (int k = 0; k < r; k++)
            memcpy((uint8_t *)ln->in + (size_t)k * ln->in_bytes, ins[k], ln->in_bytes);
        if (vr_plan_run(ln->plan, ln->pool, ln->in, ln->out))
            return vf_fail(err, errlen, "the model failed to run (batch of %d)", r);
        for (int k = 0; k < r; k++)
            pl_dequantize(ov, (uint8_t *)ln->out + (size_t)k * ln->out_bytes, rows[k], d);
        return 0;
    }
    /* A short batch runs image by image rather than padded to the full batch:
     * one image at the end of a list should not cost a whole batch. */
    if (!ln->plan1 && !(ln->plan1 = vr_plan_create(ln->g, 1, vk_ops_get(), err, errlen)))
        return -1;
    for (int k = 0; k < r; k++) {
        if (vr_plan_run(ln->plan1, ln->pool, ins[k], ln->out))
            return vf_fail(err, errlen, "the model failed to run (one image)");
        pl_dequantize(ov, ln->out, rows[k], d);
    }
    return 0;
}
