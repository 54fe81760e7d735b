/* Plans: shape/dtype checks per node, quantized output stages, and the arena
 * layout (lifetime-based first-fit, concat inputs written in place). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"
#include "kernels/pack.h"
#include "kernels/requant.h"
#include "formats/errmsg.h"

#define ALIGN 64

#define FAIL(...) return vf_fail(err, errlen, __VA_ARGS__)

static size_t elems(const vr_value *v) { return (size_t)v->h * v->w * v->c; }

static int is_quant(vr_dtype t) { return t == VR_U8 || t == VR_S8; }

/* TFLite's CalculateActivationRangeQuantized. */
static void act_range(const vr_value *out, vk_act act, int32_t *lo, int32_t *hi)
{
    int32_t qmin = out->dtype == VR_U8 ? 0 : -128, qmax = out->dtype == VR_U8 ? 255 : 127;
    int32_t z = out->zero;
    if (act == VK_ACT_RELU || act == VK_ACT_RELU6)
        qmin = z > qmin ? z : qmin;
    if (act == VK_ACT_RELU6) {
        int32_t six = z + (int32_t)lrintf(6.0f / out->scale);
        qmax = six < qmax ? six : qmax;
    }
    *lo = qmin;
    *hi = qmax;
}

static int plan_requant(vr_plan *p, int ni, const vr_node *n, int channels, char *err,
                        size_t errlen)
{
    const vr_value *in = &p->g->values[n->in[0]], *out = &p->g->values[n->out];
    vr_node_plan *np = &p->np[ni];
    int per = n->w_scales != NULL;
    int cnt = per ? channels : 1;
    np->q_mult = calloc((size_t)cnt, sizeof *np->q_mult);
    np->q_shift = calloc((size_t)cnt, sizeof *np->q_shift);
    if (!np->q_mult || !np->q_shift)
        FAIL("out of memory");
    for (int c = 0; c < cnt; c++) {
        double ws = per ? n->w_scales[c] : n->w_scale;
        if (!(ws > 0) || !isfinite(ws))
            FAIL("node %d (%s): weight scale %g invalid", ni, vr_op_name(n->op), ws);
        double real = (double)in->scale * ws / out->scale;
        vk_quantize_multiplier(real, &np->q_mult[c], &np->q_shift[c]);
    }
    np->q_per_channel = per;
    if (n->act == VK_ACT_GELU || n->act == VK_ACT_QUICKGELU)
        FAIL("node %d (%s): quantized output cannot fuse %s", ni, vr_op_name(n->op),
             n->act == VK_ACT_GELU ? "GELU" : "QuickGELU");
    act_range(out, n->act, &np->out_min, &np->out_max);
    return 0;
}

/* LINEAR with int8 weights (graph.h VR_W_S8): column sums and per-channel
 * scales, finite and >= 0 (the converter never writes 0 but a zero scale is
 * harmless: the channel reads 0 + bias). */
static int check_dynq(vr_plan *p, int ni, const vr_node *n, const vr_value *out, char *err,
                      size_t errlen)
{
    if (!n->w_colsum || !n->w_scales)
        FAIL("node %d (linear): int8 weights without column sums or scales", ni);
    for (int c = 0; c < out->c; c++)
        if (!(n->w_scales[c] >= 0) || !isfinite(n->w_scales[c]))
            FAIL("node %d (linear): weight scale %d is %g", ni, c, n->w_scales[c]);
    p->np[ni].dynq = 1;
    return 0;
}

/* Token-sequence ops: f32 activations; LINEAR weights f32, dynamic int8 or
 * bf16; embed reads s32 token ids. */
static int check_transformer_node(vr_plan *p, int ni, const vr_node *n, const vr_value *in,
                                  const vr_value *out, char *err, size_t errlen)
{
    const vr_graph *g = p->g;
    const char *op = vr_op_name(n->op);
    if (in->dtype != (n->op == VR_OP_EMBED ? VR_S32 : VR_F32) || out->dtype != VR_F32)
        FAIL("node %d (%s): f32 only (embed: s32 ids in)", ni, op);
    int64_t lin = (int64_t)in->h * in->w, lout = (int64_t)out->h * out->w;
    switch (n->op) {
    case VR_OP_LINEAR:
        if (!n->weights || lin != lout || n->nin > 2)
            FAIL("node %d (linear): needs weights, %d inputs, %lld tokens in and %lld out", ni,
                 n->nin, (long long)lin, (long long)lout);
        if (n->nin == 2) {
            const vr_value *r = &g->values[n->in[1]];
            if (r->h != out->h || r->w != out->w || r->c != out->c || r->dtype != VR_F32)
                FAIL("node %d (linear): residual is %dx%dx%d, output %dx%dx%d", ni, r->h, r->w,
                     r->c, out->h, out->w, out->c);
        }
        if (n->wtype == VR_W_S8)
            return check_dynq(p, ni, n, out, err, errlen);
        if (n->w_colsum || n->w_scales)
            FAIL("node %d (linear): column sums or scales without int8 weights", ni);
        return 0;
    case VR_OP_LAYERNORM:
        if (n->nin != 1 || in->h != out->h || in->w != out->w || in->c != out->c)
            FAIL("node %d (layernorm): needs one input of the output's shape", ni);
        if (!(n->eps > 0 && n->eps < 1))
            FAIL("node %d (layernorm): eps %g not in (0, 1)", ni, n->eps);
        return 0;
    case VR_OP_ATTENTION:
        if (n->nin != 1 || (int64_t)in->c != 3 * (int64_t)out->c)
            FAIL("node %d (attention): input must have 3x the output's channels (q, k, v)", ni);
        /* every token's output, or one: the query at `index` alone
         * (vr_tf_block_add_token) */
        if (lin != lout && (lout != 1 || n->index < 0 || n->index >= lin))
            FAIL("node %d (attention): %lld output tokens of %lld, query index %d: every "
                 "token, or one inside the input", ni, (long long)lout, (long long)lin, n->index);
        if (lin == lout && n->index != 0)
            FAIL("node %d (attention): query index %d with every token's output", ni, n->index);
        if (lin != lout && n->causal)
            FAIL("node %d (attention): one query (token %d) under a causal mask", ni, n->index);
        if (n->heads < 1 || out->c % n->heads || (n->causal != 0 && n->causal != 1))
            FAIL("node %d (attention): %d heads over %d channels, causal %d", ni, n->heads,
                 out->c, n->causal);
        return 0;
    case VR_OP_POS_EMBED:
        if (n->nin != 1 || !n->weights || in->c != out->c || lout != lin + (n->bias != NULL))
            FAIL("node %d (pos_embed): %lld tokens in, %lld out, %s class token", ni,
                 (long long)lin, (long long)lout, n->bias ? "with a" : "no");
        return 0;
    case VR_OP_TOKEN:
        if (n->nin > 2 || out->h != 1 || out->w != 1 || out->c != in->c || n->index < 0 ||
            n->index >= lin)
            FAIL("node %d (token): token %d of %lld, output must be 1x1x%d", ni, n->index,
                 (long long)lin, in->c);
        if (n->nin == 2) {
            const vr_value *k = &g->values[n->in[1]];
            if (k->dtype != VR_S32 || k->c != 1 || (int64_t)k->h * k->w != lin || n->index)
                FAIL("node %d (token): the key input must be s32 with one value per token (and "
                     "index 0)", ni);
        }
        return 0;
    case VR_OP_EMBED:
        if (n->nin != 1 || in->c != 1 || lin != lout || !n->weights || n->vocab < 1)
            FAIL("node %d (embed): needs s32 ids [L, 1] → [L, c], a table and its size", ni);
        return 0;
    default: FAIL("node %d: unknown op", ni);
    }
}

static int check_node(vr_plan *p, int ni, char *err, size_t errlen)
{
    const vr_graph *g = p->g;
    const vr_node *n = &g->nodes[ni];
    const vr_value *in = &g->values[n->in[0]], *out = &g->values[n->out];
    const char *op = vr_op_name(n->op);
    for (int i = 0; i < n->nin; i++) {
        int v = n->in[i], prod = g->producer[v];
        if (v != g->input && (prod < 0 || prod >= ni))
            FAIL("node %d (%s): input value %d is not computed before it", ni, op, v);
    }
    /* Weight storage: int8 only for LINEAR, bf16 for the f32 weighted ops. */
    int bf16_ok = (n->op == VR_OP_CONV || n->op == VR_OP_DWCONV || n->op == VR_OP_FC) &&
                  in->dtype == VR_F32;
    if (!(n->wtype == VR_W_F32 || (n->wtype == VR_W_S8 && n->op == VR_OP_LINEAR) ||
          (n->wtype == VR_W_BF16 && (bf16_ok || n->op == VR_OP_LINEAR)) ||
          (n->wtype == VR_W_WINO && n->op == VR_OP_CONV && in->dtype == VR_F32)))
        FAIL("node %d (%s): weight storage %d not supported for this op and input", ni, op,
             (int)n->wtype);
    if (n->wtype == VR_W_WINO && (n->kh != 3 || n->kw != 3 || n->stride_h != 1 ||
                                  n->stride_w != 1 || n->dil_h != 1 || n->dil_w != 1))
        FAIL("node %d (conv): Winograd weights need a 3x3 conv, stride 1, dilation 1 (node: "
             "%dx%d s%dx%d d%dx%d)", ni, n->kh, n->kw, n->stride_h, n->stride_w, n->dil_h,
             n->dil_w);
    int conv_like = n->op == VR_OP_CONV || n->op == VR_OP_DWCONV || n->op == VR_OP_AVGPOOL ||
                    n->op == VR_OP_MAXPOOL;
    if (conv_like) {
        if (n->kh < 1 || n->kw < 1 || n->stride_h < 1 || n->stride_w < 1 || n->dil_h < 1 ||
            n->dil_w < 1 || n->pad_t < 0 || n->pad_l < 0 || n->kh > 64 || n->kw > 64)
            FAIL("node %d (%s): bad geometry %dx%d s%dx%d d%dx%d p%d,%d", ni, op, n->kh, n->kw,
                 n->stride_h, n->stride_w, n->dil_h, n->dil_w, n->pad_t, n->pad_l);
        /* Every output pixel's window must start inside the padded image. */
        if ((int64_t)(out->h - 1) * n->stride_h - n->pad_t >= in->h ||
            (int64_t)(out->w - 1) * n->stride_w - n->pad_l >= in->w)
            FAIL("node %d (%s): output %dx%d too large for input %dx%d", ni, op, out->h, out->w,
                 in->h, in->w);
    }
    switch (n->op) {
    case VR_OP_CONV:
    case VR_OP_DWCONV:
        if (!n->weights)
            FAIL("node %d (%s): no weights", ni, op);
        if (n->op == VR_OP_DWCONV && in->c != out->c)
            FAIL("node %d (dwconv): %d input channels, %d output (multiplier must be 1)", ni,
                 in->c, out->c);
        if (in->dtype != out->dtype || in->dtype == VR_S32)
            FAIL("node %d (%s): dtype %d -> %d unsupported", ni, op, in->dtype, out->dtype);
        if (is_quant(in->dtype)) {
            if (n->op == VR_OP_CONV && !n->w_colsum)
                FAIL("node %d (conv): quantized weights without column sums", ni);
            return plan_requant(p, ni, n, out->c, err, errlen);
        }
        return 0;
    case VR_OP_FC:
        if (!n->weights || out->h != 1 || out->w != 1)
            FAIL("node %d (fc): needs weights and a 1x1xN output", ni);
        if (in->dtype != out->dtype || in->dtype == VR_S32)
            FAIL("node %d (fc): dtype %d -> %d unsupported", ni, in->dtype, out->dtype);
        if (is_quant(in->dtype)) {
            if (!n->w_colsum)
                FAIL("node %d (fc): quantized weights without column sums", ni);
            return plan_requant(p, ni, n, out->c, err, errlen);
        }
        return 0;
    case VR_OP_ADD:
        if (n->nin != 2)
            FAIL("node %d (add): %d inputs", ni, n->nin);
        for (int i = 0; i < 2; i++) {
            const vr_value *a = &g->values[n->in[i]];
            if (a->h != out->h || a->w != out->w || a->c != out->c || a->dtype != out->dtype)
                FAIL("node %d (add): input %d is %dx%dx%d, output %dx%dx%d", ni, i, a->h, a->w,
                     a->c, out->h, out->w, out->c);
        }
        if (is_quant(out->dtype)) {
            const vr_value *b = &g->values[n->in[1]];
            int32_t lo, hi;
            if (n->act != VK_ACT_NONE && n->act != VK_ACT_RELU && n->act != VK_ACT_RELU6)
                FAIL("node %d (add): quantized add cannot fuse that activation", ni);
            act_range(out, n->act, &lo, &hi);
            vk_add_q8_prepare(in->scale, in->zero, b->scale, b->zero, out->scale, out->zero,
                              out->dtype == VR_S8, lo, hi, &p->np[ni].add);
        } else if (out->dtype != VR_F32) {
            FAIL("node %d (add): dtype %d unsupported", ni, out->dtype);
        }
        return 0;
    case VR_OP_AVGPOOL:
    case VR_OP_MAXPOOL:
    case VR_OP_GAP:
        if (in->c != out->c || in->dtype != out->dtype || in->dtype == VR_S32)
            FAIL("node %d (%s): channels/dtype change", ni, op);
        if (n->op == VR_OP_GAP && (out->h != 1 || out->w != 1))
            FAIL("node %d (gap): output must be 1x1", ni);
        if (is_quant(out->dtype) && n->op == VR_OP_GAP) {
            /* TFLite MEAN: requantizes from the input's to the output's scale. */
            vk_quantize_multiplier((double)in->scale / out->scale, &p->np[ni].rq_mult,
                                   &p->np[ni].rq_shift);
            act_range(out, n->act, &p->np[ni].out_min, &p->np[ni].out_max);
        } else if (is_quant(out->dtype)) {
            /* TFLite's quantized pools keep the input's quantization. */
            if (in->scale != out->scale || in->zero != out->zero)
                FAIL("node %d (%s): quantized pooling needs equal input and output quantization",
                     ni, op);
            if (n->act != VK_ACT_NONE && n->act != VK_ACT_RELU && n->act != VK_ACT_RELU6)
                FAIL("node %d (%s): quantized pooling cannot fuse that activation", ni, op);
            act_range(out, n->act, &p->np[ni].out_min, &p->np[ni].out_max);
        } else if (n->act != VK_ACT_NONE) {
            FAIL("node %d (%s): f32 pooling fuses no activation", ni, op);
        }
        return 0;
    case VR_OP_CONCAT: {
        int c = 0;
        for (int i = 0; i < n->nin; i++) {
            const vr_value *a = &g->values[n->in[i]];
            if (a->h != out->h || a->w != out->w || a->dtype != out->dtype)
                FAIL("node %d (concat): input %d is %dx%d, output %dx%d", ni, i, a->h, a->w,
                     out->h, out->w);
            if (is_quant(a->dtype) && (a->scale != out->scale || a->zero != out->zero))
                FAIL("node %d (concat): input %d quantization differs (requantizing concat is "
                     "not implemented)", ni, i);
            c += a->c;
        }
        if (c != out->c)
            FAIL("node %d (concat): inputs have %d channels, output %d", ni, c, out->c);
        return 0;
    }
    case VR_OP_SOFTMAX:
        if (in->h != out->h || in->w != out->w || in->c != out->c || in->dtype != out->dtype ||
            in->dtype == VR_S32)
            FAIL("node %d (softmax): needs input and output of the same shape and type", ni);
        return 0;
    case VR_OP_L2NORM:
        if (in->h != out->h || in->w != out->w || in->c != out->c || out->dtype != VR_F32 ||
            in->dtype != VR_F32)
            FAIL("node %d (%s): needs f32 input and output of the same shape", ni, op);
        return 0;
    case VR_OP_QUANTIZE:
        if (elems(in) != elems(out) || !is_quant(in->dtype) || !is_quant(out->dtype))
            FAIL("node %d (quantize): needs quantized input and output of one size", ni);
        vk_quantize_multiplier((double)in->scale / out->scale, &p->np[ni].rq_mult,
                               &p->np[ni].rq_shift);
        return 0;
    case VR_OP_RESHAPE:
        if (elems(in) != elems(out) || in->dtype != out->dtype)
            FAIL("node %d (reshape): %zu elements -> %zu", ni, elems(in), elems(out));
        return 0;
    case VR_OP_LINEAR:
    case VR_OP_LAYERNORM:
    case VR_OP_ATTENTION:
    case VR_OP_POS_EMBED:
    case VR_OP_TOKEN:
    case VR_OP_EMBED: return check_transformer_node(p, ni, n, in, out, err, errlen);
    default: FAIL("node %d: unknown op", ni);
    }
}

/* Values that need no storage of their own: reshape outputs alias their
 * input; concat inputs consumed only by that concat (and produced by a kernel
 * that honours an output pixel stride) live inside the concat's output. */
typedef struct {
    int root;       /* value whose buffer holds this one */
    size_t c_off;   /* channel offset inside root */
    int first, last; /* lifetime in node indices */
} vinfo;

static int uses(const vr_graph *g, int v, int *only_node)
{
    int cnt = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int k = 0; k < g->nodes[i].nin; k++)
            if (g->nodes[i].in[k] == v) {
                cnt++;
                *only_node = i;
            }
    return cnt;
}

/* ADD y = act(a + b) of f32 values where one input, say a, is the output of
 * an f32 CONV (direct or Winograd weights, no activation of its own, a used
 * by this add only) and b was computed before that conv: the conv adds b in
 * its epilogue (the kernels' residual, read before the output is written),
 * applies act and writes y's buffer directly — one pass over the tensor
 * instead of three (ResNet's block ends). b keeps its own buffer: it lives
 * up to the add, so it never shares y's. y is contiguous (an ADD's output is
 * never placed inside a concat), and so is b (it has another use, the add,
 * so no concat takes it in place): residual and output have one pixel stride. */
static void fuse_add(vr_plan *p, vinfo *vi, int ai)
{
    const vr_graph *g = p->g;
    const vr_node *add = &g->nodes[ai];
    for (int k = 0; k < 2; k++) {
        const int v = add->in[k], o = add->in[1 - k], prod = g->producer[v];
        int only;
        if (v == o || v == g->input || v == g->output || prod < 0 || vi[v].root != v ||
            uses(g, v, &only) != 1)
            continue;
        const vr_node *c = &g->nodes[prod];
        if (c->op != VR_OP_CONV || c->act != VK_ACT_NONE || c->nin != 1 ||
            (c->wtype != VR_W_F32 && c->wtype != VR_W_WINO) ||
            g->values[c->in[0]].dtype != VR_F32)
            continue;
        if (o != g->input && !(g->producer[o] >= 0 && g->producer[o] < prod))
            continue;
        vi[v].root = add->out;
        p->np[prod].res_value = o + 1;
        p->np[prod].res_act = add->act;
        p->np[ai].fused_away = 1;
        p->folded++;
        return;
    }
}

static int find_root(vinfo *vi, int v)
{
    while (vi[v].root != v)
        v = vi[v].root;
    return v;
}

static int layout(vr_plan *p, char *err, size_t errlen)
{
    const vr_graph *g = p->g;
    int nv = g->nvalues;
    vinfo *vi = calloc((size_t)nv, sizeof *vi);
    size_t *chan_off = calloc((size_t)nv, sizeof *chan_off);
    if (!vi || !chan_off) {
        free(vi);
        free(chan_off);
        FAIL("out of memory");
    }
    for (int v = 0; v < nv; v++) {
        vi[v].root = v;
        vi[v].first = g->producer[v] >= 0 ? g->producer[v] : -1;
        vi[v].last = vi[v].first;
    }
    for (int i = 0; i < g->nnodes; i++) {
        const vr_node *n = &g->nodes[i];
        if (n->op == VR_OP_RESHAPE && n->in[0] != g->input)
            vi[n->out].root = n->in[0];
        if (n->op == VR_OP_ADD && n->nin == 2 && g->values[n->out].dtype == VR_F32 &&
            !(p->flags & VR_PLAN_OBSERVABLE))
            fuse_add(p, vi, i);
        if (n->op == VR_OP_CONCAT) {
            int ok = 1;
            for (int k = 0; k < n->nin && ok; k++) {
                int v = n->in[k], only, prod = g->producer[v];
                ok = v != g->input && v != g->output && prod >= 0 && uses(g, v, &only) == 1 &&
                     (g->nodes[prod].op == VR_OP_CONV || g->nodes[prod].op == VR_OP_DWCONV ||
                      g->nodes[prod].op == VR_OP_AVGPOOL || g->nodes[prod].op == VR_OP_MAXPOOL) &&
                     vi[v].root == v;
                for (int j = 0; j < k && ok; j++)
                    ok = n->in[j] != v;
            }
            if (ok) {
                size_t off = 0;
                for (int k = 0; k < n->nin; k++) {
                    vi[n->in[k]].root = n->out;
                    chan_off[n->in[k]] = off;
                    off += (size_t)g->values[n->in[k]].c;
                }
                p->np[i].concat_in_place = 1;
            }
        }
    }
    /* Lifetimes, accumulated on the root buffers. */
    for (int i = 0; i < g->nnodes; i++) {
        const vr_node *n = &g->nodes[i];
        for (int k = 0; k < n->nin; k++) {
            int r = find_root(vi, n->in[k]);
            if (vi[r].last < i)
                vi[r].last = i;
        }
        int r = find_root(vi, n->out);
        if (vi[r].first < 0 || vi[r].first > i)
            vi[r].first = i;
        if (vi[r].last < i)
            vi[r].last = i;
    }
    int ro = find_root(vi, g->output);
    vi[ro].last = g->nnodes; /* read after the last node */

    /* First-fit by decreasing size over buffers whose lifetimes overlap. */
    int *order = malloc((size_t)nv * sizeof *order), cnt = 0;
    size_t *size = calloc((size_t)nv, sizeof *size);
    if (!order || !size) {
        free(order), free(size), free(vi), free(chan_off);
        FAIL("out of memory");
    }
    for (int v = 0; v < nv; v++) {
        p->buf_offset[v] = SIZE_MAX;
        if (vi[v].root != v || v == g->input || g->producer[v] < 0)
            continue;
        size[v] = vk_round_up(elems(&g->values[v]) * vr_dtype_size(g->values[v].dtype) *
                                  (size_t)p->batch,
                              ALIGN);
        order[cnt++] = v;
    }
    for (int i = 1; i < cnt; i++) /* insertion sort: graphs have hundreds of values */
        for (int j = i; j > 0 && size[order[j]] > size[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    size_t total = 0;
    for (int i = 0; i < cnt; i++) {
        int v = order[i];
        size_t off = 0;
        for (int moved = 1; moved;) {
            moved = 0;
            for (int j = 0; j < i; j++) {
                int u = order[j];
                if (vi[u].last < vi[v].first || vi[v].last < vi[u].first)
                    continue;
                if (off < p->buf_offset[u] + size[u] && p->buf_offset[u] < off + size[v]) {
                    off = p->buf_offset[u] + size[u];
                    moved = 1;
                }
            }
        }
        p->buf_offset[v] = off;
        if (off + size[v] > total)
            total = off + size[v];
    }
    p->arena_bytes = total;
    p->arena = total ? aligned_alloc(ALIGN, total) : NULL;
    if (total && !p->arena) {
        free(order), free(size), free(vi), free(chan_off);
        FAIL("out of memory for a %zu-byte arena", total);
    }
    /* Slots: base pointer, pixel stride and image stride of every value. A
     * concat input written in place keeps the concat's pixel stride; a
     * reshape alias is contiguous like its root. */
    for (int v = 0; v < nv; v++) {
        const vr_value *val = &g->values[v];
        vr_slot *s = &p->slots[v];
        int r = v, in_concat = 0;
        size_t coff = 0;
        while (vi[r].root != r) {
            coff += chan_off[r];
            in_concat |= g->nodes[g->producer[r]].op != VR_OP_RESHAPE;
            r = vi[r].root;
        }
        const vr_value *rv = &g->values[r];
        if (r == g->input || p->buf_offset[r] == SIZE_MAX)
            s->base = NULL; /* the graph input (bound per run) or a value no node reads */
        else
            s->base = p->arena + p->buf_offset[r] + coff * vr_dtype_size(val->dtype);
        s->pix_ld = in_concat ? rv->c : val->c;
        s->img_stride = elems(rv);
    }
    free(order);
    free(size);
    free(vi);
    free(chan_off);
    return 0;
}

vr_plan *vr_plan_create(const vr_graph *g, int batch, const vk_ops *ops, char *err, size_t errlen)
{
    return vr_plan_create_ex(g, batch, ops, 0, err, errlen);
}

int vr_plan_folded(const vr_plan *p) { return p->folded; }

vr_plan *vr_plan_create_ex(const vr_graph *g, int batch, const vk_ops *ops, unsigned flags,
                           char *err, size_t errlen)
{
    if (batch < 1 || batch > 4096) {
        vf_fail(err, errlen, "batch %d out of range", batch);
        return NULL;
    }
    if (g->input < 0 || g->output < 0) {
        vf_fail(err, errlen, "graph has no input/output");
        return NULL;
    }
    vr_plan *p = calloc(1, sizeof *p);
    if (!p) {
        vf_fail(err, errlen, "out of memory");
        return NULL;
    }
    p->g = g;
    p->ops = ops;
    p->batch = batch;
    p->flags = flags;
    p->slots = calloc((size_t)g->nvalues, sizeof *p->slots);
    p->buf_offset = calloc((size_t)g->nvalues, sizeof *p->buf_offset);
    p->np = calloc((size_t)g->nnodes + 1, sizeof *p->np);
    if (!p->slots || !p->buf_offset || !p->np) {
        vf_fail(err, errlen, "out of memory");
        vr_plan_free(p);
        return NULL;
    }
    if (g->producer[g->output] < 0) {
        vf_fail(err, errlen, "graph output %d is not produced by any node", g->output);
        vr_plan_free(p);
        return NULL;
    }
    for (int v = 0; v < g->nvalues; v++)
        if ((int64_t)batch * g->values[v].h * g->values[v].w * g->values[v].c > INT32_MAX) {
            vf_fail(err, errlen, "value %d: batch %d makes it over 2^31 elements", v, batch);
            vr_plan_free(p);
            return NULL;
        }
    size_t scratch = 0;
    for (int i = 0; i < g->nnodes; i++) {
        if (check_node(p, i, err, errlen)) {
            vr_plan_free(p);
            return NULL;
        }
        const vr_node *n = &g->nodes[i];
        if (n->op == VR_OP_CONV) {
            const vr_value *in = &g->values[n->in[0]], *out = &g->values[n->out];
            vk_conv_geom cg = {.N = batch, .H = in->h, .W = in->w, .C = in->c, .OH = out->h,
                               .OW = out->w, .OC = out->c, .KH = n->kh, .KW = n->kw,
                               .stride_h = n->stride_h, .stride_w = n->stride_w,
                               .pad_t = n->pad_t, .pad_l = n->pad_l, .dil_h = n->dil_h,
                               .dil_w = n->dil_w, .in_ld = in->c, .out_ld = out->c};
            size_t s = in->dtype != VR_F32          ? vk_conv2d_q8_scratch(&cg)
                       : n->wtype == VR_W_BF16 ? vk_conv2d_bf16_scratch(&cg)
                       : n->wtype == VR_W_WINO ? vk_conv_wino_f32_scratch(&cg)
                                               : vk_conv2d_f32_scratch(&cg);
            if (s > scratch)
                scratch = s;
        }
        if (p->np[i].dynq) {
            const vr_value *in = &g->values[n->in[0]];
            size_t rows = (size_t)batch * in->h * in->w;
            size_t b = vr_dq_scale_offset(rows, (size_t)in->c) + rows * sizeof(float);
            if (b > p->dq_bytes)
                p->dq_bytes = b;
        }
    }
    if (p->dq_bytes && !(p->dq_buf = aligned_alloc(ALIGN, vk_round_up(p->dq_bytes, ALIGN)))) {
        vf_fail(err, errlen, "out of memory for %zu bytes of quantized rows", p->dq_bytes);
        vr_plan_free(p);
        return NULL;
    }
    if (layout(p, err, errlen)) {
        vr_plan_free(p);
        return NULL;
    }
    p->scratch_bytes = vk_round_up(scratch, ALIGN);
    if (p->scratch_bytes) {
        p->scratch = aligned_alloc(ALIGN, p->scratch_bytes * VR_MAX_THREADS);
        if (!p->scratch) {
            vf_fail(err, errlen, "out of memory for scratch");
            vr_plan_free(p);
            return NULL;
        }
    }
    return p;
}

void vr_plan_free(vr_plan *p)
{
    if (!p)
        return;
    if (p->np)
        for (int i = 0; i < p->g->nnodes; i++) {
            free(p->np[i].q_mult);
            free(p->np[i].q_shift);
        }
    free(p->np);
    free(p->slots);
    free(p->buf_offset);
    free(p->arena);
    free(p->scratch);
    free(p->dq_buf);
    free(p);
}

size_t vr_plan_arena_bytes(const vr_plan *p) { return p->arena_bytes; }

typedef struct {
    const vr_plan *p;
    int node;
} run_ctx;

static void run_task(void *ctx, int tid, int nthreads)
{
    const run_ctx *c = ctx;
    vr_exec_node(c->p, c->node, tid, nthreads);
}

static void quant_task(void *ctx, int tid, int nthreads)
{
    const run_ctx *c = ctx;
    vr_exec_quant_rows(c->p, c->node, tid, nthreads);
}

int vr_plan_run(vr_plan *p, vr_pool *pool, const void *input, void *output)
{
    return vr_plan_run_observed(p, pool, input, output, NULL, NULL);
}

const void *vr_plan_value(const vr_plan *p, int v, size_t *pix_ld, size_t *img_stride)
{
    const vr_graph *g = p->g;
    if (v < 0 || v >= g->nvalues)
        return NULL;
    const vr_value *val = &g->values[v];
    if (g->producer[v] >= 0 && p->np[g->producer[v]].res_value)
        return NULL; /* a conv output folded into its add: never stored */
    *pix_ld = v == g->input ? (size_t)val->c : (size_t)p->slots[v].pix_ld;
    *img_stride = v == g->input ? (size_t)val->h * val->w * val->c : p->slots[v].img_stride;
    return v == g->input ? p->user_input : p->slots[v].base;
}

int vr_plan_run_observed(vr_plan *p, vr_pool *pool, const void *input, void *output,
                         vr_plan_observer observe, void *ctx)
{
    const vr_graph *g = p->g;
    if (vr_pool_size(pool) > VR_MAX_THREADS)
        return -1;
    p->user_input = input;
    for (int i = 0; i < g->nnodes; i++) {
        run_ctx c = {p, i};
        if (p->np[i].dynq) /* every row quantized before any thread multiplies */
            vr_pool_run(pool, quant_task, &c);
        vr_pool_run(pool, run_task, &c);
        if (observe)
            observe(ctx, p, i);
    }
    const vr_value *ov = &g->values[g->output];
    const vr_slot *os = &p->slots[g->output];
    size_t es = vr_dtype_size(ov->dtype), pix = (size_t)ov->h * ov->w;
    uint8_t *dst = output;
    for (int b = 0; b < p->batch; b++)
        for (size_t q = 0; q < pix; q++)
            memcpy(dst + ((size_t)b * pix + q) * ov->c * es,
                   os->base + ((size_t)b * os->img_stride + q * (size_t)os->pix_ld) * es,
                   (size_t)ov->c * es);
    return 0;
}
