/* Models on disk: a weight file (formats/weights.h) whose GRAPH section holds
 * the vr_graph (encoding in docs/WEIGHT_FORMAT.md, "GRAPH"). Loading maps the
 * file, decodes the graph, and checks every weight reference against what its
 * node needs (dtype, layout, dims), so a hostile file cannot make a kernel
 * read past a tensor. */
#ifndef VIREO_RUNTIME_MODEL_H
#define VIREO_RUNTIME_MODEL_H

#include "formats/weights.h"
#include "runtime/graph.h"

/* Per node, the writer's tensor indices (-1: none) of what the node uses. */
typedef struct vr_node_refs {
    int weights, bias, colsum, scales;
} vr_node_refs;

/* Encodes g's values and nodes (weights as tensor indices from refs). */
int vr_graph_encode(const vr_graph *g, const vr_node_refs *refs, void **buf, size_t *len);

/* Encodes g into w's GRAPH section, serializes, reloads and plans the result,
 * and writes dst (crash-safely) only if all of that succeeds: a converter never
 * writes a model the runtime would refuse, nor replaces a good file with one. */
int vr_model_save_checked(vw_writer *w, const vr_graph *g, const vr_node_refs *refs,
                          const char *dst, char *err, size_t errlen);

typedef struct vr_model {
    vw_file *file;
    vr_graph *graph;
} vr_model;

int vr_model_open(const char *path, vr_model **out, char *err, size_t errlen);
/* The same on an already opened weight file (tests; takes ownership of f on success). */
int vr_model_from_file(vw_file *f, vr_model **out, char *err, size_t errlen);
void vr_model_close(vr_model *m); /* accepts NULL */

#endif
