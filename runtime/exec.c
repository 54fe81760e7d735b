/* Executing one node on one thread's share of its output. */
#include <string.h>

#include "graph_internal.h"

static const uint8_t *in_base(const vr_plan *p, int v)
{
    return v == p->g->input ? (const uint8_t *)p->user_input : p->slots[v].base;
}

static void geom(const vr_plan *p, const vr_node *n, vk_conv_geom *cg)
{
    const vr_value *in = &p->g->values[n->in[0]], *out = &p->g->values[n->out];
    *cg = (vk_conv_geom){.N = p->batch, .H = in->h, .W = in->w, .C = in->c, .OH = out->h,
                         .OW = out->w, .OC = out->c, .KH = n->kh, .KW = n->kw,
                         .stride_h = n->stride_h, .stride_w = n->stride_w, .pad_t = n->pad_t,
                         .pad_l = n->pad_l, .dil_h = n->dil_h, .dil_w = n->dil_w,
                         .in_ld = p->slots[n->in[0]].pix_ld, .out_ld = p->slots[n->out].pix_ld};
}

static vk_requant requant(const vr_plan *p, int ni, const vr_value *out)
{
    const vr_node_plan *np = &p->np[ni];
    return (vk_requant){.mult = np->q_mult, .shift = np->q_shift, .per_channel = np->q_per_channel,
                        .out_zero = out->zero, .out_min = np->out_min, .out_max = np->out_max};
}

/* Images in a slot are img_stride apart; kernels see N images of H·W pixels
 * at pixel stride pix_ld, which holds when img_stride == H·W·pix_ld — true for
 * every slot the planner makes (concat slices share the concat's geometry). */

static void exec_conv(const vr_plan *p, int ni, const vr_node *n, int r0, int r1, int tid)
{
    const vk_ops *ops = p->ops;
    const vr_value *in = &p->g->values[n->in[0]], *out = &p->g->values[n->out];
    vk_conv_geom cg;
    geom(p, n, &cg);
    void *scratch = p->scratch ? p->scratch + (size_t)tid * p->scratch_bytes : NULL;
    if (in->dtype == VR_F32) {
        vk_conv2d_f32_args a = {.g = cg, .in = (const float *)in_base(p, n->in[0]),
                                .Wp = n->weights, .bias = n->bias,
                                .out = (float *)p->slots[n->out].base, .act = n->act,
                                .scratch = scratch};
        ops->conv2d_f32(&a, r0, r1);
    } else {
        vk_conv2d_q8_args a = {.g = cg, .in = in_base(p, n->in[0]), .a_signed = in->dtype == VR_S8,
                               .a_zero = in->zero, .Wp = n->weights, .w_colsum = n->w_colsum,
                               .b_offset = n->w_offset, .bias = n->bias,
                               .rq = requant(p, ni, out), .out = p->slots[n->out].base,
                               .scratch = scratch};
        ops->conv2d_q8(&a, r0, r1);
    }
}

static void exec_dwconv(const vr_plan *p, int ni, const vr_node *n, int r0, int r1)
{
    const vr_value *in = &p->g->values[n->in[0]], *out = &p->g->values[n->out];
    vk_conv_geom cg;
    geom(p, n, &cg);
    if (in->dtype == VR_F32) {
        vk_dwconv_f32_args a = {.g = cg, .in = (const float *)in_base(p, n->in[0]),
                                .Wp = n->weights, .bias = n->bias,
                                .out = (float *)p->slots[n->out].base, .act = n->act};
        p->ops->dwconv_f32(&a, r0, r1);
    } else {
        vk_dwconv_q8_args a = {.g = cg, .in = in_base(p, n->in[0]), .a_signed = in->dtype == VR_S8,
                               .a_zero = in->zero, .Wp = n->weights, .b_offset = n->w_offset,
                               .bias = n->bias, .rq = requant(p, ni, out),
                               .out = p->slots[n->out].base};
        p->ops->dwconv_q8(&a, r0, r1);
    }
}

static void exec_fc(const vr_plan *p, int ni, const vr_node *n, int tid, int nt)
{
    const vr_value *in = &p->g->values[n->in[0]], *out = &p->g->values[n->out];
    int K = in->h * in->w * in->c, N = out->c, n0, n1;
    vr_split(N, VK_F32_NR, tid, nt, &n0, &n1);
    if (n0 >= n1)
        return;
    const vr_slot *is = &p->slots[n->in[0]], *os = &p->slots[n->out];
    if (in->dtype == VR_F32) {
        vk_matmul_f32_args a = {.M = p->batch, .N = N, .K = K,
                                .A = (const float *)in_base(p, n->in[0]),
                                .lda = (ptrdiff_t)is->img_stride, .Bp = n->weights,
                                .bias = n->bias, .C = (float *)os->base,
                                .ldc = (ptrdiff_t)os->img_stride, .act = n->act};
        p->ops->matmul_f32(&a, 0, p->batch, n0, n1);
    } else {
        vk_matmul_q8_args a = {.M = p->batch, .N = N, .K = K, .A = in_base(p, n->in[0]),
                               .lda = (ptrdiff_t)is->img_stride, .a_signed = in->dtype == VR_S8,
                               .a_zero = in->zero, .Bp = n->weights, .b_colsum = n->w_colsum,
                               .b_offset = n->w_offset, .bias = n->bias,
                               .out = in->dtype == VR_S8 ? VK_Q8_OUT_S8 : VK_Q8_OUT_U8,
                               .C = os->base, .ldc = (ptrdiff_t)os->img_stride,
                               .rq = requant(p, ni, out)};
        p->ops->matmul_q8(&a, 0, p->batch, n0, n1);
    }
}

/* Elementwise and row ops see contiguous values (the planner only places conv
 * outputs inside concats), so a value is batch × elems consecutive floats. */
void vr_exec_node(const vr_plan *p, int ni, int tid, int nt)
{
    const vr_graph *g = p->g;
    const vr_node *n = &g->nodes[ni];
    const vr_value *out = &g->values[n->out];
    int rows = p->batch * out->h, r0, r1;
    size_t total = (size_t)p->batch * out->h * out->w * out->c;
    switch (n->op) {
    case VR_OP_CONV:
        vr_split(rows, 1, tid, nt, &r0, &r1);
        if (r0 < r1)
            exec_conv(p, ni, n, r0, r1, tid);
        break;
    case VR_OP_DWCONV:
        vr_split(rows, 1, tid, nt, &r0, &r1);
        if (r0 < r1)
            exec_dwconv(p, ni, n, r0, r1);
        break;
    case VR_OP_FC: exec_fc(p, ni, n, tid, nt); break;
    case VR_OP_ADD: {
        int e0, e1;
        vr_split((int)total, 16, tid, nt, &e0, &e1);
        if (e0 >= e1)
            break;
        const void *a = in_base(p, n->in[0]), *b = in_base(p, n->in[1]);
        void *y = p->slots[n->out].base;
        if (out->dtype == VR_F32)
            p->ops->add_f32(a, b, y, n->act, (size_t)e0, (size_t)e1);
        else
            p->ops->add_q8(a, b, y, &p->np[ni].add, (size_t)e0, (size_t)e1);
        break;
    }
    case VR_OP_AVGPOOL:
    case VR_OP_MAXPOOL: {
        vk_conv_geom cg;
        geom(p, n, &cg);
        vr_split(rows, 1, tid, nt, &r0, &r1);
        if (r0 >= r1)
            break;
        const void *x = in_base(p, n->in[0]);
        void *y = p->slots[n->out].base;
        int sg = out->dtype == VR_S8;
        if (out->dtype != VR_F32)
            (n->op == VR_OP_MAXPOOL ? p->ops->maxpool_q8 : p->ops->avgpool_q8)(
                &cg, x, y, sg, p->np[ni].out_min, p->np[ni].out_max, r0, r1);
        else if (n->op == VR_OP_MAXPOOL)
            p->ops->maxpool_f32(&cg, x, y, r0, r1);
        else
            p->ops->avgpool_f32(&cg, x, y, r0, r1);
        break;
    }
    case VR_OP_GAP: {
        const vr_value *in = &g->values[n->in[0]];
        vr_split(p->batch, 1, tid, nt, &r0, &r1);
        if (r0 >= r1)
            break;
        if (out->dtype == VR_F32) {
            p->ops->gap_f32((const float *)in_base(p, n->in[0]), p->slots[n->in[0]].pix_ld,
                            in->h * in->w, in->c, (float *)p->slots[n->out].base, r0, r1);
        } else { /* TFLite's integer MEAN over H and W */
            p->ops->mean_q8(in_base(p, n->in[0]), p->slots[n->in[0]].pix_ld, in->h * in->w, in->c,
                            out->dtype == VR_S8, in->zero, p->np[ni].rq_mult, p->np[ni].rq_shift,
                            out->zero, p->np[ni].out_min, p->np[ni].out_max,
                            p->slots[n->out].base, r0, r1);
        }
        break;
    }
    case VR_OP_CONCAT: {
        if (p->np[ni].concat_in_place)
            break;
        size_t pix = (size_t)p->batch * out->h * out->w, es = vr_dtype_size(out->dtype);
        int q0, q1;
        vr_split((int)pix, 1, tid, nt, &q0, &q1);
        uint8_t *dst = p->slots[n->out].base;
        for (int q = q0; q < q1; q++) {
            size_t c = 0;
            for (int k = 0; k < n->nin; k++) {
                const vr_value *a = &g->values[n->in[k]];
                const vr_slot *s = &p->slots[n->in[k]];
                memcpy(dst + ((size_t)q * out->c + c) * es,
                       in_base(p, n->in[k]) + (size_t)q * s->pix_ld * es, (size_t)a->c * es);
                c += (size_t)a->c;
            }
        }
        break;
    }
    case VR_OP_SOFTMAX:
    case VR_OP_L2NORM: {
        int R = n->op == VR_OP_SOFTMAX ? p->batch * out->h * out->w : p->batch;
        int N = n->op == VR_OP_SOFTMAX ? out->c : out->h * out->w * out->c;
        vr_split(R, 1, tid, nt, &r0, &r1);
        if (r0 < r1) {
            const void *x = in_base(p, n->in[0]);
            void *y = p->slots[n->out].base;
            const vr_value *in = &g->values[n->in[0]];
            float beta = n->beta != 0 ? n->beta : 1.0f;
            if (n->op == VR_OP_L2NORM)
                p->ops->l2norm_f32(x, N, y, N, N, r0, r1);
            else if (out->dtype != VR_F32)
                p->ops->softmax_q8(x, y, N, out->dtype == VR_S8, in->scale, beta, out->scale,
                                   out->zero, r0, r1);
            else if (beta == 1.0f)
                p->ops->softmax_f32(x, N, y, N, N, r0, r1);
            else /* scale the logits into the output first, then normalise in place */
                for (int r = r0; r < r1; r++) {
                    for (int i = 0; i < N; i++)
                        ((float *)y)[(size_t)r * N + i] = beta * ((const float *)x)[(size_t)r * N + i];
                    p->ops->softmax_f32(y, N, y, N, N, r, r + 1);
                }
        }
        break;
    }
    case VR_OP_QUANTIZE: {
        int e0, e1;
        const vr_value *in = &g->values[n->in[0]];
        vr_split((int)total, 64, tid, nt, &e0, &e1);
        if (e0 < e1)
            p->ops->requant_q8(in_base(p, n->in[0]), in->dtype == VR_S8, in->zero,
                               p->slots[n->out].base, out->dtype == VR_S8, out->zero,
                               p->np[ni].rq_mult, p->np[ni].rq_shift, (size_t)e0, (size_t)e1);
        break;
    }
    case VR_OP_RESHAPE:
        /* An alias needs no work; a reshape of the graph input copies. */
        if (n->in[0] == g->input && tid == 0)
            memcpy(p->slots[n->out].base, p->user_input, total * vr_dtype_size(out->dtype));
        break;
    default: break;
    }
}
