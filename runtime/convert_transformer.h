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
#include "runtime/convert.h"
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
    const st_tensor **read; /* every tensor vr_tf_tensor gave out (vr_tf_check_unused) */
    int nread;
} vr_tf;

extern const vr_node_refs VR_TF_NO_REFS;

/* Opens src and makes an empty writer and graph; -1 with the message. */
int vr_tf_open(vr_tf *c, const char *src, char *err, size_t errlen);
/* Prefixes a failure message with src; frees everything. Returns rc. */
int vr_tf_close(vr_tf *c, const char *src, int rc);
int vr_tf_fail(vr_tf *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The F32 tensor `name` of exactly this shape, as floats (caller frees). */
float *vr_tf_tensor(vr_tf *c, const char *name, int ndim, const int64_t *shape);
/* Refuses a file holding a tensor of the tower being converted that the
 * converter did not read (an architecture variant it would otherwise ignore,
 * e.g. open_clip's layer scale): tower = names of the tower, an entry ending
 * in '.' a prefix, any other an exact name. Buffers (names ending in
 * position_ids or attn_mask) are ignored. 0 or -1. */
int vr_tf_check_unused(vr_tf *c, const char *const *tower, int n);
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
 * With split_qkv (Hugging Face's CLIPAttention): <attn>.{q,k,v}_proj.weight
 * [D, D] / .bias [D] instead of in_proj, concatenated rows q; k; v into the
 * one [3D, D] linear the ATTENTION op consumes (stored as
 * <attn>.qkv_proj.weight / .bias).
 * Returns the new x, or -1. */
typedef struct vr_tf_block {
    const char *ln_1, *attn, *ln_2, *fc1, *fc2;
    float eps;
    vk_act act;
    int heads, causal;
    int split_qkv;
} vr_tf_block;
int vr_tf_block_add(vr_tf *c, const char *prefix, const vr_tf_block *b, int x);

/* The last block of a tower whose output is one token (a ViT's or CLIP
 * image tower's class token, index 0): every token's keys and values are
 * needed, so LayerNorm and the qkv projection run on all of them, but the
 * attention computes the query at `index` alone and the out projection,
 * the MLP and the residual adds run on that one row (1×1×D) — 1/L of their
 * work; ViT-B/32: 3.3 % of the model's FLOPs. Equal to vr_tf_block_add
 * followed by a TOKEN at `index`. Non-causal blocks only. */
int vr_tf_block_add_token(vr_tf *c, const char *prefix, const vr_tf_block *b, int x, int index);

/* Heads of a width-D model: the file's __metadata__ "num_heads" (or HF's
 * "num_attention_heads") when present, else fallback(D) (0: unknown, refused). */
int vr_tf_heads(vr_tf *c, int D, int (*fallback)(int D));

/* vr_tf_linear with the weight given as torch's Linear stores it (W [N, K],
 * bias [N] or NULL), stored under wname / bname. */
int vr_tf_linear_data(vr_tf *c, const char *wname, const float *W, const char *bname,
                      const float *bias, int x, int N, int residual, vk_act act);

/* CLIP's MLP activation: the file's __metadata__ "hidden_act" ("quick_gelu"
 * or "gelu", as HF's config names it) when present, else `opt` (the same
 * names; NULL: quick_gelu, what OpenAI's weights were trained with). An
 * option contradicting the metadata is refused. Sets *name to the chosen
 * name (for the model's metadata). */
vk_act vr_tf_clip_act(vr_tf *c, const char *opt, const char **name);

/* The patch embedding: a P×P stride-P conv of the S×S×3 input x (S = G·P) to
 * G×G×D tokens, torch weight wname [D, 3, P, P] (OIHW), bias bname or NULL.
 * Returns the output value or -1. */
int vr_tf_patch_embed(vr_tf *c, const char *wname, const char *bname, int x, int D, int P, int G);

/* The class token + position embeddings of a ViT tower: reads pos_name (ndim
 * 2 [G²+1, D] or 3 [1, G²+1, D]) and cls_name (cls_ndim 1 [D] or 3 [1, 1,
 * D]); when NG != G resizes the G×G grid of position embeddings to NG×NG
 * (vr_pos_resize, mode; the class token's row kept), then adds the POS_EMBED
 * node over the NG×NG patch tokens x. Returns the output value or -1. */
typedef enum vr_pos_resize_mode {
    VR_POS_BICUBIC_ALIGNED, /* torchvision interpolate_embeddings: bicubic A = -0.75, align_corners */
    VR_POS_BICUBIC,         /* HF CLIPVisionEmbeddings.interpolate_pos_encoding: A = -0.75, half-pixel */
    VR_POS_BICUBIC_AA,      /* open_clip resize_pos_embed: antialias=True (Keys a = -0.5, support
                             * scaled when shrinking, weights renormalised at the borders) */
} vr_pos_resize_mode;
int vr_tf_pos_embed(vr_tf *c, const char *pos_name, int pos_ndim, const char *cls_name,
                    int cls_ndim, int x, int D, int G, int NG, vr_pos_resize_mode mode);

/* Resizes a G×G grid of D-vectors (row-major, D contiguous) to NG×NG, as
 * torch.nn.functional.interpolate(mode="bicubic") does with the settings of
 * `mode` (runtime/convert_pos_resize.c), in double precision. 0, or -1 on a
 * bad size or out of memory. */
int vr_pos_resize(const float *src, int G, int D, int NG, vr_pos_resize_mode mode, float *dst);

/* The grid side for --image-size S with patch P: S / P; -1 with a message
 * unless S is a positive multiple of P giving at most 4096 px and 1 .. 256
 * patches a side. */
int vr_tf_grid_for_size(vr_tf *c, int S, int P);

/* Writes CLIP's image preprocessing (Resize(S, bicubic) of the shorter side
 * with Pillow, CenterCrop(S), RGB/255, CLIP's mean / std) as preproc.*;
 * nothing once c has failed. */
void vr_tf_clip_preproc(vr_tf *c, int S);

/* A text tower's input and embeddings: the s32 ids [1, ctx, 1] (*ids, the
 * graph input) → rows of tok [V, W] (EMBED) + pos [ctx, W] (POS_EMBED, no
 * class token). Returns the [1, ctx, W] value or -1. */
int vr_tf_text_embed(vr_tf *c, const char *tok, const char *pos, int64_t V, int64_t W,
                     int64_t ctx, int *ids);

/* "name" of src: its file name without .safetensors. */
void vr_tf_model_name(const char *src, char *name, size_t len);

/* The metadata writers below do nothing once c has failed.
 * A tower's metadata, in this order: model.name (vr_tf_model_name of src),
 * model.arch, model.source, model.tower and model.act (each skipped when
 * NULL), model.embedding_dim = E, model.width (skipped when width is 0),
 * model.layers, model.heads. */
void vr_tf_tower_meta(vr_tf *c, const char *src, const char *arch, const char *source,
                      const char *tower, const char *act, int64_t E, int64_t width, int layers,
                      int heads);
/* An image tower's patch size P and, when the grid was resized from G to NG
 * (--image-size), model.pos_embed_resized_from = G·P. */
void vr_tf_patch_meta(vr_tf *c, int P, int G, int NG);
/* A CLIP text tower's context length, vocabulary size and tokenizer. */
void vr_tf_text_meta(vr_tf *c, int64_t ctx, int64_t V);

/* The end of every transformer converter: unless c failed, the graph's input
 * and output, the labels of o (if any), the checked save to dst; closes c.
 * Returns 0 or -1 with the message in c's err. */
int vr_tf_finish(vr_tf *c, const char *src, const char *dst, const vr_convert_opts *o, int in,
                 int out, char *err, size_t errlen);

#endif
