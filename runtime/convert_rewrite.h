/* Rewriting the weights of a model file: the f32 model's graph, metadata and
 * tensors carried over, the weights of chosen nodes replaced by another
 * storage (dynamic int8: runtime/convert_dynq.c; bf16: convert_bf16.c;
 * Winograd: convert_wino.c).
 * Internal to runtime/convert_*.c.
 *
 * For every node of the source graph the callback decides: keep it as it is
 * (return 0), or store replacement tensors with vr_rewrite_put and name them
 * in *r (return 1; a field left at VR_REWRITE_KEEP keeps the source's tensor,
 * -1 drops it). Source tensors are copied on first use; a tensor no node
 * refers to is carried over too; one that only replaced references used is
 * not. The result is written by vr_model_save_checked (reloaded and planned
 * first). */
#ifndef VIREO_RUNTIME_CONVERT_REWRITE_H
#define VIREO_RUNTIME_CONVERT_REWRITE_H

#include <stddef.h>

#include "runtime/model.h"

#define VR_REWRITE_KEEP (-2)

typedef struct vr_rewrite vr_rewrite;

typedef int (*vr_rewrite_node_fn)(vr_rewrite *rw, void *ctx, int ni, const vr_node *n,
                                  vr_node_refs *r);

/* Stores a replacement tensor; its index, or -1 (the rewrite fails). */
int vr_rewrite_put(vr_rewrite *rw, const char *name, vw_dtype t, vw_layout l, int nd,
                   const int64_t *dims, const void *data, size_t size);
/* Fails the rewrite with a message (the first one is kept); returns -1. */
int vr_rewrite_fail(vr_rewrite *rw, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The source model's graph (the nodes the callback is given). */
const vr_graph *vr_rewrite_graph(const vr_rewrite *rw);
/* The source file's tensor at data, or NULL. */
const vw_tensor *vr_rewrite_tensor(const vr_rewrite *rw, const void *data);
/* The source file's name of the tensor at data (or "node<ni>"). */
void vr_rewrite_name(const vr_rewrite *rw, const void *data, int ni, char *out, size_t len);

/* Rewrites the model at src into dst. kv: key, value string pairs stored as
 * metadata (replacing the source's keys of those names), NULL-terminated.
 * Returns 0, or -1 with the message in err (nothing written). */
int vr_rewrite_model(const char *src, const char *dst, vr_rewrite_node_fn fn, void *ctx,
                     const char *const *kv, char *err, size_t errlen);

/* The bf16 form of node n's f32 weights (CONV, DWCONV, FC, LINEAR; graph.h
 * VR_W_BF16), as a vr_rewrite_node_fn without context: 1 stored, 0 not such
 * a node, -1 failed (runtime/convert_bf16.c). */
int vr_rewrite_bf16(vr_rewrite *rw, int ni, const vr_node *n, vr_node_refs *r);

/* Winograd F(4×4, 3×3) convs (runtime/convert_wino.c, graph.h VR_W_WINO).
 * vr_wino_eligible is the one rule for which convs get them: f32 weights and
 * activations, 3×3, stride 1, dilation 1, at least VR_WINO_MIN_CHANNELS input
 * and output channels, and an output map of at least VR_WINO_MIN_PIXELS
 * pixels — below those the transforms' O(C + OC) per tile cost more than the
 * 4× fewer multiplies save (thresholds to be tuned against the kernels:
 * vireo-bench). vr_rewrite_wino stores an eligible node's weights
 * transformed (1), leaves any other node (0), or fails (-1). */
#define VR_WINO_MIN_CHANNELS 16
#define VR_WINO_MIN_PIXELS 196 /* 14×14 */
int vr_wino_eligible(const vr_graph *g, const vr_node *n);
int vr_rewrite_wino(vr_rewrite *rw, int ni, const vr_node *n, vr_node_refs *r);

/* Node ni's weights unpacked from vk_pack_f32_b / vk_pack_conv_f32 (panels of
 * 16 columns, K-major) into K×N row-major B (N = output channels). */
void vr_unpack_f32_b(const float *Bp, int K, int N, float *B);

#endif
