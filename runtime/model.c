/* GRAPH section encoding and the model loader. */
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/le.h"
#include "kernels/pack.h"
#include "formats/errmsg.h"

#define GRAPH_MAGIC "VGRAPH1\0"
#define HDR 32
#define VAL 32
#define NODE 128
#define MAX_ITEMS (1 << 20)

int vr_graph_encode(const vr_graph *g, const vr_node_refs *refs, void **bufp, size_t *lenp)
{
    int nv = vr_graph_value_count(g), nn = vr_graph_node_count(g);
    size_t len = HDR + (size_t)nv * VAL + (size_t)nn * NODE;
    uint8_t *b = calloc(1, len);
    if (!b)
        return -1;
    memcpy(b, GRAPH_MAGIC, 8);
    put32(b + 8, (uint32_t)nv);
    put32(b + 12, (uint32_t)nn);
    put32(b + 16, (uint32_t)vr_graph_input(g));
    put32(b + 20, (uint32_t)vr_graph_output(g));
    for (int i = 0; i < nv; i++) {
        const vr_value *v = vr_graph_value(g, i);
        uint8_t *e = b + HDR + (size_t)i * VAL;
        put32(e, v->dtype);
        put32(e + 4, (uint32_t)v->h);
        put32(e + 8, (uint32_t)v->w);
        put32(e + 12, (uint32_t)v->c);
        putf32(e + 16, v->scale);
        put32(e + 20, (uint32_t)v->zero);
    }
    for (int i = 0; i < nn; i++) {
        const vr_node *n = vr_graph_node(g, i);
        uint8_t *e = b + HDR + (size_t)nv * VAL + (size_t)i * NODE;
        put32(e, n->op);
        put32(e + 4, (uint32_t)n->nin);
        for (int k = 0; k < VR_MAX_IN; k++)
            put32(e + 8 + 4 * k, (uint32_t)(k < n->nin ? n->in[k] : -1));
        put32(e + 40, (uint32_t)n->out);
        put32(e + 44, n->act);
        int geo[8] = {n->kh, n->kw, n->stride_h, n->stride_w, n->dil_h, n->dil_w, n->pad_t, n->pad_l};
        for (int k = 0; k < 8; k++)
            put32(e + 48 + 4 * k, (uint32_t)geo[k]);
        vr_node_refs r = refs ? refs[i] : (vr_node_refs){-1, -1, -1, -1};
        put32(e + 80, (uint32_t)r.weights);
        put32(e + 84, (uint32_t)r.bias);
        put32(e + 88, (uint32_t)r.colsum);
        put32(e + 92, (uint32_t)r.scales);
        put32(e + 96, (uint32_t)n->w_offset);
        putf32(e + 100, n->w_scale);
        putf32(e + 104, n->beta);
        putf32(e + 108, n->eps);
        put32(e + 112, (uint32_t)n->heads);
        put32(e + 116, (uint32_t)n->causal);
        put32(e + 120, (uint32_t)n->index);
        put32(e + 124, (uint32_t)n->vocab);
    }
    *bufp = b;
    *lenp = len;
    return 0;
}

#define FAIL(...) return vf_fail(err, errlen, __VA_ARGS__)

static int dims_are(const vw_tensor *t, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    int64_t d[4] = {d0, d1, d2, d3};
    if (t->ndim != nd)
        return 0;
    for (int i = 0; i < nd; i++)
        if (t->dims[i] != d[i])
            return 0;
    return 1;
}

/* A reference: -1 (none) or a tensor of the given dtype / layout / dims. */
static const vw_tensor *ref(const vw_file *f, int32_t idx, int node, const char *what,
                            char *err, size_t errlen, int *bad)
{
    if (idx == -1)
        return NULL;
    const vw_tensor *t = idx >= 0 ? vw_tensor_at(f, (size_t)idx) : NULL;
    if (!t) {
        vf_fail(err, errlen, "node %d: %s tensor index %d out of range", node, what, idx);
        *bad = 1;
    }
    return t;
}

/* Dynamic int8 LINEAR (graph.h VR_W_S8): s32 column sums [round_up(N, 16)]
 * and f32 per-channel weight scales [N]. */
static int check_dynq_refs(vr_node *n, int ni, int N, const vw_tensor *cs, const vw_tensor *sc,
                           char *err, size_t errlen)
{
    if (!cs || cs->dtype != VW_S32 || cs->layout != VW_PLAIN ||
        !dims_are(cs, 1, (int64_t)vk_round_up((size_t)N, VK_Q8_NR), 0, 0, 0))
        FAIL("node %d (linear, int8 weights): column sums must be %zu plain s32", ni,
             vk_round_up((size_t)N, VK_Q8_NR));
    if (!sc || sc->dtype != VW_F32 || sc->layout != VW_PLAIN || !dims_are(sc, 1, N, 0, 0, 0))
        FAIL("node %d (linear, int8 weights): scales must be %d plain f32", ni, N);
    n->w_colsum = cs->data;
    n->w_scales = sc->data;
    return 0;
}

/* Token-sequence ops (f32 activations): LINEAR weights [in c, out c] packed
 * F32_B16 (f32), S8_B16X4 (dynamic int8, with column sums and scales) or
 * BF16_B16X2 (bf16), + f32 bias [out c]; LAYERNORM gamma / beta [c];
 * POS_EMBED embedding [out tokens, c] + class token [c]; EMBED table [vocab,
 * c], no bias. Column sums and scales only with int8 weights. */
static int check_token_refs(vr_node *n, int ni, const vr_value *in, const vr_value *out,
                            const vw_tensor *w, const vw_tensor *b, const vw_tensor *cs,
                            const vw_tensor *sc, char *err, size_t errlen)
{
    const char *op = vr_op_name(n->op);
    if (!in || !out)
        FAIL("node %d: bad value ids", ni);
    int s8 = n->op == VR_OP_LINEAR && w && w->dtype == VW_S8;
    if ((cs || sc) && !s8)
        FAIL("node %d (%s): f32 op with column sums or scales", ni, op);
    int64_t tokens = (int64_t)out->h * out->w;
    int ok;
    switch (n->op) {
    case VR_OP_LINEAR:
        ok = w && dims_are(w, 2, in->c, out->c, 0, 0) &&
             ((w->dtype == VW_F32 && w->layout == VW_F32_B16) ||
              (w->dtype == VW_S8 && w->layout == VW_S8_B16X4) ||
              (w->dtype == VW_BF16 && w->layout == VW_BF16_B16X2));
        n->wtype = !w || w->dtype == VW_F32 ? VR_W_F32 : w->dtype == VW_S8 ? VR_W_S8 : VR_W_BF16;
        if (ok && s8 && check_dynq_refs(n, ni, out->c, cs, sc, err, errlen))
            return -1;
        break;
    case VR_OP_LAYERNORM:
        ok = !w || (w->dtype == VW_F32 && w->layout == VW_PLAIN && dims_are(w, 1, out->c, 0, 0, 0));
        break;
    case VR_OP_EMBED: /* the table: as many rows as the node says */
        ok = w && w->dtype == VW_F32 && w->layout == VW_PLAIN &&
             dims_are(w, 2, n->vocab, out->c, 0, 0) && !b;
        break;
    default: /* POS_EMBED */
        ok = w && w->dtype == VW_F32 && w->layout == VW_PLAIN && dims_are(w, 2, tokens, out->c, 0, 0);
    }
    if (!ok)
        FAIL("node %d (%s): weights missing or not %s of the node's shape", ni, op,
             n->op == VR_OP_LINEAR ? "packed f32, s8 or bf16" : "f32");
    if (b && (b->dtype != VW_F32 || b->layout != VW_PLAIN || !dims_are(b, 1, out->c, 0, 0, 0)))
        FAIL("node %d (%s): bias must be %d plain f32", ni, op, out->c);
    n->weights = w ? w->data : NULL;
    n->bias = b ? b->data : NULL;
    return 0;
}

static int check_refs(const vw_file *f, const vr_graph *g, int ni, const uint8_t *e, vr_node *n,
                      char *err, size_t errlen)
{
    int bad = 0;
    const vw_tensor *w = ref(f, (int32_t)le32(e + 80), ni, "weights", err, errlen, &bad);
    const vw_tensor *b = ref(f, (int32_t)le32(e + 84), ni, "bias", err, errlen, &bad);
    const vw_tensor *cs = ref(f, (int32_t)le32(e + 88), ni, "column sums", err, errlen, &bad);
    const vw_tensor *sc = ref(f, (int32_t)le32(e + 92), ni, "scales", err, errlen, &bad);
    if (bad)
        return -1;
    const vr_value *in = vr_graph_value(g, n->in[0]), *out = vr_graph_value(g, n->out);
    if (n->op == VR_OP_LINEAR || n->op == VR_OP_LAYERNORM || n->op == VR_OP_POS_EMBED ||
        n->op == VR_OP_EMBED)
        return check_token_refs(n, ni, in, out, w, b, cs, sc, err, errlen);
    int has_weights = n->op == VR_OP_CONV || n->op == VR_OP_DWCONV || n->op == VR_OP_FC;
    if (!has_weights) {
        if (w || b || cs || sc)
            FAIL("node %d (%s): carries weights it does not use", ni, vr_op_name(n->op));
        return 0;
    }
    if (!in || !out)
        FAIL("node %d: bad value ids", ni);
    int q = in->dtype != VR_F32;
    /* f32 activations: f32 or bf16 weights (graph.h VR_W_BF16), or f32
     * Winograd weights on a conv (VR_W_WINO) */
    int bf = !q && w && w->dtype == VW_BF16;
    int wino = !q && n->op == VR_OP_CONV && w && w->layout == VW_CONV_WINO_F32;
    vw_dtype wt = q ? VW_S8 : bf ? VW_BF16 : VW_F32;
    int ok = 0;
    if (w) {
        switch (n->op) {
        case VR_OP_CONV:
            ok = w->dtype == wt &&
                 w->layout == (q      ? VW_CONV_S8
                               : bf   ? VW_CONV_BF16
                               : wino ? VW_CONV_WINO_F32
                                      : VW_CONV_F32) &&
                 dims_are(w, 4, out->c, n->kh, n->kw, in->c);
            break;
        case VR_OP_DWCONV:
            ok = w->dtype == wt && w->layout == (q ? VW_DW_S8 : bf ? VW_DW_BF16 : VW_DW_F32) &&
                 dims_are(w, 3, n->kh, n->kw, in->c, 0);
            break;
        default: /* FC over the flattened input */
            ok = w->dtype == wt &&
                 w->layout == (q ? VW_S8_B16X4 : bf ? VW_BF16_B16X2 : VW_F32_B16) &&
                 dims_are(w, 2, (int64_t)in->h * in->w * in->c, out->c, 0, 0);
        }
    }
    if (!ok)
        FAIL("node %d (%s): weights missing or not %s of the node's shape", ni, vr_op_name(n->op),
             q ? "packed s8" : "packed f32 or bf16");
    /* The layout's dims already make it 3×3; the kernel also needs these. */
    if (wino && (n->stride_h != 1 || n->stride_w != 1 || n->dil_h != 1 || n->dil_w != 1))
        FAIL("node %d (conv): Winograd weights (%s) need stride 1 and dilation 1, the node has "
             "stride %dx%d, dilation %dx%d", ni, vw_layout_name(w->layout), n->stride_h,
             n->stride_w, n->dil_h, n->dil_w);
    n->wtype = bf ? VR_W_BF16 : wino ? VR_W_WINO : VR_W_F32;
    n->weights = w->data;
    if (b) {
        if (b->dtype != (q ? VW_S32 : VW_F32) || b->layout != VW_PLAIN || !dims_are(b, 1, out->c, 0, 0, 0))
            FAIL("node %d (%s): bias must be %d plain %s", ni, vr_op_name(n->op), out->c,
                 q ? "s32" : "f32");
        n->bias = b->data;
    }
    if (q && n->op != VR_OP_DWCONV) {
        if (!cs || cs->dtype != VW_S32 || cs->layout != VW_PLAIN ||
            !dims_are(cs, 1, (int64_t)vk_round_up((size_t)out->c, VK_Q8_NR), 0, 0, 0))
            FAIL("node %d (%s): column sums must be %zu plain s32", ni, vr_op_name(n->op),
                 vk_round_up((size_t)out->c, VK_Q8_NR));
        n->w_colsum = cs->data;
    } else if (cs) {
        FAIL("node %d (%s): unexpected column sums", ni, vr_op_name(n->op));
    }
    if (sc) {
        if (!q || sc->dtype != VW_F32 || sc->layout != VW_PLAIN || !dims_are(sc, 1, out->c, 0, 0, 0))
            FAIL("node %d (%s): scales must be %d plain f32 on a quantized node", ni,
                 vr_op_name(n->op), out->c);
        n->w_scales = sc->data;
    }
    return 0;
}

static int decode(vw_file *f, vr_graph *g, char *err, size_t errlen)
{
    size_t len;
    const uint8_t *b = vw_graph(f, &len);
    if (!b)
        FAIL("no GRAPH section: not a runnable model");
    if (len < HDR || memcmp(b, GRAPH_MAGIC, 8) != 0)
        FAIL("GRAPH section: bad header");
    uint32_t nv = le32(b + 8), nn = le32(b + 12);
    if (nv > MAX_ITEMS || nn > MAX_ITEMS)
        FAIL("GRAPH section: %u values / %u nodes over the limit %d", nv, nn, MAX_ITEMS);
    if ((uint64_t)HDR + (uint64_t)nv * VAL + (uint64_t)nn * NODE != len)
        FAIL("GRAPH section: %u values and %u nodes need %llu bytes, section has %zu", nv, nn,
             (unsigned long long)(HDR + (uint64_t)nv * VAL + (uint64_t)nn * NODE), len);
    if (le32(b + 24) || le32(b + 28))
        FAIL("GRAPH section: reserved header fields not zero");
    for (uint32_t i = 0; i < nv; i++) {
        const uint8_t *e = b + HDR + (size_t)i * VAL;
        if (le32(e + 24) || le32(e + 28))
            FAIL("value %u: reserved fields not zero", i);
        vr_value v = {(vr_dtype)le32(e), (int)le32(e + 4), (int)le32(e + 8), (int)le32(e + 12),
                      lef32(e + 16), (int32_t)le32(e + 20)};
        if (vr_graph_add_value(g, &v) < 0)
            FAIL("%s", vr_graph_error(g));
    }
    for (uint32_t i = 0; i < nn; i++) {
        const uint8_t *e = b + HDR + (size_t)nv * VAL + (size_t)i * NODE;
        vr_node n = {0};
        n.op = (vr_op)le32(e);
        n.nin = (int)le32(e + 4);
        if ((unsigned)n.op >= VR_OP_COUNT || n.nin < 1 || n.nin > VR_MAX_IN)
            FAIL("node %u: op %u with %d inputs", i, le32(e), n.nin);
        for (int k = 0; k < VR_MAX_IN; k++) {
            int32_t v = (int32_t)le32(e + 8 + 4 * k);
            if (k >= n.nin ? v != -1 : (v < 0 || (uint32_t)v >= nv))
                FAIL("node %u: input slot %d = %d invalid", i, k, v);
            n.in[k] = v;
        }
        n.out = (int32_t)le32(e + 40);
        uint32_t act = le32(e + 44);
        if (act > VK_ACT_QUICKGELU)
            FAIL("node %u: unknown activation %u", i, act);
        n.act = (vk_act)act;
        int *geo[8] = {&n.kh, &n.kw, &n.stride_h, &n.stride_w, &n.dil_h, &n.dil_w, &n.pad_t, &n.pad_l};
        for (int k = 0; k < 8; k++)
            *geo[k] = (int32_t)le32(e + 48 + 4 * k);
        n.w_offset = (int32_t)le32(e + 96);
        n.w_scale = lef32(e + 100);
        n.beta = lef32(e + 104);
        if (!(n.beta >= 0 && n.beta < 1e30f))
            FAIL("node %u: softmax beta %g invalid", i, n.beta);
        n.eps = lef32(e + 108);
        n.heads = (int32_t)le32(e + 112);
        n.causal = (int32_t)le32(e + 116);
        n.index = (int32_t)le32(e + 120);
        n.vocab = (int32_t)le32(e + 124);
        /* Fields of other ops stay zero, so one graph has one encoding. */
        if ((n.op != VR_OP_LAYERNORM && n.eps != 0) ||
            (n.op != VR_OP_ATTENTION && (n.heads || n.causal)) ||
            (n.op != VR_OP_TOKEN && n.op != VR_OP_ATTENTION && n.index) ||
            (n.op != VR_OP_EMBED && n.vocab))
            FAIL("node %u (%s): reserved bytes not zero (eps, heads, causal, index, vocab "
                 "belong to layernorm, attention, token / attention, embed)", i,
                 vr_op_name(n.op));
        if (!(n.eps >= 0 && n.eps < 1))
            FAIL("node %u: layernorm eps %g invalid", i, n.eps);
        if (n.out < 0 || (uint32_t)n.out >= nv)
            FAIL("node %u: output %d invalid", i, n.out);
        if (check_refs(f, g, (int)i, e, &n, err, errlen))
            return -1;
        if (vr_graph_add_node(g, &n) < 0)
            FAIL("%s", vr_graph_error(g));
    }
    if (vr_graph_set_io(g, (int32_t)le32(b + 16), (int32_t)le32(b + 20)))
        FAIL("%s", vr_graph_error(g));
    return 0;
}

int vr_model_from_file(vw_file *f, vr_model **out, char *err, size_t errlen)
{
    *out = NULL;
    vr_model *m = calloc(1, sizeof *m);
    vr_graph *g = vr_graph_new();
    if (!m || !g) {
        free(m);
        vr_graph_free(g);
        FAIL("out of memory");
    }
    if (decode(f, g, err, errlen)) {
        free(m);
        vr_graph_free(g);
        return -1;
    }
    m->file = f;
    m->graph = g;
    *out = m;
    return 0;
}

int vr_model_open(const char *path, vr_model **out, char *err, size_t errlen)
{
    vw_file *f;
    if (vw_open(path, &f, err, errlen))
        return -1;
    char sub[384];
    if (vr_model_from_file(f, out, sub, sizeof sub)) {
        vw_close(f);
        FAIL("%s: %s", path, sub);
    }
    return 0;
}

void vr_model_close(vr_model *m)
{
    if (!m)
        return;
    vr_graph_free(m->graph);
    vw_close(m->file);
    free(m);
}

int vr_model_save_checked(vw_writer *w, const vr_graph *g, const vr_node_refs *refs,
                          const char *dst, char *err, size_t errlen)
{
    void *gb, *buf = NULL;
    size_t gl, len;
    if (vr_graph_encode(g, refs, &gb, &gl))
        FAIL("out of memory");
    int set_rc = vw_writer_set_graph(w, gb, gl);
    free(gb);
    if (set_rc || vw_writer_serialize(w, &buf, &len))
        FAIL("%s", vw_writer_error(w));
    vw_file *vf;
    vr_model *vm = NULL;
    char sub[256];
    int ok = vw_open_mem(buf, len, &vf, sub, sizeof sub) == 0;
    if (ok && vr_model_from_file(vf, &vm, sub, sizeof sub)) {
        vw_close(vf);
        ok = 0;
    }
    vr_plan *p = ok ? vr_plan_create(vm->graph, 1, vk_ops_for(VK_ISA_REF), sub, sizeof sub) : NULL;
    vr_plan_free(p);
    vr_model_close(vm);
    free(buf);
    if (!p)
        FAIL("converted model does not load: %s", sub);
    if (vw_writer_save(w, dst))
        FAIL("%s", vw_writer_error(w));
    return 0;
}
