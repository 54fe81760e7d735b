/* Embeddings of an image list by one model, through the image pipeline
 * (runtime/pipeline.h) with the model cut at its pooled features
 * (runtime/features.h), with a progress line and an on-disk cache.
 *
 * The cache lets `vireo eval` try many retrieval settings without embedding
 * the same 5,000 photos again: a file per (model file, image list) under
 * $VIREO_CACHE_DIR, else $XDG_CACHE_HOME/vireo, else ~/.cache/vireo. Its key
 * covers the model file's path, size and mtime, every image's path, size and
 * mtime, and the vireo binary's (a rebuild may change decoding), so changing
 * any of them invalidates it. A cache file that does not
 * parse exactly is ignored and rewritten (crash-safely: temp + rename). */
#ifndef VIREO_TOOLS_EMBEDDINGS_H
#define VIREO_TOOLS_EMBEDDINGS_H

#include <stddef.h>
#include <stdint.h>

typedef struct emb_matrix {
    size_t n, dim;
    float *x;    /* n·dim, rows of failed images are zero */
    uint8_t *ok; /* n: 1 if the image was embedded */
} emb_matrix;

typedef struct emb_opts {
    int threads;       /* pipeline workers; 0: all CPUs */
    int quiet;         /* no progress line */
    int no_cache;
    const char *label; /* progress label, e.g. "grocery train" */
} emb_opts;

/* Returns 0 and fills *out (free with emb_free), or -1 with a message. On
 * success *images_per_s (may be NULL) is the measured rate, 0 if from cache. */
int emb_compute(const char *model_path, const char *const *paths, size_t n, const emb_opts *o,
                emb_matrix *out, double *images_per_s, char *err, size_t errlen);
void emb_free(emb_matrix *m);

#endif
