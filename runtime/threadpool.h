/* A fixed pool of worker threads for data-parallel kernels.
 *
 * vr_pool_run(pool, fn, ctx) calls fn(ctx, tid, n) once on each of the n
 * threads (the caller is thread 0) and returns when all have returned. Kernels
 * split their output range by tid. Workers spin briefly between jobs before
 * sleeping, so back-to-back layers do not pay a wake-up each.
 */
#ifndef VIREO_RUNTIME_THREADPOOL_H
#define VIREO_RUNTIME_THREADPOOL_H

typedef struct vr_pool vr_pool;
typedef void (*vr_task_fn)(void *ctx, int tid, int nthreads);

/* nthreads <= 0: the CPUs this process may use (affinity mask). */
vr_pool *vr_pool_create(int nthreads);
void vr_pool_destroy(vr_pool *p); /* accepts NULL */
int vr_pool_size(const vr_pool *p);
void vr_pool_run(vr_pool *p, vr_task_fn fn, void *ctx);

/* The CPUs this process may run on (sched_getaffinity, capped by a cgroup v2
 * cpu.max quota when one is set). At least 1. */
int vr_cpu_count(void);

/* Splits [0, n) into nthreads nearly equal parts, aligned to `align`; returns
 * the part of thread tid in [*b, *e). */
void vr_split(int n, int align, int tid, int nthreads, int *b, int *e);

#endif
