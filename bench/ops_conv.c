/* conv rows: ResNet-50 (3×3 direct and Winograd, 1×1, the 7×7 s2 stem; f32 and bf16),
 * MobileNetV2 (stem, pointwise, depthwise 3×3; f32 and int8; depthwise also
 * bf16) and the ViT-B/32, B/16 patch embeddings (f32 and bf16), NHWC, batch 1,
 * against oneDNN convolution (depthwise = grouped with groups = channels). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "onednn.h"

/* CONV_WINO: the f32 3×3 stride-1 rows again through conv_wino_f32
 * (Winograd F(4,3)); ops counts the direct conv's multiply-adds, so gops is
 * the effective rate and peak_fraction can exceed 1. */
enum { CONV_F32, DW_F32, CONV_Q8, DW_Q8, CONV_WINO, CONV_KINDS };
static const char *const kind_op[CONV_KINDS] = {"conv2d", "depthwise", "conv2d", "depthwise",
                                                "conv2d_winograd"};
static const int kind_vk_op[CONV_KINDS] = {VK_OP_conv2d_f32, VK_OP_dwconv_f32, VK_OP_conv2d_q8,
                                           VK_OP_dwconv_q8, VK_OP_conv_wino_f32};

typedef struct conv_shape {
    const char *layer;
    int HW, C, OC, K, stride;
    vk_act act; /* f32 only; int8 rows clamp to the full u8 range */
    int q8;     /* also an int8 row (MobileNetV2 layers) */
    int quick;
} conv_shape;

#define RELU VK_ACT_RELU
#define RELU6 VK_ACT_RELU6
#define NOACT VK_ACT_NONE
static const conv_shape conv_shapes[] = {
    {"resnet50.conv1", 224, 3, 64, 7, 2, RELU, 1, 0}, /* int8 too: vireo convert --dtype int8 */
    {"resnet50.s1.3x3", 56, 64, 64, 3, 1, RELU, 0, 0},
    {"resnet50.s2.3x3", 28, 128, 128, 3, 1, RELU, 0, 1},
    {"resnet50.s3.3x3", 14, 256, 256, 3, 1, RELU, 0, 0},
    {"resnet50.s4.3x3", 7, 512, 512, 3, 1, RELU, 0, 0},
    {"resnet50.s1.1x1up", 56, 64, 256, 1, 1, RELU, 0, 0},
    {"resnet50.s1.1x1down", 56, 256, 64, 1, 1, RELU, 0, 0},
    {"resnet50.s2.1x1up", 28, 128, 512, 1, 1, RELU, 0, 0},
    {"resnet50.s2.1x1down", 28, 512, 128, 1, 1, RELU, 0, 0},
    {"resnet50.s3.1x1up", 14, 256, 1024, 1, 1, RELU, 0, 0},
    {"resnet50.s3.1x1down", 14, 1024, 256, 1, 1, RELU, 0, 0},
    {"resnet50.s4.1x1up", 7, 512, 2048, 1, 1, RELU, 0, 0},
    {"resnet50.s4.1x1down", 7, 2048, 512, 1, 1, RELU, 0, 0},
    {"resnet50.s2.downsample", 56, 256, 512, 1, 2, NOACT, 0, 0},
    {"resnet50.s3.downsample", 28, 512, 1024, 1, 2, NOACT, 0, 0},
    {"resnet50.s4.downsample", 14, 1024, 2048, 1, 2, NOACT, 0, 0},
    {"mnv2.conv1", 224, 3, 32, 3, 2, RELU6, 1, 0},
    {"mnv2.b1.expand", 112, 16, 96, 1, 1, RELU6, 1, 0},
    {"mnv2.b2.project", 56, 144, 24, 1, 1, NOACT, 1, 0},
    {"mnv2.b4.expand", 28, 32, 192, 1, 1, RELU6, 1, 1},
    {"mnv2.b7.expand", 14, 64, 384, 1, 1, RELU6, 1, 0},
    {"mnv2.b11.project", 14, 576, 96, 1, 1, NOACT, 1, 0},
    {"mnv2.b14.expand", 7, 160, 960, 1, 1, RELU6, 1, 0},
    {"mnv2.b16.project", 7, 960, 320, 1, 1, NOACT, 1, 0},
    {"mnv2.conv_last", 7, 320, 1280, 1, 1, RELU6, 1, 0},
    /* stride == kernel: unpadded (conv_pad) */
    {"vit-b32.patch", 224, 3, 768, 32, 32, NOACT, 0, 0},
    {"vit-b16.patch", 224, 3, 768, 16, 16, NOACT, 0, 0},
};
/* depthwise: C == OC */
static const conv_shape dw_shapes[] = {
    {"mnv2.b0.dw", 112, 32, 32, 3, 1, RELU6, 1, 0},
    {"mnv2.b1.dw", 112, 96, 96, 3, 2, RELU6, 1, 0},
    {"mnv2.b2.dw", 56, 144, 144, 3, 1, RELU6, 1, 1},
    {"mnv2.b3.dw", 56, 144, 144, 3, 2, RELU6, 1, 0},
    {"mnv2.b4.dw", 28, 192, 192, 3, 1, RELU6, 1, 0},
    {"mnv2.b6.dw", 28, 192, 192, 3, 2, RELU6, 1, 0},
    {"mnv2.b7.dw", 14, 384, 384, 3, 1, RELU6, 1, 0},
    {"mnv2.b11.dw", 14, 576, 576, 3, 1, RELU6, 1, 0},
    {"mnv2.b13.dw", 14, 576, 576, 3, 2, RELU6, 1, 0},
    {"mnv2.b14.dw", 7, 960, 960, 3, 1, RELU6, 1, 0},
};

/* torch-style symmetric padding (K - 1) / 2, none for a patch embedding
 * (stride == kernel: every input pixel in one patch) */
static int conv_pad(const conv_shape *s) { return s->stride == s->K ? 0 : (s->K - 1) / 2; }

/* "HxWxC>OC kK sS": input NHWC (batch 1), output channels, kernel, stride */
static void conv_shape_str(const conv_shape *s, char *buf, size_t n)
{
    snprintf(buf, n, "%dx%dx%d>%d k%d s%d", s->HW, s->HW, s->C, s->OC, s->K, s->stride);
}

/* ------------------------------------------------------------------ ours */
typedef struct conv_ctx {
    const vk_ops *ops;
    vr_pool *pool;
    int kind, rows;
    vk_conv2d_f32_args cf;
    vk_dwconv_f32_args df;
    vk_conv2d_q8_args cq;
    vk_dwconv_q8_args dq;
    void *scratch[BENCH_MAX_THREADS];
    int nrot, cur;
    void **W, **out;
} conv_ctx;

static void conv_task(void *ctx, int tid, int nt)
{
    const conv_ctx *c = ctx;
    int r0, r1;
    vr_split(c->rows, 1, tid, nt, &r0, &r1);
    if (r0 >= r1)
        return;
    void *W = c->W[c->cur], *out = c->out[c->cur];
    switch (c->kind) {
    case CONV_WINO: {
        vk_conv_wino_f32_args a = c->cf;
        a.Wp = W, a.out = out, a.scratch = c->scratch[tid];
        c->ops->conv_wino_f32(&a, r0, r1);
        break;
    }
    case CONV_F32: {
        vk_conv2d_f32_args a = c->cf;
        a.Wp = W, a.out = out, a.scratch = c->scratch[tid];
        c->ops->conv2d_f32(&a, r0, r1);
        break;
    }
    case DW_F32: {
        vk_dwconv_f32_args a = c->df;
        a.Wp = W, a.out = out;
        c->ops->dwconv_f32(&a, r0, r1);
        break;
    }
    case CONV_Q8: {
        vk_conv2d_q8_args a = c->cq;
        a.Wp = W, a.out = out, a.scratch = c->scratch[tid];
        c->ops->conv2d_q8(&a, r0, r1);
        break;
    }
    default: {
        vk_dwconv_q8_args a = c->dq;
        a.Wp = W, a.out = out;
        c->ops->dwconv_q8(&a, r0, r1);
        break;
    }
    }
}

static void conv_run(void *ctx, int iter)
{
    conv_ctx *c = ctx;
    c->cur = iter % c->nrot;
    vr_pool_run(c->pool, conv_task, c);
}

/* ------------------------------------------------------------------ one row */
static void conv_row(const conv_shape *s, int kind, int threads)
{
    const vk_ops *ops = bench_ops();
    const int q8 = kind == CONV_Q8 || kind == DW_Q8, dw = kind == DW_F32 || kind == DW_Q8;
    const int H = s->HW, W_ = s->HW, C = s->C, OC = s->OC, K = s->K, st = s->stride;
    const int pad = conv_pad(s);
    const int OH = (H + 2 * pad - K) / st + 1, OW = OH;
    const int pad_r = (OH - 1) * st + K - H - pad; /* torch-style: may be < pad */
    const size_t esz = q8 ? 1 : 4;
    const size_t in_n = (size_t)H * W_ * C, out_n = (size_t)OH * OW * OC;
    const size_t w_n = dw ? (size_t)K * K * C : (size_t)OC * K * K * C;
    const int kdot = dw ? K * K : K * K * C; /* products per output */
    const int32_t a_zero = 128, out_zero = 128;

    vk_conv_geom g = {.N = 1, .H = H, .W = W_, .C = C, .OH = OH, .OW = OW, .OC = OC, .KH = K,
                      .KW = K, .stride_h = st, .stride_w = st, .pad_t = pad, .pad_l = pad,
                      .dil_h = 1, .dil_w = 1, .in_ld = C, .out_ld = OC};
    const int wino = kind == CONV_WINO;
    size_t wp_bytes = dw     ? vk_pack_dw_size(K, K, C) * esz
                      : q8   ? vk_pack_conv_s8_size(OC, K, K, C)
                      : wino ? vk_pack_wino_f32_size(OC, C) * 4
                             : vk_pack_conv_f32_size(OC, K, K, C) * 4;
    int nrot = bench_rotations(wp_bytes + out_n * esz);

    void *in = bench_alloc(in_n * esz), *w = bench_alloc(w_n * esz);
    void *bias = bench_alloc((size_t)OC * 4);
    int32_t *colsum = bench_alloc(vk_round_up((size_t)OC, 16) * 4);
    float *scales = bench_alloc((size_t)OC * 4);
    int32_t *mult = bench_alloc((size_t)OC * 4);
    int8_t *shift = bench_alloc((size_t)OC);
    void **Wp = calloc((size_t)nrot, sizeof *Wp), **out = calloc((size_t)nrot, sizeof *out);
    void **dW = calloc((size_t)nrot, sizeof *dW), **dOut = calloc((size_t)nrot, sizeof *dOut);
    dnnl_memory_t *mW = calloc((size_t)nrot, sizeof *mW), *mOut = calloc((size_t)nrot, sizeof *mOut);
    dnnl_memory_t mIn = NULL, mBias = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dn_prim prim = {0};
    conv_ctx ours = {.ops = ops, .pool = bench_pool(threads), .kind = kind,
                     .rows = wino ? (OH + VK_WINO_TILE - 1) / VK_WINO_TILE : OH,
                     .nrot = nrot, .W = Wp, .out = out};
    bench_row row = {.op = kind_op[kind], .dtype = q8 ? "int8" : "f32", .threads = threads,
                     .baseline = g_opt.baseline, .peak_kind = q8 ? 2 : 1,
                     .ops = 2.0 * (double)out_n * kdot, .isa = vk_isa_name(ops->isa[kind_vk_op[kind]]),
                     .impl = ops->impl[kind_vk_op[kind]]};
    conv_shape_str(s, row.shape, sizeof row.shape);
    snprintf(row.layer, sizeof row.layer, "%s", s->layer);

    if (q8) {
        bench_fill_u8(in, in_n, 21);
        bench_fill_s8(w, w_n, 22);
        bench_make_bias_s32(OC, kdot, 24, bias);
        bench_make_requant(OC, kdot, 23, scales, mult, shift);
    } else {
        bench_fill_f32(in, in_n, -1, 1, 21);
        bench_fill_f32(w, w_n, -1, 1, 22);
        bench_fill_f32(bias, (size_t)OC, -1, 1, 23);
    }
    for (int r = 0; r < nrot; r++) {
        Wp[r] = bench_alloc(wp_bytes);
        out[r] = bench_alloc(out_n * esz);
        if (r > 0)
            memcpy(Wp[r], Wp[0], wp_bytes);
        else if (kind == CONV_F32)
            vk_pack_conv_f32(OC, K, K, C, w, Wp[0]);
        else if (wino)
            vk_pack_wino_f32(OC, C, w, Wp[0]);
        else if (kind == DW_F32)
            vk_pack_dw_f32(K, K, C, w, Wp[0]);
        else if (kind == CONV_Q8)
            vk_pack_conv_s8(OC, K, K, C, w, Wp[0], colsum);
        else
            vk_pack_dw_s8(K, K, C, w, Wp[0]);
    }
    size_t scratch = kind == CONV_F32 ? vk_conv2d_f32_scratch(&g)
                     : wino           ? vk_conv_wino_f32_scratch(&g)
                     : kind == CONV_Q8 ? vk_conv2d_q8_scratch(&g) : 0;
    for (int t = 0; t < threads; t++)
        ours.scratch[t] = scratch ? bench_alloc(scratch) : NULL;
    vk_requant rq = {mult, shift, 1, out_zero, 0, 255};
    ours.cf = (vk_conv2d_f32_args){.g = g, .in = in, .bias = bias, .act = s->act};
    ours.df = (vk_dwconv_f32_args){.g = g, .in = in, .bias = bias, .act = s->act};
    ours.cq = (vk_conv2d_q8_args){.g = g, .in = in, .a_zero = a_zero, .w_colsum = colsum,
                                  .bias = bias, .rq = rq};
    ours.dq = (vk_dwconv_q8_args){.g = g, .in = in, .a_zero = a_zero, .bias = bias, .rq = rq};

    /* oneDNN: NHWC activations (the same buffers), weights format any */
    dn_threads(threads);
    dnnl_data_type_t dt = q8 ? dnnl_u8 : dnnl_f32;
    dnnl_dim_t dIn[4] = {1, C, H, W_}, dOutD[4] = {1, OC, OH, OW}, dBias[1] = {OC};
    dnnl_dim_t dWc[4] = {OC, C, K, K}, dWg[5] = {C, 1, 1, K, K};
    dnnl_dim_t sWg[5] = {1, 1, 1, (dnnl_dim_t)K * C, C}; /* our [KH][KW][C] */
    dnnl_memory_desc_t mdIn = dn_md(4, dIn, dt, dnnl_nhwc), mdOut = dn_md(4, dOutD, dt, dnnl_nhwc);
    dnnl_memory_desc_t mdBias = dn_md(1, dBias, q8 ? dnnl_s32 : dnnl_f32, dnnl_a);
    dnnl_memory_desc_t mdW = dw ? dn_md(5, dWg, q8 ? dnnl_s8 : dnnl_f32, dnnl_format_tag_any)
                                : dn_md(4, dWc, q8 ? dnnl_s8 : dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_t mdWu = dw ? dn_md_strided(5, dWg, q8 ? dnnl_s8 : dnnl_f32, sWg)
                                 : dn_md(4, dWc, q8 ? dnnl_s8 : dnnl_f32, dnnl_ohwi);
    dnnl_dims_t strides = {st, st}, pl = {pad, pad}, pr = {pad_r, pad_r};
    dnnl_convolution_desc_t cd;
    DN_TRY(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                              &mdIn, &mdW, &mdBias, &mdOut, strides, pl, pr));
    DN_TRY(dnnl_primitive_attr_create(&attr));
    if (q8) {
        DN_TRY(dnnl_primitive_attr_set_output_scales(attr, OC, 1 << 1, scales));
        DN_TRY(dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &a_zero));
        DN_TRY(dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_DST, 1, 0, &out_zero));
    } else if (s->act != VK_ACT_NONE) {
        DN_TRY(dnnl_post_ops_create(&po));
        if (s->act == VK_ACT_RELU)
            DN_TRY(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
        else
            DN_TRY(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, 0.0f, 6.0f));
        DN_TRY(dnnl_primitive_attr_set_post_ops(attr, po));
    }
    if (dn_prim_create(&prim, &cd, attr) != 0)
        goto fail;
    row.baseline_impl = prim.impl;
    const dnnl_memory_desc_t *mdWp = dn_prim_md(&prim, dnnl_query_weights_md, 0);
    size_t dw_bytes = dn_md_size(mdWp);
    for (int r = 0; r < nrot; r++) {
        dW[r] = bench_alloc(dw_bytes);
        dOut[r] = bench_alloc(out_n * esz);
        if (r == 0 && dn_reorder(&mdWu, w, mdWp, dW[0]) != 0)
            goto fail;
        if (r > 0)
            memcpy(dW[r], dW[0], dw_bytes);
        mW[r] = dn_mem(mdWp, dW[r]);
        mOut[r] = dn_mem(&mdOut, dOut[r]);
    }
    mIn = dn_mem(&mdIn, in);
    mBias = dn_mem(&mdBias, bias);
    dn_call theirs = {.p = &prim, .nargs = 4,
                      .args = {{DNNL_ARG_SRC, mIn}, {DNNL_ARG_WEIGHTS, mW[0]},
                               {DNNL_ARG_BIAS, mBias}, {DNNL_ARG_DST, mOut[0]}},
                      .nrot = nrot, .nrot_args = 2, .rot_slot = {1, 3}, .rot_mem = {mW, mOut}};

    ours.cur = 0;
    vr_pool_run(ours.pool, conv_task, &ours);
    dn_call_run(&theirs, 0);
    row.max_err = q8 ? bench_cmp_u8(out[0], dOut[0], out_n) : bench_cmp_f32(out[0], dOut[0], out_n);
    row.check = theirs.failed ? "baseline-failed"
                              : bench_verdict(row.max_err, q8 ? BENCH_TOL_Q8 : BENCH_TOL_F32);
    bench_time_row(threads, conv_run, &ours, dn_call_run, &theirs, &row);
    bench_emit(&row);

fail:
    for (int r = 0; r < nrot; r++) {
        if (mW[r])
            dnnl_memory_destroy(mW[r]);
        if (mOut[r])
            dnnl_memory_destroy(mOut[r]);
        bench_free(Wp[r]), bench_free(out[r]), bench_free(dW[r]), bench_free(dOut[r]);
    }
    for (int t = 0; t < threads; t++)
        bench_free(ours.scratch[t]);
    if (mIn)
        dnnl_memory_destroy(mIn);
    if (mBias)
        dnnl_memory_destroy(mBias);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    dn_prim_destroy(&prim);
    free(Wp), free(out), free(dW), free(dOut), free(mW), free(mOut);
    bench_free(in), bench_free(w), bench_free(bias), bench_free(colsum);
    bench_free(scales), bench_free(mult), bench_free(shift);
}

static const void *kind_fn(const vk_ops *o, int kind)
{
    switch (kind) {
    case CONV_F32: return (const void *)o->conv2d_f32;
    case CONV_WINO: return (const void *)o->conv_wino_f32;
    case DW_F32: return (const void *)o->dwconv_f32;
    case CONV_Q8: return (const void *)o->conv2d_q8;
    default: return (const void *)o->dwconv_q8;
    }
}

/* ------------------------------------------------------------- bf16 rows */
/* Ours: f32 NHWC input, bf16 packed weights, f32 output (conv2d_bf16 rounds
 * the input to bf16 inside the kernel, dwconv_bf16 does not). oneDNN has no
 * f32 × bf16 convolution: its input is handed over in bf16 (converted before
 * timing, which favours it), weights bf16, bias and output f32. The check
 * tolerance of the depthwise rows is looser (BF16_DW_TOL) because only
 * oneDNN rounds the input there: 9 terms × 2^-9 relative at worst. */
#define BF16_DW_TOL 2e-2
typedef struct convh_ctx {
    const vk_ops *ops;
    vr_pool *pool;
    int dw, rows;
    vk_conv2d_bf16_args c;
    vk_dwconv_bf16_args d;
    void *scratch[BENCH_MAX_THREADS];
    int nrot, cur;
    void **W, **out;
} convh_ctx;

static void convh_task(void *ctx, int tid, int nt)
{
    const convh_ctx *c = ctx;
    int r0, r1;
    vr_split(c->rows, 1, tid, nt, &r0, &r1);
    if (r0 >= r1)
        return;
    if (c->dw) {
        vk_dwconv_bf16_args a = c->d;
        a.Wp = c->W[c->cur], a.out = c->out[c->cur];
        c->ops->dwconv_bf16(&a, r0, r1);
    } else {
        vk_conv2d_bf16_args a = c->c;
        a.Wp = c->W[c->cur], a.out = c->out[c->cur], a.scratch = c->scratch[tid];
        c->ops->conv2d_bf16(&a, r0, r1);
    }
}

static void convh_run(void *ctx, int iter)
{
    convh_ctx *c = ctx;
    c->cur = iter % c->nrot;
    vr_pool_run(c->pool, convh_task, c);
}

static void conv_row_bf16(const conv_shape *s, int dw, int threads)
{
    const vk_ops *ops = bench_ops();
    const int H = s->HW, W_ = s->HW, C = s->C, OC = s->OC, K = s->K, st = s->stride;
    const int pad = conv_pad(s);
    const int OH = (H + 2 * pad - K) / st + 1, OW = OH;
    const int pad_r = (OH - 1) * st + K - H - pad;
    const size_t in_n = (size_t)H * W_ * C, out_n = (size_t)OH * OW * OC;
    const size_t w_n = dw ? (size_t)K * K * C : (size_t)OC * K * K * C;
    const int kdot = dw ? K * K : K * K * C;
    const int op = dw ? VK_OP_dwconv_bf16 : VK_OP_conv2d_bf16;
    vk_conv_geom g = {.N = 1, .H = H, .W = W_, .C = C, .OH = OH, .OW = OW, .OC = OC, .KH = K,
                      .KW = K, .stride_h = st, .stride_w = st, .pad_t = pad, .pad_l = pad,
                      .dil_h = 1, .dil_w = 1, .in_ld = C, .out_ld = OC};
    size_t wp_bytes = (dw ? vk_pack_dw_size(K, K, C) : vk_pack_conv_bf16_size(OC, K, K, C)) * 2;
    int nrot = bench_rotations(wp_bytes + out_n * 4);
    float *in = bench_alloc(in_n * 4), *w = bench_alloc(w_n * 4), *bias = bench_alloc((size_t)OC * 4);
    uint16_t *inh = bench_alloc(in_n * 2), *wh = bench_alloc(w_n * 2);
    void **Wp = calloc((size_t)nrot, sizeof *Wp), **out = calloc((size_t)nrot, sizeof *out);
    void **dW = calloc((size_t)nrot, sizeof *dW), **dOut = calloc((size_t)nrot, sizeof *dOut);
    dnnl_memory_t *mW = calloc((size_t)nrot, sizeof *mW), *mOut = calloc((size_t)nrot, sizeof *mOut);
    dnnl_memory_t mIn = NULL, mBias = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dn_prim prim = {0};
    convh_ctx ours = {.ops = ops, .pool = bench_pool(threads), .dw = dw, .rows = OH,
                      .nrot = nrot, .W = Wp, .out = out};
    bench_row row = {.op = dw ? "depthwise" : "conv2d", .dtype = "bf16", .threads = threads,
                     .baseline = g_opt.baseline, .peak_kind = dw ? 1 : 3,
                     .ops = 2.0 * (double)out_n * kdot, .isa = vk_isa_name(ops->isa[op]),
                     .impl = ops->impl[op]};
    conv_shape_str(s, row.shape, sizeof row.shape);
    snprintf(row.layer, sizeof row.layer, "%s", s->layer);
    bench_fill_f32(in, in_n, -1, 1, 21);
    bench_fill_f32(w, w_n, -1, 1, 22);
    bench_fill_f32(bias, (size_t)OC, -1, 1, 23);
    vk_f32_to_bf16_n(in, inh, in_n);
    vk_f32_to_bf16_n(w, wh, w_n);
    for (int r = 0; r < nrot; r++) {
        Wp[r] = bench_alloc(wp_bytes);
        out[r] = bench_alloc(out_n * 4);
        if (r > 0)
            memcpy(Wp[r], Wp[0], wp_bytes);
        else if (dw)
            vk_pack_dw_bf16(K, K, C, w, Wp[0]);
        else
            vk_pack_conv_bf16(OC, K, K, C, w, Wp[0]);
    }
    for (int t = 0; t < threads; t++)
        ours.scratch[t] = dw ? NULL : bench_alloc(vk_conv2d_bf16_scratch(&g));
    ours.c = (vk_conv2d_bf16_args){.g = g, .in = in, .bias = bias, .act = s->act};
    ours.d = (vk_dwconv_bf16_args){.g = g, .in = in, .bias = bias, .act = s->act};

    dn_threads(threads);
    dnnl_dim_t dIn[4] = {1, C, H, W_}, dOutD[4] = {1, OC, OH, OW}, dBias[1] = {OC};
    dnnl_dim_t dWc[4] = {OC, C, K, K}, dWg[5] = {C, 1, 1, K, K};
    dnnl_dim_t sWg[5] = {1, 1, 1, (dnnl_dim_t)K * C, C};
    dnnl_memory_desc_t mdIn = dn_md(4, dIn, dnnl_bf16, dnnl_nhwc);
    dnnl_memory_desc_t mdOut = dn_md(4, dOutD, dnnl_f32, dnnl_nhwc);
    dnnl_memory_desc_t mdBias = dn_md(1, dBias, dnnl_f32, dnnl_a);
    dnnl_memory_desc_t mdW = dw ? dn_md(5, dWg, dnnl_bf16, dnnl_format_tag_any)
                                : dn_md(4, dWc, dnnl_bf16, dnnl_format_tag_any);
    dnnl_memory_desc_t mdWu = dw ? dn_md_strided(5, dWg, dnnl_bf16, sWg)
                                 : dn_md(4, dWc, dnnl_bf16, dnnl_ohwi);
    dnnl_dims_t strides = {st, st}, pl = {pad, pad}, pr = {pad_r, pad_r};
    dnnl_convolution_desc_t cd;
    DN_TRY(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                              &mdIn, &mdW, &mdBias, &mdOut, strides, pl, pr));
    DN_TRY(dnnl_primitive_attr_create(&attr));
    if (s->act != VK_ACT_NONE) {
        DN_TRY(dnnl_post_ops_create(&po));
        if (s->act == VK_ACT_RELU)
            DN_TRY(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
        else
            DN_TRY(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, 0.0f, 6.0f));
        DN_TRY(dnnl_primitive_attr_set_post_ops(attr, po));
    }
    if (dn_prim_create(&prim, &cd, attr) != 0)
        goto fail;
    row.baseline_impl = prim.impl;
    const dnnl_memory_desc_t *mdWp = dn_prim_md(&prim, dnnl_query_weights_md, 0);
    size_t dw_bytes = dn_md_size(mdWp);
    for (int r = 0; r < nrot; r++) {
        dW[r] = bench_alloc(dw_bytes);
        dOut[r] = bench_alloc(out_n * 4);
        if (r == 0 && dn_reorder(&mdWu, wh, mdWp, dW[0]) != 0)
            goto fail;
        if (r > 0)
            memcpy(dW[r], dW[0], dw_bytes);
        mW[r] = dn_mem(mdWp, dW[r]);
        mOut[r] = dn_mem(&mdOut, dOut[r]);
    }
    mIn = dn_mem(&mdIn, inh);
    mBias = dn_mem(&mdBias, bias);
    dn_call theirs = {.p = &prim, .nargs = 4,
                      .args = {{DNNL_ARG_SRC, mIn}, {DNNL_ARG_WEIGHTS, mW[0]},
                               {DNNL_ARG_BIAS, mBias}, {DNNL_ARG_DST, mOut[0]}},
                      .nrot = nrot, .nrot_args = 2, .rot_slot = {1, 3}, .rot_mem = {mW, mOut}};
    ours.cur = 0;
    vr_pool_run(ours.pool, convh_task, &ours);
    dn_call_run(&theirs, 0);
    row.max_err = bench_cmp_f32(out[0], dOut[0], out_n);
    row.check = theirs.failed ? "baseline-failed"
                              : bench_verdict(row.max_err, dw ? BF16_DW_TOL : BENCH_TOL_F32);
    bench_time_row(threads, convh_run, &ours, dn_call_run, &theirs, &row);
    bench_emit(&row);
fail:
    for (int r = 0; r < nrot; r++) {
        if (mW[r])
            dnnl_memory_destroy(mW[r]);
        if (mOut[r])
            dnnl_memory_destroy(mOut[r]);
        bench_free(Wp[r]), bench_free(out[r]), bench_free(dW[r]), bench_free(dOut[r]);
    }
    for (int t = 0; t < threads; t++)
        bench_free(ours.scratch[t]);
    if (mIn)
        dnnl_memory_destroy(mIn);
    if (mBias)
        dnnl_memory_destroy(mBias);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    dn_prim_destroy(&prim);
    free(Wp), free(out), free(dW), free(dOut), free(mW), free(mOut);
    bench_free(in), bench_free(w), bench_free(bias), bench_free(inh), bench_free(wh);
}

/* ResNet-50 layers and the ViT patch embeddings for conv2d_bf16, the
 * MobileNetV2 depthwise ones for dwconv_bf16 (parent process only: the VNNI
 * child runs int8 rows). */
static void bench_conv_bf16(void)
{
    const vk_ops *ops = bench_ops();
    for (int dw = 0; dw < 2; dw++) {
        const conv_shape *tab = dw ? dw_shapes : conv_shapes;
        int n = dw ? (int)(sizeof dw_shapes / sizeof *dw_shapes)
                   : (int)(sizeof conv_shapes / sizeof *conv_shapes);
        const char *opn = dw ? "depthwise" : "conv2d";
        int any = 0;
        for (int i = 0; i < n; i++) {
            const conv_shape *s = &tab[i];
            char shape[64];
            conv_shape_str(s, shape, sizeof shape);
            if ((!dw && strncmp(s->layer, "resnet50.", 9) != 0 &&
                 strncmp(s->layer, "vit-", 4) != 0) ||
                (g_opt.quick && !s->quick) ||
                !bench_selected(opn, "bf16", shape, s->layer))
                continue;
            if (!any++ && !bench_have(dw ? (const void *)ops->dwconv_bf16
                                         : (const void *)ops->conv2d_bf16,
                                      dw ? VK_OP_dwconv_bf16 : VK_OP_conv2d_bf16))
                break;
            for (int t = 0; t < g_opt.nthreads; t++)
                conv_row_bf16(s, dw, g_opt.threads[t]);
        }
    }
}

void bench_conv(void)
{
    const vk_ops *ops = bench_ops();
    for (int kind = 0; kind < CONV_KINDS; kind++) {
        const int q8 = kind == CONV_Q8 || kind == DW_Q8, dw = kind == DW_F32 || kind == DW_Q8;
        if (g_opt.int8_only && !q8)
            continue;
        const conv_shape *tab = dw ? dw_shapes : conv_shapes;
        int n = dw ? (int)(sizeof dw_shapes / sizeof *dw_shapes)
                   : (int)(sizeof conv_shapes / sizeof *conv_shapes);
        int any = 0;
        for (int i = 0; i < n; i++) {
            const conv_shape *s = &tab[i];
            char shape[64];
            conv_shape_str(s, shape, sizeof shape);
            if ((q8 && !s->q8) || (g_opt.quick && !s->quick) ||
                (kind == CONV_WINO && (s->K != 3 || s->stride != 1)) ||
                !bench_selected(kind_op[kind], q8 ? "int8" : "f32", shape, s->layer))
                continue;
            if (!any++ && !bench_have(kind_fn(ops, kind), kind_vk_op[kind]))
                break;
            for (int t = 0; t < g_opt.nthreads; t++)
                conv_row(s, kind, g_opt.threads[t]);
        }
    }
    if (!g_opt.int8_only)
        bench_conv_bf16();
}
