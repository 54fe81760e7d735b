/* Graph and plan internals shared by graph.c, plan.c and exec.c. */
#ifndef VIREO_RUNTIME_GRAPH_INTERNAL_H
#define VIREO_RUNTIME_GRAPH_INTERNAL_H

#include "graph.h"

struct vr_graph {
    vr_value *values;
    int nvalues, capvalues;
    vr_node *nodes;
    int nnodes, capnodes;
    int *producer; /* per value: node index or -1 */
    int input, output;
    char err[256];
};

/* Where a value lives during a run. */
typedef struct vr_slot {
    uint8_t *base;     /* first element of image 0 (arena, user input) */
    ptrdiff_t pix_ld;  /* elements between pixels (== c unless inside a concat) */
    size_t img_stride; /* elements between images */
} vr_slot;

typedef struct vr_node_plan {
    /* quantized output stage */
    int32_t *q_mult;
    int8_t *q_shift;
    int q_per_channel;
    int32_t out_min, out_max;
    int concat_in_place; /* CONCAT whose inputs were written into it */
    vk_add_q8_params add; /* quantized ADD */
    int32_t rq_mult;      /* QUANTIZE */
    int8_t rq_shift;
    int dynq;             /* LINEAR with int8 weights: quantize its input rows first */
    /* An f32 ADD fused into the CONV producing one of its inputs (plan.c,
     * layout): the conv adds the other input as its residual, applies the
     * add's activation and writes the add's output; the ADD does nothing. */
    int res_value;        /* CONV: 1 + the value added as residual; 0: none */
    vk_act res_act;       /* CONV with res_value: the activation after the add */
    int fused_away;       /* ADD: computed by its producer conv */
} vr_node_plan;

struct vr_plan {
    const vr_graph *g;
    const vk_ops *ops;
    int batch;
    uint8_t *arena;
    size_t arena_bytes;
    uint8_t *scratch; /* per thread: scratch_bytes each, VR_MAX_THREADS of them */
    size_t scratch_bytes;
    /* Dynamic int8 LINEAR: the input's codes [rows][K] then, 64-aligned, one
     * f32 scale per row (vr_exec_quant_rows); shared by the threads, sized
     * for the largest such node. */
    uint8_t *dq_buf;
    size_t dq_bytes;
    vr_slot *slots;
    size_t *buf_offset; /* per value: offset in arena, or SIZE_MAX (aliased / input) */
    vr_node_plan *np;
    unsigned flags;  /* VR_PLAN_* */
    int folded;      /* ADD nodes folded into convs */
    const void *user_input;
};

#define VR_MAX_THREADS 256

void vr_exec_node(const struct vr_plan *p, int node, int tid, int nthreads);
/* The first phase of a node with np[node].dynq: its input rows quantized into
 * dq_buf (rows split between threads); vr_exec_node then multiplies. */
void vr_exec_quant_rows(const struct vr_plan *p, int node, int tid, int nthreads);
/* Where vr_exec_quant_rows puts a node's row scales: after rows·K code bytes. */
static inline size_t vr_dq_scale_offset(size_t rows, size_t K) { return (rows * K + 63) / 64 * 64; }

#endif
