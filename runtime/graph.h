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
void vr_plan_free(vr_plan *p); /* accepts NULL */
size_t vr_plan_arena_bytes(const vr_plan *p);
/* input: batch × (h·w·c) elements of the input value's dtype, NHWC;
 * output likewise for the output value. */
int vr_plan_run(vr_plan *p, vr_pool *pool, const void *input, void *output);

size_t vr_dtype_size(vr_dtype t);

#endif
