/* The embedding side of an index: which models (and weights) made its rows,
 * and the transform from their raw outputs to the stored space:
 *     per model L2 → weighted concatenation (vr_ensemble_concat) →
 *     [title fusion with a text tower (runtime/fusion.h)] →
 *     [PCA whitening, which re-normalises]
 * `vireo index build` records both in the index (metadata "model.<i>.spec",
 * "model.<i>.weight", "model.<i>.dim", "transform"; "text.spec", "text.dim",
 * "text.fusion", "text.titles" with a text model; tensors "whiten.mean",
 * "whiten.proj"), and `index add` / `search` read them back, so queries and
 * new items go through exactly what the catalogue went through. */
#ifndef VIREO_TOOLS_INDEX_MODELS_H
#define VIREO_TOOLS_INDEX_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/fusion.h"
#include "runtime/index.h"
#include "runtime/retrieval.h"

#define IXM_MAX 8

typedef struct ix_models {
    int n;
    char spec[IXM_MAX][1024];  /* as the user gave it (alias or path) */
    char path[IXM_MAX][4096];  /* the weight file it resolved to */
    float weight[IXM_MAX];
    size_t dim[IXM_MAX];       /* known after embedding (or from the index) */
    /* The text tower (text_spec[0] == 0: none) and how titles are fused:
     * fusion.mode NONE until known; d_img / d_txt known after embedding. */
    char text_spec[1024];
    char text_path[4096];
    vr_fusion fusion;
    int fusion_auto;           /* build: choose sum / concat from the dimensions */
} ix_models;

/* Adds "SPEC[:WEIGHT]" to m (resolving it). */
int ixm_add(ix_models *m, const char *arg, int quiet, char *err, size_t errlen);
/* The models recorded in ix. */
int ixm_from_index(const vr_index *ix, ix_models *m, int quiet, char *err, size_t errlen);
/* Sets the text tower (resolving it like a model). mode: "sum", "concat" or
 * NULL (sum when one image model's dimension equals the text tower's, else
 * concat); titles: W in 0 ... 1. */
int ixm_set_text(ix_models *m, const char *spec, const char *mode, float titles, int quiet,
                 char *err, size_t errlen);
/* Only the text side recorded in ix (none: m's text side cleared). */
int ixm_text_from_index(const vr_index *ix, ix_models *m, int quiet, char *err, size_t errlen);
/* Identity string for vr_index_params.model: "spec:weight+spec:weight"
 * (+ "|text:spec:fusion:W" with a text tower). */
void ixm_identity(const ix_models *m, char *buf, size_t n);

/* Metadata entries describing m (storage owned by kv_buf, which must outlive kv). */
typedef struct ixm_kv {
    vr_index_kv kv[4 * IXM_MAX + 8];
    char buf[4 * IXM_MAX + 8][2][1100];
    size_t n;
} ixm_kv;
void ixm_to_kv(const ix_models *m, const char *transform, ixm_kv *out);

/* Embeds paths with every model, fuses (models, then the titles when m has a
 * text tower: titles[n] required then), and applies w (may be NULL). out is
 * n·dim (dim = w ? w->d_out : the fused dimension), ok[n] flags. Rows of
 * failed images are zero. */
typedef struct ixm_embed_opts {
    int threads, quiet, no_cache;
    const char *label;
} ixm_embed_opts;
int ixm_embed(ix_models *m, const char *const *paths, const char *const *titles, size_t n,
              const vr_whiten *w, const ixm_embed_opts *o, float **out, uint8_t **ok, size_t *dim,
              double *images_per_s, char *err, size_t errlen);

/* n queries: images (paths), texts, or both (paths[i] with texts[i]); either
 * may be NULL, not both. wq: the text weight of a query with both. Text needs
 * m's text tower; a text-only query against an image-only SUM space is the
 * CLIP text → image search. ok[n] as above (text rows are always ok). */
int ixm_queries(ix_models *m, const char *const *paths, const char *const *texts, size_t n,
                float wq, const vr_whiten *w, const ixm_embed_opts *o, float **out, uint8_t **ok,
                size_t *dim, double *images_per_s, char *err, size_t errlen);

/* L2-normalised text embeddings of texts[n] with the tower at model_path
 * (n·*dim floats, malloc'd). Repeated texts are embedded once. */
int ixm_embed_texts(const char *model_path, const char *const *texts, size_t n, int threads,
                    float **out, size_t *dim, char *err, size_t errlen);

/* The whitening stored in ix, as a vr_whiten over the index's memory (do not
 * vr_whiten_free it). 1 found, 0 none, -1 invalid. */
int ixm_whiten_from_index(const vr_index *ix, vr_whiten *w, char *err, size_t errlen);

#endif
