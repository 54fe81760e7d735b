/* Unified product embeddings: an item's image embedding and its title's text
 * embedding fused into one row, and queries by image, by text, or by both
 * mapped into the same space. docs/RETRIEVAL.md ("Text and unified
 * embeddings") says when each mode applies.
 *
 * Inputs are L2-normalised rows: î (d_img, an image model or a fused
 * ensemble) and t̂ (d_txt, the text tower). W ∈ [0, 1] is the titles' weight
 * in the items; w_q the text's weight in a query that has both.
 *
 * SUM — image and text towers of one CLIP pair (same space, d_img = d_txt):
 *   item  = normalise((1 − W)·î + W·t̂)                       (d_out = d_img)
 *   query = normalise((1 − w_q)·î + w_q·t̂) | î | t̂
 *   W = 0 stores plain image rows that text queries can still search (CLIP
 *   text → image retrieval); W = 1 stores the titles alone.
 * CONCAT — towers in different spaces (e.g. a CNN and a text tower):
 *   item  = [ √(1 − W)·î ; √W·t̂ ]   (unit norm)             (d_out = d_img + d_txt)
 *   query with both     = [ √(1 − w_q)·î ; √w_q·t̂ ]
 *   image-only query    = normalise([ √(1 − W)·î ; f_t ])
 *   text-only query     = normalise([ f_i ; √W·t̂ ])
 *   so ⟨item, query⟩ is (1 − W)·cos_img + W·cos_txt (both), and a query with
 *   one side ranks the items by that side's cosine alone (f = 0). The missing
 *   block f is zero, or — when the fused rows are whitened next — the
 *   whitening mean's block: centring then cancels it, where a zero block would
 *   add the same −P·μ offset to every such query and move its ranking.
 *   Needs 0 < W < 1 (W = 0 or 1 would leave one block empty in every item).
 *
 * A zero input row stays zero in the output (unreadable image). */
#ifndef VIREO_RUNTIME_FUSION_H
#define VIREO_RUNTIME_FUSION_H

#include <stddef.h>

#include "runtime/index.h"

typedef enum vr_fusion_mode {
    VR_FUSION_NONE = 0, /* no text side */
    VR_FUSION_SUM = 1,
    VR_FUSION_CONCAT = 2,
} vr_fusion_mode;

typedef struct vr_fusion {
    vr_fusion_mode mode;
    float w;            /* W: the titles' weight in the items */
    size_t d_img, d_txt;
} vr_fusion;

/* "sum", "concat" (NULL and "none": VR_FUSION_NONE). -1 if unknown. */
int vr_fusion_mode_parse(const char *s, vr_fusion_mode *m);
const char *vr_fusion_mode_name(vr_fusion_mode m);

/* Checks mode, W and dimensions as above (NONE: always valid). */
int vr_fusion_check(const vr_fusion *f, char *err, size_t errlen);
/* Dimension of the fused rows (NONE: d_img). */
size_t vr_fusion_dim(const vr_fusion *f);

/* n items: img n·d_img, txt n·d_txt (unit rows) → out n·vr_fusion_dim. */
int vr_fusion_items(const vr_fusion *f, const float *img, const float *txt, size_t n, float *out,
                    char *err, size_t errlen);

/* n queries: img and / or txt (either may be NULL, not both); wq the text
 * weight of a query with both (ignored otherwise; in [0, 1]); fill:
 * vr_fusion_dim values (the whitening mean) or NULL for zeros, CONCAT only. */
int vr_fusion_queries(const vr_fusion *f, const float *img, const float *txt, size_t n, float wq,
                      const float *fill, float *out, char *err, size_t errlen);

/* The index's text-side records (metadata written by `vireo index build`):
 *   text.fusion  "sum" | "concat"      (absent: no text side → NONE, 0)
 *   text.titles  W, a decimal in [0, 1]
 *   text.dim     d_txt, 1 … 65536
 *   text.spec    the text model (non-empty)
 * d_img: the image side's dimension (Σ model.<i>.dim). Every record is
 * checked, and the fused dimension against the index's dim_in; a bad one
 * fails naming the key and the value. 1 with a text side, 0 without, -1. */
int vr_fusion_from_index(const vr_index *ix, size_t d_img, vr_fusion *f, char *err, size_t errlen);

#endif
