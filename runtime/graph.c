/* Graph construction: values and nodes, checked as they are added so a
 * converter's mistake is reported where it is made. */
#include "graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

static int gerr(vr_graph *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err, sizeof g->err, fmt, ap);
    va_end(ap);
    return -1;
}

const char *vr_op_name(vr_op op)
{
    static const char *const names[VR_OP_COUNT] = {"conv",    "dwconv", "fc",      "add",
                                                   "avgpool", "gap",    "concat",  "softmax",
                                                   "reshape", "l2norm",  "maxpool", "quantize",
                                                   "linear",  "layernorm", "attention",
                                                   "pos_embed", "token", "embed"};
    return (unsigned)op < VR_OP_COUNT ? names[op] : "?";
}

size_t vr_dtype_size(vr_dtype t)
{
    switch (t) {
    case VR_F32:
    case VR_S32: return 4;
    case VR_U8:
    case VR_S8: return 1;
    }
    return 0;
}

vr_graph *vr_graph_new(void)
{
    vr_graph *g = calloc(1, sizeof *g);
    if (g)
        g->input = g->output = -1;
    return g;
}

void vr_graph_free(vr_graph *g)
{
    if (!g)
        return;
    free(g->values);
    free(g->nodes);
    free(g->producer);
    free(g);
}

static int grow(void **p, int *cap, int n, size_t elem)
{
    if (n < *cap)
        return 0;
    int nc = *cap ? *cap * 2 : 32;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = nc;
    return 0;
}

int vr_graph_add_value(vr_graph *g, const vr_value *v)
{
    if (!vr_dtype_size(v->dtype))
        return gerr(g, "value %d: unknown dtype %d", g->nvalues, (int)v->dtype);
    /* Per-image sizes stay far below 2^31 elements, so plan arithmetic in
     * size_t never overflows. */
    if (v->h < 1 || v->w < 1 || v->c < 1 || v->h > (1 << 15) || v->w > (1 << 15) ||
        v->c > (1 << 20) || (int64_t)v->h * v->w * v->c > (1 << 28))
        return gerr(g, "value %d: shape %dx%dx%d out of range", g->nvalues, v->h, v->w, v->c);
    if ((v->dtype == VR_U8 || v->dtype == VR_S8) && !(v->scale > 0))
        return gerr(g, "value %d: quantized value needs a scale > 0", g->nvalues);
    int cap = g->capvalues;
    if (grow((void **)&g->values, &g->capvalues, g->nvalues, sizeof *g->values) ||
        grow((void **)&g->producer, &cap, g->nvalues, sizeof *g->producer))
        return gerr(g, "out of memory");
    g->values[g->nvalues] = *v;
    g->producer[g->nvalues] = -1;
    return g->nvalues++;
}

int vr_graph_add_node(vr_graph *g, const vr_node *n)
{
    int idx = g->nnodes;
    if ((unsigned)n->op >= VR_OP_COUNT)
        return gerr(g, "node %d: unknown op %d", idx, (int)n->op);
    if (n->nin < 1 || n->nin > VR_MAX_IN)
        return gerr(g, "node %d (%s): %d inputs", idx, vr_op_name(n->op), n->nin);
    for (int i = 0; i < n->nin; i++) {
        int v = n->in[i];
        if (v < 0 || v >= g->nvalues)
            return gerr(g, "node %d (%s): input %d is not a value", idx, vr_op_name(n->op), v);
    }
    if (n->out < 0 || n->out >= g->nvalues)
        return gerr(g, "node %d (%s): output %d is not a value", idx, vr_op_name(n->op), n->out);
    if (g->producer[n->out] >= 0)
        return gerr(g, "node %d (%s): value %d already produced by node %d", idx,
                    vr_op_name(n->op), n->out, g->producer[n->out]);
    for (int i = 0; i < n->nin; i++)
        if (n->in[i] == n->out)
            return gerr(g, "node %d (%s): output is also an input", idx, vr_op_name(n->op));
    if (grow((void **)&g->nodes, &g->capnodes, g->nnodes, sizeof *g->nodes))
        return gerr(g, "out of memory");
    g->nodes[idx] = *n;
    g->producer[n->out] = idx;
    return g->nnodes++;
}

int vr_graph_set_io(vr_graph *g, int input, int output)
{
    if (input < 0 || input >= g->nvalues || output < 0 || output >= g->nvalues)
        return gerr(g, "graph input %d / output %d are not values", input, output);
    if (g->producer[input] >= 0)
        return gerr(g, "graph input %d is produced by node %d", input, g->producer[input]);
    g->input = input;
    g->output = output;
    return 0;
}

const char *vr_graph_error(const vr_graph *g) { return g->err; }
int vr_graph_value_count(const vr_graph *g) { return g->nvalues; }
int vr_graph_node_count(const vr_graph *g) { return g->nnodes; }
const vr_value *vr_graph_value(const vr_graph *g, int id)
{
    return id >= 0 && id < g->nvalues ? &g->values[id] : NULL;
}
const vr_node *vr_graph_node(const vr_graph *g, int i)
{
    return i >= 0 && i < g->nnodes ? &g->nodes[i] : NULL;
}
int vr_graph_input(const vr_graph *g) { return g->input; }
int vr_graph_output(const vr_graph *g) { return g->output; }
