/* Text tower runner (runtime/text_encoder.h). */
#include "runtime/text_encoder.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/errmsg.h"
#include "kernels/kernels.h"
#include "runtime/graph.h"
#include "runtime/model.h"
#include "runtime/tokenizer.h"

/* Rows per forward pass: the rows are independent, so the batch only trades
 * arena memory for fewer passes. */
#define TE_BATCH 8

struct vr_text_encoder {
    vr_model *model;
    vr_tokenizer *tok;
    vr_plan *plan;    /* batch TE_BATCH, or n when fewer were asked for first */
    int plan_batch;
    int ctx;
    size_t dim;
    vr_value out;     /* the output value: f32, or quantized (dequantized here) */
};

void vr_text_encoder_close(vr_text_encoder *e)
{
    if (!e)
        return;
    vr_plan_free(e->plan);
    vr_model_close(e->model);
    vr_tokenizer_free(e->tok);
    free(e);
}

int vr_text_encoder_open(const char *model_path, const char *vocab_path, vr_text_encoder **out,
                         char *err, size_t errlen)
{
    *out = NULL;
    vr_text_encoder *e = calloc(1, sizeof *e);
    if (!e)
        return vf_fail(err, errlen, "out of memory");
    char e2[512];
    if (vr_model_open(model_path, &e->model, e2, sizeof e2)) {
        vf_fail(err, errlen, "%s: %s", model_path, e2);
        goto fail;
    }
    const vr_graph *g = e->model->graph;
    const vr_value *in = vr_graph_value(g, vr_graph_input(g));
    const vr_value *ov = vr_graph_value(g, vr_graph_output(g));
    if (!in || !ov || in->dtype != VR_S32 || in->h != 1 || in->c != 1 || in->w < 2) {
        vf_fail(err, errlen, "%s: not a text tower (its input is not one row of s32 token ids)",
                model_path);
        goto fail;
    }
    const vw_kv *tk = vw_kv_find(e->model->file, "text.tokenizer");
    if (tk && (tk->type != VW_KV_STR || strcmp(tk->v.s, "clip_bpe_simple_vocab_16e6"))) {
        vf_fail(err, errlen, "%s: text.tokenizer is not clip_bpe_simple_vocab_16e6 (the only "
                             "tokenizer vireo has)", model_path);
        goto fail;
    }
    size_t d = (size_t)ov->h * ov->w * ov->c;
    if (ov->dtype == VR_S32 || d == 0) {
        vf_fail(err, errlen, "%s: the text tower's output is not an embedding", model_path);
        goto fail;
    }
    e->ctx = in->w;
    e->dim = d;
    e->out = *ov;
    if (vr_tokenizer_open(vocab_path, &e->tok, e2, sizeof e2)) {
        vf_fail(err, errlen, "tokenizer %s: %s", vocab_path, e2);
        goto fail;
    }
    if (vr_tokenizer_vocab_size(e->tok) <= 0) {
        vf_fail(err, errlen, "tokenizer %s: empty vocabulary", vocab_path);
        goto fail;
    }
    *out = e;
    return 0;
fail:
    vr_text_encoder_close(e);
    return -1;
}

size_t vr_text_encoder_dim(const vr_text_encoder *e) { return e->dim; }
int vr_text_encoder_context(const vr_text_encoder *e) { return e->ctx; }

static void dequantize(const vr_value *v, const void *src, size_t n, float *dst)
{
    if (v->dtype == VR_F32) {
        memcpy(dst, src, n * sizeof *dst);
    } else if (v->dtype == VR_U8) {
        const uint8_t *q = src;
        for (size_t i = 0; i < n; i++)
            dst[i] = v->scale * (float)((int32_t)q[i] - v->zero);
    } else {
        const int8_t *q = src;
        for (size_t i = 0; i < n; i++)
            dst[i] = v->scale * (float)((int32_t)q[i] - v->zero);
    }
}

int vr_text_encoder_run(vr_text_encoder *e, const char *const *texts, size_t n, vr_pool *pool,
                        float *out, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    int batch = n < TE_BATCH ? (int)n : TE_BATCH;
    if (!e->plan || e->plan_batch < batch) {
        vr_plan_free(e->plan);
        e->plan = vr_plan_create(e->model->graph, batch, vk_ops_get(), err, errlen);
        if (!e->plan)
            return -1;
        e->plan_batch = batch;
    }
    batch = e->plan_batch;
    size_t esz = e->out.dtype == VR_F32 ? sizeof(float) : 1;
    int32_t *ids = calloc((size_t)batch * e->ctx, sizeof *ids);
    unsigned char *raw = malloc((size_t)batch * e->dim * esz);
    int rc = 0;
    if (!ids || !raw)
        rc = vf_fail(err, errlen, "out of memory");
    for (size_t i0 = 0; !rc && i0 < n; i0 += (size_t)batch) {
        size_t m = n - i0 < (size_t)batch ? n - i0 : (size_t)batch;
        for (size_t r = 0; r < (size_t)batch; r++) {
            /* a short last batch repeats its first text: rows are independent */
            const char *t = texts[i0 + (r < m ? r : 0)];
            char e2[256];
            if (vr_tokenizer_encode_context(e->tok, t, strlen(t), e->ctx, ids + r * e->ctx, e2,
                                            sizeof e2) < 0) {
                rc = vf_fail(err, errlen, "text %zu: %s", i0 + r, e2);
                break;
            }
        }
        if (!rc && vr_plan_run(e->plan, pool, ids, raw))
            rc = vf_fail(err, errlen, "the text tower failed to run");
        if (!rc)
            dequantize(&e->out, raw, m * e->dim, out + i0 * e->dim);
    }
    free(ids);
    free(raw);
    return rc;
}
