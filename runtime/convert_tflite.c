/* TFLite → vireo: activations become graph values, weights are re-laid in the
 * kernels' packed layouts (uint8 weights as s8 with an offset, int8 weights
 * with their per-channel scales), quantization parameters carried over so the
 * integer arithmetic is TFLite's own. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "convert_util.h"
#include "formats/tflite.h"
#include "formats/weights.h"
#include "kernels/pack.h"
#include "runtime/model.h"

typedef struct {
    const tfl_model *m;
    vw_writer *w;
    vr_graph *g;
    int *value_of; /* tensor index -> value id, -1 */
    vr_node_refs *refs;
    int nrefs, caprefs;
    char *err;
    size_t errlen;
} conv_ctx;

static int cerr(conv_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static const tfl_tensor *tensor(conv_ctx *c, const tfl_op *op, int k)
{
    if (k >= op->ninputs || op->inputs[k] < 0)
        return NULL;
    return &c->m->tensors[op->inputs[k]];
}

/* NHWC per image: [1,H,W,C], [1,C] or [1,1,1,C]; batch must be 1. */
static int value_for(conv_ctx *c, int ti)
{
    if (c->value_of[ti] >= 0)
        return c->value_of[ti];
    const tfl_tensor *t = &c->m->tensors[ti];
    vr_value v = {0};
    switch (t->type) {
    case TFL_FLOAT32: v.dtype = VR_F32; break;
    case TFL_UINT8: v.dtype = VR_U8; break;
    case TFL_INT8: v.dtype = VR_S8; break;
    default: return cerr(c, "tensor '%s': type %s is not supported", t->name, tfl_type_name(t->type));
    }
    if (t->ndim == 4 && t->shape[0] == 1)
        v.h = t->shape[1], v.w = t->shape[2], v.c = t->shape[3];
    else if (t->ndim == 2 && t->shape[0] == 1)
        v.h = v.w = 1, v.c = t->shape[1];
    else
        return cerr(c, "tensor '%s': shape of rank %d is not [1,H,W,C] or [1,C]", t->name, t->ndim);
    if (v.dtype != VR_F32) {
        if (t->q.n < 1)
            return cerr(c, "tensor '%s': quantized without parameters", t->name);
        v.scale = t->q.scale[0];
        v.zero = (int32_t)t->q.zero_point[0];
    }
    int id = vr_graph_add_value(c->g, &v);
    if (id < 0)
        return cerr(c, "tensor '%s': %s", t->name, vr_graph_error(c->g));
    return c->value_of[ti] = id;
}

static int add_node(conv_ctx *c, vr_node *n, vr_node_refs r)
{
    if (c->nrefs == c->caprefs) {
        int nc = c->caprefs ? 2 * c->caprefs : 64;
        vr_node_refs *q = realloc(c->refs, (size_t)nc * sizeof *q);
        if (!q)
            return cerr(c, "out of memory");
        c->refs = q, c->caprefs = nc;
    }
    if (vr_graph_add_node(c->g, n) < 0)
        return cerr(c, "%s", vr_graph_error(c->g));
    c->refs[c->nrefs++] = r;
    return 0;
}

static int act_of(conv_ctx *c, tfl_act a, vk_act *out)
{
    switch (a) {
    case TFL_ACT_NONE: *out = VK_ACT_NONE; return 0;
    case TFL_ACT_RELU: *out = VK_ACT_RELU; return 0;
    case TFL_ACT_RELU6: *out = VK_ACT_RELU6; return 0;
    default: return cerr(c, "fused activation %s is not supported", tfl_act_name(a));
    }
}

/* TFLite's padding: SAME pads (total − total/2) after, total/2 before. */
static int pad_for(tfl_padding p, int in, int out, int k, int s, int d)
{
    if (p == TFL_PAD_VALID)
        return 0;
    int eff = (k - 1) * d + 1, total = (out - 1) * s + eff - in;
    return total > 0 ? total / 2 : 0;
}

static int put_tensor(conv_ctx *c, const char *base, const char *suffix, vw_dtype t, vw_layout l,
                      int nd, const int64_t *dims, const void *data, size_t size)
{
    char name[VW_MAX_NAME + 1];
    snprintf(name, sizeof name, "%.200s%s", base, suffix);
    int idx = vw_writer_add_tensor(c->w, name, t, l, nd, dims, data, size, NULL);
    if (idx < 0)
        return cerr(c, "%s", vw_writer_error(c->w));
    return idx;
}

/* Weights for conv / dwconv / fc. `kind` 0 conv [OC,KH,KW,C], 1 dw [1,KH,KW,C],
 * 2 fc [N,K]. Fills n's quantization fields and r's tensor indices. */
static int weights(conv_ctx *c, const tfl_op *op, int kind, vr_node *n, vr_node_refs *r,
                   int in_dtype_q)
{
    const tfl_tensor *w = tensor(c, op, 1), *b = tensor(c, op, 2);
    const char *nm = c->m->tensors[op->outputs[0]].name;
    if (!w || !w->data)
        return cerr(c, "op %s: weights are not constant", tfl_op_name(op->builtin));
    int oc = kind == 1 ? w->shape[3] : w->shape[0];
    int kh = kind == 2 ? 1 : w->shape[1], kw = kind == 2 ? 1 : w->shape[2];
    int ci = kind == 2 ? w->shape[1] : kind == 1 ? 1 : w->shape[3];
    if ((kind == 2 && w->ndim != 2) || (kind != 2 && w->ndim != 4) || (kind == 1 && w->shape[0] != 1))
        return cerr(c, "'%s': weights of unexpected rank", nm);
    size_t count = (size_t)oc * kh * kw * ci;
    r->weights = r->bias = r->colsum = r->scales = -1;
    if (!in_dtype_q) {
        if (w->type != TFL_FLOAT32 || w->size != count * 4)
            return cerr(c, "'%s': float model with non-float weights", nm);
        const float *src = w->data;
        if (kind == 0) {
            int64_t d[4] = {oc, kh, kw, ci};
            size_t sz = vk_pack_conv_f32_size(oc, kh, kw, ci) * 4;
            float *p = malloc(sz);
            if (!p)
                return cerr(c, "out of memory");
            vk_pack_conv_f32(oc, kh, kw, ci, src, p);
            r->weights = put_tensor(c, nm, ".w", VW_F32, VW_CONV_F32, 4, d, p, sz);
            free(p);
        } else if (kind == 1) {
            int64_t d[3] = {kh, kw, oc};
            size_t sz = vk_pack_dw_size(kh, kw, oc) * 4;
            float *p = malloc(sz);
            if (!p)
                return cerr(c, "out of memory");
            vk_pack_dw_f32(kh, kw, oc, src, p);
            r->weights = put_tensor(c, nm, ".w", VW_F32, VW_DW_F32, 3, d, p, sz);
            free(p);
        } else {
            int64_t d[2] = {ci, oc};
            size_t sz = vk_pack_f32_b_size(ci, oc) * 4;
            float *p = malloc(sz);
            if (!p)
                return cerr(c, "out of memory");
            /* TFLite stores [N, K]: as B (K×N) that is a column stride of K. */
            float *bt = malloc(count * 4);
            if (!bt) {
                free(p);
                return cerr(c, "out of memory");
            }
            for (int k = 0; k < ci; k++)
                for (int j = 0; j < oc; j++)
                    bt[(size_t)k * oc + j] = src[(size_t)j * ci + k];
            vk_pack_f32_b(ci, oc, bt, oc, p);
            r->weights = put_tensor(c, nm, ".w", VW_F32, VW_F32_B16, 2, d, p, sz);
            free(bt);
            free(p);
        }
        if (r->weights < 0)
            return -1;
        if (b) {
            if (b->type != TFL_FLOAT32 || b->size != (size_t)oc * 4)
                return cerr(c, "'%s': bias is not %d floats", nm, oc);
            int64_t d[1] = {oc};
            if ((r->bias = put_tensor(c, nm, ".b", VW_F32, VW_PLAIN, 1, d, b->data, b->size)) < 0)
                return -1;
        }
        n->weights = n->bias = NULL;
        return 0;
    }
    /* quantized */
    if ((w->type != TFL_UINT8 && w->type != TFL_INT8) || w->size != count)
        return cerr(c, "'%s': quantized model with weights of type %s", nm, tfl_type_name(w->type));
    int8_t *s8 = malloc(count);
    if (!s8)
        return cerr(c, "out of memory");
    if (w->type == TFL_UINT8) {
        if (w->q.n != 1) {
            free(s8);
            return cerr(c, "'%s': uint8 weights must be per-tensor", nm);
        }
        for (size_t i = 0; i < count; i++)
            s8[i] = (int8_t)((int)((const uint8_t *)w->data)[i] - 128);
        n->w_offset = 128 - (int32_t)w->q.zero_point[0];
        n->w_scale = w->q.scale[0];
    } else {
        memcpy(s8, w->data, count);
        n->w_offset = 0;
        for (int i = 0; i < w->q.n; i++)
            if (w->q.zero_point[i] != 0) {
                free(s8);
                return cerr(c, "'%s': int8 weights with a nonzero zero point", nm);
            }
        if (w->q.n == 1) {
            n->w_scale = w->q.scale[0];
        } else if (w->q.n == oc && w->q.axis == (kind == 1 ? 3 : 0)) {
            int64_t d[1] = {oc};
            if ((r->scales = put_tensor(c, nm, ".scales", VW_F32, VW_PLAIN, 1, d, w->q.scale,
                                        (size_t)oc * 4)) < 0) {
                free(s8);
                return -1;
            }
        } else {
            free(s8);
            return cerr(c, "'%s': %d weight scales for %d channels", nm, w->q.n, oc);
        }
    }
    size_t csz = vk_round_up((size_t)oc, VK_Q8_NR) * 4;
    int32_t *colsum = calloc(1, csz);
    int8_t *p = NULL, *bt = NULL;
    int rc = -1;
    if (!colsum)
        goto out;
    if (kind == 0) {
        int64_t d[4] = {oc, kh, kw, ci};
        size_t sz = vk_pack_conv_s8_size(oc, kh, kw, ci);
        if (!(p = malloc(sz)))
            goto out;
        vk_pack_conv_s8(oc, kh, kw, ci, s8, p, colsum);
        r->weights = put_tensor(c, nm, ".w", VW_S8, VW_CONV_S8, 4, d, p, sz);
    } else if (kind == 1) {
        int64_t d[3] = {kh, kw, oc};
        size_t sz = vk_pack_dw_size(kh, kw, oc);
        if (!(p = malloc(sz)))
            goto out;
        vk_pack_dw_s8(kh, kw, oc, s8, p);
        r->weights = put_tensor(c, nm, ".w", VW_S8, VW_DW_S8, 3, d, p, sz);
    } else {
        int64_t d[2] = {ci, oc};
        size_t sz = vk_pack_s8_b_size(ci, oc);
        if (!(p = malloc(sz)) || !(bt = malloc(count)))
            goto out;
        for (int k = 0; k < ci; k++)
            for (int j = 0; j < oc; j++)
                bt[(size_t)k * oc + j] = s8[(size_t)j * ci + k];
        vk_pack_s8_b(ci, oc, bt, oc, p, colsum);
        r->weights = put_tensor(c, nm, ".w", VW_S8, VW_S8_B16X4, 2, d, p, sz);
    }
    if (r->weights < 0)
        goto out;
    if (kind != 1) {
        int64_t d[1] = {(int64_t)(csz / 4)};
        if ((r->colsum = put_tensor(c, nm, ".colsum", VW_S32, VW_PLAIN, 1, d, colsum, csz)) < 0)
            goto out;
    }
    if (b) {
        if (b->type != TFL_INT32 || b->size != (size_t)oc * 4) {
            cerr(c, "'%s': bias is not %d int32", nm, oc);
            goto out;
        }
        int64_t d[1] = {oc};
        if ((r->bias = put_tensor(c, nm, ".b", VW_S32, VW_PLAIN, 1, d, b->data, b->size)) < 0)
            goto out;
    }
    rc = 0;
out:
    if (rc && !c->err[0])
        cerr(c, "out of memory");
    free(s8);
    free(colsum);
    free(p);
    free(bt);
    return rc;
}

static int convert_op(conv_ctx *c, const tfl_op *op)
{
    const char *opn = tfl_op_name(op->builtin);
    if (op->noutputs != 1 || op->ninputs < 1)
        return cerr(c, "op %s: %d inputs / %d outputs", opn, op->ninputs, op->noutputs);
    int out = value_for(c, op->outputs[0]);
    if (out < 0)
        return -1;
    const tfl_tensor *t0 = tensor(c, op, 0);
    if (!t0 || t0->data)
        return cerr(c, "op %s: first input is not an activation", opn);
    int in = value_for(c, op->inputs[0]);
    if (in < 0)
        return -1;
    const vr_value *iv = vr_graph_value(c->g, in), *ov = vr_graph_value(c->g, out);
    vr_node n = {.nin = 1, .in = {in}, .out = out, .dil_h = 1, .dil_w = 1, .stride_h = 1,
                 .stride_w = 1, .kh = 1, .kw = 1};
    vr_node_refs r = {-1, -1, -1, -1};
    int q = iv->dtype != VR_F32;
    switch (op->builtin) {
    case TFL_OP_CONV_2D:
    case TFL_OP_DEPTHWISE_CONV_2D: {
        int dw = op->builtin == TFL_OP_DEPTHWISE_CONV_2D;
        const tfl_conv_opts *o = &op->opt.conv;
        const tfl_tensor *w = tensor(c, op, 1);
        if (!w || w->ndim != 4)
            return cerr(c, "op %s: weights must be 4-D", opn);
        n.op = dw ? VR_OP_DWCONV : VR_OP_CONV;
        n.kh = w->shape[1], n.kw = w->shape[2];
        n.stride_h = o->stride_h, n.stride_w = o->stride_w;
        n.dil_h = o->dilation_h, n.dil_w = o->dilation_w;
        if (n.stride_h < 1 || n.stride_w < 1 || n.dil_h < 1 || n.dil_w < 1)
            return cerr(c, "op %s: stride/dilation < 1", opn);
        n.pad_t = pad_for(o->padding, iv->h, ov->h, n.kh, n.stride_h, n.dil_h);
        n.pad_l = pad_for(o->padding, iv->w, ov->w, n.kw, n.stride_w, n.dil_w);
        if (act_of(c, o->act, &n.act) || weights(c, op, dw ? 1 : 0, &n, &r, q))
            return -1;
        break;
    }
    case TFL_OP_FULLY_CONNECTED:
        n.op = VR_OP_FC;
        if (act_of(c, op->opt.fc.act, &n.act) || weights(c, op, 2, &n, &r, q))
            return -1;
        break;
    case TFL_OP_AVERAGE_POOL_2D:
    case TFL_OP_MAX_POOL_2D: {
        const tfl_pool_opts *o = &op->opt.pool;
        n.op = op->builtin == TFL_OP_MAX_POOL_2D ? VR_OP_MAXPOOL : VR_OP_AVGPOOL;
        n.kh = o->filter_h, n.kw = o->filter_w;
        n.stride_h = o->stride_h, n.stride_w = o->stride_w;
        if (n.kh < 1 || n.kw < 1 || n.stride_h < 1 || n.stride_w < 1)
            return cerr(c, "op %s: bad window", opn);
        n.pad_t = pad_for(o->padding, iv->h, ov->h, n.kh, n.stride_h, 1);
        n.pad_l = pad_for(o->padding, iv->w, ov->w, n.kw, n.stride_w, 1);
        if (act_of(c, o->act, &n.act))
            return -1;
        break;
    }
    case TFL_OP_MEAN: {
        /* Over H and W only: the global average pool of classification heads. */
        const tfl_tensor *ax = tensor(c, op, 1);
        if (!ax || !ax->data || ax->type != TFL_INT32 || ax->size != 8 ||
            !(((const int32_t *)ax->data)[0] == 1 && ((const int32_t *)ax->data)[1] == 2))
            return cerr(c, "MEAN: only over axes [1, 2] is supported");
        n.op = VR_OP_GAP;
        break;
    }
    case TFL_OP_ADD: {
        const tfl_tensor *t1 = tensor(c, op, 1);
        if (!t1 || t1->data || op->ninputs != 2)
            return cerr(c, "ADD: both inputs must be activations (no broadcast constants)");
        int in1 = value_for(c, op->inputs[1]);
        if (in1 < 0)
            return -1;
        n.op = VR_OP_ADD;
        n.nin = 2, n.in[1] = in1;
        if (act_of(c, op->opt.arith.act, &n.act))
            return -1;
        break;
    }
    case TFL_OP_CONCATENATION: {
        int axis = op->opt.concat.axis;
        const tfl_tensor *to = &c->m->tensors[op->outputs[0]];
        if (axis != -1 && axis != to->ndim - 1)
            return cerr(c, "CONCATENATION: only along channels (axis %d)", axis);
        if (op->ninputs > VR_MAX_IN)
            return cerr(c, "CONCATENATION: %d inputs (max %d)", op->ninputs, VR_MAX_IN);
        n.op = VR_OP_CONCAT;
        n.nin = op->ninputs;
        for (int k = 0; k < op->ninputs; k++)
            if ((n.in[k] = value_for(c, op->inputs[k])) < 0)
                return -1;
        if (act_of(c, op->opt.concat.act, &n.act))
            return -1;
        if (n.act != VK_ACT_NONE)
            return cerr(c, "CONCATENATION: fused activation is not supported");
        break;
    }
    case TFL_OP_RESHAPE:
    case TFL_OP_SQUEEZE:
        n.op = VR_OP_RESHAPE;
        n.nin = 1; /* RESHAPE's shape input is implied by the output tensor */
        break;
    case TFL_OP_QUANTIZE:
        if (!q || ov->dtype == VR_F32)
            return cerr(c, "QUANTIZE: only between quantized types here");
        n.op = VR_OP_QUANTIZE;
        break;
    case TFL_OP_SOFTMAX:
        n.op = VR_OP_SOFTMAX;
        n.beta = op->opt.softmax.beta;
        break;
    default: return cerr(c, "op %s is not supported", opn);
    }
    return add_node(c, &n, r);
}

int vr_convert_tflite(const char *src, const char *dst, const vr_convert_opts *o, char *err,
                      size_t errlen)
{
    if (!vr_convert_is_raw(o)) /* a float model's Winograd pass (runtime/convert_quant.c) */
        return vr_convert_as(vr_convert_tflite, src, dst, o, err, errlen);
    tfl_model *m;
    if (tfl_load(src, &m, err, errlen))
        return -1;
    conv_ctx c = {.m = m, .w = vw_writer_new(), .g = vr_graph_new(), .err = err, .errlen = errlen};
    err[0] = 0;
    c.value_of = malloc((m->ntensors ? m->ntensors : 1) * sizeof *c.value_of);
    int rc = -1;
    if (!c.w || !c.g || !c.value_of) {
        cerr(&c, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < m->ntensors; i++)
        c.value_of[i] = -1;
    if (m->ninputs != 1 || m->noutputs != 1) {
        cerr(&c, "%s: %zu inputs / %zu outputs (one of each supported)", src, m->ninputs,
             m->noutputs);
        goto out;
    }
    /* A leading QUANTIZE of a float input and a trailing DEQUANTIZE of the
     * output are the caller's business (preprocessing quantizes; results are
     * read with the output's scale): the graph runs quantized end to end. */
    int in_t = m->inputs[0], out_t = m->outputs[0];
    size_t first = 0, last = m->nops;
    if (m->nops && m->ops[0].builtin == TFL_OP_QUANTIZE && m->ops[0].ninputs == 1 &&
        m->ops[0].inputs[0] == in_t && m->ops[0].noutputs == 1 &&
        m->tensors[in_t].type == TFL_FLOAT32) {
        in_t = m->ops[0].outputs[0];
        first = 1;
    }
    if (last > first && m->ops[last - 1].builtin == TFL_OP_DEQUANTIZE &&
        m->ops[last - 1].noutputs == 1 && m->ops[last - 1].outputs[0] == out_t &&
        m->ops[last - 1].ninputs == 1) {
        out_t = m->ops[last - 1].inputs[0];
        last--;
    }
    int vin = value_for(&c, in_t);
    if (vin < 0)
        goto out;
    for (size_t i = first; i < last; i++)
        if (convert_op(&c, &m->ops[i])) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s", err);
            snprintf(err, errlen, "%s: op %zu: %s", src, i, sub);
            goto out;
        }
    int vout = c.value_of[out_t];
    if (vout < 0 || vr_graph_set_io(c.g, vin, vout)) {
        cerr(&c, "%s: the output is not computed by the supported ops", src);
        goto out;
    }
    const vr_value *iv = vr_graph_value(c.g, vin);
    const char *base = strrchr(src, '/');
    vw_writer_kv_str(c.w, "model.name", base ? base + 1 : src);
    vw_writer_kv_str(c.w, "model.source", "tflite");
    vw_writer_kv_u64(c.w, "preproc.width", (uint64_t)iv->w);
    vw_writer_kv_u64(c.w, "preproc.height", (uint64_t)iv->h);
    vw_writer_kv_str(c.w, "preproc.resize", "bilinear");
    vw_writer_kv_str(c.w, "preproc.color", "rgb");
    vw_writer_kv_str(c.w, "preproc.layout", "nhwc");
    vw_writer_kv_str(c.w, "preproc.input_dtype", iv->dtype == VR_U8 ? "u8" : iv->dtype == VR_S8 ? "s8" : "f32");
    if (iv->dtype != VR_F32) {
        vw_writer_kv_f64(c.w, "preproc.input_scale", iv->scale);
        vw_writer_kv_i64(c.w, "preproc.input_zero", iv->zero);
    }
    if (o && o->labels_path && vr_convert_labels(c.w, o->labels_path, err, errlen))
        goto out;
    if (vr_model_save_checked(c.w, c.g, c.refs, dst, err, errlen))
        goto out;
    rc = 0;
out:
    free(c.value_of);
    free(c.refs);
    vr_graph_free(c.g);
    vw_writer_free(c.w);
    tfl_free(m);
    return rc;
}
