/* attention rows: fused multi-head attention (12 heads, batch 1, Q/K/V read
 * in place from one fused QKV projection output) against oneDNN's
 * matmul (Q·Kᵀ, scale and causal mask fused) + softmax + matmul (P·V). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "onednn.h"

typedef struct attn_shape {
    const char *layer;
    int L, D, causal, quick;
} attn_shape;

static const attn_shape attn_shapes[] = {
    {"vit-b32.attn", 50, 64, 0, 0},    {"clip-text.attn", 77, 64, 1, 0},
    {"vit-b16.attn", 197, 64, 0, 1},   {"attn.L257.D64", 257, 64, 0, 0},
    {"attn.L50.D80", 50, 80, 0, 0},    {"attn.L77.D80", 77, 80, 1, 0},
    {"attn.L197.D80", 197, 80, 0, 0},  {"attn.L257.D80", 257, 80, 0, 0},
};
#define HEADS 12

typedef struct attn_ctx {
    const vk_ops *ops;
    vr_pool *pool;
    vk_attention_f32_args a;
    int items;
} attn_ctx;

static void attn_task(void *ctx, int tid, int nt)
{
    const attn_ctx *c = ctx;
    int w0, w1;
    vr_split(c->items, 1, tid, nt, &w0, &w1);
    if (w0 < w1)
        c->ops->attention_f32(&c->a, w0, w1);
}

static void attn_run(void *ctx, int iter)
{
    attn_ctx *c = ctx;
    vr_pool_run(c->pool, attn_task, c);
}

typedef struct dn_attn {
    dn_prim *mm1, *sm, *mm2;
    dnnl_memory_t q, k, v, s, o, mask;
    int causal, failed;
} dn_attn;

static void dn_attn_run(void *ctx, int iter)
{
    dn_attn *c = ctx;
    dnnl_stream_t st = dn_stream();
    dnnl_exec_arg_t a1[4] = {{DNNL_ARG_SRC, c->q}, {DNNL_ARG_WEIGHTS, c->k}, {DNNL_ARG_DST, c->s},
                             {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, c->mask}};
    dnnl_exec_arg_t a2[2] = {{DNNL_ARG_SRC, c->s}, {DNNL_ARG_DST, c->s}};
    dnnl_exec_arg_t a3[3] = {{DNNL_ARG_SRC, c->s}, {DNNL_ARG_WEIGHTS, c->v}, {DNNL_ARG_DST, c->o}};
    if (dnnl_primitive_execute(c->mm1->prim, st, c->causal ? 4 : 3, a1) != dnnl_success ||
        dnnl_primitive_execute(c->sm->prim, st, 2, a2) != dnnl_success ||
        dnnl_primitive_execute(c->mm2->prim, st, 3, a3) != dnnl_success)
        c->failed = 1;
    dnnl_stream_wait(st);
}

static void attn_row(const attn_shape *s, int threads)
{
    const vk_ops *ops = bench_ops();
    const int L = s->L, D = s->D, H = HEADS;
    const ptrdiff_t ld = 3 * (ptrdiff_t)H * D, o_ld = (ptrdiff_t)H * D;
    const float scale = 1.0f / sqrtf((float)D);
    float *qkv = bench_alloc((size_t)L * ld * 4);
    float *o = bench_alloc((size_t)L * o_ld * 4), *o2 = bench_alloc((size_t)L * o_ld * 4);
    float *S = bench_alloc((size_t)H * L * L * 4), *mask = bench_alloc((size_t)L * L * 4);
    dnnl_memory_t mq = NULL, mk = NULL, mv = NULL, ms = NULL, mo = NULL, mmask = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dn_prim mm1 = {0}, sm = {0}, mm2 = {0};
    char impl[160];
    bench_fill_f32(qkv, (size_t)L * ld, -2, 2, 31);
    for (int i = 0; i < L; i++)
        for (int j = 0; j < L; j++)
            mask[(size_t)i * L + j] = j <= i ? 0.0f : -INFINITY;

    attn_ctx ours = {.ops = ops, .pool = bench_pool(threads),
                     .a = {.B = 1, .H = H, .Lq = L, .Lk = L, .D = D, .q = qkv, .k = qkv + H * D,
                           .v = qkv + 2 * H * D, .q_ld = ld, .k_ld = ld, .v_ld = ld, .o = o,
                           .o_ld = o_ld, .scale = scale, .causal = s->causal}};
    ours.items = vk_attention_items(&ours.a);
    /* 2 ops per multiply-add, two products, over the (query, key) pairs that
     * are actually visible */
    double pairs = s->causal ? (double)L * (L + 1) / 2 : (double)L * L;
    bench_row row = {.op = "attention", .dtype = "f32", .threads = threads,
                     .baseline = g_opt.baseline, .peak_kind = 1, .ops = 4.0 * H * D * pairs,
                     .isa = vk_isa_name(ops->isa[VK_OP_attention_f32]),
                     .impl = ops->impl[VK_OP_attention_f32]};
    snprintf(row.shape, sizeof row.shape, "%dh L%d D%d%s", H, L, D, s->causal ? " causal" : "");
    snprintf(row.layer, sizeof row.layer, "%s", s->layer);

    dn_threads(threads);
    dnnl_dims_t dQ = {1, H, L, D}, sQ = {L * ld, D, ld, 1};
    dnnl_dims_t dK = {1, H, D, L}, sK = {L * ld, D, 1, ld}; /* Kᵀ, read in place */
    dnnl_dims_t dS = {1, H, L, L}, dM = {1, 1, L, L};
    dnnl_dims_t dO = {1, H, L, D}, sO = {L * o_ld, D, o_ld, 1};
    dnnl_memory_desc_t mdQ = dn_md_strided(4, dQ, dnnl_f32, sQ);
    dnnl_memory_desc_t mdK = dn_md_strided(4, dK, dnnl_f32, sK);
    dnnl_memory_desc_t mdV = dn_md_strided(4, dQ, dnnl_f32, sQ);
    dnnl_memory_desc_t mdS = dn_md(4, dS, dnnl_f32, dnnl_abcd);
    dnnl_memory_desc_t mdM = dn_md(4, dM, dnnl_f32, dnnl_abcd);
    dnnl_memory_desc_t mdO = dn_md_strided(4, dO, dnnl_f32, sO);
    dnnl_matmul_desc_t d1, d3;
    dnnl_softmax_desc_t d2;
    DN_TRY(dnnl_primitive_attr_create(&attr));
    DN_TRY(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale));
    if (s->causal) {
        DN_TRY(dnnl_post_ops_create(&po));
        DN_TRY(dnnl_post_ops_append_binary(po, dnnl_binary_add, &mdM));
        DN_TRY(dnnl_primitive_attr_set_post_ops(attr, po));
    }
    DN_TRY(dnnl_matmul_desc_init(&d1, &mdQ, &mdK, NULL, &mdS));
    DN_TRY(dnnl_softmax_forward_desc_init(&d2, dnnl_forward_inference, &mdS, 3));
    DN_TRY(dnnl_matmul_desc_init(&d3, &mdS, &mdV, NULL, &mdO));
    if (dn_prim_create(&mm1, &d1, attr) || dn_prim_create(&sm, &d2, NULL) ||
        dn_prim_create(&mm2, &d3, NULL))
        goto fail;
    snprintf(impl, sizeof impl, "%s + %s + %s", mm1.impl, sm.impl, mm2.impl);
    row.baseline_impl = impl;
    mq = dn_mem(&mdQ, qkv);
    mk = dn_mem(&mdK, qkv + H * D);
    mv = dn_mem(&mdV, qkv + 2 * H * D);
    ms = dn_mem(&mdS, S);
    mo = dn_mem(&mdO, o2);
    mmask = dn_mem(&mdM, mask);
    dn_attn theirs = {.mm1 = &mm1, .sm = &sm, .mm2 = &mm2, .q = mq, .k = mk, .v = mv, .s = ms,
                      .o = mo, .mask = mmask, .causal = s->causal};

    attn_run(&ours, 0);
    dn_attn_run(&theirs, 0);
    row.max_err = bench_cmp_f32(o, o2, (size_t)L * o_ld);
    row.check = theirs.failed ? "baseline-failed" : bench_verdict(row.max_err, BENCH_TOL_F32);
    bench_time_row(threads, attn_run, &ours, dn_attn_run, &theirs, &row);
    bench_emit(&row);

fail:
    if (mq)
        dnnl_memory_destroy(mq);
    if (mk)
        dnnl_memory_destroy(mk);
    if (mv)
        dnnl_memory_destroy(mv);
    if (ms)
        dnnl_memory_destroy(ms);
    if (mo)
        dnnl_memory_destroy(mo);
    if (mmask)
        dnnl_memory_destroy(mmask);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    dn_prim_destroy(&mm1), dn_prim_destroy(&sm), dn_prim_destroy(&mm2);
    bench_free(qkv), bench_free(o), bench_free(o2), bench_free(S), bench_free(mask);
}

void bench_attention(void)
{
    const vk_ops *ops = bench_ops();
    int any = 0;
    for (size_t i = 0; i < sizeof attn_shapes / sizeof *attn_shapes; i++) {
        const attn_shape *s = &attn_shapes[i];
        char shape[64];
        snprintf(shape, sizeof shape, "%dh L%d D%d%s", HEADS, s->L, s->D,
                 s->causal ? " causal" : "");
        if ((g_opt.quick && !s->quick) || !bench_selected("attention", "f32", shape, s->layer))
            continue;
        if (!any++ && !bench_have((const void *)ops->attention_f32, VK_OP_attention_f32))
            return;
        for (int t = 0; t < g_opt.nthreads; t++)
            attn_row(s, g_opt.threads[t]);
    }
}
