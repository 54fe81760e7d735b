/* matmul rows: ViT-B/32 and ViT-B/16 linear layers, f32, int8
 * (u8 × s8 → u8 requantized) and bf16 weights, against oneDNN matmul. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "onednn.h"

typedef struct mm_shape {
    const char *layer;
    int M, K, N;
} mm_shape;

static mm_shape g_shapes[16];
static int g_nshapes;

static void build_shapes(void)
{
    static const struct { const char *model; int tokens; } vit[] = {{"vit-b32", 50},
                                                                    {"vit-b16", 197}};
    static const struct { const char *name; int K, N; } lin[] = {
        {"proj", 768, 768}, {"qkv", 768, 2304}, {"fc1", 768, 3072}, {"fc2", 3072, 768}};
    static char names[16][32];
    g_nshapes = 0;
    for (int v = 0; v < 2; v++)
        for (int b = 1; b <= 8; b += 7)
            for (int l = 0; l < 4; l++) {
                mm_shape *s = &g_shapes[g_nshapes];
                snprintf(names[g_nshapes], sizeof names[0], "%s.b%d.%s", vit[v].model, b,
                         lin[l].name);
                s->layer = names[g_nshapes];
                s->M = vit[v].tokens * b;
                s->K = lin[l].K;
                s->N = lin[l].N;
                g_nshapes++;
            }
}

static int quick_shape(const mm_shape *s)
{
    return !strcmp(s->layer, "vit-b16.b1.qkv") || !strcmp(s->layer, "vit-b32.b1.fc1");
}

/* ------------------------------------------------------------------ ours */
typedef struct mm_ctx {
    const vk_ops *ops;
    vr_pool *pool;
    int q8;
    vk_matmul_f32_args f;
    vk_matmul_q8_args q;
    int bf16; /* q8 == 0: bf16 weights (h) instead of f32 (f) */
    vk_matmul_bf16_args h;
    int nrot, cur;
    void **Bp, **C;
} mm_ctx;

static void mm_task(void *ctx, int tid, int nt)
{
    const mm_ctx *c = ctx;
    int M = c->bf16 ? c->h.M : c->q8 ? c->q.M : c->f.M;
    int N = c->bf16 ? c->h.N : c->q8 ? c->q.N : c->f.N;
    int m0 = 0, m1 = M, n0 = 0, n1 = N;
    /* Few rows: split columns (in whole panels) so each thread streams its
     * own part of B; else rows, so each streams all of B once from L2/L3. */
    if (M / nt >= 64)
        vr_split(M, 1, tid, nt, &m0, &m1);
    else
        vr_split(N, VK_F32_NR, tid, nt, &n0, &n1);
    if (m0 >= m1 || n0 >= n1)
        return;
    if (c->bf16) {
        vk_matmul_bf16_args a = c->h;
        a.Bp = c->Bp[c->cur];
        a.C = c->C[c->cur];
        c->ops->matmul_bf16(&a, m0, m1, n0, n1);
    } else if (c->q8) {
        vk_matmul_q8_args a = c->q;
        a.Bp = c->Bp[c->cur];
        a.C = c->C[c->cur];
        c->ops->matmul_q8(&a, m0, m1, n0, n1);
    } else {
        vk_matmul_f32_args a = c->f;
        a.Bp = c->Bp[c->cur];
        a.C = c->C[c->cur];
        c->ops->matmul_f32(&a, m0, m1, n0, n1);
    }
}

static void mm_run(void *ctx, int iter)
{
    mm_ctx *c = ctx;
    c->cur = iter % c->nrot;
    vr_pool_run(c->pool, mm_task, c);
}

/* ------------------------------------------------------------------ one row */
static void mm_row(const mm_shape *s, int q8, int threads)
{
    const vk_ops *ops = bench_ops();
    int M = s->M, K = s->K, N = s->N;
    size_t esz = q8 ? 1 : 4;
    size_t bp_bytes = q8 ? vk_pack_s8_b_size(K, N) : vk_pack_f32_b_size(K, N) * 4;
    size_t c_bytes = (size_t)M * N * esz;
    int nrot = bench_rotations(bp_bytes + c_bytes);

    void *A = bench_alloc((size_t)M * K * esz), *B = bench_alloc((size_t)K * N * esz);
    void *bias = bench_alloc((size_t)N * 4);
    int32_t *colsum = bench_alloc(vk_round_up((size_t)N, VK_Q8_NR) * 4);
    float *scales = bench_alloc((size_t)N * 4);
    int32_t *mult = bench_alloc((size_t)N * 4);
    int8_t *shift = bench_alloc((size_t)N);
    void **Bp = calloc((size_t)nrot, sizeof *Bp), **C = calloc((size_t)nrot, sizeof *C);
    void **dW = calloc((size_t)nrot, sizeof *dW), **dC = calloc((size_t)nrot, sizeof *dC);
    dnnl_memory_t *mW = calloc((size_t)nrot, sizeof *mW), *mC = calloc((size_t)nrot, sizeof *mC);
    dnnl_memory_t mA = NULL, mBias = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dn_prim prim = {0};
    bench_row row = {.op = "matmul", .dtype = q8 ? "int8" : "f32", .threads = threads,
                     .baseline = g_opt.baseline, .peak_kind = q8 ? 2 : 1,
                     .ops = 2.0 * M * N * K, .isa = vk_isa_name(ops->isa[q8 ? VK_OP_matmul_q8 : VK_OP_matmul_f32]),
                     .impl = ops->impl[q8 ? VK_OP_matmul_q8 : VK_OP_matmul_f32]};
    snprintf(row.shape, sizeof row.shape, "%dx%dx%d", M, K, N);
    snprintf(row.layer, sizeof row.layer, "%s", s->layer);
    const int32_t a_zero = 128, out_zero = 128;

    if (q8) {
        bench_fill_u8(A, (size_t)M * K, 11);
        bench_fill_s8(B, (size_t)K * N, 12);
        bench_make_bias_s32(N, K, 14, bias);
        bench_make_requant(N, K, 13, scales, mult, shift);
    } else {
        bench_fill_f32(A, (size_t)M * K, -1, 1, 11);
        bench_fill_f32(B, (size_t)K * N, -1, 1, 12);
        bench_fill_f32(bias, (size_t)N, -1, 1, 13);
    }

    /* ours: pack once, copy to every rotation slot */
    for (int r = 0; r < nrot; r++) {
        Bp[r] = bench_alloc(bp_bytes);
        C[r] = bench_alloc(c_bytes);
        if (r == 0 && q8)
            vk_pack_s8_b(K, N, B, N, Bp[0], colsum);
        else if (r == 0)
            vk_pack_f32_b(K, N, B, N, Bp[0]);
        else
            memcpy(Bp[r], Bp[0], bp_bytes);
    }
    mm_ctx ours = {.ops = ops, .pool = bench_pool(threads), .q8 = q8, .nrot = nrot, .Bp = Bp,
                   .C = C};
    if (q8) {
        ours.q = (vk_matmul_q8_args){.M = M, .N = N, .K = K, .A = A, .lda = K, .a_signed = 0,
                                     .a_zero = a_zero, .b_colsum = colsum, .b_offset = 0,
                                     .bias = bias, .out = VK_Q8_OUT_U8, .ldc = N,
                                     .rq = {mult, shift, 1, out_zero, 0, 255}};
    } else {
        ours.f = (vk_matmul_f32_args){.M = M, .N = N, .K = K, .A = A, .lda = K, .bias = bias,
                                      .ldc = N, .act = VK_ACT_NONE};
    }

    /* oneDNN: weights in the layout it picks (format any), reordered once */
    dn_threads(threads);
    dnnl_data_type_t dt_a = q8 ? dnnl_u8 : dnnl_f32, dt_b = q8 ? dnnl_s8 : dnnl_f32;
    dnnl_data_type_t dt_bias = q8 ? dnnl_s32 : dnnl_f32;
    dnnl_dim_t dA[2] = {M, K}, dB[2] = {K, N}, dBias[2] = {1, N}, dC_[2] = {M, N};
    dnnl_memory_desc_t mdA = dn_md(2, dA, dt_a, dnnl_ab), mdB = dn_md(2, dB, dt_b, dnnl_format_tag_any);
    dnnl_memory_desc_t mdBu = dn_md(2, dB, dt_b, dnnl_ab), mdBias = dn_md(2, dBias, dt_bias, dnnl_ab);
    dnnl_memory_desc_t mdC = dn_md(2, dC_, dt_a, dnnl_ab);
    dnnl_matmul_desc_t md;
    DN_TRY(dnnl_matmul_desc_init(&md, &mdA, &mdB, &mdBias, &mdC));
    DN_TRY(dnnl_primitive_attr_create(&attr));
    if (q8) {
        DN_TRY(dnnl_primitive_attr_set_output_scales(attr, N, 1 << 1, scales));
        DN_TRY(dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &a_zero));
        DN_TRY(dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_DST, 1, 0, &out_zero));
    }
    if (dn_prim_create(&prim, &md, attr) != 0)
        goto fail;
    row.baseline_impl = prim.impl;
    const dnnl_memory_desc_t *mdW = dn_prim_md(&prim, dnnl_query_weights_md, 0);
    size_t w_bytes = dn_md_size(mdW);
    for (int r = 0; r < nrot; r++) {
        dW[r] = bench_alloc(w_bytes);
        dC[r] = bench_alloc(c_bytes);
        if (r == 0 && dn_reorder(&mdBu, B, mdW, dW[0]) != 0)
            goto fail;
        if (r > 0)
            memcpy(dW[r], dW[0], w_bytes);
        mW[r] = dn_mem(mdW, dW[r]);
        mC[r] = dn_mem(&mdC, dC[r]);
    }
    mA = dn_mem(&mdA, A);
    mBias = dn_mem(&mdBias, bias);
    dn_call theirs = {.p = &prim, .nargs = 4,
                      .args = {{DNNL_ARG_SRC, mA}, {DNNL_ARG_WEIGHTS, mW[0]},
                               {DNNL_ARG_BIAS, mBias}, {DNNL_ARG_DST, mC[0]}},
                      .nrot = nrot, .nrot_args = 2, .rot_slot = {1, 3}, .rot_mem = {mW, mC}};

    /* check once on slot 0, then time */
    ours.cur = 0;
    vr_pool_run(ours.pool, mm_task, &ours);
    dn_call_run(&theirs, 0);
    row.max_err = q8 ? bench_cmp_u8(C[0], dC[0], (size_t)M * N)
                     : bench_cmp_f32(C[0], dC[0], (size_t)M * N);
    row.check = theirs.failed ? "baseline-failed"
                              : bench_verdict(row.max_err, q8 ? BENCH_TOL_Q8 : BENCH_TOL_F32);
    bench_time_row(threads, mm_run, &ours, dn_call_run, &theirs, &row);
    bench_emit(&row);

fail:
    for (int r = 0; r < nrot; r++) {
        if (mW[r])
            dnnl_memory_destroy(mW[r]);
        if (mC[r])
            dnnl_memory_destroy(mC[r]);
        bench_free(Bp[r]);
        bench_free(C[r]);
        bench_free(dW[r]);
        bench_free(dC[r]);
    }
    if (mA)
        dnnl_memory_destroy(mA);
    if (mBias)
        dnnl_memory_destroy(mBias);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    dn_prim_destroy(&prim);
    free(Bp), free(C), free(dW), free(dC), free(mW), free(mC);
    bench_free(A), bench_free(B), bench_free(bias), bench_free(colsum);
    bench_free(scales), bench_free(mult), bench_free(shift);
}

/* ------------------------------------------------------------- bf16 row */
/* Ours: f32 A (rounded to bf16 inside the kernel), bf16 packed B, f32 C.
 * oneDNN has no f32 × bf16 matmul: its A is handed over already in bf16
 * (converted before timing, which favours it), B bf16 in the layout it
 * picks, f32 bias and C. Both round A the same way (RNE), so results differ
 * by summation order only. */
static void mm_row_bf16(const mm_shape *s, int threads)
{
    const vk_ops *ops = bench_ops();
    int M = s->M, K = s->K, N = s->N;
    size_t bp_bytes = vk_pack_bf16_b_size(K, N) * 2, c_bytes = (size_t)M * N * 4;
    int nrot = bench_rotations(bp_bytes + c_bytes);
    float *A = bench_alloc((size_t)M * K * 4), *B = bench_alloc((size_t)K * N * 4);
    float *bias = bench_alloc((size_t)N * 4);
    uint16_t *Ah = bench_alloc((size_t)M * K * 2), *Bh = bench_alloc((size_t)K * N * 2);
    void **Bp = calloc((size_t)nrot, sizeof *Bp), **C = calloc((size_t)nrot, sizeof *C);
    void **dW = calloc((size_t)nrot, sizeof *dW), **dC = calloc((size_t)nrot, sizeof *dC);
    dnnl_memory_t *mW = calloc((size_t)nrot, sizeof *mW), *mC = calloc((size_t)nrot, sizeof *mC);
    dnnl_memory_t mA = NULL, mBias = NULL;
    dn_prim prim = {0};
    bench_row row = {.op = "matmul", .dtype = "bf16", .threads = threads,
                     .baseline = g_opt.baseline, .peak_kind = 3, .ops = 2.0 * M * N * K,
                     .isa = vk_isa_name(ops->isa[VK_OP_matmul_bf16]),
                     .impl = ops->impl[VK_OP_matmul_bf16]};
    snprintf(row.shape, sizeof row.shape, "%dx%dx%d", M, K, N);
    snprintf(row.layer, sizeof row.layer, "%s", s->layer);
    bench_fill_f32(A, (size_t)M * K, -1, 1, 11);
    bench_fill_f32(B, (size_t)K * N, -1, 1, 12);
    bench_fill_f32(bias, (size_t)N, -1, 1, 13);
    vk_f32_to_bf16_n(A, Ah, (size_t)M * K);
    vk_f32_to_bf16_n(B, Bh, (size_t)K * N);
    for (int r = 0; r < nrot; r++) {
        Bp[r] = bench_alloc(bp_bytes);
        C[r] = bench_alloc(c_bytes);
        if (r == 0)
            vk_pack_bf16_b(K, N, B, N, Bp[0]);
        else
            memcpy(Bp[r], Bp[0], bp_bytes);
    }
    mm_ctx ours = {.ops = ops, .pool = bench_pool(threads), .bf16 = 1, .nrot = nrot, .Bp = Bp,
                   .C = C};
    ours.h = (vk_matmul_bf16_args){.M = M, .N = N, .K = K, .A = A, .lda = K, .bias = bias,
                                   .ldc = N, .act = VK_ACT_NONE};

    dn_threads(threads);
    dnnl_dim_t dA[2] = {M, K}, dB[2] = {K, N}, dBias[2] = {1, N}, dC_[2] = {M, N};
    dnnl_memory_desc_t mdA = dn_md(2, dA, dnnl_bf16, dnnl_ab);
    dnnl_memory_desc_t mdB = dn_md(2, dB, dnnl_bf16, dnnl_format_tag_any);
    dnnl_memory_desc_t mdBu = dn_md(2, dB, dnnl_bf16, dnnl_ab);
    dnnl_memory_desc_t mdBias = dn_md(2, dBias, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_t mdC = dn_md(2, dC_, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t md;
    DN_TRY(dnnl_matmul_desc_init(&md, &mdA, &mdB, &mdBias, &mdC));
    if (dn_prim_create(&prim, &md, NULL) != 0)
        goto fail;
    row.baseline_impl = prim.impl;
    const dnnl_memory_desc_t *mdW = dn_prim_md(&prim, dnnl_query_weights_md, 0);
    size_t w_bytes = dn_md_size(mdW);
    for (int r = 0; r < nrot; r++) {
        dW[r] = bench_alloc(w_bytes);
        dC[r] = bench_alloc(c_bytes);
        if (r == 0 && dn_reorder(&mdBu, Bh, mdW, dW[0]) != 0)
            goto fail;
        if (r > 0)
            memcpy(dW[r], dW[0], w_bytes);
        mW[r] = dn_mem(mdW, dW[r]);
        mC[r] = dn_mem(&mdC, dC[r]);
    }
    mA = dn_mem(&mdA, Ah);
    mBias = dn_mem(&mdBias, bias);
    dn_call theirs = {.p = &prim, .nargs = 4,
                      .args = {{DNNL_ARG_SRC, mA}, {DNNL_ARG_WEIGHTS, mW[0]},
                               {DNNL_ARG_BIAS, mBias}, {DNNL_ARG_DST, mC[0]}},
                      .nrot = nrot, .nrot_args = 2, .rot_slot = {1, 3}, .rot_mem = {mW, mC}};
    ours.cur = 0;
    vr_pool_run(ours.pool, mm_task, &ours);
    dn_call_run(&theirs, 0);
    row.max_err = bench_cmp_f32(C[0], dC[0], (size_t)M * N);
    row.check = theirs.failed ? "baseline-failed" : bench_verdict(row.max_err, BENCH_TOL_F32);
    bench_time_row(threads, mm_run, &ours, dn_call_run, &theirs, &row);
    bench_emit(&row);
fail:
    for (int r = 0; r < nrot; r++) {
        if (mW[r])
            dnnl_memory_destroy(mW[r]);
        if (mC[r])
            dnnl_memory_destroy(mC[r]);
        bench_free(Bp[r]), bench_free(C[r]), bench_free(dW[r]), bench_free(dC[r]);
    }
    if (mA)
        dnnl_memory_destroy(mA);
    if (mBias)
        dnnl_memory_destroy(mBias);
    dn_prim_destroy(&prim);
    free(Bp), free(C), free(dW), free(dC), free(mW), free(mC);
    bench_free(A), bench_free(B), bench_free(bias), bench_free(Ah), bench_free(Bh);
}

void bench_matmul(void)
{
    const vk_ops *ops = bench_ops();
    build_shapes();
    for (int q8 = 0; q8 < 2; q8++) {
        if (g_opt.int8_only && !q8)
            continue;
        int any = 0;
        for (int i = 0; i < g_nshapes; i++) {
            const mm_shape *s = &g_shapes[i];
            char shape[64];
            snprintf(shape, sizeof shape, "%dx%dx%d", s->M, s->K, s->N);
            if ((g_opt.quick && !quick_shape(s)) || !bench_selected("matmul", q8 ? "int8" : "f32", shape, s->layer))
                continue;
            if (!any++ && !(q8 ? bench_have((const void *)ops->matmul_q8, VK_OP_matmul_q8)
                               : bench_have((const void *)ops->matmul_f32, VK_OP_matmul_f32)))
                break;
            for (int t = 0; t < g_opt.nthreads; t++)
                mm_row(s, q8, g_opt.threads[t]);
        }
    }
    /* bf16 weights (parent process only: the VNNI child runs int8 rows) */
    if (g_opt.int8_only)
        return;
    int any = 0;
    for (int i = 0; i < g_nshapes; i++) {
        const mm_shape *s = &g_shapes[i];
        char shape[64];
        snprintf(shape, sizeof shape, "%dx%dx%d", s->M, s->K, s->N);
        if ((g_opt.quick && !quick_shape(s)) || !bench_selected("matmul", "bf16", shape, s->layer))
            continue;
        if (!any++ && !bench_have((const void *)ops->matmul_bf16, VK_OP_matmul_bf16))
            break;
        for (int t = 0; t < g_opt.nthreads; t++)
            mm_row_bf16(s, g_opt.threads[t]);
    }
}
