#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define SPIN_ITERS 20000

struct vr_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_cond_t done_cv;
    atomic_uint gen;     /* bumped per job */
    atomic_int pending;  /* workers still running the current job */
    atomic_int sleeping; /* workers blocked on `wake` */
    int stop;
    vr_task_fn fn;
    void *ctx;
};

typedef struct {
    vr_pool *p;
    int tid;
} worker_arg;

static void *worker(void *argp)
{
    worker_arg wa = *(worker_arg *)argp;
    free(argp);
    vr_pool *p = wa.p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               spins < SPIN_ITERS) {
            spins++;
            sched_yield();
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleeping, 1);
            while ((g = atomic_load(&p->gen)) == seen && !p->stop)
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleeping, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (p->stop)
            return NULL;
        seen = g;
        p->fn(p->ctx, wa.tid, p->n);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

int vr_cpu_count(void)
{
    int n = 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    if (f) {
        char quota[32];
        long period;
        if (fscanf(f, "%31s %ld", quota, &period) == 2 && period > 0 && quota[0] != 'm') {
            long q = atol(quota);
            int lim = (int)((q + period - 1) / period);
            if (lim >= 1 && lim < n)
                n = lim;
        }
        fclose(f);
    }
    return n < 1 ? 1 : n;
}

vr_pool *vr_pool_create(int nthreads)
{
    if (nthreads <= 0)
        nthreads = vr_cpu_count();
    vr_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    p->threads = calloc((size_t)nthreads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return NULL;
    }
    for (int i = 1; i < nthreads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa || (wa->p = p, wa->tid = i, pthread_create(&p->threads[i], NULL, worker, wa))) {
            free(wa);
            p->n = i; /* run with the threads we have */
            break;
        }
    }
    return p;
}

int vr_pool_size(const vr_pool *p) { return p ? p->n : 1; }

void vr_pool_run(vr_pool *p, vr_task_fn fn, void *ctx)
{
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, p->n - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    if (atomic_load(&p->sleeping))
        pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0 && spins < SPIN_ITERS) {
        spins++;
        sched_yield();
    }
    if (atomic_load(&p->pending) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) > 0)
            pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

void vr_pool_destroy(vr_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    free(p->threads);
    free(p);
}

void vr_split(int n, int align, int tid, int nthreads, int *b, int *e)
{
    if (align < 1)
        align = 1;
    int blocks = (n + align - 1) / align;
    int per = blocks / nthreads, rem = blocks % nthreads;
    int start = tid * per + (tid < rem ? tid : rem);
    int cnt = per + (tid < rem);
    *b = start * align;
    *e = (start + cnt) * align;
    if (*b > n)
        *b = n;
    if (*e > n)
        *e = n;
}
