/* torchvision state dict (safetensors) → vireo, f32.
 *
 * A state dict holds weights, not a graph; the architectures are known code,
 * so the graph is built here from torchvision's definitions (0.14,
 * torchvision/models/mobilenetv2.py and resnet.py), and the tensor names
 * decide which one it is:
 *   - mobilenet_v2: features.0 = conv 3×3 s2 p1 + BN + ReLU6; features.1..17
 *     InvertedResidual (t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2)
 *     (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1): [1×1 expand + BN +
 *     ReLU6 when t ≠ 1], depthwise 3×3 (stride s on a stage's first block)
 *     p1 + BN + ReLU6, 1×1 project + BN, residual when stride 1 and in == out;
 *     features.18 = 1×1 → 1280 + BN + ReLU6; global average pool;
 *     classifier.1 = Linear 1280 → 1000 (classifier.0 is dropout);
 *   - resnet50: conv1 7×7 s2 p3 + bn1 + ReLU; maxpool 3×3 s2 p1; layer1..4
 *     of 3, 4, 6, 3 Bottlenecks (width 64·2^i, stride 1, 2, 2, 2 on the 3×3
 *     — torchvision's "v1.5"), conv1 1×1 + BN + ReLU, conv2 3×3 + BN + ReLU,
 *     conv3 1×1 (expansion 4) + BN, downsample (conv 1×1 with the block's
 *     stride + BN) on each layer's first block, residual add + ReLU (one ADD
 *     node with the fused activation); global average pool; fc 2048 → 1000.
 * Every tensor's shape is checked against the architecture (so a width
 * multiplier or another depth is refused, naming the tensor).
 *
 * BatchNorm (eps 1e-5, torchvision's default for both) folds into the conv
 * before it in double, rounded once: s = γ/√(σ²+ε), w' = w·s, b' = β − μ·s
 * (these convs have no bias). Layouts: torch conv weights OIHW → OHWI for
 * vk_pack_conv_f32; depthwise [C,1,KH,KW] → [KH][KW][C]; Linear [out, in] →
 * the matmul B layout [in][out]. torch pads symmetrically, which vireo's
 * pad_top / pad_left plus the output size express; max pooling over in-image
 * taps equals torch's −∞ padding. Preprocessing: 224×224 bilinear, RGB in
 * [0,1] normalised by the ImageNet mean / std, NHWC f32 (the layout vireo's
 * graphs take; torch's NCHW is a permutation of the same values).
 * The result is serialized, loaded and planned before it is written. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "convert_util.h"
#include "formats/safetensors.h"
#include "formats/weights.h"
#include "kernels/pack.h"
#include "runtime/model.h"

#define BN_EPS 1e-5

typedef struct {
    st_file *f;
    vw_writer *w;
    vr_graph *g;
    vr_node_refs *refs;
    int nrefs;
    char *err;
    size_t errlen;
    int failed;
} tctx;

typedef struct {
    int id, h, w, c;
} tval;

static int terr(tctx *c, const char *fmt, ...)
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

/* The tensor name.what as doubles, checked to be F32 of the given shape.
 * Caller frees. */
static double *tensor(tctx *c, const char *name, const char *what, int ndim, const int64_t *shape)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s%s", name, what[0] ? "." : "", what);
    char msg[512];
    const st_tensor *t = vr_st_find_f32(c->f, full, ndim, shape, msg, sizeof msg);
    if (!t) {
        terr(c, "%s", msg);
        return NULL;
    }
    double *d = malloc((t->nelems ? t->nelems : 1) * sizeof *d);
    if (!d) {
        terr(c, "out of memory");
        return NULL;
    }
    const unsigned char *p = t->data; /* maybe unaligned: memcpy each */
    for (uint64_t i = 0; i < t->nelems; i++) {
        float v;
        memcpy(&v, p + 4 * i, 4);
        d[i] = v;
    }
    return d;
}

static int new_value(tctx *c, int h, int w, int ch, tval *out)
{
    vr_value v = {.dtype = VR_F32, .h = h, .w = w, .c = ch};
    int id = vr_graph_add_value(c->g, &v);
    if (id < 0)
        return terr(c, "%s", vr_graph_error(c->g));
    *out = (tval){id, h, w, ch};
    return 0;
}

static int put(tctx *c, const char *base, const char *suffix, vw_layout l, int nd,
               const int64_t *dims, const void *data, size_t size)
{
    char name[VW_MAX_NAME + 1];
    snprintf(name, sizeof name, "%.200s%s", base, suffix);
    int idx = vw_writer_add_tensor(c->w, name, VW_F32, l, nd, dims, data, size, NULL);
    if (idx < 0)
        return terr(c, "%s", vw_writer_error(c->w));
    return idx;
}

static int add_node(tctx *c, vr_node *n, const vr_node_refs *r, const char *what)
{
    for (int k = n->nin; k < VR_MAX_IN; k++)
        n->in[k] = -1;
    if (c->nrefs % 256 == 0) {
        vr_node_refs *q = realloc(c->refs, ((size_t)c->nrefs + 256) * sizeof *q);
        if (!q)
            return terr(c, "out of memory");
        c->refs = q;
    }
    if (vr_graph_add_node(c->g, n) < 0)
        return terr(c, "%s: %s", what, vr_graph_error(c->g));
    c->refs[c->nrefs++] = *r;
    return 0;
}

/* conv (name.weight, no bias) + BN (bn.weight/bias/running_mean/running_var)
 * + act. dw: depthwise (oc == in channels). */
static int conv_bn(tctx *c, const char *conv, const char *bn, tval in, int oc, int k, int stride,
                   int pad, int dw, vk_act act, tval *out)
{
    if (c->failed)
        return -1;
    int C = in.c, icw = dw ? 1 : C;
    int64_t ws[4] = {oc, icw, k, k}, bs[1] = {oc};
    double *w = tensor(c, conv, "weight", 4, ws);
    double *g = w ? tensor(c, bn, "weight", 1, bs) : NULL;
    double *be = g ? tensor(c, bn, "bias", 1, bs) : NULL;
    double *mu = be ? tensor(c, bn, "running_mean", 1, bs) : NULL;
    double *var = mu ? tensor(c, bn, "running_var", 1, bs) : NULL;
    size_t taps = (size_t)k * k, nw = (size_t)oc * icw * taps;
    float *wf = var ? malloc(nw * sizeof *wf) : NULL, *bf = wf ? malloc((size_t)oc * 4) : NULL;
    float *packed = NULL;
    int rc = -1;
    if (!var)
        goto out;
    if (!bf) {
        terr(c, "out of memory");
        goto out;
    }
    if (dw && oc != C) {
        terr(c, "%s: depthwise with %d outputs over %d channels", conv, oc, C);
        goto out;
    }
    for (int q = 0; q < oc; q++) {
        if (!(var[q] + BN_EPS > 0)) {
            terr(c, "%s.running_var[%d] = %g: not > -eps", bn, q, var[q]);
            goto out;
        }
        double s = g[q] / sqrt(var[q] + BN_EPS);
        bf[q] = (float)(be[q] - mu[q] * s);
        if (dw) /* [C][1][KH][KW] → [KH][KW][C] */
            for (size_t t = 0; t < taps; t++)
                wf[t * oc + q] = (float)(w[(size_t)q * taps + t] * s);
        else /* OIHW [q][ch][t] → OHWI [q][t][ch] */
            for (int ch = 0; ch < C; ch++)
                for (size_t t = 0; t < taps; t++)
                    wf[((size_t)q * taps + t) * C + ch] = (float)(w[((size_t)q * C + ch) * taps + t] * s);
    }
    int oh = (in.h + 2 * pad - k) / stride + 1, ow = (in.w + 2 * pad - k) / stride + 1;
    if (oh < 1 || ow < 1) {
        terr(c, "%s: input %dx%d too small", conv, in.h, in.w);
        goto out;
    }
    if (new_value(c, oh, ow, oc, out))
        goto out;
    vr_node_refs r = {-1, -1, -1, -1};
    size_t sz;
    if (dw) {
        int64_t d[3] = {k, k, C};
        sz = vk_pack_dw_size(k, k, C) * 4;
        if (!(packed = malloc(sz))) {
            terr(c, "out of memory");
            goto out;
        }
        vk_pack_dw_f32(k, k, C, wf, packed);
        r.weights = put(c, conv, ".w", VW_DW_F32, 3, d, packed, sz);
    } else {
        int64_t d[4] = {oc, k, k, C};
        sz = vk_pack_conv_f32_size(oc, k, k, C) * 4;
        if (!(packed = malloc(sz))) {
            terr(c, "out of memory");
            goto out;
        }
        vk_pack_conv_f32(oc, k, k, C, wf, packed);
        r.weights = put(c, conv, ".w", VW_CONV_F32, 4, d, packed, sz);
    }
    if (r.weights < 0 || (r.bias = put(c, conv, ".b", VW_PLAIN, 1, bs, bf, (size_t)oc * 4)) < 0)
        goto out;
    vr_node n = {.op = dw ? VR_OP_DWCONV : VR_OP_CONV, .nin = 1, .in = {in.id}, .out = out->id,
                 .act = act, .kh = k, .kw = k, .stride_h = stride, .stride_w = stride, .dil_h = 1,
                 .dil_w = 1, .pad_t = pad, .pad_l = pad};
    rc = add_node(c, &n, &r, conv);
out:
    free(w), free(g), free(be), free(mu), free(var), free(wf), free(bf), free(packed);
    return rc;
}

static int add(tctx *c, tval a, tval b, vk_act act, const char *what, tval *out)
{
    if (c->failed || new_value(c, a.h, a.w, a.c, out))
        return -1;
    vr_node n = {.op = VR_OP_ADD, .nin = 2, .in = {a.id, b.id}, .out = out->id, .act = act};
    vr_node_refs r = {-1, -1, -1, -1};
    return add_node(c, &n, &r, what);
}

static int gap(tctx *c, tval in, tval *out)
{
    if (c->failed || new_value(c, 1, 1, in.c, out))
        return -1;
    vr_node n = {.op = VR_OP_GAP, .nin = 1, .in = {in.id}, .out = out->id, .kh = 1, .kw = 1,
                 .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1};
    vr_node_refs r = {-1, -1, -1, -1};
    return add_node(c, &n, &r, "avgpool");
}

static int maxpool(tctx *c, tval in, int k, int s, int p, tval *out)
{
    if (c->failed || new_value(c, (in.h + 2 * p - k) / s + 1, (in.w + 2 * p - k) / s + 1, in.c, out))
        return -1;
    vr_node n = {.op = VR_OP_MAXPOOL, .nin = 1, .in = {in.id}, .out = out->id, .kh = k, .kw = k,
                 .stride_h = s, .stride_w = s, .dil_h = 1, .dil_w = 1, .pad_t = p, .pad_l = p};
    vr_node_refs r = {-1, -1, -1, -1};
    return add_node(c, &n, &r, "maxpool");
}

/* Linear name.weight [N, K], name.bias [N] → FC. */
static int linear(tctx *c, const char *name, tval in, int N, tval *out)
{
    if (c->failed)
        return -1;
    int K = in.h * in.w * in.c;
    int64_t ws[2] = {N, K}, bs[1] = {N};
    double *w = tensor(c, name, "weight", 2, ws), *b = w ? tensor(c, name, "bias", 1, bs) : NULL;
    float *B = b ? malloc((size_t)K * N * sizeof *B) : NULL, *bf = B ? malloc((size_t)N * 4) : NULL;
    size_t sz = vk_pack_f32_b_size(K, N) * 4;
    float *packed = bf ? malloc(sz) : NULL;
    int rc = -1;
    if (!b)
        goto out;
    if (!packed) {
        terr(c, "out of memory");
        goto out;
    }
    for (int j = 0; j < N; j++) {
        bf[j] = (float)b[j];
        for (int i = 0; i < K; i++)
            B[(size_t)i * N + j] = (float)w[(size_t)j * K + i];
    }
    vk_pack_f32_b(K, N, B, N, packed);
    if (new_value(c, 1, 1, N, out))
        goto out;
    int64_t d[2] = {K, N};
    vr_node_refs r = {-1, -1, -1, -1};
    if ((r.weights = put(c, name, ".w", VW_F32_B16, 2, d, packed, sz)) < 0 ||
        (r.bias = put(c, name, ".b", VW_PLAIN, 1, bs, bf, (size_t)N * 4)) < 0)
        goto out;
    vr_node n = {.op = VR_OP_FC, .nin = 1, .in = {in.id}, .out = out->id, .kh = 1, .kw = 1,
                 .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1};
    rc = add_node(c, &n, &r, name);
out:
    free(w), free(b), free(B), free(bf), free(packed);
    return rc;
}

/* ------------------------------------------------------------ models ---- */

static int build_mobilenet_v2(tctx *c, tval x, tval *logits)
{
    static const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    char a[64], b[64];
    if (conv_bn(c, "features.0.0", "features.0.1", x, 32, 3, 2, 1, 0, VK_ACT_RELU6, &x))
        return -1;
    int idx = 1;
    for (int s = 0; s < 7; s++)
        for (int i = 0; i < cfg[s][2]; i++, idx++) {
            int t = cfg[s][0], oc = cfg[s][1], stride = i == 0 ? cfg[s][3] : 1;
            int hid = x.c * t, l = 0;
            tval h = x;
            if (t != 1) {
                snprintf(a, sizeof a, "features.%d.conv.0.0", idx);
                snprintf(b, sizeof b, "features.%d.conv.0.1", idx);
                if (conv_bn(c, a, b, h, hid, 1, 1, 0, 0, VK_ACT_RELU6, &h))
                    return -1;
                l = 1;
            }
            snprintf(a, sizeof a, "features.%d.conv.%d.0", idx, l);
            snprintf(b, sizeof b, "features.%d.conv.%d.1", idx, l);
            if (conv_bn(c, a, b, h, hid, 3, stride, 1, 1, VK_ACT_RELU6, &h))
                return -1;
            snprintf(a, sizeof a, "features.%d.conv.%d", idx, l + 1);
            snprintf(b, sizeof b, "features.%d.conv.%d", idx, l + 2);
            if (conv_bn(c, a, b, h, oc, 1, 1, 0, 0, VK_ACT_NONE, &h))
                return -1;
            if (stride == 1 && x.c == oc) {
                snprintf(a, sizeof a, "features.%d (residual)", idx);
                if (add(c, h, x, VK_ACT_NONE, a, &h))
                    return -1;
            }
            x = h;
        }
    tval f;
    if (conv_bn(c, "features.18.0", "features.18.1", x, 1280, 1, 1, 0, 0, VK_ACT_RELU6, &x) ||
        gap(c, x, &f) || linear(c, "classifier.1", f, 1000, logits))
        return -1;
    return 0;
}

static int build_resnet50(tctx *c, tval x, tval *logits)
{
    static const int blocks[4] = {3, 4, 6, 3};
    char a[64], b[64], p[32];
    if (conv_bn(c, "conv1", "bn1", x, 64, 7, 2, 3, 0, VK_ACT_RELU, &x) ||
        maxpool(c, x, 3, 2, 1, &x))
        return -1;
    for (int L = 0; L < 4; L++)
        for (int i = 0; i < blocks[L]; i++) {
            int width = 64 << L, stride = (i == 0 && L > 0) ? 2 : 1;
            tval h, id = x;
            snprintf(p, sizeof p, "layer%d.%d", L + 1, i);
#define CB(n, oc, k, s, pad, act, out)                              \
    (snprintf(a, sizeof a, "%s.conv%d", p, n), snprintf(b, sizeof b, "%s.bn%d", p, n), \
     conv_bn(c, a, b, in_, oc, k, s, pad, 0, act, out))
            tval in_ = x;
            if (CB(1, width, 1, 1, 0, VK_ACT_RELU, &h))
                return -1;
            in_ = h;
            if (CB(2, width, 3, stride, 1, VK_ACT_RELU, &h))
                return -1;
            in_ = h;
            if (CB(3, width * 4, 1, 1, 0, VK_ACT_NONE, &h))
                return -1;
#undef CB
            if (i == 0) {
                snprintf(a, sizeof a, "%s.downsample.0", p);
                snprintf(b, sizeof b, "%s.downsample.1", p);
                if (conv_bn(c, a, b, x, width * 4, 1, stride, 0, 0, VK_ACT_NONE, &id))
                    return -1;
            }
            if (add(c, h, id, VK_ACT_RELU, p, &x))
                return -1;
        }
    tval f;
    if (gap(c, x, &f) || linear(c, "fc", f, 1000, logits))
        return -1;
    return 0;
}

int vr_convert_safetensors(const char *src, const char *dst, const vr_convert_opts *opts,
                           char *err, size_t errlen)
{
    if (!vr_convert_is_raw(opts)) /* Winograd, int8, bf16: via f32 (runtime/convert_quant.c) */
        return vr_convert_as(vr_convert_safetensors, src, dst, opts, err, errlen);
    tctx c = {.err = err, .errlen = errlen};
    int rc = -1;
    err[0] = 0;
    if (st_open(src, &c.f, err, errlen))
        return -1;
    err[0] = 0;
    const char *arch = NULL;
    if (st_find(c.f, "features.18.0.weight") && st_find(c.f, "classifier.1.weight"))
        arch = "mobilenet_v2";
    else if (st_find(c.f, "layer4.0.conv3.weight") && st_find(c.f, "fc.weight"))
        arch = "resnet50";
    else if (vr_st_transformer_converter(c.f)) { /* ViT, CLIP towers */
        vr_convert_fn fn = vr_st_transformer_converter(c.f);
        st_close(c.f);
        return fn(src, dst, opts, err, errlen);
    } else {
        terr(&c, "not a torchvision mobilenet_v2 or resnet50 state dict (no features.18.0.weight "
                 "+ classifier.1.weight, nor layer4.0.conv3.weight + fc.weight)");
        goto out;
    }
    c.w = vw_writer_new();
    c.g = vr_graph_new();
    if (!c.w || !c.g) {
        terr(&c, "out of memory");
        goto out;
    }
    tval in, logits;
    if (new_value(&c, 224, 224, 3, &in))
        goto out;
    if (!strcmp(arch, "mobilenet_v2") ? build_mobilenet_v2(&c, in, &logits)
                                      : build_resnet50(&c, in, &logits))
        goto out;
    if (vr_graph_set_io(c.g, in.id, logits.id)) {
        terr(&c, "%s", vr_graph_error(c.g));
        goto out;
    }
    const char *slash = strrchr(src, '/');
    char name[256];
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : src);
    char *dot = strstr(name, ".safetensors");
    if (dot && dot != name)
        *dot = 0;
    vw_writer_kv_str(c.w, "model.name", name);
    vw_writer_kv_str(c.w, "model.arch", arch);
    vw_writer_kv_str(c.w, "model.source", "torchvision");
    vw_writer_kv_u64(c.w, "model.embedding_dim", !strcmp(arch, "resnet50") ? 2048 : 1280);
    vr_torchvision_preproc_meta(c.w, 224); /* Resize(256), CenterCrop(224) */
    if (opts && opts->labels_path && vr_convert_labels(c.w, opts->labels_path, err, errlen))
        goto out;
    if (vr_model_save_checked(c.w, c.g, c.refs, dst, err, errlen))
        goto out;
    rc = 0;
out:
    if (rc) {
        char msg[384];
        snprintf(msg, sizeof msg, "%s", err[0] ? err : "conversion failed");
        snprintf(err, errlen, "%s: %s", src, msg);
    }
    free(c.refs);
    vr_graph_free(c.g);
    vw_writer_free(c.w);
    st_close(c.f);
    return rc;
}
