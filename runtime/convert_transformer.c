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
    free(c->read);
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
    if (d && c->nread % 256 == 0) {
        const st_tensor **q = realloc(c->read, ((size_t)c->nread + 256) * sizeof *q);
        if (q)
            c->read = q;
        else
            free(d), d = NULL;
    }
    if (!d) {
        vr_tf_fail(c, "out of memory");
        return NULL;
    }
    c->read[c->nread++] = t;
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

/* Packs B [K][N] (x·B), stores it as wname (and bias [N] as bname when
 * given) and adds the LINEAR node. Returns the output value or -1. */
static int linear_node(vr_tf *c, const char *wname, const float *B, const char *bname,
                       const float *bias, int x, int N, int residual, vk_act act)
{
    if (c->failed)
        return -1;
    const vr_value *in = vr_graph_value(c->g, x);
    int K = in->c;
    int64_t d[2] = {K, N}, bn = N;
    size_t sz = vk_pack_f32_b_size(K, N) * sizeof(float);
    float *packed = malloc(sz);
    vr_node_refs r = VR_TF_NO_REFS;
    if (!packed)
        return vr_tf_fail(c, "out of memory");
    vk_pack_f32_b(K, N, B, N, packed);
    r.weights = vr_tf_put(c, wname, VW_F32_B16, 2, d, packed, sz);
    if (bias)
        r.bias = vr_tf_put(c, bname, VW_PLAIN, 1, &bn, bias, (size_t)N * sizeof *bias);
    free(packed);
    int out = vr_tf_value(c, in->h, in->w, N);
    vr_node n = {.op = VR_OP_LINEAR, .nin = residual >= 0 ? 2 : 1, .in = {x, residual},
                 .out = out, .act = act};
    return vr_tf_node(c, &n, r, wname) ? -1 : out;
}

/* torch's Linear weight [N, K] → B [K][N] (caller frees; NULL: out of memory). */
static float *transpose_nk(vr_tf *c, const float *W, int N, int K)
{
    float *B = malloc((size_t)K * N * sizeof *B);
    if (!B) {
        vr_tf_fail(c, "out of memory");
        return NULL;
    }
    for (int j = 0; j < N; j++)
        for (int i = 0; i < K; i++)
            B[(size_t)i * N + j] = W[(size_t)j * K + i];
    return B;
}

int vr_tf_linear(vr_tf *c, const char *wname, const char *bname, int kn, int x, int N,
                 int residual, vk_act act)
{
    if (c->failed)
        return -1;
    int K = vr_graph_value(c->g, x)->c;
    int64_t ws[2] = {kn ? K : N, kn ? N : K}, bs = N;
    float *W = vr_tf_tensor(c, wname, 2, ws);
    float *bias = W && bname ? vr_tf_tensor(c, bname, 1, &bs) : NULL;
    float *B = W && !kn ? transpose_nk(c, W, N, K) : NULL;
    int out = linear_node(c, wname, kn ? W : B, bname, bias, x, N, residual, act);
    free(W), free(bias), free(B);
    return out;
}

int vr_tf_linear_data(vr_tf *c, const char *wname, const float *W, const char *bname,
                      const float *bias, int x, int N, int residual, vk_act act)
{
    if (c->failed)
        return -1;
    float *B = transpose_nk(c, W, N, vr_graph_value(c->g, x)->c);
    int out = linear_node(c, wname, B, bname, bias, x, N, residual, act);
    free(B);
    return out;
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

/* HF's separate q_proj / k_proj / v_proj [D, D] + [D] → one [3D, D] linear. */
static int split_qkv(vr_tf *c, const char *prefix, const char *attn, int x, int D)
{
    static const char *const part[3] = {"q", "k", "v"};
    int64_t ws[2] = {D, D}, bs = D;
    size_t dd = (size_t)D * D;
    float *W = malloc(3 * dd * sizeof *W), *bias = malloc(3 * (size_t)D * sizeof *bias);
    char wn[256], bn[256];
    if (!W || !bias)
        vr_tf_fail(c, "out of memory");
    for (int i = 0; i < 3 && !c->failed; i++) {
        snprintf(wn, sizeof wn, "%s.%s.%s_proj.weight", prefix, attn, part[i]);
        snprintf(bn, sizeof bn, "%s.%s.%s_proj.bias", prefix, attn, part[i]);
        float *w = vr_tf_tensor(c, wn, 2, ws), *b = w ? vr_tf_tensor(c, bn, 1, &bs) : NULL;
        if (b) {
            memcpy(W + i * dd, w, dd * sizeof *W);
            memcpy(bias + (size_t)i * D, b, (size_t)D * sizeof *bias);
        }
        free(w), free(b);
    }
    snprintf(wn, sizeof wn, "%s.%s.qkv_proj.weight", prefix, attn);
    snprintf(bn, sizeof bn, "%s.%s.qkv_proj.bias", prefix, attn);
    int out = vr_tf_linear_data(c, wn, W, bn, bias, x, 3 * D, -1, VK_ACT_NONE);
    free(W), free(bias);
    return out;
}

/* token < 0: every token; else only the output at that token (see
 * vr_tf_block_add_token). */
static int block(vr_tf *c, const char *prefix, const vr_tf_block *b, int x, int token)
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
    int qkv = b->split_qkv ? split_qkv(c, prefix, b->attn, h, D)
                           : vr_tf_linear(c, NAME(n1, "%s.%s.in_proj_weight", prefix, b->attn),
                                          NAME(n2, "%s.%s.in_proj_bias", prefix, b->attn), 0, h,
                                          3 * D, -1, VK_ACT_NONE);
    /* One token: its query alone against every key (an attention output of
     * one token, `index` the query), and its row of the residual stream. */
    int att = token < 0 ? vr_tf_value(c, h_, w_, D) : vr_tf_value(c, 1, 1, D);
    vr_node an = {.op = VR_OP_ATTENTION, .nin = 1, .in = {qkv}, .out = att, .heads = b->heads,
                  .causal = b->causal, .index = token < 0 ? 0 : token};
    vr_tf_node(c, &an, VR_TF_NO_REFS, NAME(n1, "%s.%s", prefix, b->attn));
    if (token >= 0) {
        const int xt = vr_tf_value(c, 1, 1, D);
        vr_node tn = {.op = VR_OP_TOKEN, .nin = 1, .in = {x}, .out = xt, .index = token};
        vr_tf_node(c, &tn, VR_TF_NO_REFS, NAME(n1, "%s residual token", prefix));
        x = xt;
    }
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

int vr_tf_block_add(vr_tf *c, const char *prefix, const vr_tf_block *b, int x)
{
    return block(c, prefix, b, x, -1);
}

int vr_tf_block_add_token(vr_tf *c, const char *prefix, const vr_tf_block *b, int x, int index)
{
    if (c->failed)
        return -1;
    const vr_value *v = vr_graph_value(c->g, x);
    if (b->causal || index < 0 || index >= v->h * v->w)
        return vr_tf_fail(c, "%s: token %d of %d (causal %d) cannot pool the last block", prefix,
                          index, v->h * v->w, b->causal);
    return block(c, prefix, b, x, index);
}

int vr_tf_heads(vr_tf *c, int D, int (*fallback)(int D))
{
    if (c->failed)
        return -1;
    const char *m = st_meta_get(c->f, "num_heads");
    if (!m)
        m = st_meta_get(c->f, "num_attention_heads");
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

vk_act vr_tf_clip_act(vr_tf *c, const char *opt, const char **name)
{
    *name = "quick_gelu";
    if (c->failed)
        return VK_ACT_QUICKGELU;
    const char *m = st_meta_get(c->f, "hidden_act");
    const char *pick = m ? m : opt ? opt : "quick_gelu";
    int ok = !strcmp(pick, "quick_gelu") || !strcmp(pick, "gelu");
    if (!ok)
        vr_tf_fail(c, "%s activation '%s' is not quick_gelu or gelu",
                   m ? "__metadata__ hidden_act:" : "--act:", pick);
    else if (m && opt && strcmp(m, opt))
        vr_tf_fail(c, "--act %s contradicts the file's __metadata__ hidden_act '%s'", opt, m);
    if (!ok || c->failed)
        return VK_ACT_QUICKGELU;
    *name = !strcmp(pick, "gelu") ? "gelu" : "quick_gelu";
    return !strcmp(pick, "gelu") ? VK_ACT_GELU : VK_ACT_QUICKGELU;
}

int vr_tf_patch_embed(vr_tf *c, const char *wname, const char *bname, int x, int D, int P, int G)
{
    if (c->failed)
        return -1;
    int64_t ws[4] = {D, 3, P, P}, d[4] = {D, P, P, 3};
    float *W = vr_tf_tensor(c, wname, 4, ws);
    size_t taps = (size_t)P * P, sz = vk_pack_conv_f32_size(D, P, P, 3) * sizeof(float);
    float *ohwi = W ? malloc((size_t)D * taps * 3 * sizeof *ohwi) : NULL;
    float *packed = ohwi ? malloc(sz) : NULL;
    vr_node_refs r = VR_TF_NO_REFS;
    if (W && !packed)
        vr_tf_fail(c, "out of memory");
    if (packed) { /* OIHW → OHWI */
        for (int o = 0; o < D; o++)
            for (int ch = 0; ch < 3; ch++)
                for (size_t t = 0; t < taps; t++)
                    ohwi[((size_t)o * taps + t) * 3 + ch] = W[((size_t)o * 3 + ch) * taps + t];
        vk_pack_conv_f32(D, P, P, 3, ohwi, packed);
        r.weights = vr_tf_put(c, wname, VW_CONV_F32, 4, d, packed, sz);
        if (bname)
            r.bias = vr_tf_vector(c, bname, D);
    }
    free(W), free(ohwi), free(packed);
    int out = vr_tf_value(c, G, G, D);
    vr_node n = {.op = VR_OP_CONV, .nin = 1, .in = {x}, .out = out, .kh = P, .kw = P,
                 .stride_h = P, .stride_w = P, .dil_h = 1, .dil_w = 1};
    return vr_tf_node(c, &n, r, wname) ? -1 : out;
}

int vr_tf_pos_embed(vr_tf *c, const char *pos_name, int pos_ndim, const char *cls_name,
                    int cls_ndim, int x, int D, int G, int NG, vr_pos_resize_mode mode)
{
    if (c->failed)
        return -1;
    int64_t L = (int64_t)G * G + 1, NL = (int64_t)NG * NG + 1;
    int64_t ps[3] = {1, L, D}, cs[3] = {1, 1, D}, pd[2] = {NL, D}, cd[1] = {D};
    float *pos = vr_tf_tensor(c, pos_name, pos_ndim, pos_ndim == 3 ? ps : ps + 1);
    float *cls = pos ? vr_tf_tensor(c, cls_name, cls_ndim, cls_ndim == 3 ? cs : cs + 2) : NULL;
    float *npos = cls && NG != G ? malloc((size_t)NL * D * sizeof *npos) : NULL;
    vr_node_refs r = VR_TF_NO_REFS;
    if (cls && NG != G) {
        if (!npos || vr_pos_resize(pos + D, G, D, NG, mode, npos + D))
            vr_tf_fail(c, "out of memory");
        else
            memcpy(npos, pos, (size_t)D * sizeof *npos); /* the class token's row */
    }
    if (cls && !c->failed) {
        r.weights = vr_tf_put(c, pos_name, VW_PLAIN, 2, pd, npos ? npos : pos,
                              (size_t)NL * D * sizeof *pos);
        r.bias = vr_tf_put(c, cls_name, VW_PLAIN, 1, cd, cls, (size_t)D * sizeof *cls);
    }
    free(pos), free(cls), free(npos);
    int out = vr_tf_value(c, 1, (int)NL, D);
    vr_node n = {.op = VR_OP_POS_EMBED, .nin = 1, .in = {x}, .out = out};
    return vr_tf_node(c, &n, r, pos_name) ? -1 : out;
}

int vr_tf_grid_for_size(vr_tf *c, int S, int P)
{
    if (c->failed)
        return -1;
    if (S < 1 || P < 1 || S % P || S > 4096 || S / P > 256)
        return vr_tf_fail(c, "--image-size %d: must be a positive multiple of the patch size "
                             "%d, at most 4096 px and 256 patches a side", S, P);
    return S / P;
}

void vr_tf_clip_preproc(vr_tf *c, int S)
{
    if (c->failed)
        return;
    /* CLIP's _transform: Resize(S, BICUBIC) of the shorter side (Pillow,
     * antialiased), CenterCrop(S), ToTensor (RGB / 255), Normalize. */
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float stdv[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    vw_writer_kv_u64(c->w, "preproc.width", (uint64_t)S);
    vw_writer_kv_u64(c->w, "preproc.height", (uint64_t)S);
    vw_writer_kv_str(c->w, "preproc.resize", "pil_bicubic");
    vw_writer_kv_u64(c->w, "preproc.resize_shorter", (uint64_t)S);
    vw_writer_kv_str(c->w, "preproc.crop", "center");
    vw_writer_kv_str(c->w, "preproc.color", "rgb");
    vw_writer_kv_str(c->w, "preproc.layout", "nhwc");
    vw_writer_kv_str(c->w, "preproc.input_dtype", "f32");
    vw_writer_kv_f32s(c->w, "preproc.mean", mean, 3);
    vw_writer_kv_f32s(c->w, "preproc.std", stdv, 3);
}

void vr_tf_model_name(const char *src, char *name, size_t len)
{
    const char *slash = strrchr(src, '/');
    snprintf(name, len, "%s", slash ? slash + 1 : src);
    char *dot = strstr(name, ".safetensors");
    if (dot && dot != name)
        *dot = 0;
}

void vr_tf_tower_meta(vr_tf *c, const char *src, const char *arch, const char *source,
                      const char *tower, const char *act, int64_t E, int64_t width, int layers,
                      int heads)
{
    if (c->failed)
        return;
    char name[256];
    vr_tf_model_name(src, name, sizeof name);
    vw_writer_kv_str(c->w, "model.name", name);
    vw_writer_kv_str(c->w, "model.arch", arch);
    vw_writer_kv_str(c->w, "model.source", source);
    if (tower)
        vw_writer_kv_str(c->w, "model.tower", tower);
    if (act)
        vw_writer_kv_str(c->w, "model.act", act);
    vw_writer_kv_u64(c->w, "model.embedding_dim", (uint64_t)E);
    if (width)
        vw_writer_kv_u64(c->w, "model.width", (uint64_t)width);
    vw_writer_kv_u64(c->w, "model.layers", (uint64_t)layers);
    vw_writer_kv_u64(c->w, "model.heads", (uint64_t)heads);
}

void vr_tf_patch_meta(vr_tf *c, int P, int G, int NG)
{
    if (c->failed)
        return;
    vw_writer_kv_u64(c->w, "model.patch", (uint64_t)P);
    if (NG != G) /* each library's position-embedding resize (convert_pos_resize.c) */
        vw_writer_kv_u64(c->w, "model.pos_embed_resized_from", (uint64_t)G * (uint64_t)P);
}

void vr_tf_text_meta(vr_tf *c, int64_t ctx, int64_t V)
{
    if (c->failed)
        return;
    vw_writer_kv_u64(c->w, "text.context_length", (uint64_t)ctx);
    vw_writer_kv_u64(c->w, "text.vocab_size", (uint64_t)V);
    vw_writer_kv_str(c->w, "text.tokenizer", "clip_bpe_simple_vocab_16e6");
}

int vr_tf_finish(vr_tf *c, const char *src, const char *dst, const vr_convert_opts *o, int in,
                 int out, char *err, size_t errlen)
{
    if (c->failed)
        return vr_tf_close(c, src, -1);
    if (vr_graph_set_io(c->g, in, out)) {
        vr_tf_fail(c, "%s", vr_graph_error(c->g));
        return vr_tf_close(c, src, -1);
    }
    if (o && o->labels_path && vr_convert_labels(c->w, o->labels_path, err, errlen))
        return vr_tf_close(c, src, -1);
    if (vr_model_save_checked(c->w, c->g, c->refs, dst, err, errlen))
        return vr_tf_close(c, src, -1);
    return vr_tf_close(c, src, 0);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

int vr_tf_check_unused(vr_tf *c, const char *const *tower, int n)
{
    if (c->failed)
        return -1;
    size_t count = st_tensor_count(c->f);
    for (size_t i = 0; i < count; i++) {
        const st_tensor *t = st_tensor_at(c->f, i);
        int mine = 0;
        for (int k = 0; k < n && !mine; k++) {
            size_t len = strlen(tower[k]);
            mine = tower[k][len - 1] == '.' ? !strncmp(t->name, tower[k], len)
                                            : !strcmp(t->name, tower[k]);
        }
        if (!mine || ends_with(t->name, "position_ids") || ends_with(t->name, "attn_mask"))
            continue;
        int used = 0;
        for (int k = 0; k < c->nread && !used; k++)
            used = c->read[k] == t;
        if (!used)
            return vr_tf_fail(c, "tensor '%s' is not part of the architecture vireo builds for "
                                 "this tower (an unsupported variant?)", t->name);
    }
    return 0;
}

int vr_tf_text_embed(vr_tf *c, const char *tok, const char *pos, int64_t V, int64_t W,
                     int64_t ctx, int *ids)
{
    *ids = -1;
    if (c->failed)
        return -1;
    vr_value iv = {.dtype = VR_S32, .h = 1, .w = (int)ctx, .c = 1};
    if ((*ids = vr_graph_add_value(c->g, &iv)) < 0)
        return vr_tf_fail(c, "%s", vr_graph_error(c->g));
    int64_t ts[2] = {V, W}, ps[2] = {ctx, W};
    float *tab = vr_tf_tensor(c, tok, 2, ts);
    vr_node_refs r = VR_TF_NO_REFS;
    if (tab)
        r.weights = vr_tf_put(c, tok, VW_PLAIN, 2, ts, tab, (size_t)V * W * sizeof *tab);
    free(tab);
    int x = vr_tf_value(c, 1, (int)ctx, (int)W);
    vr_node en = {.op = VR_OP_EMBED, .nin = 1, .in = {*ids}, .out = x, .vocab = (int)V};
    vr_tf_node(c, &en, r, tok);
    float *p = vr_tf_tensor(c, pos, 2, ps);
    r = VR_TF_NO_REFS;
    if (p)
        r.weights = vr_tf_put(c, pos, VW_PLAIN, 2, ps, p, (size_t)ctx * W * sizeof *p);
    free(p);
    int xp = vr_tf_value(c, 1, (int)ctx, (int)W);
    vr_node pn = {.op = VR_OP_POS_EMBED, .nin = 1, .in = {x}, .out = xp};
    return vr_tf_node(c, &pn, r, pos) ? -1 : xp;
}
