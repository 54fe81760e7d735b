/* vireo-bench pipeline: data sets, models and page-cache control
 * (pipeline_data.c) for the pipeline benchmark (pipeline.c). */
#ifndef VIREO_BENCH_PIPELINE_H
#define VIREO_BENCH_PIPELINE_H

#include <stddef.h>

#include "runtime/filelist.h"
#include "runtime/model.h"

typedef struct pb_set {
    const char *name;   /* grocery, camera-baseline, camera-progressive, wallpapers */
    char source[768];   /* where the files came from, said in every report */
    vr_filelist files;
    double mean_mp, mean_kb; /* of the files (JPEG header sizes; 0 if unknown) */
} pb_set;

/* The project's shared data: $VIREO_SHARED_DIR, else ../shared beside the
 * source tree, else ./../shared. NULL if none exists. */
const char *pb_shared_dir(void);

/* Fills s->files with up to max files of the named set and s->source with
 * where they came from. The camera sets live in /tmp/vireo-bench-camera;
 * when missing and `generate` is set they are made by
 * bench/make_camera_set.py (needs /usr/bin/python3 with PIL and numpy).
 * Returns 0, or -1 with the reason the set is skipped in err. */
int pb_set_load(pb_set *s, const char *name, size_t max, int generate, char *err, size_t errlen);
void pb_set_free(pb_set *s);

/* A Coral model from the shared data, converted once into the bench's model
 * cache (VIREO_BENCH_MODELS or /tmp/vireo-bench-models). short_name: mnv1-embed,
 * mnv2, mnv1-0.25. Returns 0 with *m open, or -1 with a message. */
int pb_model_open(const char *short_name, vr_model **m, char *err, size_t errlen);

/* Drops the files' pages from the page cache (posix_fadvise DONTNEED), and
 * returns the fraction of their pages still cached afterwards (mincore), -1
 * if it cannot be told. */
double pb_drop_cache(const vr_filelist *fl);

#endif
