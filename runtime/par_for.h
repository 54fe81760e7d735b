/* A parallel loop over [0, n) on an optional vr_pool, for the retrieval
 * math (linalg.c, whiten.c, rerank.c). Each thread gets one contiguous part
 * (vr_split, aligned to `align`); fn(ctx, tid, b, e) runs once per thread,
 * also for an empty part, so a thread can publish per-thread state. Without a
 * pool (or with one thread) fn(ctx, 0, 0, n) runs on the caller. The split
 * never changes what is computed, only who computes it. n ≤ INT_MAX. */
#ifndef VIREO_RUNTIME_PAR_FOR_H
#define VIREO_RUNTIME_PAR_FOR_H

#include <stddef.h>

#include "runtime/threadpool.h"

typedef void (*vr_range_fn)(void *ctx, int tid, size_t b, size_t e);

typedef struct vr_par_job {
    vr_range_fn fn;
    void *ctx;
    size_t n, align;
} vr_par_job;

static inline void vr_par_task(void *c, int tid, int nthreads)
{
    vr_par_job *j = c;
    int b, e;
    vr_split((int)j->n, (int)j->align, tid, nthreads, &b, &e);
    j->fn(j->ctx, tid, (size_t)b, (size_t)e);
}

static inline int vr_par_threads(vr_pool *pool) { return pool ? vr_pool_size(pool) : 1; }

static inline void vr_par_for(vr_pool *pool, size_t n, size_t align, vr_range_fn fn, void *ctx)
{
    if (vr_par_threads(pool) <= 1) {
        fn(ctx, 0, 0, n);
        return;
    }
    vr_par_job j = {fn, ctx, n, align ? align : 1};
    vr_pool_run(pool, vr_par_task, &j);
}

#endif
