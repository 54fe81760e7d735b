/* TF.js layers model (Keras functional / sequential) → vireo, f32.
 *
 * Two passes. The first walks the Keras layers in dependency order and builds
 * a small list of ops ("xops") over values ("xvals"), folding as it goes:
 *   - ZeroPadding2D becomes a pseudo value (source + pads) that only a
 *     following Conv2D / DepthwiseConv2D may consume: vireo's geometry takes
 *     pad_top / pad_left and the output size, so the explicit padding adds to
 *     the conv's own (TF SAME: before = total / 2) and asymmetric padding is
 *     free;
 *   - BatchNormalization folds into the conv / depthwise / dense that produces
 *     its input when that op has no activation yet and the BN is its only
 *     consumer (w' = w·γ/√(σ²+ε), b' = (b−μ)·γ/√(σ²+ε)+β, in double);
 *   - ReLU / ReLU6 / Activation fuse into the producing conv / depthwise /
 *     dense / add under the same condition;
 *   - InputLayer, Dropout-like layers, Activation 'linear', a Flatten or
 *     Reshape of a 1×1×C value are aliases (no node).
 * The second pass emits one vr_node per xop with its weights packed (Keras
 * conv kernels HWIO → OHWI for vk_pack_conv_f32; depthwise [KH][KW][C][1];
 * Dense [in, out] is already the matmul B layout K×N). Anything else is
 * refused naming the layer and its class. The result is serialized, loaded
 * and planned before it is written, like the TFLite converter. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "convert_util.h"
#include "formats/tfjs.h"
#include "formats/weights.h"
#include "kernels/pack.h"
#include "runtime/model.h"

typedef struct {
    int h, w, c;
    int rank;     /* 4: [N,H,W,C]; 2: [N,C] (stored 1×1×C) */
    int producer; /* xop index; -1: the graph input */
    int uses;     /* consumers: Keras references to the layers it stands for, + model outputs */
    int pad_src;  /* >= 0: a ZeroPadding2D pseudo value over xval pad_src */
    int pt, pb, pl, pr;
    int vid;      /* vr_graph value id, -1 until emitted */
} xval;

typedef struct {
    vr_op op;
    int nin, in[VR_MAX_IN];
    int out;
    vk_act act;
    int kh, kw, sh, sw, dh, dw, pt, pl;
    float *w; /* CONV: OHWI [oc][kh][kw][c]; DWCONV: [kh][kw][c]; FC: [K][N] */
    float *b; /* [oc] or NULL */
    int oc;
    const char *name; /* Keras layer name (tensor names) */
} xop;

typedef struct {
    tfjs_model *m;
    xval *v;
    int nv, capv;
    xop *o;
    int no, capo;
    int *layer_val;  /* layer index -> xval, -1 not done */
    int *layer_uses; /* how often each layer's output is referenced */
    int input_val;
    char *err;
    size_t errlen;
} cctx;

static int cerr(cctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Errors about one layer: "layer 'name' (Class): ...". */
static int lerr(cctx *c, const tfjs_layer *l, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cerr(c, "layer '%.120s' (%.60s): %s", l->name, l->class_name, msg);
}

static int new_val(cctx *c, int h, int w, int ch, int rank, int producer)
{
    if (c->nv == c->capv) {
        int n = c->capv ? 2 * c->capv : 256;
        xval *p = realloc(c->v, (size_t)n * sizeof *p);
        if (!p)
            return cerr(c, "out of memory");
        c->v = p, c->capv = n;
    }
    c->v[c->nv] = (xval){.h = h, .w = w, .c = ch, .rank = rank, .producer = producer,
                         .pad_src = -1, .vid = -1};
    return c->nv++;
}

/* Appends an op writing a new value of the given shape; returns the op index. */
static int new_op(cctx *c, const xop *proto, int h, int w, int ch, int rank)
{
    if (c->no == c->capo) {
        int n = c->capo ? 2 * c->capo : 256;
        xop *p = realloc(c->o, (size_t)n * sizeof *p);
        if (!p)
            return cerr(c, "out of memory");
        c->o = p, c->capo = n;
    }
    int out = new_val(c, h, w, ch, rank, c->no);
    if (out < 0)
        return -1;
    c->o[c->no] = *proto;
    c->o[c->no].out = out;
    return c->no++;
}

/* ------------------------------------------------------------ config ---- */

static const char *cfg_str(const tfjs_layer *l, const char *key)
{
    return json_cstr(json_get(l->config, key));
}

/* An int, or a list of n ints (an int means all n equal). Absent: def. */
static int cfg_ints(cctx *c, const tfjs_layer *l, const char *key, int n, int def, int *out)
{
    const json_value *v = json_get(l->config, key);
    int64_t x;
    if (!v || json_is_null(v)) {
        for (int i = 0; i < n; i++)
            out[i] = def;
        return 0;
    }
    if (json_int(v, &x) == 0) {
        if (x < 0 || x > 1 << 20)
            return lerr(c, l, "%s = %lld out of range", key, (long long)x);
        for (int i = 0; i < n; i++)
            out[i] = (int)x;
        return 0;
    }
    if (json_type(v) != JSON_ARRAY || json_len(v) != (size_t)n)
        return lerr(c, l, "%s is not an int or a list of %d ints", key, n);
    for (int i = 0; i < n; i++) {
        if (json_int(json_at(v, (size_t)i), &x) || x < 0 || x > 1 << 20)
            return lerr(c, l, "%s[%d] is not an int in range", key, i);
        out[i] = (int)x;
    }
    return 0;
}

static int cfg_bool(const tfjs_layer *l, const char *key, int def)
{
    int b;
    return json_bool(json_get(l->config, key), &b) == 0 ? b : def;
}

static int channels_last(cctx *c, const tfjs_layer *l)
{
    const char *df = cfg_str(l, "data_format");
    if (df && strcmp(df, "channels_last") != 0)
        return lerr(c, l, "data_format '%.40s' (only channels_last)", df);
    return 0;
}

/* Keras activation names → fused activation; 'softmax' → *softmax = 1. */
static int act_name(cctx *c, const tfjs_layer *l, const char *a, vk_act *act, int *softmax)
{
    *act = VK_ACT_NONE;
    *softmax = 0;
    if (!a || !strcmp(a, "linear"))
        return 0;
    if (!strcmp(a, "relu"))
        *act = VK_ACT_RELU;
    else if (!strcmp(a, "relu6"))
        *act = VK_ACT_RELU6;
    else if (!strcmp(a, "softmax"))
        *softmax = 1;
    else
        return lerr(c, l, "activation '%.40s' is not supported (relu, relu6, softmax, linear)", a);
    return 0;
}

static const float *weight(cctx *c, const tfjs_layer *l, const char *what, int ndim,
                           const int64_t *shape)
{
    char name[512];
    snprintf(name, sizeof name, "%s/%s", l->name, what);
    const tfjs_weight *w = tfjs_find_weight(c->m, name);
    if (!w) {
        lerr(c, l, "weight '%.200s' is missing from the manifest", name);
        return NULL;
    }
    int ok = w->ndim == ndim && w->dtype == TFJS_FLOAT32;
    for (int i = 0; ok && i < ndim; i++)
        ok = w->shape[i] == shape[i];
    if (!ok) {
        char want[128], got[128];
        vr_dims_str(want, sizeof want, shape, ndim);
        vr_dims_str(got, sizeof got, w->shape, w->ndim);
        lerr(c, l, "weight '%.200s' is %s [%s], expected float32 [%s]", name,
             tfjs_dtype_name(w->dtype), got, want);
        return NULL;
    }
    return w->data;
}

/* Keras output length and TF's padding before (SAME: total / 2 before). */
static int out_len(cctx *c, const tfjs_layer *l, int same, int in, int k, int s, int d, int *out,
                   int *before)
{
    int64_t eff = (int64_t)(k - 1) * d + 1;
    if (same) {
        *out = (in + s - 1) / s;
        int64_t total = (int64_t)(*out - 1) * s + eff - in;
        *before = total > 0 ? (int)(total / 2) : 0;
    } else {
        if (in < eff)
            return lerr(c, l, "window %lld larger than the input %d", (long long)eff, in);
        *out = (int)((in - eff) / s + 1);
        *before = 0;
    }
    return 0;
}

static int padding_mode(cctx *c, const tfjs_layer *l, int *same)
{
    const char *p = cfg_str(l, "padding");
    if (!p || !strcmp(p, "valid"))
        *same = 0;
    else if (!strcmp(p, "same"))
        *same = 1;
    else
        return lerr(c, l, "padding '%.40s' (only valid, same)", p);
    return 0;
}

/* --------------------------------------------------------------- layers -- */

/* The value to fuse into: produced by an op of one of the kinds, with no
 * activation yet, and consumed only by this layer. -1 otherwise. */
static int fusible(cctx *c, int v, int allow_add)
{
    const xval *x = &c->v[v];
    if (x->pad_src >= 0 || x->producer < 0 || x->uses != 1)
        return -1;
    const xop *o = &c->o[x->producer];
    int kind_ok = o->op == VR_OP_CONV || o->op == VR_OP_DWCONV || o->op == VR_OP_FC ||
                  (allow_add && o->op == VR_OP_ADD);
    return kind_ok && o->act == VK_ACT_NONE ? x->producer : -1;
}

static int plain_input(cctx *c, const tfjs_layer *l, int v)
{
    if (c->v[v].pad_src >= 0)
        return lerr(c, l, "its input comes from ZeroPadding2D, which can only feed a Conv2D or "
                          "DepthwiseConv2D");
    return 0;
}

/* The layer's output stands for value v (identity at inference). */
static int alias(cctx *c, int li, int v)
{
    c->v[v].uses += c->layer_uses[li] - 1;
    c->layer_val[li] = v;
    return 0;
}

static int conv_layer(cctx *c, int li, const tfjs_layer *l, int in, int dw)
{
    int ks[2], st[2], dl[2], same = 0, filters = 0, mult = 1;
    if (channels_last(c, l) || cfg_ints(c, l, "kernel_size", 2, 0, ks) ||
        cfg_ints(c, l, "strides", 2, 1, st) || cfg_ints(c, l, "dilation_rate", 2, 1, dl) ||
        padding_mode(c, l, &same))
        return -1;
    if (ks[0] < 1 || ks[1] < 1 || ks[0] > 64 || ks[1] > 64 || st[0] < 1 || st[1] < 1 ||
        dl[0] < 1 || dl[1] < 1)
        return lerr(c, l, "kernel %dx%d, strides %dx%d, dilation %dx%d not supported", ks[0],
                    ks[1], st[0], st[1], dl[0], dl[1]);
    if (dw) {
        if (cfg_ints(c, l, "depth_multiplier", 1, 1, &mult))
            return -1;
        if (mult != 1)
            return lerr(c, l, "depth_multiplier %d (only 1)", mult);
    } else {
        int groups;
        if (cfg_ints(c, l, "filters", 1, 0, &filters) || cfg_ints(c, l, "groups", 1, 1, &groups))
            return -1;
        if (filters < 1 || groups != 1)
            return lerr(c, l, "filters %d, groups %d (groups must be 1)", filters, groups);
    }
    vk_act act;
    int softmax;
    if (act_name(c, l, cfg_str(l, "activation"), &act, &softmax))
        return -1;
    if (softmax)
        return lerr(c, l, "activation softmax on a convolution is not supported");
    /* A ZeroPadding2D input adds its pads to the conv's. */
    int src = in, zt = 0, zb = 0, zl = 0, zr = 0;
    if (c->v[in].pad_src >= 0) {
        zt = c->v[in].pt, zb = c->v[in].pb, zl = c->v[in].pl, zr = c->v[in].pr;
        src = c->v[in].pad_src;
    }
    const xval *iv = &c->v[src];
    if (iv->rank != 4)
        return lerr(c, l, "input is not an image (rank 4)");
    int H = iv->h + zt + zb, W = iv->w + zl + zr, C = iv->c;
    int oh = 0, ow = 0, bt = 0, bl = 0;
    if (out_len(c, l, same, H, ks[0], st[0], dl[0], &oh, &bt) ||
        out_len(c, l, same, W, ks[1], st[1], dl[1], &ow, &bl))
        return -1;
    int oc = dw ? C : filters;
    xop o = {.op = dw ? VR_OP_DWCONV : VR_OP_CONV, .nin = 1, .in = {src}, .act = act,
             .kh = ks[0], .kw = ks[1], .sh = st[0], .sw = st[1], .dh = dl[0], .dw = dl[1],
             .pt = zt + bt, .pl = zl + bl, .oc = oc, .name = l->name};
    size_t taps = (size_t)ks[0] * ks[1];
    int64_t shape[4] = {ks[0], ks[1], C, dw ? 1 : oc};
    const float *k = weight(c, l, dw ? "depthwise_kernel" : "kernel", 4, shape);
    if (!k)
        return -1;
    const float *bias = NULL;
    if (cfg_bool(l, "use_bias", 1)) {
        int64_t bs[1] = {oc};
        if (!(bias = weight(c, l, "bias", 1, bs)))
            return -1;
    }
    o.w = malloc(taps * C * (dw ? 1 : (size_t)oc) * sizeof *o.w);
    o.b = bias ? malloc((size_t)oc * sizeof *o.b) : NULL;
    if (!o.w || (bias && !o.b)) {
        free(o.w), free(o.b);
        return cerr(c, "out of memory");
    }
    if (dw) /* [KH][KW][C][1] is [KH][KW][C] */
        memcpy(o.w, k, taps * C * sizeof *o.w);
    else /* HWIO [t][c][oc] → OHWI [oc][t][c] */
        for (int q = 0; q < oc; q++)
            for (size_t t = 0; t < taps; t++)
                for (int ch = 0; ch < C; ch++)
                    o.w[((size_t)q * taps + t) * C + ch] = k[(t * C + ch) * oc + q];
    if (bias)
        memcpy(o.b, bias, (size_t)oc * sizeof *o.b);
    int oi = new_op(c, &o, oh, ow, oc, 4);
    if (oi < 0) {
        free(o.w), free(o.b);
        return -1;
    }
    c->v[c->o[oi].out].uses = c->layer_uses[li];
    c->layer_val[li] = c->o[oi].out;
    return 0;
}

static int softmax_op(cctx *c, int li, const tfjs_layer *l, int in)
{
    const xval *x = &c->v[in];
    xop o = {.op = VR_OP_SOFTMAX, .nin = 1, .in = {in}, .name = l->name};
    int oi = new_op(c, &o, x->h, x->w, x->c, x->rank);
    if (oi < 0)
        return -1;
    c->v[c->o[oi].out].uses = c->layer_uses[li];
    c->layer_val[li] = c->o[oi].out;
    return 0;
}

static int dense_layer(cctx *c, int li, const tfjs_layer *l, int in)
{
    int units;
    if (cfg_ints(c, l, "units", 1, 0, &units))
        return -1;
    if (units < 1)
        return lerr(c, l, "units %d", units);
    vk_act act;
    int softmax;
    if (act_name(c, l, cfg_str(l, "activation"), &act, &softmax))
        return -1;
    const xval *x = &c->v[in];
    /* Dense acts on the last axis: over a 1×1×C value (rank 2, or rank 4 of
     * one pixel) it is an FC; over an image, a 1×1 convolution. */
    int per_pixel = x->h * x->w > 1;
    int K = x->c;
    int64_t shape[2] = {K, units};
    const float *k = weight(c, l, "kernel", 2, shape);
    if (!k)
        return -1;
    const float *bias = NULL;
    if (cfg_bool(l, "use_bias", 1)) {
        int64_t bs[1] = {units};
        if (!(bias = weight(c, l, "bias", 1, bs)))
            return -1;
    }
    xop o = {.op = per_pixel ? VR_OP_CONV : VR_OP_FC, .nin = 1, .in = {in}, .act = act, .kh = 1,
             .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .oc = units, .name = l->name};
    size_t n = (size_t)K * units;
    o.w = malloc(n * sizeof *o.w);
    o.b = bias ? malloc((size_t)units * sizeof *o.b) : NULL;
    if (!o.w || (bias && !o.b)) {
        free(o.w), free(o.b);
        return cerr(c, "out of memory");
    }
    if (per_pixel) /* [K][N] → OHWI [N][1][1][K] */
        for (int j = 0; j < units; j++)
            for (int i = 0; i < K; i++)
                o.w[(size_t)j * K + i] = k[(size_t)i * units + j];
    else
        memcpy(o.w, k, n * sizeof *o.w);
    if (bias)
        memcpy(o.b, bias, (size_t)units * sizeof *o.b);
    int oi = new_op(c, &o, x->h, x->w, units, x->rank);
    if (oi < 0) {
        free(o.w), free(o.b);
        return -1;
    }
    int out = c->o[oi].out;
    if (!softmax) {
        c->v[out].uses = c->layer_uses[li];
        c->layer_val[li] = out;
        return 0;
    }
    c->v[out].uses = 1;
    return softmax_op(c, li, l, out);
}

static int batchnorm_layer(cctx *c, int li, const tfjs_layer *l, int in)
{
    const xval *x = &c->v[in];
    int64_t axis = -1;
    const json_value *ax = json_get(l->config, "axis");
    if (json_type(ax) == JSON_ARRAY && json_len(ax) == 1)
        ax = json_at(ax, 0);
    if (ax && json_int(ax, &axis))
        return lerr(c, l, "axis is not an int");
    if (!(axis == -1 || axis == x->rank - 1))
        return lerr(c, l, "axis %lld is not the channel axis", (long long)axis);
    int oi = fusible(c, in, 0);
    if (oi < 0)
        return lerr(c, l, "cannot fold: its input is not a Conv2D / DepthwiseConv2D / Dense "
                          "without activation whose only consumer is this layer");
    double eps = json_num(json_get(l->config, "epsilon"));
    if (!json_get(l->config, "epsilon"))
        eps = 1e-3;
    if (!(eps >= 0) || !isfinite(eps))
        return lerr(c, l, "epsilon is not a non-negative number");
    xop *o = &c->o[oi];
    int C = o->oc;
    int64_t shape[1] = {C};
    const float *mean = weight(c, l, "moving_mean", 1, shape);
    const float *var = mean ? weight(c, l, "moving_variance", 1, shape) : NULL;
    if (!var)
        return -1;
    const float *gamma = NULL, *beta = NULL;
    if (cfg_bool(l, "scale", 1) && !(gamma = weight(c, l, "gamma", 1, shape)))
        return -1;
    if (cfg_bool(l, "center", 1) && !(beta = weight(c, l, "beta", 1, shape)))
        return -1;
    double *s = malloc((size_t)C * sizeof *s);
    if (!s)
        return cerr(c, "out of memory");
    if (!o->b && !(o->b = calloc((size_t)C, sizeof *o->b))) {
        free(s);
        return cerr(c, "out of memory");
    }
    for (int ch = 0; ch < C; ch++) {
        double vv = (double)var[ch] + eps;
        if (!(vv > 0)) {
            free(s);
            return lerr(c, l, "moving_variance[%d] + epsilon = %g is not positive", ch, vv);
        }
        s[ch] = (gamma ? (double)gamma[ch] : 1.0) / sqrt(vv);
        o->b[ch] = (float)(((double)o->b[ch] - mean[ch]) * s[ch] + (beta ? beta[ch] : 0.0));
    }
    const xval *iv = &c->v[o->in[0]];
    if (o->op == VR_OP_CONV) {
        size_t per = (size_t)o->kh * o->kw * iv->c;
        for (int q = 0; q < C; q++)
            for (size_t i = 0; i < per; i++)
                o->w[(size_t)q * per + i] = (float)(o->w[(size_t)q * per + i] * s[q]);
    } else if (o->op == VR_OP_DWCONV) {
        size_t taps = (size_t)o->kh * o->kw;
        for (size_t t = 0; t < taps; t++)
            for (int ch = 0; ch < C; ch++)
                o->w[t * C + ch] = (float)(o->w[t * C + ch] * s[ch]);
    } else { /* FC [K][N] */
        size_t K = (size_t)iv->h * iv->w * iv->c;
        for (size_t i = 0; i < K; i++)
            for (int q = 0; q < C; q++)
                o->w[i * C + q] = (float)(o->w[i * C + q] * s[q]);
    }
    free(s);
    return alias(c, li, in);
}

static int act_layer(cctx *c, int li, const tfjs_layer *l, int in, vk_act act, int softmax)
{
    if (softmax)
        return softmax_op(c, li, l, in);
    if (act == VK_ACT_NONE)
        return alias(c, li, in);
    int oi = fusible(c, in, 1);
    if (oi < 0)
        return lerr(c, l, "cannot fuse: its input is not a Conv2D / DepthwiseConv2D / Dense / Add "
                          "without activation whose only consumer is this layer");
    c->o[oi].act = act;
    return alias(c, li, in);
}

static int relu_layer(cctx *c, int li, const tfjs_layer *l, int in)
{
    const json_value *mv = json_get(l->config, "max_value");
    const json_value *ns = json_get(l->config, "negative_slope");
    const json_value *th = json_get(l->config, "threshold");
    double slope = ns && !json_is_null(ns) ? json_num(ns) : 0;
    double thr = th && !json_is_null(th) ? json_num(th) : 0;
    if (slope != 0 || thr != 0)
        return lerr(c, l, "negative_slope %g / threshold %g (only 0)", slope, thr);
    vk_act act = VK_ACT_RELU;
    if (mv && !json_is_null(mv)) {
        if (json_num(mv) != 6)
            return lerr(c, l, "max_value %g (only none or 6)", json_num(mv));
        act = VK_ACT_RELU6;
    }
    return act_layer(c, li, l, in, act, 0);
}

static int pool_layer(cctx *c, int li, const tfjs_layer *l, int in, vr_op op)
{
    int ps[2], st[2], same = 0;
    if (channels_last(c, l) || cfg_ints(c, l, "pool_size", 2, 2, ps) || padding_mode(c, l, &same))
        return -1;
    const json_value *sj = json_get(l->config, "strides");
    if (!sj || json_is_null(sj))
        st[0] = ps[0], st[1] = ps[1];
    else if (cfg_ints(c, l, "strides", 2, 1, st))
        return -1;
    if (ps[0] < 1 || ps[1] < 1 || ps[0] > 64 || ps[1] > 64 || st[0] < 1 || st[1] < 1)
        return lerr(c, l, "pool %dx%d strides %dx%d not supported", ps[0], ps[1], st[0], st[1]);
    if (plain_input(c, l, in))
        return -1;
    const xval *x = &c->v[in];
    if (x->rank != 4)
        return lerr(c, l, "input is not an image (rank 4)");
    int oh = 0, ow = 0, bt = 0, bl = 0;
    if (out_len(c, l, same, x->h, ps[0], st[0], 1, &oh, &bt) ||
        out_len(c, l, same, x->w, ps[1], st[1], 1, &ow, &bl))
        return -1;
    /* TF's 'same' pools over in-image taps only (max ignores the padding;
     * average divides by the in-image count): vireo's pools do the same. */
    xop o = {.op = op, .nin = 1, .in = {in}, .kh = ps[0], .kw = ps[1], .sh = st[0], .sw = st[1],
             .dh = 1, .dw = 1, .pt = bt, .pl = bl, .name = l->name};
    int oi = new_op(c, &o, oh, ow, x->c, 4);
    if (oi < 0)
        return -1;
    c->v[c->o[oi].out].uses = c->layer_uses[li];
    c->layer_val[li] = c->o[oi].out;
    return 0;
}

static int global_pool_layer(cctx *c, int li, const tfjs_layer *l, int in, int is_max)
{
    if (channels_last(c, l) || plain_input(c, l, in))
        return -1;
    const xval *x = &c->v[in];
    if (x->rank != 4)
        return lerr(c, l, "input is not an image (rank 4)");
    int rank = cfg_bool(l, "keepdims", 0) ? 4 : 2;
    xop o = {.op = VR_OP_GAP, .nin = 1, .in = {in}, .name = l->name};
    if (is_max) {
        if (x->h > 64 || x->w > 64)
            return lerr(c, l, "global max pool over %dx%d (at most 64x64)", x->h, x->w);
        o = (xop){.op = VR_OP_MAXPOOL, .nin = 1, .in = {in}, .kh = x->h, .kw = x->w, .sh = 1,
                  .sw = 1, .dh = 1, .dw = 1, .name = l->name};
    }
    int oi = new_op(c, &o, 1, 1, x->c, rank);
    if (oi < 0)
        return -1;
    c->v[c->o[oi].out].uses = c->layer_uses[li];
    c->layer_val[li] = c->o[oi].out;
    return 0;
}

/* Flatten / Reshape to [h·w·c]: an alias when already 1×1×C, else RESHAPE. */
static int flatten_to(cctx *c, int li, const tfjs_layer *l, int in, int rank)
{
    const xval *x = &c->v[in];
    /* Same bytes: an alias when nothing else sees the value's rank (which
     * only matters to axis checks), else a RESHAPE (the planner aliases it). */
    if (x->h == 1 && x->w == 1 && (x->rank == rank || (x->uses == 1 && x->producer >= 0))) {
        c->v[in].rank = rank;
        return alias(c, li, in);
    }
    int64_t n = (int64_t)x->h * x->w * x->c;
    if (n > 1 << 30)
        return lerr(c, l, "too many elements");
    xop o = {.op = VR_OP_RESHAPE, .nin = 1, .in = {in}, .name = l->name};
    int oi = new_op(c, &o, 1, 1, (int)n, rank);
    if (oi < 0)
        return -1;
    c->v[c->o[oi].out].uses = c->layer_uses[li];
    c->layer_val[li] = c->o[oi].out;
    return 0;
}

static int reshape_layer(cctx *c, int li, const tfjs_layer *l, int in)
{
    const json_value *ts = json_get(l->config, "target_shape");
    const xval *x = &c->v[in];
    int64_t n = (int64_t)x->h * x->w * x->c, d[3];
    size_t nd = json_len(ts);
    int ok = json_type(ts) == JSON_ARRAY && (nd == 1 || nd == 3);
    for (size_t i = 0; ok && i < nd; i++)
        ok = json_int(json_at(ts, i), &d[i]) == 0;
    if (ok && nd == 1)
        ok = d[0] == n || d[0] == -1;
    else if (ok)
        ok = d[0] == 1 && d[1] == 1 && (d[2] == n || d[2] == -1);
    if (!ok)
        return lerr(c, l, "only a reshape to [C] or [1, 1, C] of all %lld elements is supported",
                    (long long)n);
    return flatten_to(c, li, l, in, nd == 1 ? 2 : 4);
}

static int add_layer(cctx *c, int li, const tfjs_layer *l, const int *ins, int n)
{
    if (n < 2)
        return lerr(c, l, "%d inputs", n);
    for (int i = 0; i < n; i++) {
        if (plain_input(c, l, ins[i]))
            return -1;
        const xval *a = &c->v[ins[i]], *b = &c->v[ins[0]];
        if (a->h != b->h || a->w != b->w || a->c != b->c)
            return lerr(c, l, "input %d is %dx%dx%d, input 0 %dx%dx%d (no broadcasting)", i,
                        a->h, a->w, a->c, b->h, b->w, b->c);
    }
    int acc = ins[0];
    for (int i = 1; i < n; i++) {
        const xval *x = &c->v[acc];
        xop o = {.op = VR_OP_ADD, .nin = 2, .in = {acc, ins[i]}, .name = l->name};
        int oi = new_op(c, &o, x->h, x->w, x->c, x->rank);
        if (oi < 0)
            return -1;
        acc = c->o[oi].out;
        c->v[acc].uses = i == n - 1 ? c->layer_uses[li] : 1;
    }
    c->layer_val[li] = acc;
    return 0;
}

static int concat_layer(cctx *c, int li, const tfjs_layer *l, const int *ins, int n)
{
    int64_t axis = -1;
    const json_value *ax = json_get(l->config, "axis");
    if (ax && json_int(ax, &axis))
        return lerr(c, l, "axis is not an int");
    if (n < 1)
        return lerr(c, l, "no inputs");
    for (int i = 0; i < n; i++) {
        if (plain_input(c, l, ins[i]))
            return -1;
        const xval *a = &c->v[ins[i]], *b = &c->v[ins[0]];
        if (!(axis == -1 || axis == a->rank - 1))
            return lerr(c, l, "axis %lld is not the channel axis", (long long)axis);
        if (a->h != b->h || a->w != b->w || a->rank != b->rank)
            return lerr(c, l, "input %d is %dx%d, input 0 %dx%d", i, a->h, a->w, b->h, b->w);
    }
    if (n == 1)
        return alias(c, li, ins[0]);
    /* At most VR_MAX_IN inputs per node: longer lists are chained. */
    int acc = -1, i = 0;
    while (i < n) {
        xop o = {.op = VR_OP_CONCAT, .name = l->name};
        if (acc >= 0)
            o.in[o.nin++] = acc;
        while (i < n && o.nin < VR_MAX_IN)
            o.in[o.nin++] = ins[i++];
        int64_t ch = 0;
        for (int k = 0; k < o.nin; k++)
            ch += c->v[o.in[k]].c;
        if (ch > 1 << 20)
            return lerr(c, l, "%lld channels (at most 2^20)", (long long)ch);
        const xval *x = &c->v[ins[0]];
        int oi = new_op(c, &o, x->h, x->w, (int)ch, x->rank);
        if (oi < 0)
            return -1;
        acc = c->o[oi].out;
        c->v[acc].uses = i == n ? c->layer_uses[li] : 1;
    }
    c->layer_val[li] = acc;
    return 0;
}

static int zeropad_layer(cctx *c, int li, const tfjs_layer *l, int in)
{
    if (channels_last(c, l))
        return -1;
    const json_value *p = json_get(l->config, "padding");
    int pad[4] = {1, 1, 1, 1}; /* top, bottom, left, right */
    int64_t x;
    if (!p) {
    } else if (json_int(p, &x) == 0) {
        if (x < 0 || x > 4096)
            return lerr(c, l, "padding out of range");
        for (int i = 0; i < 4; i++)
            pad[i] = (int)x;
    } else if (json_type(p) == JSON_ARRAY && json_len(p) == 2) {
        for (int d = 0; d < 2; d++) {
            const json_value *e = json_at(p, (size_t)d);
            int64_t a, b;
            if (json_int(e, &a) == 0)
                b = a;
            else if (json_type(e) != JSON_ARRAY || json_len(e) != 2 ||
                     json_int(json_at(e, 0), &a) || json_int(json_at(e, 1), &b))
                return lerr(c, l, "padding is not an int, a pair or a pair of pairs");
            if (a < 0 || b < 0 || a > 4096 || b > 4096)
                return lerr(c, l, "padding out of range");
            pad[2 * d] = (int)a, pad[2 * d + 1] = (int)b;
        }
    } else {
        return lerr(c, l, "padding is not an int, a pair or a pair of pairs");
    }
    int src = in;
    if (c->v[in].pad_src >= 0) { /* padding of padding: pads add up */
        pad[0] += c->v[in].pt, pad[1] += c->v[in].pb, pad[2] += c->v[in].pl, pad[3] += c->v[in].pr;
        src = c->v[in].pad_src;
    }
    const xval *s = &c->v[src];
    if (s->rank != 4)
        return lerr(c, l, "input is not an image (rank 4)");
    if ((int64_t)s->h + pad[0] + pad[1] > 1 << 16 || (int64_t)s->w + pad[2] + pad[3] > 1 << 16)
        return lerr(c, l, "padded size over 65536");
    int v = new_val(c, s->h + pad[0] + pad[1], s->w + pad[2] + pad[3], s->c, 4, -1);
    if (v < 0)
        return -1;
    c->v[v].pad_src = src;
    c->v[v].pt = pad[0], c->v[v].pb = pad[1], c->v[v].pl = pad[2], c->v[v].pr = pad[3];
    c->v[v].uses = c->layer_uses[li];
    c->layer_val[li] = v;
    return 0;
}

/* Graph input from an InputLayer (or a Sequential first layer's) shape. */
static int input_from(cctx *c, const tfjs_layer *l)
{
    const json_value *s = json_get(l->config, "batch_input_shape");
    if (!s)
        s = json_get(l->config, "batch_shape"); /* Keras 3 */
    int64_t d[4];
    int ok = json_type(s) == JSON_ARRAY && json_len(s) == 4;
    for (int i = 1; ok && i < 4; i++)
        ok = json_int(json_at(s, (size_t)i), &d[i]) == 0 && d[i] >= 1 && d[i] <= 1 << 16;
    if (!ok)
        return lerr(c, l, "input shape is not [batch, H, W, C] with fixed H, W, C");
    const char *dt = cfg_str(l, "dtype");
    if (dt && strcmp(dt, "float32") != 0)
        return lerr(c, l, "input dtype '%.40s' (only float32)", dt);
    if (c->input_val >= 0)
        return lerr(c, l, "a second model input (one is supported)");
    c->input_val = new_val(c, (int)d[1], (int)d[2], (int)d[3], 4, -1);
    return c->input_val < 0 ? -1 : 0;
}

static int is_identity(const char *cls)
{
    static const char *const ids[] = {"Dropout", "SpatialDropout1D", "SpatialDropout2D",
                                      "GaussianNoise", "GaussianDropout", "AlphaDropout",
                                      "ActivityRegularization"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        if (!strcmp(cls, ids[i]))
            return 1;
    return 0;
}

static int convert_layer(cctx *c, int li, const int *ins, int n)
{
    const tfjs_layer *l = tfjs_layer_at(c->m, (size_t)li);
    const char *cls = l->class_name;
    if (!strcmp(cls, "InputLayer"))
        return lerr(c, l, "an InputLayer with inputs");
    if (n < 1)
        return lerr(c, l, "no inputs");
    int multi = !strcmp(cls, "Add") || !strcmp(cls, "Concatenate");
    if (!multi && n != 1)
        return lerr(c, l, "%d inputs (one expected)", n);
    int in = ins[0];
    /* Only convolutions consume a pending ZeroPadding2D. */
    if (strcmp(cls, "Conv2D") && strcmp(cls, "DepthwiseConv2D") && strcmp(cls, "ZeroPadding2D") &&
        !multi && plain_input(c, l, in))
        return -1;
    if (!strcmp(cls, "Conv2D"))
        return conv_layer(c, li, l, in, 0);
    if (!strcmp(cls, "DepthwiseConv2D"))
        return conv_layer(c, li, l, in, 1);
    if (!strcmp(cls, "Dense"))
        return dense_layer(c, li, l, in);
    if (!strcmp(cls, "BatchNormalization"))
        return batchnorm_layer(c, li, l, in);
    if (!strcmp(cls, "ReLU"))
        return relu_layer(c, li, l, in);
    if (!strcmp(cls, "Activation")) {
        vk_act act;
        int sm;
        if (act_name(c, l, cfg_str(l, "activation"), &act, &sm))
            return -1;
        return act_layer(c, li, l, in, act, sm);
    }
    if (!strcmp(cls, "Softmax")) {
        int64_t axis = -1;
        const json_value *ax = json_get(l->config, "axis");
        if (ax && (json_int(ax, &axis) || !(axis == -1 || axis == c->v[in].rank - 1)))
            return lerr(c, l, "softmax only over the last axis");
        return softmax_op(c, li, l, in);
    }
    if (!strcmp(cls, "Add"))
        return add_layer(c, li, l, ins, n);
    if (!strcmp(cls, "Concatenate"))
        return concat_layer(c, li, l, ins, n);
    if (!strcmp(cls, "MaxPooling2D"))
        return pool_layer(c, li, l, in, VR_OP_MAXPOOL);
    if (!strcmp(cls, "AveragePooling2D"))
        return pool_layer(c, li, l, in, VR_OP_AVGPOOL);
    if (!strcmp(cls, "GlobalAveragePooling2D"))
        return global_pool_layer(c, li, l, in, 0);
    if (!strcmp(cls, "GlobalMaxPooling2D"))
        return global_pool_layer(c, li, l, in, 1);
    if (!strcmp(cls, "ZeroPadding2D"))
        return zeropad_layer(c, li, l, in);
    if (!strcmp(cls, "Flatten")) {
        const char *df = cfg_str(l, "data_format");
        if (df && strcmp(df, "channels_last") && c->v[in].h * c->v[in].w > 1)
            return lerr(c, l, "data_format '%.40s' over an image (only channels_last)", df);
        return flatten_to(c, li, l, in, 2);
    }
    if (!strcmp(cls, "Reshape"))
        return reshape_layer(c, li, l, in);
    if (is_identity(cls))
        return alias(c, li, in);
    return lerr(c, l, "layer class not supported");
}

static size_t layer_index(const tfjs_model *m, const char *name)
{
    return (size_t)(tfjs_find_layer(m, name) - tfjs_layer_at(m, 0));
}

static void heap_push(size_t *h, size_t *n, size_t x)
{
    size_t i = (*n)++;
    for (; i > 0 && h[(i - 1) / 2] > x; i = (i - 1) / 2)
        h[i] = h[(i - 1) / 2];
    h[i] = x;
}

static size_t heap_pop(size_t *h, size_t *n)
{
    size_t top = h[0], x = h[--*n], i = 0;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= *n)
            break;
        if (k + 1 < *n && h[k + 1] < h[k])
            k++;
        if (h[k] >= x)
            break;
        h[i] = h[k];
        i = k;
    }
    if (*n)
        h[i] = x;
    return top;
}

/* Layers in dependency order: of the layers whose inputs are ready, the
 * first in config order (so a config already in order, the usual case, is
 * kept as is). */
static int walk(cctx *c)
{
    size_t nl = tfjs_layer_count(c->m), nedges = 0, maxin = 1;
    for (size_t i = 0; i < nl; i++) {
        size_t k = tfjs_layer_at(c->m, i)->n_inbound;
        nedges += k;
        maxin = k > maxin ? k : maxin;
    }
    int *ins = malloc(maxin * sizeof *ins);
    size_t *indeg = calloc(nl + 1, sizeof *indeg), *start = calloc(nl + 1, sizeof *start);
    size_t *edge = malloc((nedges + 1) * sizeof *edge), *fill = calloc(nl + 1, sizeof *fill);
    size_t *heap = malloc((nl + 1) * sizeof *heap), nheap = 0, done = 0;
    int rc = 0;
    if (!ins || !indeg || !start || !edge || !fill || !heap) {
        rc = cerr(c, "out of memory");
        goto out;
    }
    /* Consumers of each layer, as index lists (one entry per reference). */
    for (size_t i = 0; i < nl; i++) {
        const tfjs_layer *l = tfjs_layer_at(c->m, i);
        indeg[i] = l->n_inbound;
        for (size_t k = 0; k < l->n_inbound; k++)
            start[layer_index(c->m, l->inbound[k].layer) + 1]++;
    }
    for (size_t i = 0; i < nl; i++)
        start[i + 1] += start[i];
    for (size_t i = 0; i < nl; i++) {
        const tfjs_layer *l = tfjs_layer_at(c->m, i);
        for (size_t k = 0; k < l->n_inbound; k++) {
            size_t s = layer_index(c->m, l->inbound[k].layer);
            edge[start[s] + fill[s]++] = i;
        }
        if (indeg[i] == 0)
            heap_push(heap, &nheap, i);
    }
    while (nheap && rc == 0) {
        size_t i = heap_pop(heap, &nheap);
        const tfjs_layer *l = tfjs_layer_at(c->m, i);
        int n = 0;
        for (size_t k = 0; k < l->n_inbound; k++)
            ins[n++] = c->layer_val[layer_index(c->m, l->inbound[k].layer)];
        if (l->n_inbound == 0) {
            /* InputLayer, or a Sequential model's first layer. */
            if ((rc = input_from(c, l)))
                break;
            if (!strcmp(l->class_name, "InputLayer")) {
                c->layer_val[i] = c->input_val;
                c->v[c->input_val].uses = c->layer_uses[i];
            } else {
                c->v[c->input_val].uses = 1;
                rc = convert_layer(c, (int)i, &c->input_val, 1);
            }
        } else {
            rc = convert_layer(c, (int)i, ins, n);
        }
        if (rc == 0 && c->layer_val[i] < 0)
            rc = cerr(c, "internal: layer '%s' produced no value", l->name);
        done++;
        for (size_t e = start[i]; e < start[i + 1]; e++)
            if (--indeg[edge[e]] == 0)
                heap_push(heap, &nheap, edge[e]);
    }
    if (rc == 0 && done < nl)
        rc = cerr(c, "the layers' inputs form a cycle");
out:
    free(ins), free(indeg), free(start), free(edge), free(fill), free(heap);
    return rc;
}

/* ------------------------------------------------------------- emission -- */

typedef struct {
    vw_writer *w;
    vr_graph *g;
    vr_node_refs *refs;
    int nrefs;
} emit_ctx;

static int vid(cctx *c, emit_ctx *e, int v)
{
    if (c->v[v].vid >= 0)
        return c->v[v].vid;
    vr_value val = {.dtype = VR_F32, .h = c->v[v].h, .w = c->v[v].w, .c = c->v[v].c};
    int id = vr_graph_add_value(e->g, &val);
    if (id < 0)
        return cerr(c, "%s", vr_graph_error(e->g));
    return c->v[v].vid = id;
}

static int put(cctx *c, emit_ctx *e, const char *base, const char *suffix, vw_layout l, int nd,
               const int64_t *dims, const void *data, size_t size)
{
    char name[VW_MAX_NAME + 1];
    snprintf(name, sizeof name, "%.240s%s", base, suffix);
    int idx = vw_writer_add_tensor(e->w, name, VW_F32, l, nd, dims, data, size, NULL);
    if (idx < 0)
        return cerr(c, "%s", vw_writer_error(e->w));
    return idx;
}

static int emit_op(cctx *c, emit_ctx *e, xop *o)
{
    vr_node n = {.op = o->op, .nin = o->nin, .act = o->act, .kh = o->kh ? o->kh : 1,
                 .kw = o->kw ? o->kw : 1, .stride_h = o->sh ? o->sh : 1,
                 .stride_w = o->sw ? o->sw : 1, .dil_h = o->dh ? o->dh : 1,
                 .dil_w = o->dw ? o->dw : 1, .pad_t = o->pt, .pad_l = o->pl};
    for (int k = 0; k < VR_MAX_IN; k++)
        n.in[k] = -1;
    for (int k = 0; k < o->nin; k++)
        if ((n.in[k] = vid(c, e, o->in[k])) < 0)
            return -1;
    if ((n.out = vid(c, e, o->out)) < 0)
        return -1;
    vr_node_refs r = {-1, -1, -1, -1};
    const xval *iv = &c->v[o->in[0]];
    if (o->w) {
        int oc = o->oc, C = iv->c;
        size_t sz;
        float *p;
        if (o->op == VR_OP_CONV) {
            int64_t d[4] = {oc, o->kh, o->kw, C};
            sz = vk_pack_conv_f32_size(oc, o->kh, o->kw, C) * 4;
            if (!(p = malloc(sz)))
                return cerr(c, "out of memory");
            vk_pack_conv_f32(oc, o->kh, o->kw, C, o->w, p);
            r.weights = put(c, e, o->name, ".w", VW_CONV_F32, 4, d, p, sz);
        } else if (o->op == VR_OP_DWCONV) {
            int64_t d[3] = {o->kh, o->kw, C};
            sz = vk_pack_dw_size(o->kh, o->kw, C) * 4;
            if (!(p = malloc(sz)))
                return cerr(c, "out of memory");
            vk_pack_dw_f32(o->kh, o->kw, C, o->w, p);
            r.weights = put(c, e, o->name, ".w", VW_DW_F32, 3, d, p, sz);
        } else {
            int K = iv->h * iv->w * iv->c;
            int64_t d[2] = {K, oc};
            sz = vk_pack_f32_b_size(K, oc) * 4;
            if (!(p = malloc(sz)))
                return cerr(c, "out of memory");
            vk_pack_f32_b(K, oc, o->w, oc, p);
            r.weights = put(c, e, o->name, ".w", VW_F32_B16, 2, d, p, sz);
        }
        free(p);
        if (r.weights < 0)
            return -1;
        if (o->b) {
            int64_t d[1] = {oc};
            if ((r.bias = put(c, e, o->name, ".b", VW_PLAIN, 1, d, o->b, (size_t)oc * 4)) < 0)
                return -1;
        }
    }
    free(o->w), free(o->b);
    o->w = o->b = NULL;
    if (e->nrefs % 256 == 0) {
        vr_node_refs *q = realloc(e->refs, ((size_t)e->nrefs + 256) * sizeof *q);
        if (!q)
            return cerr(c, "out of memory");
        e->refs = q;
    }
    if (vr_graph_add_node(e->g, &n) < 0)
        return cerr(c, "layer '%s': %s", o->name, vr_graph_error(e->g));
    e->refs[e->nrefs++] = r;
    return 0;
}

/* nsfwjs (github.com/infinitered/nsfwjs, src/nsfw_classes.ts): its models'
 * head is dense_1 (256, relu) → dense_2 (128, relu) → dense_3 (5, softmax). */
static const char NSFWJS_LABELS[] = "Drawing\nHentai\nNeutral\nPorn\nSexy\n";

static int is_nsfwjs(const tfjs_model *m, const tfjs_layer *out)
{
    static const char *const names[] = {"dense_1", "dense_2", "dense_3"};
    static const int units[] = {256, 128, 5};
    for (int i = 0; i < 3; i++) {
        const tfjs_layer *l = tfjs_find_layer(m, names[i]);
        int64_t u;
        if (!l || strcmp(l->class_name, "Dense") || json_int(json_get(l->config, "units"), &u) ||
            u != units[i])
            return 0;
    }
    const char *a = json_cstr(json_get(out->config, "activation"));
    return !strcmp(out->name, "dense_3") && a && !strcmp(a, "softmax");
}

/* model.name: the model's directory (model.json is always called that). */
static void model_name(const char *src, char *out, size_t outlen)
{
    const char *slash = strrchr(src, '/');
    if (!slash) {
        snprintf(out, outlen, "%s", src);
        return;
    }
    const char *end = slash, *start = slash;
    while (start > src && start[-1] != '/')
        start--;
    if (end > start && strcmp(slash + 1, "model.json") == 0)
        snprintf(out, outlen, "%.*s", (int)(end - start), start);
    else
        snprintf(out, outlen, "%s", slash + 1);
}

int vr_convert_tfjs(const char *src, const char *dst, const vr_convert_opts *opts, char *err,
                    size_t errlen)
{
    if (!vr_convert_is_raw(opts)) /* Winograd, int8, bf16: via f32 (runtime/convert_quant.c) */
        return vr_convert_as(vr_convert_tfjs, src, dst, opts, err, errlen);
    tfjs_model *m;
    if (tfjs_load(src, &m, err, errlen))
        return -1;
    err[0] = 0;
    size_t nl = tfjs_layer_count(m);
    cctx c = {.m = m, .input_val = -1, .err = err, .errlen = errlen};
    emit_ctx e = {0};
    int rc = -1;
    c.layer_val = malloc((nl ? nl : 1) * sizeof *c.layer_val);
    c.layer_uses = calloc(nl ? nl : 1, sizeof *c.layer_uses);
    if (!c.layer_val || !c.layer_uses) {
        cerr(&c, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nl; i++)
        c.layer_val[i] = -1;
    size_t nin, nout;
    const tfjs_ref *mins = tfjs_inputs(m, &nin), *mouts = tfjs_outputs(m, &nout);
    if (nin != 1 || nout != 1) {
        cerr(&c, "%zu inputs / %zu outputs (one of each supported)", nin, nout);
        goto out;
    }
    /* Consumers per layer; a layer called more than once (shared weights) is
     * not supported, so every reference is to output 0 of call 0. */
    const tfjs_layer *base = tfjs_layer_at(m, 0);
    for (size_t i = 0; i < nl; i++) {
        const tfjs_layer *l = tfjs_layer_at(m, i);
        if (l->n_calls > 1) {
            lerr(&c, l, "called %d times (shared layers are not supported)", l->n_calls);
            goto out;
        }
        for (size_t k = 0; k < l->n_inbound; k++) {
            const tfjs_ref *r = &l->inbound[k];
            const tfjs_layer *s = tfjs_find_layer(m, r->layer);
            if (!s || r->node_index != 0 || r->tensor_index != 0) {
                lerr(&c, l, "input '%.120s' [%d, %d] is not the single output of a layer", r->layer,
                     r->node_index, r->tensor_index);
                goto out;
            }
            c.layer_uses[s - base]++;
        }
    }
    const tfjs_layer *outl = tfjs_find_layer(m, mouts[0].layer);
    if (!outl || mouts[0].node_index != 0 || mouts[0].tensor_index != 0) {
        cerr(&c, "the model output is not the single output of a layer");
        goto out;
    }
    c.layer_uses[outl - base]++;
    if (walk(&c))
        goto out;
    int vout = c.layer_val[outl - base];
    if (c.input_val < 0 || vout < 0 || c.v[vout].pad_src >= 0 || c.v[vout].producer < 0) {
        cerr(&c, "the model output is not computed by a supported op");
        goto out;
    }
    const tfjs_layer *inl = tfjs_find_layer(m, mins[0].layer);
    if (!inl || inl->n_inbound != 0) {
        cerr(&c, "the model input '%.120s' is not an input layer", mins[0].layer);
        goto out;
    }

    e.w = vw_writer_new();
    e.g = vr_graph_new();
    if (!e.w || !e.g) {
        cerr(&c, "out of memory");
        goto out;
    }
    if (vid(&c, &e, c.input_val) < 0)
        goto out;
    for (int i = 0; i < c.no; i++)
        if (emit_op(&c, &e, &c.o[i]))
            goto out;
    if (vr_graph_set_io(e.g, c.v[c.input_val].vid, c.v[vout].vid)) {
        cerr(&c, "%s", vr_graph_error(e.g));
        goto out;
    }
    const xval *iv = &c.v[c.input_val];
    char name[256];
    model_name(src, name, sizeof name);
    vw_writer_kv_str(e.w, "model.name", name);
    vw_writer_kv_str(e.w, "model.source", "tfjs");
    if (tfjs_find_layer(m, "block_16_project") && tfjs_find_layer(m, "Conv_1"))
        vw_writer_kv_str(e.w, "model.arch", "mobilenet_v2");
    else if (tfjs_find_layer(m, "mixed10"))
        vw_writer_kv_str(e.w, "model.arch", "inception_v3");
    vw_writer_kv_u64(e.w, "preproc.width", (uint64_t)iv->w);
    vw_writer_kv_u64(e.w, "preproc.height", (uint64_t)iv->h);
    vw_writer_kv_str(e.w, "preproc.resize", "bilinear");
    vw_writer_kv_str(e.w, "preproc.crop", "none");
    vw_writer_kv_str(e.w, "preproc.color", "rgb");
    vw_writer_kv_str(e.w, "preproc.layout", "nhwc");
    vw_writer_kv_str(e.w, "preproc.input_dtype", "f32");
    /* A layers model carries no preprocessing; RGB/255 is what nsfwjs (and
     * Keras models trained with rescale=1/255) feed. */
    static const float mean[3] = {0, 0, 0}, stdv[3] = {255, 255, 255};
    vw_writer_kv_f32s(e.w, "preproc.mean", mean, 3);
    vw_writer_kv_f32s(e.w, "preproc.std", stdv, 3);
    if (opts && opts->labels_path) {
        if (vr_convert_labels(e.w, opts->labels_path, err, errlen))
            goto out;
    } else if (is_nsfwjs(m, outl) && c.v[vout].c == 5) {
        vw_writer_kv_str(e.w, "labels", NSFWJS_LABELS);
    }
    if (vr_model_save_checked(e.w, e.g, e.refs, dst, err, errlen))
        goto out;
    rc = 0;
out:
    if (rc) {
        char msg[384];
        snprintf(msg, sizeof msg, "%s", err[0] ? err : "conversion failed");
        snprintf(err, errlen, "%s: %s", src, msg);
    }
    for (int i = 0; i < c.no; i++)
        free(c.o[i].w), free(c.o[i].b);
    free(c.o);
    free(c.v);
    free(c.layer_val);
    free(c.layer_uses);
    free(e.refs);
    vr_graph_free(e.g);
    vw_writer_free(e.w);
    tfjs_free(m);
    return rc;
}
