/* Float model → int8 model (runtime/convert_quant.h, docs/QUANTIZATION.md). */
#include "runtime/convert_quant.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/errmsg.h"
#include "formats/weights.h"
#include "kernels/pack.h"
#include "runtime/preprocess.h"

#define FAIL(...) return vf_fail(err, errlen, __VA_ARGS__)

#define DEFAULT_CALIB_N 64
#define QMAX_W 127 /* symmetric weights in [-127, 127], as TFLite's int8 scheme */

typedef struct {
    float scale;
    int32_t zero;
} qparams;

/* uint8 asymmetric parameters covering [lo, hi] (lo <= 0 <= hi): 0 is exact. */
static qparams qparams_for(double lo, double hi)
{
    lo = lo < 0 ? lo : 0;
    hi = hi > 0 ? hi : 0;
    double scale = (hi - lo) / 255.0;
    if (!(scale > 1e-30)) /* a value that is always 0 */
        return (qparams){1.0f / 255, 0};
    double z = round(-lo / scale);
    return (qparams){(float)scale, (int32_t)(z < 0 ? 0 : z > 255 ? 255 : z)};
}

/* ---------------------------------------------- quantization classes ---- */

/* Values that must share parameters (pooling, concat and reshape pass codes
 * through unchanged) form one class; a class with a fixed member (the graph
 * input, a softmax output) takes that member's parameters. */
typedef struct {
    int *parent;
    double *lo, *hi;
    int *fixed;      /* per root: 1 if params are fixed */
    qparams *params; /* per root once solved; per value after */
} classes;

static int find(classes *c, int v)
{
    while (c->parent[v] != v)
        v = c->parent[v] = c->parent[c->parent[v]];
    return v;
}

static void unite(classes *c, int a, int b)
{
    a = find(c, a), b = find(c, b);
    if (a != b)
        c->parent[b] = a;
}

/* ------------------------------------------------------------ context --- */

typedef struct {
    const vr_model *m;
    const vr_graph *g;
    vr_graph *q;
    vw_writer *w;
    vr_node_refs *refs;
    qparams *vp; /* per value */
    char *err;
    size_t errlen;
} qctx;

static int qerr(qctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int qerr(qctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* The f32 file's name for the tensor at data, without its ".w" suffix. */
static void base_name(qctx *c, const void *data, int node, char *out, size_t len)
{
    size_t nt = vw_tensor_count(c->m->file);
    for (size_t i = 0; i < nt; i++) {
        const vw_tensor *t = vw_tensor_at(c->m->file, i);
        if (t->data == data) {
            size_t n = strlen(t->name);
            if (n > 2 && !strcmp(t->name + n - 2, ".w"))
                n -= 2;
            snprintf(out, len, "%.*s", (int)(n < 200 ? n : 200), t->name);
            return;
        }
    }
    snprintf(out, len, "node%d", node);
}

static int put(qctx *c, const char *base, const char *suffix, vw_dtype t, vw_layout l, int nd,
               const int64_t *dims, const void *data, size_t size)
{
    char name[VW_MAX_NAME + 1];
    snprintf(name, sizeof name, "%.200s%s", base, suffix);
    int idx = vw_writer_add_tensor(c->w, name, t, l, nd, dims, data, size, NULL);
    if (idx < 0)
        return qerr(c, "%s", vw_writer_error(c->w));
    return idx;
}

/* CONV / DWCONV / FC: per-channel symmetric s8 weights, s32 bias, scales.
 * wf: the f32 weights unpacked, one row of K per output channel. */
static int quantize_weights(qctx *c, int ni, const vr_node *n, vr_node *qn, vr_node_refs *r)
{
    const vr_value *in = vr_graph_value(c->g, n->in[0]), *out = vr_graph_value(c->g, n->out);
    int N = out->c, dw = n->op == VR_OP_DWCONV;
    size_t K = dw ? (size_t)n->kh * n->kw
                  : n->op == VR_OP_FC ? (size_t)in->h * in->w * in->c
                                      : (size_t)n->kh * n->kw * in->c;
    size_t Cp = vk_round_up((size_t)N, 16);
    const float *wp = n->weights, *bias = n->bias;
    double s_in = c->vp[n->in[0]].scale, s_out = c->vp[n->out].scale;
    float *wf = malloc((size_t)N * K * sizeof *wf), *scales = malloc((size_t)N * sizeof *scales);
    int8_t *wq = malloc((size_t)N * K), *packed = NULL;
    int32_t *bq = malloc((size_t)N * sizeof *bq);
    size_t csz = vk_round_up((size_t)N, VK_Q8_NR);
    int32_t *colsum = calloc(csz, sizeof *colsum);
    int rc = -1;
    char base[256];
    base_name(c, n->weights, ni, base, sizeof base);
    if (!wf || !scales || !wq || !bq || !colsum) {
        qerr(c, "out of memory");
        goto out;
    }
    for (int oc = 0; oc < N; oc++)
        for (size_t k = 0; k < K; k++)
            wf[(size_t)oc * K + k] =
                dw ? wp[k * Cp + (size_t)oc]
                   : wp[((size_t)(oc / VK_F32_NR) * K + k) * VK_F32_NR + (size_t)(oc % VK_F32_NR)];
    for (int oc = 0; oc < N; oc++) {
        const float *row = wf + (size_t)oc * K;
        double amax = 0, b = bias ? bias[oc] : 0;
        for (size_t k = 0; k < K; k++)
            amax = fabs(row[k]) > amax ? fabs(row[k]) : amax;
        if (!isfinite(amax) || !isfinite(b)) {
            qerr(c, "node %d (%s): weights or bias not finite", ni, vr_op_name(n->op));
            goto out;
        }
        /* Floors: the bias must fit s32 with room (|b|/(s_in·s_w) <= 2^30),
         * and the requantization multiplier s_in·s_w/s_out must not vanish
         * (QuantizeMultiplier gives 0 below 2^-32). Either only raises the
         * scale of a channel whose weights are negligible. */
        double s = amax / QMAX_W;
        double floor_bias = fabs(b) / (s_in * 1073741824.0), floor_mult = 0x1p-24 * s_out / s_in;
        s = s > floor_bias ? s : floor_bias;
        s = s > floor_mult ? s : floor_mult;
        scales[oc] = (float)s;
        s = scales[oc]; /* quantize with the stored (f32) scale */
        for (size_t k = 0; k < K; k++) {
            double v = round(row[k] / s);
            wq[(size_t)oc * K + k] = (int8_t)(v < -QMAX_W ? -QMAX_W : v > QMAX_W ? QMAX_W : v);
        }
        bq[oc] = (int32_t)lrint(b / (s_in * s));
    }
    r->weights = r->bias = r->colsum = r->scales = -1;
    if (n->op == VR_OP_CONV) {
        int64_t d[4] = {N, n->kh, n->kw, in->c};
        size_t sz = vk_pack_conv_s8_size(N, n->kh, n->kw, in->c);
        if (!(packed = malloc(sz))) {
            qerr(c, "out of memory");
            goto out;
        }
        vk_pack_conv_s8(N, n->kh, n->kw, in->c, wq, packed, colsum);
        r->weights = put(c, base, ".w", VW_S8, VW_CONV_S8, 4, d, packed, sz);
    } else if (dw) {
        int64_t d[3] = {n->kh, n->kw, N};
        size_t sz = vk_pack_dw_size(n->kh, n->kw, N);
        int8_t *t = malloc((size_t)N * K); /* [tap][channel] */
        if (!t || !(packed = malloc(sz))) {
            free(t);
            qerr(c, "out of memory");
            goto out;
        }
        for (int oc = 0; oc < N; oc++)
            for (size_t k = 0; k < K; k++)
                t[k * (size_t)N + (size_t)oc] = wq[(size_t)oc * K + k];
        vk_pack_dw_s8(n->kh, n->kw, N, t, packed);
        free(t);
        r->weights = put(c, base, ".w", VW_S8, VW_DW_S8, 3, d, packed, sz);
    } else {
        int64_t d[2] = {(int64_t)K, N};
        size_t sz = vk_pack_s8_b_size((int)K, N);
        int8_t *t = malloc((size_t)N * K); /* B: [k][n] */
        if (!t || !(packed = malloc(sz))) {
            free(t);
            qerr(c, "out of memory");
            goto out;
        }
        for (int oc = 0; oc < N; oc++)
            for (size_t k = 0; k < K; k++)
                t[k * (size_t)N + (size_t)oc] = wq[(size_t)oc * K + k];
        vk_pack_s8_b((int)K, N, t, N, packed, colsum);
        free(t);
        r->weights = put(c, base, ".w", VW_S8, VW_S8_B16X4, 2, d, packed, sz);
    }
    int64_t dn[1] = {N}, dc[1] = {(int64_t)csz};
    if (r->weights < 0 ||
        (r->scales = put(c, base, ".scales", VW_F32, VW_PLAIN, 1, dn, scales, (size_t)N * 4)) < 0 ||
        (r->bias = put(c, base, ".b", VW_S32, VW_PLAIN, 1, dn, bq, (size_t)N * 4)) < 0 ||
        (!dw && (r->colsum = put(c, base, ".colsum", VW_S32, VW_PLAIN, 1, dc, colsum, csz * 4)) < 0))
        goto out;
    qn->w_offset = 0;
    qn->w_scale = 0;
    rc = 0;
out:
    free(wf), free(scales), free(wq), free(bq), free(colsum), free(packed);
    return rc;
}

static int supported(qctx *c, int ni, const vr_node *n)
{
    if (n->wtype == VR_W_WINO) /* U = G g Gᵀ in f32 does not give g back exactly */
        return qerr(c, "node %d (conv): weights stored Winograd-transformed (conv_wino_f32) "
                       "cannot be quantized; convert the source model with --dtype int8", ni);
    if (n->wtype != VR_W_F32) /* quantize_weights reads f32 weights */
        return qerr(c, "node %d (%s): weights stored %s, not f32: quantize the f32 model", ni,
                    vr_op_name(n->op), n->wtype == VR_W_BF16 ? "bf16" : "int8");
    switch (n->op) {
    case VR_OP_CONV:
    case VR_OP_DWCONV:
    case VR_OP_FC:
    case VR_OP_ADD:
        if (n->act != VK_ACT_NONE && n->act != VK_ACT_RELU && n->act != VK_ACT_RELU6)
            return qerr(c, "node %d (%s): activation %d has no quantized form", ni,
                        vr_op_name(n->op), n->act);
        if (n->op != VR_OP_ADD && !n->weights)
            return qerr(c, "node %d (%s): no weights", ni, vr_op_name(n->op));
        return 0;
    case VR_OP_AVGPOOL:
    case VR_OP_MAXPOOL:
    case VR_OP_GAP:
    case VR_OP_CONCAT:
    case VR_OP_RESHAPE:
    case VR_OP_SOFTMAX: return 0;
    default:
        return qerr(c, "node %d (%s) has no int8 form (int8 storage covers CNNs: conv, depthwise, "
                       "fc, add, pooling, concat, reshape, softmax)",
                    ni, vr_op_name(n->op));
    }
}

/* Parameters of every value: classes, fixed members, union of ranges. */
static int solve_params(qctx *c, const vr_range *ranges, qparams in_params)
{
    const vr_graph *g = c->g;
    int nv = vr_graph_value_count(g), nn = vr_graph_node_count(g), rc = -1;
    classes cl = {.parent = malloc((size_t)nv * sizeof(int)),
                  .lo = malloc((size_t)nv * sizeof(double)),
                  .hi = malloc((size_t)nv * sizeof(double)),
                  .fixed = calloc((size_t)nv, sizeof(int)),
                  .params = calloc((size_t)nv, sizeof(qparams))};
    if (!cl.parent || !cl.lo || !cl.hi || !cl.fixed || !cl.params) {
        qerr(c, "out of memory");
        goto out;
    }
    for (int v = 0; v < nv; v++) {
        cl.parent[v] = v;
        cl.lo[v] = 0, cl.hi[v] = 0;
    }
    for (int i = 0; i < nn; i++) {
        const vr_node *n = vr_graph_node(g, i);
        if (n->op == VR_OP_AVGPOOL || n->op == VR_OP_MAXPOOL || n->op == VR_OP_RESHAPE ||
            n->op == VR_OP_CONCAT)
            for (int k = 0; k < n->nin; k++)
                unite(&cl, n->out, n->in[k]);
    }
    /* Fixed members: the input (the preprocessing's range), softmax outputs. */
    int in = vr_graph_input(g);
    cl.fixed[find(&cl, in)] = 1;
    cl.params[find(&cl, in)] = in_params;
    for (int i = 0; i < nn; i++) {
        const vr_node *n = vr_graph_node(g, i);
        if (n->op != VR_OP_SOFTMAX)
            continue;
        int r = find(&cl, n->out);
        qparams sp = {1.0f / 256, 0};
        if (cl.fixed[r] && (cl.params[r].scale != sp.scale || cl.params[r].zero != sp.zero)) {
            qerr(c, "node %d (softmax): its output must share parameters with a value of "
                    "other fixed parameters", i);
            goto out;
        }
        cl.fixed[r] = 1;
        cl.params[r] = sp;
    }
    for (int v = 0; v < nv; v++) {
        int r = find(&cl, v);
        cl.lo[r] = ranges[v].lo < cl.lo[r] ? ranges[v].lo : cl.lo[r];
        cl.hi[r] = ranges[v].hi > cl.hi[r] ? ranges[v].hi : cl.hi[r];
    }
    for (int v = 0; v < nv; v++) {
        int r = find(&cl, v);
        c->vp[v] = cl.fixed[r] ? cl.params[r] : qparams_for(cl.lo[r], cl.hi[r]);
    }
    rc = 0;
out:
    free(cl.parent), free(cl.lo), free(cl.hi), free(cl.fixed), free(cl.params);
    return rc;
}

/* The input's range: everything the normalisation can produce from 0 … 255. */
static int input_params(qctx *c, vr_preproc *pp, qparams *out)
{
    char sub[256];
    if (vr_preproc_from_model(c->m, pp, sub, sizeof sub))
        return qerr(c, "model preprocessing: %s", sub);
    if (pp->dtype != VR_F32)
        return qerr(c, "the model's input is already quantized");
    if (!pp->have_norm) { /* f32 without mean / std: (v − 127.5) / 127.5 */
        for (int k = 0; k < 3; k++)
            pp->mean[k] = pp->std[k] = 127.5f;
        pp->have_norm = 1;
    }
    double lo = 0, hi = 0;
    for (int k = 0; k < 3; k++) {
        double a = (0 - pp->mean[k]) / pp->std[k], b = (255 - pp->mean[k]) / pp->std[k];
        lo = fmin(lo, fmin(a, b));
        hi = fmax(hi, fmax(a, b));
    }
    *out = qparams_for(lo, hi);
    return 0;
}

/* m's metadata, with the input quantization the int8 graph needs. */
static int copy_kv(qctx *c, const vr_preproc *pp, const char *note)
{
    size_t nk = vw_kv_count(c->m->file);
    int rc = 0;
    for (size_t i = 0; i < nk && !rc; i++) {
        const vw_kv *kv = vw_kv_at(c->m->file, i);
        if (!strcmp(kv->key, "preproc.input_dtype") || !strcmp(kv->key, "preproc.input_scale") ||
            !strcmp(kv->key, "preproc.input_zero") || !strcmp(kv->key, "preproc.mean") ||
            !strcmp(kv->key, "preproc.std") || !strncmp(kv->key, "quant.", 6))
            continue;
        switch (kv->type) {
        case VW_KV_U64: rc = vw_writer_kv_u64(c->w, kv->key, kv->v.u); break;
        case VW_KV_I64: rc = vw_writer_kv_i64(c->w, kv->key, kv->v.i); break;
        case VW_KV_F64: rc = vw_writer_kv_f64(c->w, kv->key, kv->v.f); break;
        case VW_KV_STR: rc = vw_writer_kv_str(c->w, kv->key, kv->v.s); break;
        case VW_KV_F32S: rc = vw_writer_kv_f32s(c->w, kv->key, kv->v.f32s, kv->n); break;
        case VW_KV_I64S: rc = vw_writer_kv_i64s(c->w, kv->key, kv->v.i64s, kv->n); break;
        default: break;
        }
    }
    /* mean / std in the 0 … 255 scale (what vr_preproc holds): unambiguous
     * for the reader's "all ≤ 1 means 0 … 1" rule unless every value is ≤ 1,
     * which a 0 … 255 normalisation cannot be (std ≤ 1 would amplify 255×). */
    const vr_value *iv = vr_graph_value(c->q, vr_graph_input(c->q));
    if (rc || vw_writer_kv_f32s(c->w, "preproc.mean", pp->mean, 3) ||
        vw_writer_kv_f32s(c->w, "preproc.std", pp->std, 3) ||
        vw_writer_kv_str(c->w, "preproc.input_dtype", "u8") ||
        vw_writer_kv_f64(c->w, "preproc.input_scale", iv->scale) ||
        vw_writer_kv_i64(c->w, "preproc.input_zero", iv->zero) ||
        vw_writer_kv_str(c->w, "quant.scheme",
                         "static ptq: u8 asymmetric per-tensor activations, s8 symmetric "
                         "per-channel weights, s32 bias") ||
        (note && vw_writer_kv_str(c->w, "quant.calibration", note)))
        return qerr(c, "%s", vw_writer_error(c->w));
    return 0;
}

int vr_quantize_model(const vr_model *m, const vr_range *ranges, const char *note,
                      const char *dst, char *err, size_t errlen)
{
    qctx c = {.m = m, .g = m->graph, .err = err, .errlen = errlen};
    const vr_graph *g = m->graph;
    int nv = vr_graph_value_count(g), nn = vr_graph_node_count(g), rc = -1;
    err[0] = 0;
    for (int v = 0; v < nv; v++)
        if (vr_graph_value(g, v)->dtype != VR_F32)
            FAIL("value %d is not f32: int8 storage needs a float model (this one is already "
                 "quantized?)", v);
        else if (!(ranges[v].lo <= 0 && ranges[v].hi >= 0 && isfinite(ranges[v].lo) &&
                   isfinite(ranges[v].hi)))
            FAIL("value %d: calibrated range %g .. %g does not contain 0", v, ranges[v].lo,
                 ranges[v].hi);
    for (int i = 0; i < nn; i++)
        if (supported(&c, i, vr_graph_node(g, i)))
            return -1;
    c.vp = calloc((size_t)nv, sizeof *c.vp);
    c.refs = calloc((size_t)(nn ? nn : 1), sizeof *c.refs);
    c.q = vr_graph_new();
    c.w = vw_writer_new();
    vr_preproc pp;
    qparams inp = {0};
    if (!c.vp || !c.refs || !c.q || !c.w) {
        qerr(&c, "out of memory");
        goto out;
    }
    if (input_params(&c, &pp, &inp) || solve_params(&c, ranges, inp))
        goto out;
    for (int v = 0; v < nv; v++) {
        vr_value qv = *vr_graph_value(g, v);
        qv.dtype = VR_U8;
        qv.scale = c.vp[v].scale;
        qv.zero = c.vp[v].zero;
        if (vr_graph_add_value(c.q, &qv) != v) {
            qerr(&c, "%s", vr_graph_error(c.q));
            goto out;
        }
    }
    for (int i = 0; i < nn; i++) {
        const vr_node *n = vr_graph_node(g, i);
        vr_node qn = *n;
        vr_node_refs r = {-1, -1, -1, -1};
        qn.weights = qn.bias = NULL;
        qn.w_colsum = NULL;
        qn.w_scales = NULL;
        if ((n->op == VR_OP_CONV || n->op == VR_OP_DWCONV || n->op == VR_OP_FC) &&
            quantize_weights(&c, i, n, &qn, &r))
            goto out;
        c.refs[i] = r;
        /* The planner needs the pointers to plan; the encoder writes refs. */
        if (vr_graph_add_node(c.q, &qn) < 0) {
            qerr(&c, "node %d: %s", i, vr_graph_error(c.q));
            goto out;
        }
    }
    if (vr_graph_set_io(c.q, vr_graph_input(g), vr_graph_output(g))) {
        qerr(&c, "%s", vr_graph_error(c.q));
        goto out;
    }
    if (copy_kv(&c, &pp, note) || vr_model_save_checked(c.w, c.q, c.refs, dst, err, errlen))
        goto out;
    rc = 0;
out:
    free(c.vp);
    free(c.refs);
    vr_graph_free(c.q);
    vw_writer_free(c.w);
    return rc;
}

int vr_quantize_file(const char *f32_path, const char *dst, const vr_convert_opts *o, char *err,
                     size_t errlen)
{
    vr_model *m;
    if (vr_model_open(f32_path, &m, err, errlen))
        return -1;
    int n = o->calib_n > 0 ? o->calib_n : DEFAULT_CALIB_N, rc = -1;
    float *inputs = NULL;
    vr_range *ranges = calloc((size_t)vr_graph_value_count(m->graph), sizeof *ranges);
    vr_calib_opts co = {.method = (vr_calib_method)o->calib_method,
                        .percentile = o->calib_percentile};
    char note[512];
    if (!ranges) {
        vf_fail(err, errlen, "out of memory");
        goto out;
    }
    if (o->verbose)
        fprintf(stderr, "quantize: loading %d calibration images from %s\n", n,
                o->calib ? o->calib : "(none)");
    if (vr_calib_load_images(m, o->calib, n, &inputs, err, errlen))
        goto out;
    if (o->verbose)
        fprintf(stderr, "quantize: calibrating (%s)\n", vr_calib_method_name(co.method));
    if (vr_calibrate(m->graph, inputs, n, &co, ranges, err, errlen))
        goto out;
    if (co.method == VR_CALIB_PERCENTILE)
        snprintf(note, sizeof note, "%d images from %.300s, percentile %g ranges", n, o->calib,
                 co.percentile > 0 ? co.percentile : VR_CALIB_DEFAULT_PERCENTILE);
    else
        snprintf(note, sizeof note, "%d images from %.300s, %s ranges", n, o->calib,
                 vr_calib_method_name(co.method));
    if (o->verbose)
        for (int v = 0; v < vr_graph_value_count(m->graph); v++)
            fprintf(stderr, "  value %d: %g .. %g\n", v, ranges[v].lo, ranges[v].hi);
    rc = vr_quantize_model(m, ranges, note, dst, err, errlen);
out:
    free(inputs);
    free(ranges);
    vr_model_close(m);
    return rc;
}

/* Whether the converted f32 model is a transformer (has LINEAR nodes:
 * dynamic int8) or not (static); a model with quantized values is refused. */
static int graph_kind(const char *f32_path, int *dynamic, char *err, size_t errlen)
{
    vr_model *m;
    if (vr_model_open(f32_path, &m, err, errlen))
        return -1;
    int rc = 0;
    *dynamic = 0;
    for (int i = 0; i < vr_graph_node_count(m->graph); i++)
        *dynamic |= vr_graph_node(m->graph, i)->op == VR_OP_LINEAR;
    for (int v = 0; v < vr_graph_value_count(m->graph) && !rc; v++) {
        vr_dtype t = vr_graph_value(m->graph, v)->dtype;
        if (t == VR_U8 || t == VR_S8)
            rc = vf_fail(err, errlen, "the model is already quantized (value %d is %s)", v,
                         t == VR_U8 ? "u8" : "s8");
    }
    vr_model_close(m);
    return rc;
}

int vr_convert_as(vr_convert_fn convert, const char *src, const char *dst,
                  const vr_convert_opts *o, char *err, size_t errlen)
{
    vr_convert_opts f32 = o ? *o : (vr_convert_opts){0};
    f32.dtype = VR_CONVERT_F32;
    f32.no_winograd = 1; /* the converter writes direct convs: the rewrites start from those */
    if (!o || o->dtype == VR_CONVERT_F32) {
        int n = 0, rc = convert(src, dst, &f32, err, errlen);
        if (rc || (o && o->no_winograd))
            return rc;
        if (vr_convert_wino_file(dst, dst, &n, err, errlen)) {
            char sub[400];
            snprintf(sub, sizeof sub, "%s", err);
            unlink(dst);
            FAIL("%s: winograd: %s", src, sub);
        }
        if (o && o->verbose && n)
            fprintf(stderr, "winograd: %d convs\n", n);
        return 0;
    }
    if (o->dtype != VR_CONVERT_INT8 && o->dtype != VR_CONVERT_BF16)
        FAIL("%s: unknown storage dtype %d", src, o->dtype);
    /* The f32 model goes to a temporary file beside nothing the user owns. */
    const char *tmpdir = getenv("TMPDIR");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/vireo-f32-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(tmp);
    if (fd < 0)
        FAIL("cannot create a temporary file in %s", tmpdir && *tmpdir ? tmpdir : "/tmp");
    close(fd);
    int rc = convert(src, tmp, &f32, err, errlen);
    if (rc == 0 && o->verbose)
        fprintf(stderr, "%s: f32 model converted\n", o->dtype == VR_CONVERT_BF16 ? "bf16" : "quantize");
    int dyn = 0;
    if (rc == 0 && (rc = graph_kind(tmp, &dyn, err, errlen)) == 0) {
        if (o->dtype == VR_CONVERT_BF16)
            rc = vr_convert_bf16_file(tmp, dst, err, errlen);
        else if (dyn)
            rc = vr_convert_dynq_file(tmp, dst, err, errlen);
        else
            rc = vr_quantize_file(tmp, dst, o, err, errlen);
        if (rc == 0 && o->verbose)
            fprintf(stderr, "%s\n", o->dtype == VR_CONVERT_BF16 ? "bf16: weights rounded"
                                 : dyn ? "int8: dynamic (linear layers, per-token activations)"
                                       : "int8: static (calibrated)");
        if (rc) {
            char sub[400];
            snprintf(sub, sizeof sub, "%s", err);
            vf_fail(err, errlen, "%s: %s: %s", src, o->dtype == VR_CONVERT_BF16 ? "bf16" : "int8",
                    sub);
        }
    }
    unlink(tmp);
    return rc;
}
