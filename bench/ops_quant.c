/* Quantized element-wise / pooling rows: add_q8 (TFLite Add), maxpool_q8,
 * avgpool_q8, mean_q8 on the shapes of the int8 CNNs (ResNet-50's residual
 * adds, stem max pool and final mean; MobileNetV2's residual adds and final
 * 7×7 average), against oneDNN binary add with per-input scales, pooling and
 * reduction (mean) on u8 NHWC; and maxpool_f32, the same pooling walk in f32
 * (ResNet-50's f32 stem max pool) against oneDNN's f32 pooling. Throughput in G input elements/s (memory-bound
 * ops: no peak fraction).
 *
 * Same semantics on both sides: oneDNN 2.6's binary and reduction take no
 * zero points, so the data here has zero points 0 (the arithmetic of our
 * kernels does not depend on them) and the check allows ±1 (TFLite's fixed
 * point vs oneDNN's f32, half-away vs nearest-even rounding). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "kernels/requant.h"
#include "onednn.h"

enum { Q_ADD, Q_MAXPOOL, Q_AVGPOOL, Q_MEAN, Q_MAXPOOL_F32, Q_KINDS };
static const char *const q_op[] = {"add_q8", "maxpool_q8", "avgpool_q8", "mean_q8",
                                   "maxpool_f32"};
static const int q_vk_op[] = {VK_OP_add_q8, VK_OP_maxpool_q8, VK_OP_avgpool_q8, VK_OP_mean_q8,
                              VK_OP_maxpool_f32};

typedef struct q_shape {
    int kind;
    const char *layer;
    int N, H, W, C, K, stride, pad; /* pooling window K×K; mean/add ignore K */
    int quick;
} q_shape;

static const q_shape q_shapes[] = {
    {Q_ADD, "resnet50.layer1.add", 1, 56, 56, 256, 0, 0, 0, 1},
    {Q_ADD, "resnet50.layer2.add", 1, 28, 28, 512, 0, 0, 0, 0},
    {Q_ADD, "resnet50.layer3.add", 1, 14, 14, 1024, 0, 0, 0, 0},
    {Q_ADD, "resnet50.layer4.add", 1, 7, 7, 2048, 0, 0, 0, 0},
    {Q_ADD, "mnv2.block2.add", 1, 56, 56, 24, 0, 0, 0, 1},
    {Q_ADD, "mnv2.block4.add", 1, 28, 28, 32, 0, 0, 0, 0},
    {Q_ADD, "mnv2.block8.add", 1, 14, 14, 64, 0, 0, 0, 0},
    {Q_ADD, "mnv2.block15.add", 1, 7, 7, 160, 0, 0, 0, 0},
    {Q_MAXPOOL, "resnet50.stem.maxpool", 1, 112, 112, 64, 3, 2, 1, 1},
    {Q_AVGPOOL, "mnv2.avgpool", 1, 7, 7, 1280, 7, 1, 0, 0},
    {Q_MEAN, "resnet50.mean", 1, 7, 7, 2048, 0, 0, 0, 1},
    {Q_MEAN, "mnv2.mean", 1, 7, 7, 1280, 0, 0, 0, 0},
    {Q_MAXPOOL_F32, "resnet50.stem.maxpool", 1, 112, 112, 64, 3, 2, 1, 1},
};

typedef struct q_ctx {
    const vk_ops *ops;
    vr_pool *pool;
    const q_shape *s;
    vk_conv_geom g;
    vk_add_q8_params add;
    int32_t mult;
    int shift;
    const void *a, *b;
    void *y;
} q_ctx;

static void q_task(void *ctx, int tid, int nt)
{
    const q_ctx *c = ctx;
    const q_shape *s = c->s;
    int b, e;
    switch (s->kind) {
    case Q_ADD:
        vr_split(s->N * s->H * s->W * s->C, 16, tid, nt, &b, &e);
        if (b < e)
            c->ops->add_q8(c->a, c->b, c->y, &c->add, (size_t)b, (size_t)e);
        break;
    case Q_MAXPOOL:
    case Q_AVGPOOL:
    case Q_MAXPOOL_F32:
        vr_split(c->g.N * c->g.OH, 1, tid, nt, &b, &e);
        if (b >= e)
            break;
        if (s->kind == Q_MAXPOOL_F32)
            c->ops->maxpool_f32(&c->g, c->a, c->y, b, e);
        else
            (s->kind == Q_MAXPOOL ? c->ops->maxpool_q8 : c->ops->avgpool_q8)(&c->g, c->a, c->y,
                                                                                0, 0, 255, b, e);
        break;
    default: /* the runtime splits the mean over images */
        vr_split(s->N, 1, tid, nt, &b, &e);
        if (b < e)
            c->ops->mean_q8(c->a, s->C, s->H * s->W, s->C, 0, 0, c->mult, c->shift, 0, 0, 255,
                            c->y, b, e);
        break;
    }
}

static void q_run(void *ctx, int iter)
{
    q_ctx *c = ctx;
    vr_pool_run(c->pool, q_task, c);
}

static void q_row(const q_shape *s, int threads)
{
    const vk_ops *ops = bench_ops();
    const int f32 = s->kind == Q_MAXPOOL_F32;
    const int pool = s->kind == Q_MAXPOOL || s->kind == Q_AVGPOOL || f32;
    const size_t esz = f32 ? sizeof(float) : 1;
    const int OH = pool ? (s->H + 2 * s->pad - s->K) / s->stride + 1 : s->kind == Q_MEAN ? 1 : s->H;
    const int OW = pool ? (s->W + 2 * s->pad - s->K) / s->stride + 1 : s->kind == Q_MEAN ? 1 : s->W;
    const size_t in_n = (size_t)s->N * s->H * s->W * s->C, out_n = (size_t)s->N * OH * OW * s->C;
    void *a = bench_alloc(in_n * esz), *b = bench_alloc(in_n * esz);
    void *y = bench_alloc(out_n * esz), *y2 = bench_alloc(out_n * esz);
    dnnl_memory_t ma = NULL, mb = NULL, my = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dn_prim prim = {0};
    if (f32) {
        bench_fill_f32(a, in_n, -1, 1, 51);
    } else {
        bench_fill_u8(a, in_n, 51);
        bench_fill_u8(b, in_n, 52);
    }
    q_ctx ours = {.ops = ops, .pool = bench_pool(threads), .s = s, .a = a, .b = b, .y = y};
    ours.g = (vk_conv_geom){.N = s->N, .H = s->H, .W = s->W, .C = s->C, .OH = OH, .OW = OW,
                            .OC = s->C, .KH = s->K, .KW = s->K, .stride_h = s->stride,
                            .stride_w = s->stride, .pad_t = s->pad, .pad_l = s->pad, .dil_h = 1,
                            .dil_w = 1, .in_ld = s->C, .out_ld = s->C};
    /* residual add: two inputs of different scales into one of about their sum's range */
    const float sa = 0.031f, sb = 0.047f, so = 0.09f;
    vk_add_q8_prepare(sa, 0, sb, 0, so, 0, 0, 0, 255, &ours.add);
    int8_t sh8 = 0;
    vk_quantize_multiplier(1.0, &ours.mult, &sh8); /* mean: in scale == out scale */
    ours.shift = sh8;
    bench_row row = {.op = q_op[s->kind], .dtype = f32 ? "f32" : "int8", .threads = threads,
                     .baseline = g_opt.baseline, .ops = (double)in_n, .elementwise = 1,
                     .isa = vk_isa_name(ops->isa[q_vk_op[s->kind]]),
                     .impl = ops->impl[q_vk_op[s->kind]]};
    if (pool)
        snprintf(row.shape, sizeof row.shape, "%dx%dx%d k%ds%dp%d", s->H, s->W, s->C, s->K,
                 s->stride, s->pad);
    else
        snprintf(row.shape, sizeof row.shape, "%dx%dx%d", s->H, s->W, s->C);
    snprintf(row.layer, sizeof row.layer, "%s", s->layer);

    dn_threads(threads);
    dnnl_dim_t din[4] = {s->N, s->C, s->H, s->W}, dout[4] = {s->N, s->C, OH, OW};
    const dnnl_data_type_t dt = f32 ? dnnl_f32 : dnnl_u8;
    dnnl_memory_desc_t mdin = dn_md(4, din, dt, dnnl_nhwc);
    dnnl_memory_desc_t mdout = dn_md(4, dout, dt, dnnl_nhwc);
    int rc;
    if (s->kind == Q_ADD) {
        const float s0 = sa / so, s1 = sb / so;
        DN_TRY(dnnl_primitive_attr_create(&attr));
        DN_TRY(dnnl_primitive_attr_set_scales(attr, DNNL_ARG_SRC_0, 1, 0, &s0));
        DN_TRY(dnnl_primitive_attr_set_scales(attr, DNNL_ARG_SRC_1, 1, 0, &s1));
        dnnl_binary_desc_t d;
        DN_TRY(dnnl_binary_desc_init(&d, dnnl_binary_add, &mdin, &mdin, &mdout));
        rc = dn_prim_create(&prim, &d, attr);
    } else if (pool) {
        dnnl_dims_t st = {s->stride, s->stride}, k = {s->K, s->K}, dil = {0, 0};
        dnnl_dims_t pl = {s->pad, s->pad};
        dnnl_dims_t pr = {(OH - 1) * s->stride + s->K - s->H - s->pad,
                          (OW - 1) * s->stride + s->K - s->W - s->pad};
        dnnl_pooling_v2_desc_t d;
        DN_TRY(dnnl_pooling_v2_forward_desc_init(
            &d, dnnl_forward_inference,
            s->kind == Q_AVGPOOL ? dnnl_pooling_avg_exclude_padding : dnnl_pooling_max, &mdin,
            &mdout, st, k, dil, pl, pr));
        rc = dn_prim_create(&prim, &d, NULL);
    } else {
        dnnl_reduction_desc_t d;
        DN_TRY(dnnl_reduction_desc_init(&d, dnnl_reduction_mean, &mdin, &mdout, 0.0f, 0.0f));
        rc = dn_prim_create(&prim, &d, NULL);
    }
    if (rc != 0)
        goto fail;
    row.baseline_impl = prim.impl;
    ma = dn_mem(&mdin, a);
    mb = dn_mem(&mdin, b);
    my = dn_mem(&mdout, y2);
    dn_call theirs = {.p = &prim, .nrot = 1};
    if (s->kind == Q_ADD) {
        theirs.nargs = 3;
        theirs.args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC_0, ma};
        theirs.args[1] = (dnnl_exec_arg_t){DNNL_ARG_SRC_1, mb};
        theirs.args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, my};
    } else {
        theirs.nargs = 2;
        theirs.args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, ma};
        theirs.args[1] = (dnnl_exec_arg_t){DNNL_ARG_DST, my};
    }
    q_run(&ours, 0);
    dn_call_run(&theirs, 0);
    row.max_err = f32 ? bench_cmp_f32(y, y2, out_n) : bench_cmp_u8(y, y2, out_n);
    row.check = theirs.failed ? "baseline-failed"
                              : bench_verdict(row.max_err, f32 ? BENCH_TOL_F32 : BENCH_TOL_Q8);
    bench_time_row(threads, q_run, &ours, dn_call_run, &theirs, &row);
    bench_emit(&row);

fail:
    if (ma)
        dnnl_memory_destroy(ma);
    if (mb)
        dnnl_memory_destroy(mb);
    if (my)
        dnnl_memory_destroy(my);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    dn_prim_destroy(&prim);
    bench_free(a), bench_free(b), bench_free(y), bench_free(y2);
}

void bench_quant_ops(void)
{
    const vk_ops *ops = bench_ops();
    const void *fns[Q_KINDS] = {(const void *)ops->add_q8, (const void *)ops->maxpool_q8,
                                (const void *)ops->avgpool_q8, (const void *)ops->mean_q8,
                                (const void *)ops->maxpool_f32};
    for (size_t i = 0; i < sizeof q_shapes / sizeof *q_shapes; i++) {
        const q_shape *s = &q_shapes[i];
        char shape[64];
        snprintf(shape, sizeof shape, "%dx%dx%d", s->H, s->W, s->C);
        const char *dtype = s->kind == Q_MAXPOOL_F32 ? "f32" : "int8";
        if ((g_opt.quick && !s->quick) || !bench_selected(q_op[s->kind], dtype, shape, s->layer))
            continue;
        if (!bench_have(fns[s->kind], q_vk_op[s->kind]))
            continue;
        for (int t = 0; t < g_opt.nthreads; t++)
            q_row(s, g_opt.threads[t]);
    }
}
