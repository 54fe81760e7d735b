/* Checking a model's convs one node at a time (tests/runtime/test_winograd*.c):
 * run the plan with an observer that copies every value, then compare each
 * CONV node's output with a double-precision conv of the input it was given,
 * within a bound derived for the way the node was computed. Checking node by
 * node keeps the bounds first-order: no error carried from layer to layer.
 *
 * Bounds (Higham, Accuracy and Stability, 3.1; u = 2^-24, γ_n = nu/(1 − nu)),
 * with ReLU / ReLU6 / none as activation (1-Lipschitz):
 *  - direct conv (VR_W_F32): a dot product of K = KH·KW·C terms plus the bias
 *    in any order: |ŷ − y| ≤ γ_{K+2}·(Σ|w·x| + |b|).
 *  - Winograd F(4×4, 3×3) (VR_W_WINO), as derived in
 *    tests/kernels/test_conv_wino_f32.c: U = G g Gᵀ rounded once (u), the
 *    input transform Bᵀ d B (γ_8), the C products per point (γ_C), the output
 *    transform Aᵀ M A (γ_12), the bias (1 rounding):
 *        |ŷ − y| ≤ γ_{C+23}·(S_w + |b|),
 *        S_w = |Aᵀ| (Σ_c |U_c| ⊙ |Bᵀ| |d_c| |B|) |A|   per 4×4 tile,
 *    where d_c is the tile's 6×6 input patch (zeros outside the image;
 *    tests/wino_bound.h computes it). S_w
 *    is larger than Σ|w·x| by the transforms' coefficients (up to 10 per
 *    dimension in |Bᵀ|, 19 in |A|), which is why Winograd's error is some
 *    hundreds of ulps of Σ|w·x| where the direct conv's is a few: the checks
 *    print the largest error seen in ulps of Σ|w·x| + |b|. */
#ifndef VIREO_TESTS_WINO_CHECK_H
#define VIREO_TESTS_WINO_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/convert_rewrite.h"
#include "runtime/model.h"
#include "runtime/threadpool.h"
#include "testutil.h"
#include "wino_bound.h"

/* Every value of one run, contiguous per value: batch × h·w·c floats. */
typedef struct wc_snaps {
    const vr_graph *g;
    int batch;
    float **v;
} wc_snaps;

static void wc_observe(void *ctx, const vr_plan *p, int node)
{
    wc_snaps *s = ctx;
    int v = vr_graph_node(s->g, node)->out;
    const vr_value *val = vr_graph_value(s->g, v);
    size_t ld, is, pix = (size_t)val->h * val->w, c = (size_t)val->c;
    const float *src = vr_plan_value(p, v, &ld, &is);
    free(s->v[v]);
    s->v[v] = malloc((size_t)s->batch * pix * c * sizeof(float));
    for (int b = 0; b < s->batch; b++)
        for (size_t q = 0; q < pix; q++)
            memcpy(s->v[v] + ((size_t)b * pix + q) * c, src + (size_t)b * is + q * ld,
                   c * sizeof(float));
}

/* Runs m at the forced level on `threads` threads, snapshotting every value
 * (the graph input is `in`); the caller frees with wc_free. */
static wc_snaps wc_run(const vr_model *m, int batch, int threads, const float *in, float *out)
{
    wc_snaps s = {m->graph, batch, calloc((size_t)vr_graph_value_count(m->graph), sizeof(float *))};
    char err[512];
    vr_plan *p = vr_plan_create_ex(m->graph, batch, tu_ops(), VR_PLAN_OBSERVABLE, err, sizeof err);
    if (!p)
        tu_fail("plan: %s", err);
    vr_pool *pool = vr_pool_create(threads);
    assert_int_equal(vr_plan_run_observed(p, pool, in, out, wc_observe, &s), 0);
    vr_pool_destroy(pool);
    vr_plan_free(p);
    int iv = vr_graph_input(m->graph);
    const vr_value *v = vr_graph_value(m->graph, iv);
    size_t n = (size_t)batch * v->h * v->w * v->c * sizeof(float);
    s.v[iv] = malloc(n);
    memcpy(s.v[iv], in, n);
    return s;
}

static void wc_free(wc_snaps *s)
{
    for (int v = 0; v < vr_graph_value_count(s->g); v++)
        free(s->v[v]);
    free(s->v);
}

static double wc_act(double x, vk_act act)
{
    return act == VK_ACT_RELU ? (x > 0 ? x : 0) : act == VK_ACT_RELU6 ? (x < 0 ? 0 : x > 6 ? 6 : x) : x;
}

/* Checks CONV node ni of `run` (snapshots s) against the f32 weights of the
 * same node of `direct` (a model whose convs are all VR_W_F32). Returns the
 * largest error in ulps of Σ|w·x| + |b| (printed with the node). */
static double wc_check_conv(const char *label, const vr_model *run, const vr_model *direct,
                            const wc_snaps *s, int ni)
{
    const vr_node *n = vr_graph_node(run->graph, ni), *nd = vr_graph_node(direct->graph, ni);
    const vr_value *iv = vr_graph_value(run->graph, n->in[0]), *ov = vr_graph_value(run->graph, n->out);
    assert_int_equal(nd->wtype, VR_W_F32);
    const int C = iv->c, OC = ov->c, KH = n->kh, KW = n->kw, K = KH * KW * C, N = s->batch;
    const size_t outs = (size_t)N * ov->h * ov->w * OC;
    float *B = malloc((size_t)K * OC * sizeof *B), *w = malloc((size_t)K * OC * sizeof *w);
    vr_unpack_f32_b(nd->weights, K, OC, B);
    for (int k = 0; k < K; k++)
        for (int oc = 0; oc < OC; oc++)
            w[(size_t)oc * K + k] = B[(size_t)k * OC + oc];
    const float *x = s->v[n->in[0]], *y = s->v[n->out], *bias = n->bias;
    int wino = n->wtype == VR_W_WINO;
    double *sw = wino ? malloc(outs * sizeof *sw) : NULL;
    if (wino)
        wb_sw(x, C, N, iv->h, iv->w, C, w, OC, n->pad_t, n->pad_l, ov->h, ov->w, sw);
    double gm = tu_gamma(wino ? C + 23 : K + 2), worst = 0, used = 0;
    for (int b = 0; b < N; b++)
        for (int oh = 0; oh < ov->h; oh++)
            for (int ow = 0; ow < ov->w; ow++)
                for (int oc = 0; oc < OC; oc++) {
                    double acc = bias ? bias[oc] : 0, mag = fabs(acc);
                    for (int kh = 0; kh < KH; kh++)
                        for (int kw = 0; kw < KW; kw++) {
                            int ih = oh * n->stride_h - n->pad_t + kh * n->dil_h;
                            int iw = ow * n->stride_w - n->pad_l + kw * n->dil_w;
                            if (ih < 0 || ih >= iv->h || iw < 0 || iw >= iv->w)
                                continue;
                            const float *xp = x + (((size_t)b * iv->h + ih) * iv->w + iw) * C;
                            const float *wp = w + (size_t)oc * K + (size_t)(kh * KW + kw) * C;
                            for (int c = 0; c < C; c++) {
                                acc += (double)wp[c] * xp[c];
                                mag += fabs((double)wp[c] * xp[c]);
                            }
                        }
                    size_t o = (((size_t)b * ov->h + oh) * ov->w + ow) * OC + oc;
                    double want = wc_act(acc, n->act), err = fabs(y[o] - want);
                    double tol = gm * (wino ? sw[o] + (bias ? fabs(bias[oc]) : 0) : mag);
                    if (!(err <= tol))
                        tu_fail("%s node %d (%s conv, C=%d OC=%d): image %d (%d,%d) oc %d: %.9g, "
                                "want %.9g (error %.3g > bound %.3g)", label, ni,
                                wino ? "winograd" : "direct", C, OC, b, oh, ow, oc, y[o], want,
                                err, tol);
                    if (tol > 0 && err / tol > used)
                        used = err / tol;
                    if (mag > 0 && err / (mag * TU_U_F32) > worst)
                        worst = err / (mag * TU_U_F32);
                }
    printf("  %-8s node %d: %-8s conv %dx%d C=%-3d OC=%-3d %3dx%-3d max error %6.1f ulps of "
           "sum|w*x|+|b|, %4.1f%% of the bound\n", label, ni, wino ? "winograd" : "direct", KH, KW,
           C, OC, ov->h, ov->w, worst, 100 * used);
    free(B), free(w), free(sw);
    return worst;
}

#endif
