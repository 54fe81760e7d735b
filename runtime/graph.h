/* Model graphs: values (activations), nodes (ops over kernels), a plan per
 * batch size (one arena, offsets fixed before the first inference), and
 * execution on a thread pool.
 *
 * Values are 4-D NHWC with a batch dimension that the plan fixes; 2-D [N, C]
 * tensors are N×1×1×C, so flatten/reshape between them is free (NHWC rows are
 * contiguous). Weights are pointers into the mapped weight file, already in
 * the kernels' packed layouts: the graph never copies or repacks them.
 */
#ifndef VIREO_RUNTIME_GRAPH_H
#define VIREO_RUNTIME_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "runtime/threadpool.h"

typedef enum vr_dtype { VR_F32 = 0, VR_U8, VR_S8, VR_S32 } vr_dtype;

typedef struct vr_value {
    vr_dtype dtype;
    int h, w, c;       /* per image; the batch comes from the plan */
    float scale;       /* quantized values: real = scale · (q − zero) */
    int32_t zero;
} vr_value;

typedef enum vr_op {
    VR_OP_CONV = 0,  /* conv2d, f32 or quantized (any K×K, 1×1, first layer) */
    VR_OP_DWCONV,    /* depthwise, multiplier 1 */
    VR_OP_FC,        /* fully connected over the flattened per-image value */
    VR_OP_ADD,       /* elementwise, same shapes */
    VR_OP_AVGPOOL,   /* TFLite semantics (divisor = in-image taps) */
    VR_OP_GAP,       /* global average pool → 1×1×C */
    VR_OP_CONCAT,    /* channel concat */
    VR_OP_SOFTMAX,   /* over channels */
    VR_OP_RESHAPE,   /* same bytes, new shape */
    VR_OP_L2NORM,    /* over the flattened per-image value */
    VR_OP_MAXPOOL,   /* over in-image taps */
    VR_OP_QUANTIZE,  /* requantize between uint8 / int8 (scales and zero points) */
    /* Transformers: a token sequence is a value of h·w tokens (usually h = 1,
     * w = L) with c features each. */
    VR_OP_LINEAR,    /* per token: out = act(in·W + bias [+ in[1]]), f32 */
    VR_OP_LAYERNORM, /* per token over c: (x − mean)/√(var + eps)·gamma + beta, f32 */
    VR_OP_ATTENTION, /* in: tokens of [q | k | v] (3·D), out: D; `heads` heads, causal */
    VR_OP_POS_EMBED, /* out = [class token] ++ in tokens, + position embedding */
    VR_OP_TOKEN,     /* one token of the input → 1×1×c: `index`, or with a second
                      * (s32) input the token where that input is largest (CLIP's
                      * end-of-text pooling: the first of equal maxima) */
    VR_OP_EMBED,     /* s32 ids [h, w, 1] → rows of the table [vocab, c]; an id
                      * outside the table gives a zero row */
    VR_OP_COUNT
} vr_op;

#define VR_MAX_IN 8

typedef struct vr_node {
    vr_op op;
    int nin;
    int in[VR_MAX_IN];
    int out;
    vk_act act;
    /* CONV / DWCONV / AVGPOOL geometry; output size comes from the out value */
    int kh, kw, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
    /* weights, packed (kernels/pack.h) — CONV: vk_pack_conv_*; DWCONV:
     * vk_pack_dw_*; FC: vk_pack_f32_b / vk_pack_s8_b with K = h·w·c of the input */
    const void *weights;
    const void *bias;          /* f32 or s32 [OC] */
    const int32_t *w_colsum;   /* quantized CONV / FC */
    int32_t w_offset;          /* quantized: effective weight = w + w_offset */
    float w_scale;             /* quantized, per-tensor */
    const float *w_scales;     /* quantized, per-channel (NULL: per-tensor) */
    float beta;                /* SOFTMAX: softmax(beta·x); 0 means 1 */
    /* LINEAR: weights vk_pack_f32_b with K = in c, N = out c; an optional
     * second input is a residual of the output's shape, added before act.
     * LAYERNORM: weights = gamma, bias = beta (f32 [c], either may be NULL).
     * POS_EMBED: weights = position embedding f32 [out h·w][c]; bias = the
     * class token f32 [c] (then out has one token more than in) or NULL.
     * EMBED: weights = the table f32 [vocab][c]. */
    float eps;                 /* LAYERNORM */
    int heads;                 /* ATTENTION: head count; D = out c, head dim D / heads */
    int causal;                /* ATTENTION: token i sees tokens 0..i only */
    int index;                 /* TOKEN */
    int vocab;                 /* EMBED: rows of the table */
    /* How the weights of a node with f32 activations are stored
     * (docs/QUANTIZATION.md). The loader sets it from the weight tensor's
     * dtype (and, for Winograd, its layout); the GRAPH encoding does not
     * carry it.
     *   VR_W_F32: f32 (vk_pack_f32_b / _conv_f32 / _dw_f32).
     *   VR_W_S8: LINEAR only, dynamic int8: weights vk_pack_s8_b (symmetric,
     *     per output channel), w_colsum, w_scales [out c], bias f32; each
     *     input row is quantized at run time (quant_rows) and multiplied by
     *     matmul_q8 with the f32 epilogue (bias, residual, act).
     *   VR_W_BF16: CONV / DWCONV / FC / LINEAR with bf16 weights
     *     (vk_pack_conv_bf16 / _dw_bf16 / _bf16_b), f32 bias; conv2d_bf16,
     *     dwconv_bf16, matmul_bf16.
     *   VR_W_WINO: CONV only, 3×3, stride 1, dilation 1: f32 weights
     *     transformed for Winograd F(4×4, 3×3) (vk_pack_wino_f32, layout
     *     VW_CONV_WINO_F32), f32 bias; conv_wino_f32 over tile rows
     *     (runtime/convert_wino.c writes them). */
    enum { VR_W_F32 = 0, VR_W_S8, VR_W_BF16, VR_W_WINO } wtype;
} vr_node;

typedef struct vr_graph vr_graph;

vr_graph *vr_graph_new(void);
void vr_graph_free(vr_graph *g); /* accepts NULL */
/* Returns the new value's id, or -1. */
int vr_graph_add_value(vr_graph *g, const vr_value *v);
/* Nodes must be added in an order where every input is produced earlier (or
 * is a graph input). Returns the node index, or -1 (see vr_graph_error). */
int vr_graph_add_node(vr_graph *g, const vr_node *n);
int vr_graph_set_io(vr_graph *g, int input, int output);
const char *vr_graph_error(const vr_graph *g);
int vr_graph_value_count(const vr_graph *g);
int vr_graph_node_count(const vr_graph *g);
const vr_value *vr_graph_value(const vr_graph *g, int id);
const vr_node *vr_graph_node(const vr_graph *g, int i);
int vr_graph_input(const vr_graph *g);
int vr_graph_output(const vr_graph *g);
const char *vr_op_name(vr_op op);

/* A plan binds a graph to a batch size and a kernel table: validates shapes
 * and dtypes of every node, derives requantization parameters, and lays all
 * intermediate values out in one arena (values whose lifetimes do not overlap
 * share bytes; concat inputs produced for the concat alone are written in
 * place into its output). No allocation happens during vr_plan_run. */
typedef struct vr_plan vr_plan;

vr_plan *vr_plan_create(const vr_graph *g, int batch, const vk_ops *ops, char *err, size_t errlen);
/* vr_plan_create folds an f32 ADD into the f32 CONV that produces one of its
 * inputs (the conv adds the other input in its epilogue and writes the add's
 * output: ResNet's block ends, plan.c fuse_add), so that conv's own output is
 * never stored. VR_PLAN_OBSERVABLE keeps every node computing its own value,
 * for vr_plan_run_observed callers that read them (calibration). */
#define VR_PLAN_OBSERVABLE 1u
vr_plan *vr_plan_create_ex(const vr_graph *g, int batch, const vk_ops *ops, unsigned flags,
                           char *err, size_t errlen);
/* ADD nodes folded into convs (0 with VR_PLAN_OBSERVABLE). */
int vr_plan_folded(const vr_plan *p);
void vr_plan_free(vr_plan *p); /* accepts NULL */
size_t vr_plan_arena_bytes(const vr_plan *p);
/* input: batch × (h·w·c) elements of the input value's dtype, NHWC;
 * output likewise for the output value. */
int vr_plan_run(vr_plan *p, vr_pool *pool, const void *input, void *output);

/* Intermediate values (calibration, debugging). vr_plan_run_observed runs
 * like vr_plan_run and calls observe(ctx, p, node) on the calling thread after
 * each node, between nodes. Inside it, vr_plan_value(p, v, ...) gives where
 * value v lives: image 0's first element, *pix_ld elements between pixels and
 * *img_stride between images (each pixel's c elements contiguous). Buffers are
 * reused once a value's last reader has run, so v holds its own contents only
 * inside the observer of the node that produced it (or, for the graph output,
 * until the next run); the graph input is the caller's buffer; NULL for a
 * conv output folded into its ADD (only in plans without VR_PLAN_OBSERVABLE). */
typedef void (*vr_plan_observer)(void *ctx, const vr_plan *p, int node);
int vr_plan_run_observed(vr_plan *p, vr_pool *pool, const void *input, void *output,
                         vr_plan_observer observe, void *ctx);
const void *vr_plan_value(const vr_plan *p, int v, size_t *pix_ld, size_t *img_stride);

size_t vr_dtype_size(vr_dtype t);

#endif
