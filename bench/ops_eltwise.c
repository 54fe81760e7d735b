/* Row-wise / element-wise rows: layernorm, softmax, GELU (erf) on
 * transformer shapes, against oneDNN layer_normalization / softmax /
 * eltwise_gelu_erf. Throughput in G elements/s (no peak fraction: these are
 * memory- and exp/erf-bound, not FMA-bound). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "onednn.h"

enum { EW_LAYERNORM, EW_SOFTMAX, EW_GELU };
static const char *const ew_op[] = {"layernorm", "softmax", "gelu"};
static const int ew_vk_op[] = {VK_OP_layernorm_f32, VK_OP_softmax_f32, VK_OP_act_f32};

typedef struct ew_shape {
    int kind;
    const char *layer;
    int R, N, quick;
} ew_shape;

static const ew_shape ew_shapes[] = {
    {EW_LAYERNORM, "vit-b16.b1.ln", 197, 768, 1},
    {EW_LAYERNORM, "vit-b16.b8.ln", 1576, 768, 0},
    {EW_LAYERNORM, "clip-text.ln", 77, 512, 0},
    {EW_SOFTMAX, "vit-b16.scores", 12 * 197, 197, 0},
    {EW_SOFTMAX, "vit-b32.scores", 12 * 50, 50, 0},
    {EW_GELU, "vit-b16.b1.fc1", 197, 3072, 0},
    {EW_GELU, "vit-b16.b8.fc1", 1576, 3072, 0},
};

typedef struct ew_ctx {
    const vk_ops *ops;
    vr_pool *pool;
    const ew_shape *s;
    const float *x, *gamma, *beta;
    float *y;
} ew_ctx;

static void ew_task(void *ctx, int tid, int nt)
{
    const ew_ctx *c = ctx;
    const int R = c->s->R, N = c->s->N;
    int b, e;
    if (c->s->kind == EW_GELU) {
        vr_split(R * N, 16, tid, nt, &b, &e);
        if (b < e)
            c->ops->act_f32(c->x, c->y, VK_ACT_GELU, (size_t)b, (size_t)e);
        return;
    }
    vr_split(R, 1, tid, nt, &b, &e);
    if (b >= e)
        return;
    if (c->s->kind == EW_LAYERNORM)
        c->ops->layernorm_f32(c->x, N, c->y, N, N, c->gamma, c->beta, 1e-5f, b, e);
    else
        c->ops->softmax_f32(c->x, N, c->y, N, N, b, e);
}

static void ew_run(void *ctx, int iter)
{
    ew_ctx *c = ctx;
    vr_pool_run(c->pool, ew_task, c);
}

static void ew_row(const ew_shape *s, int threads)
{
    const vk_ops *ops = bench_ops();
    const int R = s->R, N = s->N;
    const size_t n = (size_t)R * N;
    float *x = bench_alloc(n * 4), *y = bench_alloc(n * 4), *y2 = bench_alloc(n * 4);
    float *gamma = bench_alloc((size_t)N * 4), *beta = bench_alloc((size_t)N * 4);
    float *mean = bench_alloc((size_t)R * 4), *var = bench_alloc((size_t)R * 4);
    dnnl_memory_t mx = NULL, my = NULL, mg = NULL, mb = NULL, mmean = NULL, mvar = NULL;
    dn_prim prim = {0};
    bench_fill_f32(x, n, -4, 4, 41);
    bench_fill_f32(gamma, (size_t)N, 0.5f, 1.5f, 42);
    bench_fill_f32(beta, (size_t)N, -0.5f, 0.5f, 43);
    ew_ctx ours = {.ops = ops, .pool = bench_pool(threads), .s = s, .x = x, .gamma = gamma,
                   .beta = beta, .y = y};
    bench_row row = {.op = ew_op[s->kind], .dtype = "f32", .threads = threads,
                     .baseline = g_opt.baseline, .ops = (double)n, .elementwise = 1,
                     .isa = vk_isa_name(ops->isa[ew_vk_op[s->kind]]),
                     .impl = ops->impl[ew_vk_op[s->kind]]};
    snprintf(row.shape, sizeof row.shape, "%dx%d", R, N);
    snprintf(row.layer, sizeof row.layer, "%s", s->layer);

    dn_threads(threads);
    dnnl_dims_t d2 = {R, N}, d1 = {(dnnl_dim_t)n}, dN = {N}, dR = {R};
    dnnl_memory_desc_t md = s->kind == EW_GELU ? dn_md(1, d1, dnnl_f32, dnnl_a)
                                                : dn_md(2, d2, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_t mdN = dn_md(1, dN, dnnl_f32, dnnl_a), mdR = dn_md(1, dR, dnnl_f32, dnnl_a);
    int rc;
    if (s->kind == EW_LAYERNORM) {
        dnnl_layer_normalization_desc_t d;
        DN_TRY(dnnl_layer_normalization_forward_desc_init(&d, dnnl_forward_inference, &md, NULL,
                                                          1e-5f, dnnl_use_scale | dnnl_use_shift));
        rc = dn_prim_create(&prim, &d, NULL);
    } else if (s->kind == EW_SOFTMAX) {
        dnnl_softmax_desc_t d;
        DN_TRY(dnnl_softmax_forward_desc_init(&d, dnnl_forward_inference, &md, 1));
        rc = dn_prim_create(&prim, &d, NULL);
    } else {
        dnnl_eltwise_desc_t d;
        DN_TRY(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, dnnl_eltwise_gelu_erf,
                                              &md, 0.0f, 0.0f));
        rc = dn_prim_create(&prim, &d, NULL);
    }
    if (rc != 0)
        goto fail;
    row.baseline_impl = prim.impl;
    mx = dn_mem(&md, x);
    my = dn_mem(&md, y2);
    mg = dn_mem(&mdN, gamma);
    mb = dn_mem(&mdN, beta);
    mmean = dn_mem(&mdR, mean);
    mvar = dn_mem(&mdR, var);
    /* mean/variance: scratch outputs some implementations write even for
     * inference; unused arguments are ignored */
    dn_call theirs = {.p = &prim, .nargs = s->kind == EW_LAYERNORM ? 6 : 2,
                      .args = {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DST, my}, {DNNL_ARG_SCALE, mg},
                               {DNNL_ARG_SHIFT, mb}, {DNNL_ARG_MEAN, mmean},
                               {DNNL_ARG_VARIANCE, mvar}},
                      .nrot = 1};

    ew_run(&ours, 0);
    dn_call_run(&theirs, 0);
    row.max_err = bench_cmp_f32(y, y2, n);
    row.check = theirs.failed ? "baseline-failed" : bench_verdict(row.max_err, BENCH_TOL_F32);
    bench_time_row(threads, ew_run, &ours, dn_call_run, &theirs, &row);
    bench_emit(&row);

fail:
    if (mx)
        dnnl_memory_destroy(mx);
    if (my)
        dnnl_memory_destroy(my);
    if (mg)
        dnnl_memory_destroy(mg);
    if (mb)
        dnnl_memory_destroy(mb);
    if (mmean)
        dnnl_memory_destroy(mmean);
    if (mvar)
        dnnl_memory_destroy(mvar);
    dn_prim_destroy(&prim);
    bench_free(x), bench_free(y), bench_free(y2), bench_free(gamma), bench_free(beta);
    bench_free(mean), bench_free(var);
}

static const void *ew_fn(const vk_ops *o, int kind)
{
    return kind == EW_LAYERNORM ? (const void *)o->layernorm_f32
           : kind == EW_SOFTMAX ? (const void *)o->softmax_f32 : (const void *)o->act_f32;
}

void bench_eltwise(void)
{
    const vk_ops *ops = bench_ops();
    for (size_t i = 0; i < sizeof ew_shapes / sizeof *ew_shapes; i++) {
        const ew_shape *s = &ew_shapes[i];
        char shape[64];
        snprintf(shape, sizeof shape, "%dx%d", s->R, s->N);
        if ((g_opt.quick && !s->quick) || !bench_selected(ew_op[s->kind], "f32", shape, s->layer))
            continue;
        if (!bench_have(ew_fn(ops, s->kind), ew_vk_op[s->kind]))
            continue;
        for (int t = 0; t < g_opt.nthreads; t++)
            ew_row(s, g_opt.threads[t]);
    }
}
