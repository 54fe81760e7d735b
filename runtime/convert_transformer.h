/* Building transformer graphs from safetensors state dicts: the pieces the ViT
 * and CLIP converters share (runtime/convert_vit.c, convert_clip.c). Internal
 * to runtime/convert_*.c.
 *
 * Every function takes the context first and does nothing once it has failed
 * (the first error is kept), so a builder can chain calls and check once. */
#ifndef VIREO_RUNTIME_CONVERT_TRANSFORMER_H
#define VIREO_RUNTIME_CONVERT_TRANSFORMER_H

#include <stdint.h>

#include "formats/safetensors.h"
#include "formats/weights.h"
#include "runtime/graph.h"
#include "runtime/model.h"

typedef struct vr_tf {
    st_file *f;
    vw_writer *w;
    vr_graph *g;
    vr_node_refs *refs;
    int nrefs;
    char *err;
    size_t errlen;
    int failed;
} vr_tf;

extern const vr_node_refs VR_TF_NO_REFS;

/* Opens src and makes an empty writer and graph; -1 with the message. */
int vr_tf_open(vr_tf *c, const char *src, char *err, size_t errlen);
/* Prefixes a failure message with src; frees everything. Returns rc. */
int vr_tf_close(vr_tf *c, const char *src, int rc);
int vr_tf_fail(vr_tf *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The F32 tensor `name` of exactly this shape, as floats (caller frees). */
float *vr_tf_tensor(vr_tf *c, const char *name, int ndim, const int64_t *shape);
/* A new f32 value; its id or -1. */
int vr_tf_value(vr_tf *c, int h, int w, int ch);
/* Stores a tensor; its index or -1. */
int vr_tf_put(vr_tf *c, const char *name, vw_layout l, int nd, const int64_t *dims,
              const void *data, size_t size);
/* Adds n (inputs past nin set to -1) with its weight references; 0 or -1. */
int vr_tf_node(vr_tf *c, vr_node *n, vr_node_refs r, const char *what);
/* Stores the plain f32 vector `name` of n elements; its index or -1. */
int vr_tf_vector(vr_tf *c, const char *name, int64_t n);

/* A per-token linear of x to N features: weight `wname` as torch's Linear
 * stores it ([N, K]) or, with kn, as a [K, N] matrix applied as x·W (CLIP's
 * projections); bias `bname` (NULL: none); residual value or -1; act.
 * Returns the output value or -1. */
int vr_tf_linear(vr_tf *c, const char *wname, const char *bname, int kn, int x, int N,
                 int residual, vk_act act);
/* LayerNorm name.weight / name.bias over x's channels. */
int vr_tf_layernorm(vr_tf *c, const char *name, float eps, int x);

/* A pre-LN transformer block over the tokens of x (torch's
 * nn.MultiheadAttention + a two-layer MLP), tensor names under `prefix`:
 *   x = x + <attn>.out_proj(MHA(<ln_1>(x)))   <attn>.in_proj_weight [3D, D] / _bias
 *   x = x + <fc2>(act(<fc1>(<ln_2>(x))))
 * Returns the new x, or -1. */
typedef struct vr_tf_block {
    const char *ln_1, *attn, *ln_2, *fc1, *fc2;
    float eps;
    vk_act act;
    int heads, causal;
} vr_tf_block;
int vr_tf_block_add(vr_tf *c, const char *prefix, const vr_tf_block *b, int x);

/* Heads of a width-D model: the file's __metadata__ "num_heads" when present,
 * else fallback(D) (0: unknown, refused). */
int vr_tf_heads(vr_tf *c, int D, int (*fallback)(int D));

#endif
