/* Transformer graph pieces shared by the ViT and CLIP converters
 * (runtime/convert_transformer.h). */
#include "convert_transformer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert_util.h"
#include "kernels/pack.h"

const vr_node_refs VR_TF_NO_REFS = {-1, -1, -1, -1};

int vr_tf_fail(vr_tf *c, const char *fmt, ...)
{
    if (c->failed)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    c->failed = 1;
    return -1;
}

int vr_tf_open(vr_tf *c, const char *src, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->err = err;
    c->errlen = errlen;
    err[0] = 0;
    if (st_open(src, &c->f, err, errlen)) {
        c->failed = 1;
        return -1;
    }
    c->w = vw_writer_new();
    c->g = vr_graph_new();
    if (!c->w || !c->g)
        return vr_tf_fail(c, "out of memory");
    return 0;
}

int vr_tf_close(vr_tf *c, const char *src, int rc)
{
    if (rc) {
        char msg[384];
        snprintf(msg, sizeof msg, "%s", c->err[0] ? c->err : "conversion failed");
        snprintf(c->err, c->errlen, "%s: %s", src, msg);
    }
    free(c->refs);
    vr_graph_free(c->g);
    vw_writer_free(c->w);
    st_close(c->f);
    return rc;
}

float *vr_tf_tensor(vr_tf *c, const char *name, int ndim, const int64_t *shape)
{
    if (c->failed)
        return NULL;
    char msg[512];
    const st_tensor *t = vr_st_find_f32(c->f, name, ndim, shape, msg, sizeof msg);
    if (!t) {
        vr_tf_fail(c, "%s", msg);
        return NULL;
    }
    float *d = malloc(t->nelems ? t->nelems * sizeof *d : 1);
    if (!d)
        vr_tf_fail(c, "out of memory");
    else
        memcpy(d, t->data, t->nelems * sizeof *d); /* maybe unaligned in the file */
    return d;
}

int vr_tf_value(vr_tf *c, int h, int w, int ch)
{
    if (c->failed)
        return -1;
    vr_value v = {.dtype = VR_F32, .h = h, .w = w, .c = ch};
    int id = vr_graph_add_value(c->g, &v);
    if (id < 0)
        vr_tf_fail(c, "%s", vr_graph_error(c->g));
    return id;
}

int vr_tf_put(vr_tf *c, const char *name, vw_layout l, int nd, const int64_t *dims,
              const void *data, size_t size)
{
    if (c->failed)
        return -1;
    int idx = vw_writer_add_tensor(c->w, name, VW_F32, l, nd, dims, data, size, NULL);
    if (idx < 0)
        vr_tf_fail(c, "%s", vw_writer_error(c->w));
    return idx;
}

int vr_tf_node(vr_tf *c, vr_node *n, vr_node_refs r, const char *what)
{
    if (c->failed)
        return -1;
    for (int k = n->nin; k < VR_MAX_IN; k++)
        n->in[k] = -1;
    if (c->nrefs % 256 == 0) {
        vr_node_refs *q = realloc(c->refs, ((size_t)c->nrefs + 256) * sizeof *q);
        if (!q)
            return vr_tf_fail(c, "out of memory");
        c->refs = q;
    }
    if (vr_graph_add_node(c->g, n) < 0)
        return vr_tf_fail(c, "%s: %s", what, vr_graph_error(c->g));
    c->refs[c->nrefs++] = r;
    return 0;
}

int vr_tf_vector(vr_tf *c, const char *name, int64_t n)
{
    float *v = vr_tf_tensor(c, name, 1, &n);
    int idx = v ? vr_tf_put(c, name, VW_PLAIN, 1, &n, v, (size_t)n * sizeof *v) : -1;
    free(v);
    return idx;
}

int vr_tf_linear(vr_tf *c, const char *wname, const char *bname, int kn, int x, int N,
                 int residual, vk_act act)
{
    if (c->failed)
        return -1;
    const vr_value *in = vr_graph_value(c->g, x);
    int K = in->c;
    int64_t ws[2] = {kn ? K : N, kn ? N : K}, d[2] = {K, N};
    float *W = vr_tf_tensor(c, wname, 2, ws);
    float *B = W && !kn ? malloc((size_t)K * N * sizeof *B) : NULL;
    size_t sz = vk_pack_f32_b_size(K, N) * sizeof(float);
    float *packed = W && (kn || B) ? malloc(sz) : NULL;
    vr_node_refs r = VR_TF_NO_REFS;
    if (W && !packed)
        vr_tf_fail(c, "out of memory");
    if (packed) {
        if (!kn) /* torch's Linear: [N, K] → B [K][N] */
            for (int j = 0; j < N; j++)
                for (int i = 0; i < K; i++)
                    B[(size_t)i * N + j] = W[(size_t)j * K + i];
        vk_pack_f32_b(K, N, kn ? W : B, N, packed);
        r.weights = vr_tf_put(c, wname, VW_F32_B16, 2, d, packed, sz);
        if (bname)
            r.bias = vr_tf_vector(c, bname, N);
    }
    free(W), free(B), free(packed);
    int out = vr_tf_value(c, in->h, in->w, N);
    vr_node n = {.op = VR_OP_LINEAR, .nin = residual >= 0 ? 2 : 1, .in = {x, residual},
                 .out = out, .act = act};
    return vr_tf_node(c, &n, r, wname) ? -1 : out;
}

int vr_tf_layernorm(vr_tf *c, const char *name, float eps, int x)
{
    if (c->failed)
        return -1;
    const vr_value *in = vr_graph_value(c->g, x);
    char wn[256], bn[256];
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    vr_node_refs r = VR_TF_NO_REFS;
    r.weights = vr_tf_vector(c, wn, in->c);
    r.bias = vr_tf_vector(c, bn, in->c);
    int out = vr_tf_value(c, in->h, in->w, in->c);
    vr_node n = {.op = VR_OP_LAYERNORM, .nin = 1, .in = {x}, .out = out, .eps = eps};
    return vr_tf_node(c, &n, r, name) ? -1 : out;
}

int vr_tf_block_add(vr_tf *c, const char *prefix, const vr_tf_block *b, int x)
{
    if (c->failed)
        return -1;
    const vr_value *v = vr_graph_value(c->g, x);
    int D = v->c, h_ = v->h, w_ = v->w, mlp;
    char n1[192], n2[192];
    snprintf(n1, sizeof n1, "%s.%s.weight", prefix, b->fc1);
    const st_tensor *fc1 = st_find(c->f, n1);
    if (!fc1 || fc1->ndim != 2 || fc1->shape[0] < 1 || fc1->shape[0] > (1 << 20))
        return vr_tf_fail(c, "tensor '%s' is missing or not 2-D", n1);
    mlp = (int)fc1->shape[0];
#define NAME(buf, ...) (snprintf(buf, sizeof buf, __VA_ARGS__), buf)
    int h = vr_tf_layernorm(c, NAME(n1, "%s.%s", prefix, b->ln_1), b->eps, x);
    /* q, k, v in one linear: torch's in_proj_weight [3D, D] rows q; k; v */
    int qkv = vr_tf_linear(c, NAME(n1, "%s.%s.in_proj_weight", prefix, b->attn),
                           NAME(n2, "%s.%s.in_proj_bias", prefix, b->attn), 0, h, 3 * D, -1,
                           VK_ACT_NONE);
    int att = vr_tf_value(c, h_, w_, D);
    vr_node an = {.op = VR_OP_ATTENTION, .nin = 1, .in = {qkv}, .out = att, .heads = b->heads,
                  .causal = b->causal};
    vr_tf_node(c, &an, VR_TF_NO_REFS, NAME(n1, "%s.%s", prefix, b->attn));
    x = vr_tf_linear(c, NAME(n1, "%s.%s.out_proj.weight", prefix, b->attn),
                     NAME(n2, "%s.%s.out_proj.bias", prefix, b->attn), 0, att, D, x, VK_ACT_NONE);
    h = vr_tf_layernorm(c, NAME(n1, "%s.%s", prefix, b->ln_2), b->eps, x);
    h = vr_tf_linear(c, NAME(n1, "%s.%s.weight", prefix, b->fc1),
                     NAME(n2, "%s.%s.bias", prefix, b->fc1), 0, h, mlp, -1, b->act);
    x = vr_tf_linear(c, NAME(n1, "%s.%s.weight", prefix, b->fc2),
                     NAME(n2, "%s.%s.bias", prefix, b->fc2), 0, h, D, x, VK_ACT_NONE);
#undef NAME
    return c->failed ? -1 : x;
}

int vr_tf_heads(vr_tf *c, int D, int (*fallback)(int D))
{
    if (c->failed)
        return -1;
    const char *m = st_meta_get(c->f, "num_heads");
    if (m) {
        char *end;
        long h = strtol(m, &end, 10);
        if (*end || h < 1 || h > D || D % h)
            return vr_tf_fail(c, "__metadata__ num_heads '%s' does not divide the width %d", m, D);
        return (int)h;
    }
    int h = fallback(D);
    if (h < 1 || D % h)
        return vr_tf_fail(c, "width %d has no known head count: give it as __metadata__ num_heads",
                          D);
    return h;
}
