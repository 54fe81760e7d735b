/* The embedding side of an index: which models (and weights) made its rows,
 * and the transform from their raw outputs to the stored space:
 *     per model L2 → weighted concatenation (vr_ensemble_concat) →
 *     [PCA whitening, which re-normalises]
 * `vireo index build` records both in the index (metadata "model.<i>.spec",
 * "model.<i>.weight", "model.<i>.dim", "transform"; tensors "whiten.mean",
 * "whiten.proj"), and `index add` / `search` read them back, so queries and
 * new items go through exactly what the catalogue went through. */
#ifndef VIREO_TOOLS_INDEX_MODELS_H
#define VIREO_TOOLS_INDEX_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/index.h"
#include "runtime/retrieval.h"

#define IXM_MAX 8

typedef struct ix_models {
    int n;
    char spec[IXM_MAX][1024];  /* as the user gave it (alias or path) */
    char path[IXM_MAX][4096];  /* the weight file it resolved to */
    float weight[IXM_MAX];
    size_t dim[IXM_MAX];       /* known after embedding (or from the index) */
} ix_models;

/* Adds "SPEC[:WEIGHT]" to m (resolving it). */
int ixm_add(ix_models *m, const char *arg, int quiet, char *err, size_t errlen);
/* The models recorded in ix. */
int ixm_from_index(const vr_index *ix, ix_models *m, int quiet, char *err, size_t errlen);
/* Identity string for vr_index_params.model: "spec:weight+spec:weight". */
void ixm_identity(const ix_models *m, char *buf, size_t n);

/* Metadata entries describing m (storage owned by kv_buf, which must outlive kv). */
typedef struct ixm_kv {
    vr_index_kv kv[4 * IXM_MAX + 2];
    char buf[4 * IXM_MAX + 2][2][1100];
    size_t n;
} ixm_kv;
void ixm_to_kv(const ix_models *m, const char *transform, ixm_kv *out);

/* Embeds paths with every model, fuses, and applies w (may be NULL). out is
 * n·dim (dim = w ? w->d_out : Σ model dims), ok[n] flags. Rows of failed
 * images are zero. */
typedef struct ixm_embed_opts {
    int threads, quiet, no_cache;
    const char *label;
} ixm_embed_opts;
int ixm_embed(ix_models *m, const char *const *paths, size_t n, const vr_whiten *w,
              const ixm_embed_opts *o, float **out, uint8_t **ok, size_t *dim, double *images_per_s,
              char *err, size_t errlen);

/* The whitening stored in ix, as a vr_whiten over the index's memory (do not
 * vr_whiten_free it). 1 found, 0 none, -1 invalid. */
int ixm_whiten_from_index(const vr_index *ix, vr_whiten *w, char *err, size_t errlen);

#endif
