/* Rewriting the weights of a model file (runtime/convert_rewrite.h). */
#include "runtime/convert_rewrite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/errmsg.h"
#include "kernels/kernels.h"

struct vr_rewrite {
    const vr_model *m;
    vw_writer *w;
    int *map; /* per source tensor: index in w, or -1 (not copied yet) */
    char *err;
    size_t errlen;
    int failed;
};

int vr_rewrite_fail(vr_rewrite *rw, const char *fmt, ...)
{
    if (rw->failed)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rw->err, rw->errlen, fmt, ap);
    va_end(ap);
    rw->failed = 1;
    return -1;
}

int vr_rewrite_put(vr_rewrite *rw, const char *name, vw_dtype t, vw_layout l, int nd,
                   const int64_t *dims, const void *data, size_t size)
{
    if (rw->failed)
        return -1;
    int idx = vw_writer_add_tensor(rw->w, name, t, l, nd, dims, data, size, NULL);
    if (idx < 0)
        return vr_rewrite_fail(rw, "%s", vw_writer_error(rw->w));
    return idx;
}

/* The source tensor index holding data, or -1. */
static int src_index(const vr_rewrite *rw, const void *data)
{
    size_t nt = vw_tensor_count(rw->m->file);
    for (size_t i = 0; data && i < nt; i++)
        if (vw_tensor_at(rw->m->file, i)->data == data)
            return (int)i;
    return -1;
}

const vr_graph *vr_rewrite_graph(const vr_rewrite *rw) { return rw->m->graph; }

const vw_tensor *vr_rewrite_tensor(const vr_rewrite *rw, const void *data)
{
    int i = src_index(rw, data);
    return i >= 0 ? vw_tensor_at(rw->m->file, (size_t)i) : NULL;
}

void vr_rewrite_name(const vr_rewrite *rw, const void *data, int ni, char *out, size_t len)
{
    int i = src_index(rw, data);
    if (i >= 0)
        snprintf(out, len, "%s", vw_tensor_at(rw->m->file, (size_t)i)->name);
    else
        snprintf(out, len, "node%d", ni);
}

/* Copies source tensor i (once); its index in the writer or -1. Quantization
 * parameters are carried over (per-channel ones through their own tensors). */
static int copy_tensor(vr_rewrite *rw, int i)
{
    if (rw->failed || i < 0)
        return -1;
    if (rw->map[i] >= 0)
        return rw->map[i];
    const vw_tensor *t = vw_tensor_at(rw->m->file, (size_t)i);
    vw_quant q = {.scheme = t->qscheme, .axis = t->qaxis, .scale = t->qscale, .zero = t->qzero,
                  .scales_tensor = -1, .zeros_tensor = -1};
    if (t->qscheme == VW_Q_CHANNEL) {
        q.scales_tensor = copy_tensor(rw, src_index(rw, t->qscales));
        q.zeros_tensor = t->qzeros ? copy_tensor(rw, src_index(rw, t->qzeros)) : -1;
        if (q.scales_tensor < 0 || (t->qzeros && q.zeros_tensor < 0))
            return vr_rewrite_fail(rw, "tensor '%s': per-channel parameters not found", t->name);
    }
    int idx = vw_writer_add_tensor(rw->w, t->name, t->dtype, t->layout, t->ndim, t->dims, t->data,
                                   t->size, t->qscheme == VW_Q_NONE ? NULL : &q);
    if (idx < 0)
        return vr_rewrite_fail(rw, "%s", vw_writer_error(rw->w));
    return rw->map[i] = idx;
}

static int copy_kv(vr_rewrite *rw, const char *const *kv)
{
    const vw_file *f = rw->m->file;
    size_t nk = vw_kv_count(f);
    int rc = 0;
    for (size_t i = 0; i < nk && !rc; i++) {
        const vw_kv *e = vw_kv_at(f, i);
        int replaced = 0;
        for (const char *const *p = kv; p && *p && !replaced; p += 2)
            replaced = !strcmp(*p, e->key);
        if (replaced)
            continue;
        switch (e->type) {
        case VW_KV_U64: rc = vw_writer_kv_u64(rw->w, e->key, e->v.u); break;
        case VW_KV_I64: rc = vw_writer_kv_i64(rw->w, e->key, e->v.i); break;
        case VW_KV_F64: rc = vw_writer_kv_f64(rw->w, e->key, e->v.f); break;
        case VW_KV_STR: rc = vw_writer_kv_str(rw->w, e->key, e->v.s); break;
        case VW_KV_F32S: rc = vw_writer_kv_f32s(rw->w, e->key, e->v.f32s, e->n); break;
        case VW_KV_I64S: rc = vw_writer_kv_i64s(rw->w, e->key, e->v.i64s, e->n); break;
        default: break;
        }
    }
    for (const char *const *p = kv; p && *p && !rc; p += 2)
        rc = vw_writer_kv_str(rw->w, p[0], p[1]);
    return rc ? vr_rewrite_fail(rw, "%s", vw_writer_error(rw->w)) : 0;
}

int vr_rewrite_model(const char *src, const char *dst, vr_rewrite_node_fn fn, void *ctx,
                     const char *const *kv, char *err, size_t errlen)
{
    vr_model *m;
    err[0] = 0;
    if (vr_model_open(src, &m, err, errlen))
        return -1;
    const vr_graph *g = m->graph;
    int nv = vr_graph_value_count(g), nn = vr_graph_node_count(g), rc = -1;
    size_t nt = vw_tensor_count(m->file);
    vr_rewrite rw = {.m = m, .w = vw_writer_new(), .map = malloc((nt ? nt : 1) * sizeof(int)),
                     .err = err, .errlen = errlen};
    vr_node_refs *refs = calloc((size_t)(nn ? nn : 1), sizeof *refs);
    char *used = calloc(nt ? nt : 1, 1);
    vr_graph *q = vr_graph_new();
    if (!rw.w || !rw.map || !refs || !used || !q) {
        vr_rewrite_fail(&rw, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nt; i++)
        rw.map[i] = -1;
    for (int v = 0; v < nv; v++)
        if (vr_graph_add_value(q, vr_graph_value(g, v)) != v) {
            vr_rewrite_fail(&rw, "%s", vr_graph_error(q));
            goto out;
        }
    /* Which source tensors any node refers to (the rest is carried over). */
    for (int i = 0; i < nn; i++) {
        const vr_node *n = vr_graph_node(g, i);
        const void *ptr[4] = {n->weights, n->bias, n->w_colsum, n->w_scales};
        for (int k = 0; k < 4; k++) {
            int s = src_index(&rw, ptr[k]);
            if (s >= 0)
                used[s] = 1;
        }
    }
    for (int i = 0; i < nn && !rw.failed; i++) {
        const vr_node *n = vr_graph_node(g, i);
        vr_node_refs r = {VR_REWRITE_KEEP, VR_REWRITE_KEEP, VR_REWRITE_KEEP, VR_REWRITE_KEEP};
        int changed = fn(&rw, ctx, i, n, &r);
        if (changed < 0 || rw.failed) {
            vr_rewrite_fail(&rw, "node %d (%s): rewrite failed", i, vr_op_name(n->op));
            break;
        }
        const void *ptr[4] = {n->weights, n->bias, n->w_colsum, n->w_scales};
        int *field[4] = {&r.weights, &r.bias, &r.colsum, &r.scales};
        for (int k = 0; k < 4; k++)
            if (!changed || *field[k] == VR_REWRITE_KEEP)
                *field[k] = ptr[k] ? copy_tensor(&rw, src_index(&rw, ptr[k])) : -1;
        refs[i] = r;
        vr_node nq = *n;
        if (vr_graph_add_node(q, &nq) < 0)
            vr_rewrite_fail(&rw, "node %d: %s", i, vr_graph_error(q));
    }
    for (size_t i = 0; i < nt && !rw.failed; i++)
        if (!used[i])
            copy_tensor(&rw, (int)i);
    if (rw.failed)
        goto out;
    if (vr_graph_set_io(q, vr_graph_input(g), vr_graph_output(g))) {
        vr_rewrite_fail(&rw, "%s", vr_graph_error(q));
        goto out;
    }
    if (copy_kv(&rw, kv) || vr_model_save_checked(rw.w, q, refs, dst, err, errlen))
        goto out;
    rc = 0;
out:
    free(rw.map), free(refs), free(used);
    vr_graph_free(q);
    vw_writer_free(rw.w);
    vr_model_close(m);
    return rc;
}

void vr_unpack_f32_b(const float *Bp, int K, int N, float *B)
{
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++)
            B[(size_t)k * N + n] =
                Bp[((size_t)(n / VK_F32_NR) * K + (size_t)k) * VK_F32_NR + (size_t)(n % VK_F32_NR)];
}
