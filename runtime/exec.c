/* Executing one node on one thread's share of its output. */
#include <math.h>
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

/* An f32 conv with an ADD folded into it (plan.c fuse_add): the add's other
 * input as the residual and the add's activation; else none and its own. */
static const float *fused_residual(const vr_plan *p, int ni, const vr_node *n, vk_act *act)
{
    const int rv = p->np[ni].res_value - 1;
    *act = rv >= 0 ? p->np[ni].res_act : n->act;
    return rv >= 0 ? (const float *)in_base(p, rv) : NULL;
}

static void exec_conv(const vr_plan *p, int ni, const vr_node *n, int r0, int r1, int tid)
{
    const vk_ops *ops = p->ops;
    const vr_value *in = &p->g->values[n->in[0]], *out = &p->g->values[n->out];
    vk_conv_geom cg;
    geom(p, n, &cg);
    void *scratch = p->scratch ? p->scratch + (size_t)tid * p->scratch_bytes : NULL;
    if (in->dtype == VR_F32 && n->wtype == VR_W_BF16) {
        vk_conv2d_bf16_args a = {.g = cg, .in = (const float *)in_base(p, n->in[0]),
                                 .Wp = n->weights, .bias = n->bias,
                                 .out = (float *)p->slots[n->out].base, .act = n->act,
                                 .scratch = scratch};
        ops->conv2d_bf16(&a, r0, r1);
    } else if (in->dtype == VR_F32) {
        vk_act act;
        const float *res = fused_residual(p, ni, n, &act);
        vk_conv2d_f32_args a = {.g = cg, .in = (const float *)in_base(p, n->in[0]),
                                .Wp = n->weights, .bias = n->bias, .residual = res,
                                .out = (float *)p->slots[n->out].base, .act = act,
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

/* Winograd F(4×4, 3×3) (graph.h VR_W_WINO): tile rows [t0, t1) over
 * batch × ceil(OH / 4). */
static void exec_conv_wino(const vr_plan *p, int ni, const vr_node *n, int t0, int t1, int tid)
{
    vk_conv_geom cg;
    geom(p, n, &cg);
    vk_act act;
    const float *res = fused_residual(p, ni, n, &act);
    vk_conv_wino_f32_args a = {.g = cg, .in = (const float *)in_base(p, n->in[0]),
                               .Wp = n->weights, .bias = n->bias, .residual = res,
                               .out = (float *)p->slots[n->out].base, .act = act,
                               .scratch = p->scratch + (size_t)tid * p->scratch_bytes};
    p->ops->conv_wino_f32(&a, t0, t1);
}

static void exec_dwconv(const vr_plan *p, int ni, const vr_node *n, int r0, int r1)
{
    const vr_value *in = &p->g->values[n->in[0]], *out = &p->g->values[n->out];
    vk_conv_geom cg;
    geom(p, n, &cg);
    if (in->dtype == VR_F32 && n->wtype == VR_W_BF16) {
        vk_dwconv_bf16_args a = {.g = cg, .in = (const float *)in_base(p, n->in[0]),
                                 .Wp = n->weights, .bias = n->bias,
                                 .out = (float *)p->slots[n->out].base, .act = n->act};
        p->ops->dwconv_bf16(&a, r0, r1);
    } else if (in->dtype == VR_F32) {
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
    if (in->dtype == VR_F32 && n->wtype == VR_W_BF16) {
        vk_matmul_bf16_args a = {.M = p->batch, .N = N, .K = K,
                                 .A = (const float *)in_base(p, n->in[0]),
                                 .lda = (ptrdiff_t)is->img_stride, .Bp = n->weights,
                                 .bias = n->bias, .C = (float *)os->base,
                                 .ldc = (ptrdiff_t)os->img_stride, .act = n->act};
        p->ops->matmul_bf16(&a, 0, p->batch, n0, n1);
    } else if (in->dtype == VR_F32) {
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

/* Dynamic int8 LINEAR, first phase: rows of the input → codes + a scale per
 * row in dq_buf (rows split between threads). */
void vr_exec_quant_rows(const vr_plan *p, int ni, int tid, int nt)
{
    const vr_node *n = &p->g->nodes[ni];
    const vr_value *in = &p->g->values[n->in[0]];
    int rows = p->batch * in->h * in->w, r0, r1;
    vr_split(rows, 1, tid, nt, &r0, &r1);
    if (r0 < r1)
        p->ops->quant_rows((const float *)in_base(p, n->in[0]), p->slots[n->in[0]].pix_ld, in->c,
                           p->dq_buf, in->c,
                           (float *)(p->dq_buf + vr_dq_scale_offset((size_t)rows, (size_t)in->c)),
                           r0, r1);
}

/* Per-token linear: one matmul over all batch × tokens rows, columns split
 * between threads (the weights are the bigger operand). Int8 weights
 * multiply the rows vr_exec_quant_rows left in dq_buf. */
static void exec_linear(const vr_plan *p, const vr_node *n, int tid, int nt)
{
    const vr_value *in = &p->g->values[n->in[0]], *out = &p->g->values[n->out];
    int n0, n1;
    vr_split(out->c, VK_F32_NR, tid, nt, &n0, &n1);
    if (n0 >= n1)
        return;
    const vr_slot *rs = n->nin > 1 ? &p->slots[n->in[1]] : NULL;
    const int M = p->batch * in->h * in->w;
    if (n->wtype == VR_W_S8) {
        vk_matmul_q8_args a = {
            .M = M, .N = out->c, .K = in->c, .A = p->dq_buf, .lda = in->c, .a_signed = 0,
            .a_zero = 128, .Bp = n->weights, .b_colsum = n->w_colsum, .out = VK_Q8_OUT_F32,
            .C = p->slots[n->out].base, .ldc = p->slots[n->out].pix_ld,
            .a_scale = (const float *)(p->dq_buf + vr_dq_scale_offset((size_t)M, (size_t)in->c)),
            .a_scale_per_row = 1, .w_scale = n->w_scales, .w_scale_per_channel = 1,
            .bias_f32 = n->bias, .act = n->act,
            .residual = rs ? (const float *)in_base(p, n->in[1]) : NULL, .ldr = rs ? rs->pix_ld : 0};
        p->ops->matmul_q8(&a, 0, M, n0, n1);
        return;
    }
    if (n->wtype == VR_W_BF16) {
        vk_matmul_bf16_args a = {.M = M, .N = out->c, .K = in->c,
                                 .A = (const float *)in_base(p, n->in[0]),
                                 .lda = p->slots[n->in[0]].pix_ld, .Bp = n->weights,
                                 .bias = n->bias,
                                 .residual = rs ? (const float *)in_base(p, n->in[1]) : NULL,
                                 .ldr = rs ? rs->pix_ld : 0, .C = (float *)p->slots[n->out].base,
                                 .ldc = p->slots[n->out].pix_ld, .act = n->act};
        p->ops->matmul_bf16(&a, 0, M, n0, n1);
        return;
    }
    vk_matmul_f32_args a = {.M = p->batch * in->h * in->w, .N = out->c, .K = in->c,
                            .A = (const float *)in_base(p, n->in[0]),
                            .lda = p->slots[n->in[0]].pix_ld, .Bp = n->weights, .bias = n->bias,
                            .residual = rs ? (const float *)in_base(p, n->in[1]) : NULL,
                            .ldr = rs ? rs->pix_ld : 0, .C = (float *)p->slots[n->out].base,
                            .ldc = p->slots[n->out].pix_ld, .act = n->act};
    p->ops->matmul_f32(&a, 0, a.M, n0, n1);
}

static void exec_attention(const vr_plan *p, const vr_node *n, int tid, int nt)
{
    const vr_value *out = &p->g->values[n->out], *in = &p->g->values[n->in[0]];
    const float *qkv = (const float *)in_base(p, n->in[0]);
    const vr_slot *is = &p->slots[n->in[0]], *os = &p->slots[n->out];
    int D = out->c, L = in->h * in->w, Lq = out->h * out->w;
    vk_attention_f32_args a = {.B = p->batch, .H = n->heads, .Lq = L, .Lk = L, .D = D / n->heads,
                               .q = qkv, .k = qkv + D, .v = qkv + 2 * D, .q_ld = is->pix_ld,
                               .k_ld = is->pix_ld, .v_ld = is->pix_ld,
                               .o = (float *)os->base, .o_ld = os->pix_ld,
                               .scale = 1.0f / sqrtf((float)(D / n->heads)), .causal = n->causal};
    int w0, w1;
    if (Lq == L) {
        vr_split(vk_attention_items(&a), 1, tid, nt, &w0, &w1);
        if (w0 < w1)
            p->ops->attention_f32(&a, w0, w1);
        return;
    }
    /* One query (token `index`) per image: the kernel's layout puts image b's
     * queries at q + b·Lq rows, so each image is its own call, the items of
     * all of them split between the threads. */
    a.B = 1;
    a.Lq = 1;
    const int per = vk_attention_items(&a);
    vr_split(p->batch * per, 1, tid, nt, &w0, &w1);
    for (int b = w0 / per; b < p->batch && b * per < w1; b++) {
        const float *base = qkv + b * is->img_stride;
        vk_attention_f32_args ab = a;
        ab.q = base + (size_t)n->index * is->pix_ld;
        ab.k = base + D;
        ab.v = base + 2 * D;
        ab.o = (float *)os->base + b * os->img_stride;
        const int i0 = w0 > b * per ? w0 - b * per : 0, i1 = w1 < (b + 1) * per ? w1 - b * per : per;
        p->ops->attention_f32(&ab, i0, i1);
    }
}

/* Rows (batch × output tokens) of [class token] ++ tokens, + position embedding. */
static void exec_pos_embed(const vr_plan *p, const vr_node *n, int tid, int nt)
{
    const vr_value *out = &p->g->values[n->out];
    int L = out->h * out->w, C = out->c, cls = n->bias != NULL, r0, r1;
    const float *x = (const float *)in_base(p, n->in[0]), *pos = n->weights, *tok = n->bias;
    ptrdiff_t ld = p->slots[n->in[0]].pix_ld;
    size_t in_img = p->slots[n->in[0]].img_stride;
    float *y = (float *)p->slots[n->out].base;
    vr_split(p->batch * L, 1, tid, nt, &r0, &r1);
    for (int r = r0; r < r1; r++) {
        int b = r / L, t = r % L;
        const float *src = t < cls ? tok : x + b * in_img + (size_t)(t - cls) * ld;
        const float *pe = pos + (size_t)t * C;
        float *dst = y + (size_t)r * C;
        for (int i = 0; i < C; i++)
            dst[i] = src[i] + pe[i];
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
        if (n->wtype == VR_W_WINO) { /* work items: rows of 4×4 output tiles */
            vr_split(p->batch * ((out->h + VK_WINO_TILE - 1) / VK_WINO_TILE), 1, tid, nt, &r0,
                     &r1);
            if (r0 < r1)
                exec_conv_wino(p, ni, n, r0, r1, tid);
            break;
        }
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
        if (p->np[ni].fused_away)
            break;
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
    case VR_OP_LINEAR: exec_linear(p, n, tid, nt); break;
    case VR_OP_ATTENTION: exec_attention(p, n, tid, nt); break;
    case VR_OP_POS_EMBED: exec_pos_embed(p, n, tid, nt); break;
    case VR_OP_LAYERNORM: {
        const vr_value *in = &g->values[n->in[0]];
        vr_split(p->batch * in->h * in->w, 1, tid, nt, &r0, &r1);
        if (r0 < r1)
            p->ops->layernorm_f32((const float *)in_base(p, n->in[0]), p->slots[n->in[0]].pix_ld,
                                  (float *)p->slots[n->out].base, p->slots[n->out].pix_ld, in->c,
                                  n->weights, n->bias, n->eps, r0, r1);
        break;
    }
    case VR_OP_TOKEN: {
        const vr_slot *s = &p->slots[n->in[0]];
        vr_split(p->batch, 1, tid, nt, &r0, &r1);
        for (int b = r0; b < r1; b++) {
            size_t t = (size_t)n->index;
            if (n->nin == 2) { /* the first token with the largest key */
                const vr_slot *ks = &p->slots[n->in[1]];
                const int32_t *key = (const int32_t *)in_base(p, n->in[1]) + b * ks->img_stride;
                const vr_value *kv = &g->values[n->in[1]];
                size_t L = (size_t)kv->h * kv->w;
                for (size_t i = 1; i < L; i++)
                    if (key[i * ks->pix_ld] > key[t * ks->pix_ld])
                        t = i;
            }
            memcpy((float *)p->slots[n->out].base + (size_t)b * out->c,
                   (const float *)in_base(p, n->in[0]) + b * s->img_stride + t * s->pix_ld,
                   (size_t)out->c * sizeof(float));
        }
        break;
    }
    case VR_OP_EMBED: {
        const vr_slot *s = &p->slots[n->in[0]];
        int L = out->h * out->w;
        vr_split(p->batch * L, 1, tid, nt, &r0, &r1);
        for (int r = r0; r < r1; r++) {
            int32_t id = ((const int32_t *)in_base(p, n->in[0]))[(size_t)(r / L) * s->img_stride +
                                                                  (size_t)(r % L) * s->pix_ld];
            float *dst = (float *)p->slots[n->out].base + (size_t)r * out->c;
            if (id >= 0 && id < n->vocab)
                memcpy(dst, (const float *)n->weights + (size_t)id * out->c,
                       (size_t)out->c * sizeof(float));
            else
                memset(dst, 0, (size_t)out->c * sizeof(float));
        }
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
