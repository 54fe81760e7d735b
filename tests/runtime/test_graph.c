/* Graph runtime: small CNNs using every op, run through a plan (arena reuse,
 * in-place concat, threads, batch > 1) at the ISA level VIREO_ISA forces,
 * against a naive implementation in this file.
 *
 * f32 tolerance: a wiring mistake (wrong offset, stride, channel slice,
 * lifetime overlap) changes outputs by O(1). Kernel rounding is bounded per
 * layer by 2·γ_K·Σ|w·x| (K ≤ 144 here, γ_K ≈ 8.6e-6), with weights scaled by
 * 1/√K so activations stay O(1) and layers do not amplify; over the 6 layers of
 * a path that stays below 1e-4 · (1 + |y|). We check 1e-4 · (1 + |y|).
 * Quantized graphs: TFLite integer semantics, so outputs must match exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pack.h"
#include "kernels/requant.h"
#include "runtime/graph.h"
#include "testutil.h"

/* ---- naive reference ops (double, NHWC, per image) ---------------------- */
typedef struct {
    int h, w, c;
    double *x;
} img;

static img mk(int h, int w, int c)
{
    img r = {h, w, c, calloc((size_t)h * w * c, sizeof(double))};
    return r;
}
#define AT(m, y, x_, ch) (m).x[((size_t)(y) * (m).w + (x_)) * (m).c + (ch)]

static double act_d(double v, vk_act a)
{
    if (a == VK_ACT_RELU)
        return v > 0 ? v : 0;
    if (a == VK_ACT_RELU6)
        return v < 0 ? 0 : v > 6 ? 6 : v;
    return v;
}

static img conv_ref(img in, const float *w_ohwi, const float *bias, int oh, int ow, int oc, int k,
                    int s, int pad, vk_act act, int depthwise)
{
    img o = mk(oh, ow, oc);
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            for (int co = 0; co < oc; co++) {
                double acc = bias ? bias[co] : 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int iy = y * s - pad + ky, ix = x * s - pad + kx;
                        if (iy < 0 || ix < 0 || iy >= in.h || ix >= in.w)
                            continue;
                        if (depthwise)
                            acc += AT(in, iy, ix, co) * w_ohwi[((size_t)ky * k + kx) * oc + co];
                        else
                            for (int ci = 0; ci < in.c; ci++)
                                acc += AT(in, iy, ix, ci) *
                                       w_ohwi[(((size_t)co * k + ky) * k + kx) * in.c + ci];
                    }
                AT(o, y, x, co) = act_d(acc, act);
            }
    return o;
}

static img avgpool_ref(img in, int k, int pad)
{
    img o = mk(in.h, in.w, in.c);
    for (int y = 0; y < in.h; y++)
        for (int x = 0; x < in.w; x++)
            for (int c = 0; c < in.c; c++) {
                double s = 0;
                int n = 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int iy = y - pad + ky, ix = x - pad + kx;
                        if (iy >= 0 && ix >= 0 && iy < in.h && ix < in.w)
                            s += AT(in, iy, ix, c), n++;
                    }
                AT(o, y, x, c) = s / n;
            }
    return o;
}

static img fc_ref(img in, const float *B /* K×N */, const float *bias, int N)
{
    img o = mk(1, 1, N);
    int K = in.h * in.w * in.c;
    for (int n = 0; n < N; n++) {
        double acc = bias ? bias[n] : 0;
        for (int k = 0; k < K; k++)
            acc += in.x[k] * B[(size_t)k * N + n];
        o.x[n] = acc;
    }
    return o;
}

/* ---- building blocks ---------------------------------------------------- */
typedef struct {
    float *w, *packed, *bias;
} fweights;

static fweights conv_weights(tu_rng *r, int oc, int k, int c, int dw)
{
    fweights f;
    size_t n = dw ? (size_t)k * k * c : (size_t)oc * k * k * c;
    float sc = 1.0f / sqrtf((float)(dw ? k * k : k * k * c));
    f.w = tu_alloc(n * 4);
    tu_fill_f32(r, f.w, n, -sc, sc);
    f.bias = tu_alloc((size_t)oc * 4);
    tu_fill_f32(r, f.bias, (size_t)oc, -0.1f, 0.1f);
    if (dw) {
        f.packed = tu_alloc(vk_pack_dw_size(k, k, c) * 4);
        vk_pack_dw_f32(k, k, c, f.w, f.packed);
    } else {
        f.packed = tu_alloc(vk_pack_conv_f32_size(oc, k, k, c) * 4);
        vk_pack_conv_f32(oc, k, k, c, f.w, f.packed);
    }
    return f;
}

static void free_fw(fweights *f)
{
    tu_free(f->w);
    tu_free(f->packed);
    tu_free(f->bias);
}

static int val(vr_graph *g, vr_dtype t, int h, int w, int c, float scale, int zero)
{
    vr_value v = {t, h, w, c, scale, zero};
    int id = vr_graph_add_value(g, &v);
    if (id < 0)
        tu_fail("add value: %s", vr_graph_error(g));
    return id;
}

static void node(vr_graph *g, vr_node n)
{
    if (vr_graph_add_node(g, &n) < 0)
        tu_fail("add node: %s", vr_graph_error(g));
}

static vr_node convn(vr_op op, int in, int out, int k, int s, int pad, vk_act act, const void *w,
                     const void *bias)
{
    return (vr_node){.op = op, .nin = 1, .in = {in}, .out = out, .act = act, .kh = k, .kw = k,
                     .stride_h = s, .stride_w = s, .dil_h = 1, .dil_w = 1, .pad_t = pad,
                     .pad_l = pad, .weights = w, .bias = bias};
}

static void run_and_check(vr_graph *g, int batch, const float *input, size_t in_elems,
                          const double *want, size_t out_elems, const char *what)
{
    const vk_ops *ops = tu_ops();
    for (int threads = 1; threads <= 2; threads++) {
        char err[256];
        vr_plan *p = vr_plan_create(g, batch, ops, err, sizeof err);
        if (!p) {
            tu_fail("%s: plan: %s", what, err);
            return;
        }
        vr_pool *pool = vr_pool_create(threads);
        float *out = tu_alloc(out_elems * batch * 4);
        for (int rep = 0; rep < 2; rep++) { /* a second run must not see stale state */
            memset(out, 0xff, out_elems * batch * 4);
            vr_plan_run(p, pool, input, out);
            for (size_t i = 0; i < out_elems * batch; i++) {
                double tol = 1e-4 * (1 + fabs(want[i]));
                if (!(fabs(out[i] - want[i]) <= tol)) {
                    tu_fail("%s (batch %d, %d threads): element %zu got %.7g want %.7g", what,
                            batch, threads, i, out[i], want[i]);
                    rep = 2;
                    break;
                }
            }
        }
        (void)in_elems;
        tu_free(out);
        vr_pool_destroy(pool);
        vr_plan_free(p);
    }
}

/* conv s2 → dw → 1×1 → residual add → {1×1, 3×3, avgpool} → concat (in place)
 * → conv s2 → reshape → fc → softmax */
static void test_f32_cnn_every_op(void **state)
{
    tu_rng r = tu_rng_make(11);
    fweights c0 = conv_weights(&r, 16, 3, 3, 0), d1 = conv_weights(&r, 16, 3, 16, 1),
             c2 = conv_weights(&r, 16, 1, 16, 0), c4 = conv_weights(&r, 8, 1, 16, 0),
             c5 = conv_weights(&r, 12, 3, 16, 0), c8 = conv_weights(&r, 20, 3, 36, 0);
    float *B = tu_alloc(80 * 10 * 4), *fb = tu_alloc(10 * 4);
    tu_fill_f32(&r, B, 800, -0.3f, 0.3f);
    tu_fill_f32(&r, fb, 10, -0.1f, 0.1f);
    float *Bp = tu_alloc(vk_pack_f32_b_size(80, 10) * 4);
    vk_pack_f32_b(80, 10, B, 10, Bp);

    vr_graph *g = vr_graph_new();
    int v0 = val(g, VR_F32, 9, 9, 3, 0, 0), v1 = val(g, VR_F32, 5, 5, 16, 0, 0),
        v2 = val(g, VR_F32, 5, 5, 16, 0, 0), v3 = val(g, VR_F32, 5, 5, 16, 0, 0),
        v4 = val(g, VR_F32, 5, 5, 16, 0, 0), v5 = val(g, VR_F32, 5, 5, 8, 0, 0),
        v6 = val(g, VR_F32, 5, 5, 12, 0, 0), v7 = val(g, VR_F32, 5, 5, 16, 0, 0),
        v8 = val(g, VR_F32, 5, 5, 36, 0, 0), v9 = val(g, VR_F32, 2, 2, 20, 0, 0),
        v10 = val(g, VR_F32, 1, 1, 80, 0, 0), v11 = val(g, VR_F32, 1, 1, 10, 0, 0),
        v12 = val(g, VR_F32, 1, 1, 10, 0, 0);
    node(g, convn(VR_OP_CONV, v0, v1, 3, 2, 1, VK_ACT_RELU6, c0.packed, c0.bias));
    node(g, convn(VR_OP_DWCONV, v1, v2, 3, 1, 1, VK_ACT_RELU, d1.packed, d1.bias));
    node(g, convn(VR_OP_CONV, v2, v3, 1, 1, 0, VK_ACT_NONE, c2.packed, c2.bias));
    node(g, (vr_node){.op = VR_OP_ADD, .nin = 2, .in = {v1, v3}, .out = v4, .act = VK_ACT_RELU});
    node(g, convn(VR_OP_CONV, v4, v5, 1, 1, 0, VK_ACT_RELU, c4.packed, c4.bias));
    node(g, convn(VR_OP_CONV, v4, v6, 3, 1, 1, VK_ACT_NONE, c5.packed, c5.bias));
    node(g, convn(VR_OP_AVGPOOL, v4, v7, 3, 1, 1, VK_ACT_NONE, NULL, NULL));
    node(g, (vr_node){.op = VR_OP_CONCAT, .nin = 3, .in = {v5, v6, v7}, .out = v8});
    node(g, convn(VR_OP_CONV, v8, v9, 3, 2, 0, VK_ACT_RELU, c8.packed, c8.bias));
    node(g, (vr_node){.op = VR_OP_RESHAPE, .nin = 1, .in = {v9}, .out = v10});
    node(g, (vr_node){.op = VR_OP_FC, .nin = 1, .in = {v10}, .out = v11, .weights = Bp, .bias = fb});
    node(g, (vr_node){.op = VR_OP_SOFTMAX, .nin = 1, .in = {v11}, .out = v12});
    assert_int_equal(vr_graph_set_io(g, v0, v12), 0);

    int batch = 2;
    float *input = tu_alloc((size_t)batch * 243 * 4);
    tu_fill_f32(&r, input, (size_t)batch * 243, -1, 1);
    double *want = calloc((size_t)batch * 10, sizeof(double));
    for (int b = 0; b < batch; b++) {
        img x = mk(9, 9, 3);
        for (int i = 0; i < 243; i++)
            x.x[i] = input[b * 243 + i];
        img a1 = conv_ref(x, c0.w, c0.bias, 5, 5, 16, 3, 2, 1, VK_ACT_RELU6, 0);
        img a2 = conv_ref(a1, d1.w, d1.bias, 5, 5, 16, 3, 1, 1, VK_ACT_RELU, 1);
        img a3 = conv_ref(a2, c2.w, c2.bias, 5, 5, 16, 1, 1, 0, VK_ACT_NONE, 0);
        img a4 = mk(5, 5, 16);
        for (int i = 0; i < 400; i++)
            a4.x[i] = fmax(0, a1.x[i] + a3.x[i]);
        img a5 = conv_ref(a4, c4.w, c4.bias, 5, 5, 8, 1, 1, 0, VK_ACT_RELU, 0);
        img a6 = conv_ref(a4, c5.w, c5.bias, 5, 5, 12, 3, 1, 1, VK_ACT_NONE, 0);
        img a7 = avgpool_ref(a4, 3, 1);
        img a8 = mk(5, 5, 36);
        for (int q = 0; q < 25; q++) {
            for (int c = 0; c < 8; c++)
                a8.x[q * 36 + c] = a5.x[q * 8 + c];
            for (int c = 0; c < 12; c++)
                a8.x[q * 36 + 8 + c] = a6.x[q * 12 + c];
            for (int c = 0; c < 16; c++)
                a8.x[q * 36 + 20 + c] = a7.x[q * 16 + c];
        }
        img a9 = conv_ref(a8, c8.w, c8.bias, 2, 2, 20, 3, 2, 0, VK_ACT_RELU, 0);
        img a11 = fc_ref(a9, B, fb, 10);
        double mx = -1e300, s = 0;
        for (int i = 0; i < 10; i++)
            mx = fmax(mx, a11.x[i]);
        for (int i = 0; i < 10; i++)
            s += exp(a11.x[i] - mx);
        for (int i = 0; i < 10; i++)
            want[b * 10 + i] = exp(a11.x[i] - mx) / s;
        img all[] = {x, a1, a2, a3, a4, a5, a6, a7, a8, a9, a11};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++)
            free(all[i].x);
    }
    run_and_check(g, batch, input, 243, want, 10, "f32 cnn");

    /* The arena reuses memory: less than every intermediate value side by side. */
    char err[256];
    vr_plan *p = vr_plan_create(g, 1, tu_ops(), err, sizeof err);
    size_t sum = 0;
    for (int v = 1; v < vr_graph_value_count(g); v++) {
        const vr_value *vv = vr_graph_value(g, v);
        sum += (size_t)vv->h * vv->w * vv->c * 4;
    }
    assert_true(vr_plan_arena_bytes(p) < sum);
    vr_plan_free(p);

    vr_graph_free(g);
    fweights all[] = {c0, d1, c2, c4, c5, c8};
    for (int i = 0; i < 6; i++)
        free_fw(&all[i]);
    tu_free(B), tu_free(fb), tu_free(Bp), tu_free(input);
    free(want);
}

/* conv → gap → fc → l2norm: the embedding-extractor shape, batch 3. */
static void test_f32_embedding_head(void **state)
{
    tu_rng r = tu_rng_make(12);
    fweights c0 = conv_weights(&r, 24, 3, 5, 0);
    float *B = tu_alloc(24 * 7 * 4), *Bp = tu_alloc(vk_pack_f32_b_size(24, 7) * 4);
    tu_fill_f32(&r, B, 24 * 7, -0.5f, 0.5f);
    vk_pack_f32_b(24, 7, B, 7, Bp);
    vr_graph *g = vr_graph_new();
    int v0 = val(g, VR_F32, 6, 7, 5, 0, 0), v1 = val(g, VR_F32, 6, 7, 24, 0, 0),
        v2 = val(g, VR_F32, 1, 1, 24, 0, 0), v3 = val(g, VR_F32, 1, 1, 7, 0, 0),
        v4 = val(g, VR_F32, 1, 1, 7, 0, 0);
    node(g, convn(VR_OP_CONV, v0, v1, 3, 1, 1, VK_ACT_RELU, c0.packed, c0.bias));
    node(g, (vr_node){.op = VR_OP_GAP, .nin = 1, .in = {v1}, .out = v2});
    node(g, (vr_node){.op = VR_OP_FC, .nin = 1, .in = {v2}, .out = v3, .weights = Bp});
    node(g, (vr_node){.op = VR_OP_L2NORM, .nin = 1, .in = {v3}, .out = v4});
    assert_int_equal(vr_graph_set_io(g, v0, v4), 0);
    int batch = 3;
    float *input = tu_alloc((size_t)batch * 210 * 4);
    tu_fill_f32(&r, input, (size_t)batch * 210, -1, 1);
    double *want = calloc((size_t)batch * 7, sizeof(double));
    for (int b = 0; b < batch; b++) {
        img x = mk(6, 7, 5);
        for (int i = 0; i < 210; i++)
            x.x[i] = input[b * 210 + i];
        img a1 = conv_ref(x, c0.w, c0.bias, 6, 7, 24, 3, 1, 1, VK_ACT_RELU, 0);
        img a2 = mk(1, 1, 24);
        for (int q = 0; q < 42; q++)
            for (int c = 0; c < 24; c++)
                a2.x[c] += a1.x[q * 24 + c] / 42;
        img a3 = fc_ref(a2, B, NULL, 7);
        double n2 = 0;
        for (int i = 0; i < 7; i++)
            n2 += a3.x[i] * a3.x[i];
        for (int i = 0; i < 7; i++)
            want[b * 7 + i] = a3.x[i] / sqrt(n2);
        free(x.x), free(a1.x), free(a2.x), free(a3.x);
    }
    run_and_check(g, batch, input, 210, want, 7, "embedding head");
    vr_graph_free(g);
    free_fw(&c0);
    tu_free(B), tu_free(Bp), tu_free(input);
    free(want);
}

/* ---- quantized ----------------------------------------------------------- */
/* TFLite reference for one quantized conv / dwconv / fc: int64 accumulation of
 * (a − za)(w − zw) + bias, then requant.h with the multiplier the runtime must
 * derive the same way (in_scale · w_scale / out_scale). */
typedef struct {
    int32_t *acc_bias;
    int8_t *w_s8; /* stored weights (uint8 asymmetric: w_u8 − 128) */
    int32_t w_offset;
    float *w_scales; /* per-channel or NULL */
    float w_scale;
} qweights;

static void q_ref(const uint8_t *in_u8, const int8_t *in_s8, int H, int W, int C, int32_t za,
                  float in_s, const qweights *qw, int OH, int OW, int OC, int k, int s, int pad,
                  int dw, float out_s, int32_t zo, int is_signed, vk_act act, int32_t *out)
{
    int32_t qmin = is_signed ? -128 : 0, qmax = is_signed ? 127 : 255;
    int32_t lo = act != VK_ACT_NONE && zo > qmin ? zo : qmin, hi = qmax;
    if (act == VK_ACT_RELU6) {
        int32_t six = zo + (int32_t)lrintf(6.0f / out_s);
        hi = six < hi ? six : hi;
    }
    for (int y = 0; y < OH; y++)
        for (int x = 0; x < OW; x++)
            for (int co = 0; co < OC; co++) {
                int64_t acc = qw->acc_bias ? qw->acc_bias[co] : 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int iy = y * s - pad + ky, ix = x * s - pad + kx;
                        if (iy < 0 || ix < 0 || iy >= H || ix >= W)
                            continue;
                        for (int ci = dw ? co : 0; ci < (dw ? co + 1 : C); ci++) {
                            size_t ii = ((size_t)iy * W + ix) * C + ci;
                            int32_t a = (is_signed ? in_s8[ii] : in_u8[ii]) - za;
                            size_t wi = dw ? ((size_t)ky * k + kx) * C + ci
                                           : (((size_t)co * k + ky) * k + kx) * C + ci;
                            acc += (int64_t)a * (qw->w_s8[wi] + qw->w_offset);
                        }
                    }
                int32_t m;
                int8_t sh;
                double ws = qw->w_scales ? qw->w_scales[co] : qw->w_scale;
                vk_quantize_multiplier((double)in_s * ws / out_s, &m, &sh);
                out[((size_t)y * OW + x) * OC + co] = vk_requant_one((int32_t)acc, m, sh, zo, lo, hi);
            }
}

static void quantized_cnn(int is_signed)
{
    tu_rng r = tu_rng_make(13 + is_signed);
    vr_dtype dt = is_signed ? VR_S8 : VR_U8;
    int32_t z0 = is_signed ? -5 : 120, z1 = is_signed ? -128 : 0, z2 = is_signed ? 3 : 128,
            z3 = is_signed ? -10 : 100;
    float s0 = 0.02f, s1 = 0.05f, s2 = 0.04f, s3 = 0.1f;
    /* layer 0: conv 3×3 s2, C=3 → 16, relu6; layer 1: dw 3×3; layer 2: fc 5·5·16 → 10 */
    qweights q0 = {0}, q1 = {0}, q2 = {0};
    int8_t *w0 = tu_alloc(16 * 27), *w1 = tu_alloc(9 * 16), *w2 = tu_alloc(400 * 10);
    tu_fill_s8(&r, w0, 16 * 27), tu_fill_s8(&r, w1, 144), tu_fill_s8(&r, w2, 4000);
    q0.w_s8 = w0, q1.w_s8 = w1, q2.w_s8 = w2;
    int32_t *b0 = tu_alloc(16 * 4), *b1 = tu_alloc(16 * 4), *b2 = tu_alloc(10 * 4);
    tu_fill_s32(&r, b0, 16, -2000, 2000), tu_fill_s32(&r, b1, 16, -2000, 2000),
        tu_fill_s32(&r, b2, 10, -5000, 5000);
    q0.acc_bias = b0, q1.acc_bias = b1, q2.acc_bias = b2;
    float *sc0 = tu_alloc(16 * 4), *sc1 = tu_alloc(16 * 4), *sc2 = tu_alloc(10 * 4);
    if (is_signed) { /* TF2: per-channel int8 weights, zero point 0 */
        tu_fill_f32(&r, sc0, 16, 0.002f, 0.01f), tu_fill_f32(&r, sc1, 16, 0.005f, 0.03f),
            tu_fill_f32(&r, sc2, 10, 0.001f, 0.004f);
        q0.w_scales = sc0, q1.w_scales = sc1, q2.w_scales = sc2;
    } else { /* TF1: uint8 asymmetric per-tensor: stored w_u8 − 128, offset 128 − zw */
        q0.w_scale = 0.006f, q1.w_scale = 0.02f, q2.w_scale = 0.003f;
        q0.w_offset = 128 - 131, q1.w_offset = 128 - 119, q2.w_offset = 128 - 127;
    }
    int8_t *p0 = tu_alloc(vk_pack_conv_s8_size(16, 3, 3, 3)), *p1 = tu_alloc(vk_pack_dw_size(3, 3, 16)),
           *p2 = tu_alloc(vk_pack_s8_b_size(400, 10));
    int32_t *cs0 = tu_alloc(vk_round_up(16, VK_Q8_NR) * 4), *cs2 = tu_alloc(vk_round_up(10, VK_Q8_NR) * 4);
    vk_pack_conv_s8(16, 3, 3, 3, w0, p0, cs0);
    vk_pack_dw_s8(3, 3, 16, w1, p1);
    vk_pack_s8_b(400, 10, w2, 10, p2, cs2);

    vr_graph *g = vr_graph_new();
    int v0 = val(g, dt, 9, 9, 3, s0, z0), v1 = val(g, dt, 5, 5, 16, s1, z1),
        v2 = val(g, dt, 5, 5, 16, s2, z2), v3 = val(g, dt, 1, 1, 400, s2, z2),
        v4 = val(g, dt, 1, 1, 10, s3, z3);
    vr_node n0 = convn(VR_OP_CONV, v0, v1, 3, 2, 1, VK_ACT_RELU6, p0, b0);
    n0.w_colsum = cs0, n0.w_offset = q0.w_offset, n0.w_scale = q0.w_scale, n0.w_scales = q0.w_scales;
    vr_node n1 = convn(VR_OP_DWCONV, v1, v2, 3, 1, 1, VK_ACT_NONE, p1, b1);
    n1.w_offset = q1.w_offset, n1.w_scale = q1.w_scale, n1.w_scales = q1.w_scales;
    node(g, n0);
    node(g, n1);
    node(g, (vr_node){.op = VR_OP_RESHAPE, .nin = 1, .in = {v2}, .out = v3});
    node(g, (vr_node){.op = VR_OP_FC, .nin = 1, .in = {v3}, .out = v4, .weights = p2, .bias = b2,
                      .w_colsum = cs2, .w_offset = q2.w_offset, .w_scale = q2.w_scale,
                      .w_scales = q2.w_scales});
    assert_int_equal(vr_graph_set_io(g, v0, v4), 0);

    int batch = 2;
    uint8_t *input = tu_alloc((size_t)batch * 243);
    tu_fill_u8(&r, input, (size_t)batch * 243);
    int32_t want[2][10];
    for (int b = 0; b < batch; b++) {
        const uint8_t *iu = input + b * 243;
        const int8_t *is = (const int8_t *)iu;
        int32_t a1[400], a2[400];
        uint8_t u1[400], u2[400];
        int8_t s1v[400], s2v[400];
        q_ref(iu, is, 9, 9, 3, z0, s0, &q0, 5, 5, 16, 3, 2, 1, 0, s1, z1, is_signed, VK_ACT_RELU6, a1);
        for (int i = 0; i < 400; i++)
            u1[i] = (uint8_t)a1[i], s1v[i] = (int8_t)a1[i];
        q_ref(u1, s1v, 5, 5, 16, z1, s1, &q1, 5, 5, 16, 3, 1, 1, 1, s2, z2, is_signed, VK_ACT_NONE, a2);
        for (int i = 0; i < 400; i++)
            u2[i] = (uint8_t)a2[i], s2v[i] = (int8_t)a2[i];
        /* fc as a 1×1 "conv" over a 1×1×400 image with OHWI weights = Bᵀ */
        int8_t *wt = malloc(4000);
        for (int k = 0; k < 400; k++)
            for (int n = 0; n < 10; n++)
                wt[n * 400 + k] = w2[k * 10 + n];
        qweights q2t = q2;
        q2t.w_s8 = wt;
        q_ref(u2, s2v, 1, 1, 400, z2, s2, &q2t, 1, 1, 10, 1, 1, 0, 0, s3, z3, is_signed,
              VK_ACT_NONE, want[b]);
        free(wt);
    }
    for (int threads = 1; threads <= 2; threads++) {
        char err[256];
        vr_plan *p = vr_plan_create(g, batch, tu_ops(), err, sizeof err);
        if (!p) {
            tu_fail("plan: %s", err);
            break;
        }
        vr_pool *pool = vr_pool_create(threads);
        uint8_t out[20];
        vr_plan_run(p, pool, input, out);
        for (int i = 0; i < 20; i++) {
            int32_t got = is_signed ? (int8_t)out[i] : out[i];
            if (got != want[i / 10][i % 10]) {
                tu_fail("%s graph, %d threads: element %d got %d want %d",
                        is_signed ? "int8" : "uint8", threads, i, got, want[i / 10][i % 10]);
                break;
            }
        }
        vr_pool_destroy(pool);
        vr_plan_free(p);
    }
    vr_graph_free(g);
    void *bufs[] = {w0, w1, w2, b0, b1, b2, sc0, sc1, sc2, p0, p1, p2, cs0, cs2, input};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        tu_free(bufs[i]);
}

static void test_uint8_cnn(void **state) { quantized_cnn(0); }
static void test_int8_cnn(void **state) { quantized_cnn(1); }


/* u8: conv 1×1 → add (residual, relu) → avgpool 3×3 s2 → maxpool 3×3 s1 →
 * gap → softmax (the add's zero point is mid-range so its relu clamp shows
 * through the average). The oracle chains the reference kernels by hand with the
 * parameters TFLite derives (each kernel is verified on its own elsewhere):
 * this checks the plan's wiring and the parameters it derives. */
static void test_uint8_pools_add_softmax(void **state)
{
    const vk_ops *ref = tu_ref();
    tu_rng r = tu_rng_make(31);
    float s0 = 0.05f, s1 = 0.04f, s2 = 0.07f, s6 = 1.0f / 256;
    int32_t z0 = 120, z1 = 130, z2 = 128;
    int8_t *w = tu_alloc(64), *wp = tu_alloc(vk_pack_conv_s8_size(8, 1, 1, 8));
    int32_t *cs = tu_alloc(16 * 4), *bias = tu_alloc(8 * 4);
    tu_fill_s8(&r, w, 64);
    tu_fill_s32(&r, bias, 8, -300, 300);
    vk_pack_conv_s8(8, 1, 1, 8, w, wp, cs);
    vr_graph *g = vr_graph_new();
    int v0 = val(g, VR_U8, 6, 6, 8, s0, z0), v1 = val(g, VR_U8, 6, 6, 8, s1, z1),
        v2 = val(g, VR_U8, 6, 6, 8, s2, z2), v3 = val(g, VR_U8, 3, 3, 8, s2, z2),
        v4 = val(g, VR_U8, 3, 3, 8, s2, z2), v5 = val(g, VR_U8, 1, 1, 8, s2, z2),
        v6 = val(g, VR_U8, 1, 1, 8, s6, 0);
    vr_node c = convn(VR_OP_CONV, v0, v1, 1, 1, 0, VK_ACT_NONE, wp, bias);
    c.w_colsum = cs, c.w_offset = 3, c.w_scale = 0.01f;
    node(g, c);
    node(g, (vr_node){.op = VR_OP_ADD, .nin = 2, .in = {v0, v1}, .out = v2, .act = VK_ACT_RELU});
    node(g, convn(VR_OP_AVGPOOL, v2, v3, 3, 2, 1, VK_ACT_NONE, NULL, NULL));
    node(g, convn(VR_OP_MAXPOOL, v3, v4, 3, 1, 1, VK_ACT_NONE, NULL, NULL));
    node(g, (vr_node){.op = VR_OP_GAP, .nin = 1, .in = {v4}, .out = v5});
    node(g, (vr_node){.op = VR_OP_SOFTMAX, .nin = 1, .in = {v5}, .out = v6, .beta = 1.0f});
    assert_int_equal(vr_graph_set_io(g, v0, v6), 0);

    int batch = 2;
    size_t px = 36 * 8;
    uint8_t *in = tu_alloc(batch * px), *a1 = tu_alloc(batch * px), *a2 = tu_alloc(batch * px),
            *a3 = tu_alloc(batch * px), *a4 = tu_alloc(batch * 72), *a5 = tu_alloc(batch * 8),
            *want = tu_alloc(batch * 8);
    tu_fill_u8(&r, in, batch * px);
    int32_t m;
    int8_t sh;
    vk_quantize_multiplier((double)s0 * 0.01f / s1, &m, &sh);
    vk_conv_geom g1 = {.N = batch, .H = 6, .W = 6, .C = 8, .OH = 6, .OW = 6, .OC = 8, .KH = 1,
                       .KW = 1, .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1, .in_ld = 8,
                       .out_ld = 8};
    void *scratch = tu_alloc(vk_conv2d_q8_scratch(&g1) + 64);
    vk_conv2d_q8_args ca = {.g = g1, .in = in, .a_zero = z0, .Wp = wp, .w_colsum = cs, .b_offset = 3,
                            .bias = bias, .rq = {&m, &sh, 0, z1, 0, 255}, .out = a1,
                            .scratch = scratch};
    ref->conv2d_q8(&ca, 0, batch * 6);
    vk_add_q8_params ap;
    vk_add_q8_prepare(s0, z0, s1, z1, s2, z2, 0, z2, 255, &ap); /* relu: lower bound = zero point */
    ref->add_q8(in, a1, a2, &ap, 0, batch * px);
    vk_conv_geom gp = g1;
    gp.KH = gp.KW = 3, gp.pad_t = gp.pad_l = 1, gp.OH = gp.OW = 3, gp.stride_h = gp.stride_w = 2;
    ref->avgpool_q8(&gp, a2, a3, 0, 0, 255, 0, batch * 3);
    gp.H = gp.W = 3, gp.stride_h = gp.stride_w = 1;
    ref->maxpool_q8(&gp, a3, a4, 0, 0, 255, 0, batch * 3);
    vk_conv_geom gg = {.N = batch, .H = 3, .W = 3, .C = 8, .OH = 1, .OW = 1, .OC = 8, .KH = 3,
                       .KW = 3, .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1, .in_ld = 8,
                       .out_ld = 8};
    ref->avgpool_q8(&gg, a4, a5, 0, 0, 255, 0, batch);
    ref->softmax_q8(a5, want, 8, 0, s2, 1.0f, s6, 0, 0, batch);
    for (int threads = 1; threads <= 2; threads++) {
        char err[256];
        vr_plan *p = vr_plan_create(g, batch, tu_ops(), err, sizeof err);
        if (!p) {
            tu_fail("plan: %s", err);
            break;
        }
        vr_pool *pool = vr_pool_create(threads);
        uint8_t out[16];
        vr_plan_run(p, pool, in, out);
        if (memcmp(out, want, 16) != 0)
            tu_fail("%d threads: output differs from the hand-chained reference kernels", threads);
        vr_pool_destroy(pool);
        vr_plan_free(p);
    }
    vr_graph_free(g);
    void *bufs[] = {w, wp, cs, bias, in, a1, a2, a3, a4, a5, want, scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        tu_free(bufs[i]);
}

/* ---- ADD folded into the conv before it (plan.c fuse_add) ---------------
 * Which adds fold: x → c1 1×1 relu → h0 → c2 3×3 → h1; y = relu(h1 + h0)
 * folds into c2; y → c3 3×3 → h2 with a second use: y2 = y + h2 does not;
 * h2 → c4 relu → h3: y2 + h3 does not (c4 has its own activation).
 * Numbers: with y as the output, the folded plan adds h0 inside c2's sum
 * (bias, residual, then the K = 216 products) instead of after it; either
 * order is within γ_{K+2}·S of the exact value, S = |b| + |h0| + Σ|w·x|
 * computed per element from h0 as the unfolded plan produces it, so the two
 * plans differ by at most 2·γ_{K+2}·S (ReLU does not increase differences). */
/* in a plan that folded c2 into the add, h1 is never stored */
static void folded_observer(void *ctx, const vr_plan *p, int node)
{
    size_t ld, is;
    if (node == 1 && vr_plan_value(p, *(int *)ctx, &ld, &is) != NULL)
        tu_fail("the folded conv's output is reported as stored");
}

typedef struct snap {
    int v;
    float *buf;
    size_t n;
} snap;
static void snap_observer(void *ctx, const vr_plan *p, int node)
{
    (void)node;
    snap *s = ctx;
    size_t ld, is;
    const float *src = vr_plan_value(p, s->v, &ld, &is);
    if (src && node == 0) /* h0 is produced by node 0, contiguous */
        memcpy(s->buf, src, s->n * sizeof(float));
}

/* Σ|x·w| in double. (aarch64 gcc 12's vectorizer crashed, internal
 * compiler error in vect_transform_reduction, on reductions in
 * test_add_folding: kept out of it, and the max loop there uses no fmax.) */
static __attribute__((noinline)) double abs_dot(const float *x, const float *w, int n)
{
    double s = 0;
    for (int c = 0; c < n; c++)
        s += fabs((double)x[c] * w[c]);
    return s;
}

static void test_add_folding(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(0xadd);
    const int H = 6, W = 7, C = 16, D = 24, batch = 2, K = 9 * D;
    float *w1 = tu_alloc((size_t)D * C * 4), *w2 = tu_alloc((size_t)D * K * 4);
    float *b = tu_alloc((size_t)D * 4);
    float *p1 = tu_alloc(vk_pack_conv_f32_size(D, 1, 1, C) * 4);
    float *p2 = tu_alloc(vk_pack_conv_f32_size(D, 3, 3, D) * 4);
    tu_fill_f32(&r, w1, (size_t)D * C, -0.5f, 0.5f);
    tu_fill_f32(&r, w2, (size_t)D * K, -0.5f, 0.5f);
    tu_fill_f32(&r, b, D, -0.5f, 0.5f);
    vk_pack_conv_f32(D, 1, 1, C, w1, p1);
    vk_pack_conv_f32(D, 3, 3, D, w2, p2);
    char err[256];

    /* which adds fold */
    vr_graph *g = vr_graph_new();
    int x = val(g, VR_F32, H, W, C, 0, 0), h0 = val(g, VR_F32, H, W, D, 0, 0);
    int h1 = val(g, VR_F32, H, W, D, 0, 0), y = val(g, VR_F32, H, W, D, 0, 0);
    int h2 = val(g, VR_F32, H, W, D, 0, 0), y2 = val(g, VR_F32, H, W, D, 0, 0);
    int h3 = val(g, VR_F32, H, W, D, 0, 0), out = val(g, VR_F32, H, W, D, 0, 0);
    node(g, convn(VR_OP_CONV, x, h0, 1, 1, 0, VK_ACT_RELU, p1, b));
    node(g, convn(VR_OP_CONV, h0, h1, 3, 1, 1, VK_ACT_NONE, p2, b));
    node(g, (vr_node){.op = VR_OP_ADD, .nin = 2, .in = {h1, h0}, .out = y, .act = VK_ACT_RELU});
    node(g, convn(VR_OP_CONV, y, h2, 3, 1, 1, VK_ACT_NONE, p2, b));
    node(g, (vr_node){.op = VR_OP_ADD, .nin = 2, .in = {y, h2}, .out = y2});
    node(g, convn(VR_OP_CONV, h2, h3, 3, 1, 1, VK_ACT_RELU, p2, NULL));
    node(g, (vr_node){.op = VR_OP_ADD, .nin = 2, .in = {y2, h3}, .out = out});
    vr_graph_set_io(g, x, out);
    vr_plan *pf = vr_plan_create(g, batch, tu_ops(), err, sizeof err);
    vr_plan *pu = vr_plan_create_ex(g, batch, tu_ops(), VR_PLAN_OBSERVABLE, err, sizeof err);
    assert_non_null(pf);
    assert_non_null(pu);
    assert_int_equal(vr_plan_folded(pf), 1);
    assert_int_equal(vr_plan_folded(pu), 0);
    vr_plan_free(pf);
    vr_plan_free(pu);
    vr_graph_free(g);

    /* the folded result */
    g = vr_graph_new();
    x = val(g, VR_F32, H, W, C, 0, 0), h0 = val(g, VR_F32, H, W, D, 0, 0);
    h1 = val(g, VR_F32, H, W, D, 0, 0), y = val(g, VR_F32, H, W, D, 0, 0);
    node(g, convn(VR_OP_CONV, x, h0, 1, 1, 0, VK_ACT_RELU, p1, b));
    node(g, convn(VR_OP_CONV, h0, h1, 3, 1, 1, VK_ACT_NONE, p2, b));
    node(g, (vr_node){.op = VR_OP_ADD, .nin = 2, .in = {h1, h0}, .out = y, .act = VK_ACT_RELU});
    vr_graph_set_io(g, x, y);
    const size_t n_in = (size_t)batch * H * W * C, n_out = (size_t)batch * H * W * D;
    float *in = tu_alloc(n_in * 4), *o_f = tu_alloc(n_out * 4), *o_u = tu_alloc(n_out * 4);
    float *tol = tu_alloc(n_out * 4);
    snap sn = {h0, tu_alloc(n_out * 4), n_out};
    tu_fill_f32(&r, in, n_in, -1, 1);
    pf = vr_plan_create(g, batch, tu_ops(), err, sizeof err);
    pu = vr_plan_create_ex(g, batch, tu_ops(), VR_PLAN_OBSERVABLE, err, sizeof err);
    assert_non_null(pf);
    assert_non_null(pu);
    assert_int_equal(vr_plan_folded(pf), 1);
    vr_pool *pool = vr_pool_create(2);
    assert_int_equal(vr_plan_run(pf, pool, in, o_f), 0);
    assert_int_equal(vr_plan_run_observed(pu, pool, in, o_u, snap_observer, &sn), 0);
    assert_int_equal(vr_plan_run_observed(pf, pool, in, o_f, folded_observer, &h1), 0);
    const float *hv = sn.buf;
    const double gk = tu_gamma(K + 2);
    for (int n = 0; n < batch; n++)
        for (int oh = 0; oh < H; oh++)
            for (int ow = 0; ow < W; ow++)
                for (int oc = 0; oc < D; oc++) {
                    const size_t o = (((size_t)n * H + oh) * W + ow) * D + oc;
                    double S = fabs(b[oc]) + fabs(hv[o]);
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 3; kw++) {
                            const int ih = oh - 1 + kh, iw = ow - 1 + kw;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                continue;
                            S += abs_dot(hv + (((size_t)n * H + ih) * W + iw) * D,
                                         w2 + (((size_t)oc * 3 + kh) * 3 + kw) * D, D);
                        }
                    tol[o] = (float)(2 * gk * S);
                }
    int fail = tu_check_f32("folded vs unfolded plan", o_f, o_u, tol, 0, n_out);
    double maxd = 0, maxr = 0;
    for (size_t i = 0; i < n_out; i++) {
        const double d = fabs((double)o_f[i] - o_u[i]);
        if (d > maxd)
            maxd = d;
        if (d / tol[i] > maxr)
            maxr = d / tol[i];
    }
    printf("  add folding: max |folded - unfolded| %.3g, at most %.2g of the bound\n", maxd, maxr);
    vr_pool_destroy(pool);
    vr_plan_free(pf);
    vr_plan_free(pu);
    vr_graph_free(g);
    void *bufs[] = {w1, w2, b, p1, p2, in, o_f, o_u, tol, sn.buf};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        tu_free(bufs[i]);
    assert_int_equal(fail, 0);
}

/* ---- errors ------------------------------------------------------------- */
static void expect_plan_error(vr_graph *g, const char *needle)
{
    char err[256] = "";
    vr_plan *p = vr_plan_create(g, 1, tu_ops(), err, sizeof err);
    if (p) {
        tu_fail("plan accepted a bad graph (wanted '%s')", needle);
        vr_plan_free(p);
    } else if (!strstr(err, needle)) {
        tu_fail("error '%s' does not mention '%s'", err, needle);
    }
}

static void test_bad_graphs(void **state)
{
    float w[64] = {0};
    vr_graph *g = vr_graph_new();
    int a = val(g, VR_F32, 4, 4, 8, 0, 0), b = val(g, VR_F32, 4, 4, 9, 0, 0);
    node(g, convn(VR_OP_DWCONV, a, b, 3, 1, 1, VK_ACT_NONE, w, NULL));
    vr_graph_set_io(g, a, b);
    expect_plan_error(g, "multiplier");
    vr_graph_free(g);

    g = vr_graph_new();
    a = val(g, VR_F32, 4, 4, 8, 0, 0), b = val(g, VR_F32, 2, 2, 8, 0, 0);
    node(g, (vr_node){.op = VR_OP_FC, .nin = 1, .in = {a}, .out = b, .weights = w});
    vr_graph_set_io(g, a, b);
    expect_plan_error(g, "1x1xN");
    vr_graph_free(g);

    g = vr_graph_new();
    a = val(g, VR_U8, 4, 4, 8, 0.1f, 0);
    b = val(g, VR_U8, 4, 4, 8, 0.1f, 0);
    int c = val(g, VR_U8, 4, 4, 8, 0.1f, 0);
    node(g, (vr_node){.op = VR_OP_ADD, .nin = 2, .in = {a, b}, .out = c});
    vr_graph_set_io(g, a, c);
    expect_plan_error(g, "not computed before"); /* b has no producer */
    vr_graph_free(g);

    g = vr_graph_new();
    a = val(g, VR_F32, 4, 4, 8, 0, 0), b = val(g, VR_F32, 40, 40, 8, 0, 0);
    node(g, convn(VR_OP_CONV, a, b, 3, 1, 1, VK_ACT_NONE, w, NULL));
    vr_graph_set_io(g, a, b);
    expect_plan_error(g, "too large");
    vr_graph_free(g);

    g = vr_graph_new();
    vr_value bad = {VR_F32, 0, 4, 4, 0, 0};
    assert_int_equal(vr_graph_add_value(g, &bad), -1);
    assert_non_null(strstr(vr_graph_error(g), "out of range"));
    vr_value nq = {VR_U8, 4, 4, 4, 0, 0};
    assert_int_equal(vr_graph_add_value(g, &nq), -1);
    a = val(g, VR_F32, 4, 4, 8, 0, 0);
    vr_node self = {.op = VR_OP_SOFTMAX, .nin = 1, .in = {a}, .out = a};
    assert_int_equal(vr_graph_add_node(g, &self), -1);
    vr_graph_free(g);
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_cnn_every_op),   cmocka_unit_test(test_f32_embedding_head),
        cmocka_unit_test(test_uint8_cnn),          cmocka_unit_test(test_int8_cnn),
        cmocka_unit_test(test_uint8_pools_add_softmax), cmocka_unit_test(test_bad_graphs),
        cmocka_unit_test(test_add_folding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
