/* The image pipeline's scheduler: see pipeline.h for the design.
 *
 * All shared state is under one mutex; the work items are milliseconds long,
 * so the lock is held for microseconds between them and never during I/O,
 * decoding or a model run. Three condition variables: cv_work (a worker may
 * find something to do), cv_emit (the caller may report the next image),
 * cv_load (the loader may find room in the window or the byte budget). */
#include "runtime/pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/errmsg.h"
#include "runtime/loader.h"
#include "runtime/pipeline_internal.h"
#include "runtime/preprocess.h"
#include "runtime/threadpool.h"

enum { S_FREE = 0, S_LOADED, S_DECODING, S_READY, S_BATCHED, S_DONE, S_FAILED };

typedef struct slot {
    int state;
    uint8_t *data; /* encoded bytes while S_LOADED / S_DECODING */
    size_t size;
    void *tensor;  /* the preprocessed input */
    float *row;    /* the embedding */
    char msg[384];
} slot;

typedef struct pipe {
    const vr_model *m;
    const char *const *paths;
    size_t n;
    vr_preproc pp;
    vf_image_limits lim;
    size_t tbytes, dim;
    int batch, threads, nlanes, window, preprocess_only;
    unsigned qd;
    uint64_t file_budget, max_file_bytes;
    int force_pread;
    slot *slots;
    pl_lane *lanes;

    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_emit, cv_load;
    size_t loaded;      /* images [0, loaded) are past the loader */
    size_t decode_next; /* next image a worker may decode */
    size_t batch_next;  /* images before it are in a batch or failed */
    size_t emit_next;   /* next image to report */
    uint64_t held;      /* encoded bytes loaded and not yet decoded */
    size_t waiting;     /* images loaded and not yet taken by a decoder */
    double avg_file;    /* running mean file size, for the loader's chunks */
    int stop;           /* a fatal error or the caller asked to stop */
    char stop_msg[384];
    const char *backend;
    vr_pipeline_stats st;
} pipe;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static slot *slot_of(pipe *p, size_t i) { return &p->slots[i % (size_t)p->window]; }

/* Under the lock. */
static void set_stop(pipe *p, const char *msg)
{
    if (!p->stop) {
        p->stop = 1;
        snprintf(p->stop_msg, sizeof p->stop_msg, "%s", msg);
    }
    pthread_cond_broadcast(&p->cv_work);
    pthread_cond_broadcast(&p->cv_emit);
    pthread_cond_broadcast(&p->cv_load);
}

/* ----------------------------------------------------------------- loader */
typedef struct loader_arg {
    pipe *p;
    vr_loader *l;
} loader_arg;

static void *loader_main(void *arg)
{
    pipe *p = ((loader_arg *)arg)->p;
    vr_loader *l = ((loader_arg *)arg)->l;
    size_t cap = p->qd;
    vr_loaded *got = calloc(cap, sizeof *got);
    /* While the decoders have files to work on, wait for room for a chunk of
     * this size, so a recycled window does not degrade into one-file
     * submissions; when they have none, read whatever fits. */
    size_t min_chunk = p->qd / 2;
    if (min_chunk > (size_t)p->window / 4)
        min_chunk = (size_t)p->window / 4;
    if (min_chunk < 1)
        min_chunk = 1;
    pthread_mutex_lock(&p->mu);
    if (!got)
        set_stop(p, "out of memory for the loader");
    while (!p->stop && p->loaded < p->n) {
        size_t room = p->emit_next + (size_t)p->window - p->loaded;
        size_t left = p->n - p->loaded;
        size_t want = left < min_chunk ? left : min_chunk;
        if (room == 0 || (room < want && p->waiting > 0) ||
            (p->held > 0 && p->held >= p->file_budget)) {
            pthread_cond_wait(&p->cv_load, &p->mu);
            continue;
        }
        size_t k = room < left ? room : left;
        if (k > cap)
            k = cap;
        if (p->avg_file > 0) { /* stay within the byte budget, at least one file */
            double fit = ((double)p->file_budget - (double)p->held) / p->avg_file;
            if (fit < (double)k)
                k = fit < 1 ? 1 : (size_t)fit;
        }
        size_t first = p->loaded;
        pthread_mutex_unlock(&p->mu);

        double t0 = now_s();
        vr_loader_read(l, p->paths + first, k, got);
        double dt = now_s() - t0;

        pthread_mutex_lock(&p->mu);
        p->st.load_s += dt;
        for (size_t j = 0; j < k; j++) {
            slot *s = slot_of(p, first + j);
            if (got[j].err) {
                s->state = S_FAILED;
                snprintf(s->msg, sizeof s->msg, "%s", got[j].msg);
                continue;
            }
            s->state = S_LOADED;
            s->data = got[j].data;
            s->size = got[j].size;
            got[j].data = NULL;
            p->held += s->size;
            p->waiting++;
            p->st.bytes_read += s->size;
            p->avg_file = p->avg_file > 0 ? 0.9 * p->avg_file + 0.1 * (double)s->size
                                          : (double)s->size;
        }
        p->loaded = first + k;
        pthread_cond_broadcast(&p->cv_work);
        pthread_cond_broadcast(&p->cv_emit); /* failed reads can be reported */
    }
    pthread_mutex_unlock(&p->mu);
    free(got);
    return NULL;
}

/* ---------------------------------------------------------------- workers */
/* The next batch, under the lock: the next `batch` decoded images in list
 * order, failures passed over. A shorter batch only at the end of the list,
 * or at the end of the window once every image before the batch has been
 * reported (failures leave fewer than `batch` decoded images in a window that
 * cannot move until this batch runs). Either way the batches depend only on
 * which images fail, never on timing. Returns the count (0: none yet). */
static int next_batch(pipe *p, size_t *idx)
{
    /* Images before emit_next are reported (their slots may hold later
     * images now); the failed ones among them were never in a batch. */
    size_t i = p->batch_next > p->emit_next ? p->batch_next : p->emit_next;
    while (i < p->loaded && slot_of(p, i)->state == S_FAILED)
        i++;
    p->batch_next = i; /* leading failures are never part of a batch */
    int r = 0;
    size_t end = p->emit_next + (size_t)p->window;
    for (; i < p->n && i < end && r < p->batch; i++) {
        if (i >= p->loaded)
            return 0;
        int st = slot_of(p, i)->state;
        if (st == S_READY)
            idx[r++] = i;
        else if (st != S_FAILED)
            return 0; /* still loading or decoding: the batch must wait for it */
    }
    if (r < p->batch && i < p->n && p->emit_next < p->batch_next)
        return 0; /* the window moves when those are reported: wait for a full batch */
    return r;
}

static int free_lane(pipe *p)
{
    for (int k = 0; k < p->nlanes; k++)
        if (!p->lanes[k].busy)
            return k;
    return -1;
}

static void run_batch(pipe *p, int lane, const size_t *idx, int r)
{
    const void *ins[64];
    float *rows[64];
    for (int k = 0; k < r; k++) {
        ins[k] = slot_of(p, idx[k])->tensor;
        rows[k] = slot_of(p, idx[k])->row;
    }
    char err[256];
    pthread_mutex_unlock(&p->mu);
    double t0 = now_s();
    int rc = pl_lane_run(&p->lanes[lane], ins, rows, r, err, sizeof err);
    double dt = now_s() - t0;
    pthread_mutex_lock(&p->mu);
    p->st.model_s += dt;
    p->st.batches++;
    p->lanes[lane].busy = 0;
    if (rc) {
        set_stop(p, err);
        return;
    }
    for (int k = 0; k < r; k++)
        slot_of(p, idx[k])->state = S_DONE;
    pthread_cond_broadcast(&p->cv_emit);
    pthread_cond_broadcast(&p->cv_work); /* the lane is free again */
}

static void decode_one(pipe *p, size_t i)
{
    slot *s = slot_of(p, i);
    s->state = S_DECODING;
    p->decode_next = i + 1;
    p->waiting--;
    pthread_mutex_unlock(&p->mu);
    double t0 = now_s();
    char err[256];
    int rc = vr_preprocess_encoded(&p->pp, s->data, s->size, &p->lim, s->tensor, err, sizeof err);
    if (rc)
        snprintf(s->msg, sizeof s->msg, "%s: %s", p->paths[i], err);
    free(s->data);
    double dt = now_s() - t0;
    pthread_mutex_lock(&p->mu);
    p->st.decode_s += dt;
    p->held -= s->size;
    s->data = NULL;
    s->size = 0;
    s->state = rc ? S_FAILED : S_READY;
    pthread_cond_broadcast(&p->cv_work);
    pthread_cond_broadcast(&p->cv_emit);
    pthread_cond_signal(&p->cv_load);
}

static void *worker_main(void *arg)
{
    pipe *p = arg;
    size_t idx[64];
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        /* A model run first: the model is the slowest stage, keep it fed. */
        int lane = p->preprocess_only ? -1 : free_lane(p);
        int r = lane >= 0 ? next_batch(p, idx) : 0;
        if (r > 0) {
            p->batch_next = idx[r - 1] + 1;
            for (int k = 0; k < r; k++)
                slot_of(p, idx[k])->state = S_BATCHED;
            p->lanes[lane].busy = 1;
            run_batch(p, lane, idx, r);
            continue;
        }
        if (p->decode_next < p->emit_next) /* reported failures: slots reused */
            p->decode_next = p->emit_next;
        while (p->decode_next < p->loaded && slot_of(p, p->decode_next)->state != S_LOADED)
            p->decode_next++;
        if (p->decode_next < p->loaded) {
            decode_one(p, p->decode_next);
            continue;
        }
        int decoding_done = p->decode_next >= p->n;
        if (decoding_done && (p->preprocess_only || p->batch_next >= p->n))
            break;
        pthread_cond_wait(&p->cv_work, &p->mu);
    }
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ------------------------------------------------------------------ setup */
void vr_pipeline_defaults(vr_pipeline_opts *o)
{
    memset(o, 0, sizeof *o);
    o->threads = vr_cpu_count();
    o->batch = VR_PIPELINE_DEFAULT_BATCH;
    /* lanes, lane_threads, window stay 0: they follow threads and batch */
    o->memory_mb = VR_PIPELINE_DEFAULT_MEMORY_MB;
    o->queue_depth = VR_LOADER_DEFAULT_QUEUE_DEPTH;
    o->max_file_bytes = VR_LOADER_DEFAULT_MAX_FILE_BYTES;
}

size_t vr_pipeline_dim(const vr_model *m)
{
    const vr_value *ov = vr_graph_value(m->graph, vr_graph_output(m->graph));
    return ov ? (size_t)ov->h * ov->w * ov->c : 0;
}

/* Resolves the options into p (sizes, window); 0 or -1 with a message. */
static int configure(pipe *p, const vr_pipeline_opts *o, char *err, size_t errlen)
{
    vr_pipeline_opts d;
    vr_pipeline_defaults(&d);
    if (o && (o->threads < 0 || o->batch < 0 || o->lanes < 0 || o->lane_threads < 0 ||
              o->window < 0))
        return vf_fail(err, errlen, "pipeline: negative option");
    p->threads = o && o->threads ? o->threads : d.threads;
    p->batch = o && o->batch ? o->batch : d.batch;
    if (p->threads > 256 || p->batch > 64)
        return vf_fail(err, errlen, "pipeline: threads (max 256) or batch (max 64) too large");
    p->nlanes = o && o->lanes ? o->lanes : p->threads;
    if (p->nlanes > p->threads)
        p->nlanes = p->threads; /* a lane runs on a worker */
    int lane_threads = o && o->lane_threads ? o->lane_threads : p->nlanes == 1 ? p->threads : 1;
    if (lane_threads > 64)
        return vf_fail(err, errlen, "pipeline: lane_threads (max 64) too large");
    p->st.lane_threads = lane_threads;
    p->qd = o && o->queue_depth ? o->queue_depth : d.queue_depth;
    if (p->qd > VR_LOADER_MAX_QUEUE_DEPTH)
        p->qd = VR_LOADER_MAX_QUEUE_DEPTH;
    p->max_file_bytes = o && o->max_file_bytes ? o->max_file_bytes : d.max_file_bytes;
    p->force_pread = o && o->force_pread;
    p->preprocess_only = o && o->preprocess_only;
    if (o)
        p->lim = o->limits;
    if (p->preprocess_only)
        p->nlanes = 0;
    uint64_t mem = (uint64_t)(o && o->memory_mb ? o->memory_mb : d.memory_mb) << 20;
    /* Half the memory for the slots, half for encoded bytes read ahead. */
    p->file_budget = mem / 2;
    uint64_t per_slot = p->tbytes + p->dim * sizeof(float) + sizeof(slot);
    uint64_t fit = mem / 2 / per_slot;
    /* Default: a loader chunk ahead of two batches per lane and two images
     * per worker, so no stage waits for the one before it. */
    uint64_t lookahead = (uint64_t)p->qd + 2u * (uint64_t)p->batch * (uint64_t)p->nlanes +
                         2u * (uint64_t)p->threads;
    uint64_t want = o && o->window ? (uint64_t)o->window : lookahead;
    uint64_t w = want < fit ? want : fit;
    uint64_t least = p->preprocess_only ? 1 : (uint64_t)p->batch; /* a batch must fit */
    if (w < least)
        w = least;
    if (w > p->n)
        w = p->n > least ? p->n : least;
    p->window = (int)(w > (1u << 20) ? (1u << 20) : w);
    return 0;
}

static void teardown(pipe *p)
{
    if (p->slots)
        for (int i = 0; i < p->window; i++) {
            free(p->slots[i].data);
            free(p->slots[i].tensor);
            free(p->slots[i].row);
        }
    free(p->slots);
    if (p->lanes)
        for (int k = 0; k < p->nlanes; k++)
            pl_lane_free(&p->lanes[k]);
    free(p->lanes);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_emit);
    pthread_cond_destroy(&p->cv_load);
}

static int allocate(pipe *p, char *err, size_t errlen)
{
    p->slots = calloc((size_t)p->window, sizeof *p->slots);
    if (!p->slots)
        return vf_fail(err, errlen, "pipeline: out of memory for %d slots", p->window);
    for (int i = 0; i < p->window; i++) {
        slot *s = &p->slots[i];
        s->tensor = malloc(p->tbytes);
        s->row = p->preprocess_only ? NULL : malloc(p->dim * sizeof(float));
        if (!s->tensor || (!p->preprocess_only && !s->row))
            return vf_fail(err, errlen, "pipeline: out of memory for %d slots", p->window);
    }
    if (p->nlanes) {
        p->lanes = calloc((size_t)p->nlanes, sizeof *p->lanes);
        if (!p->lanes)
            return vf_fail(err, errlen, "pipeline: out of memory");
        for (int k = 0; k < p->nlanes; k++)
            if (pl_lane_init(&p->lanes[k], p->m, p->batch, p->st.lane_threads, err, errlen)) {
                for (int j = 0; j < k; j++)
                    pl_lane_free(&p->lanes[j]);
                free(p->lanes);
                p->lanes = NULL;
                return -1;
            }
    }
    return 0;
}

/* ------------------------------------------------------------------ run */
/* The caller's thread: reports images in order until all are or a stop. */
static void report(pipe *p, vr_pipeline_fn fn, void *ctx)
{
    pthread_mutex_lock(&p->mu);
    while (!p->stop && p->emit_next < p->n) {
        size_t i = p->emit_next;
        slot *s = slot_of(p, i);
        int final = s->state == S_DONE || s->state == S_FAILED ||
                    (p->preprocess_only && s->state == S_READY);
        if (i >= p->loaded || !final) {
            pthread_cond_wait(&p->cv_emit, &p->mu);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        int failed = s->state == S_FAILED;
        vr_pipeline_item it = {.index = i, .path = p->paths[i], .dim = p->dim,
                               .error = failed ? s->msg : NULL};
        if (!failed && p->preprocess_only) {
            it.tensor = s->tensor;
            it.tensor_bytes = p->tbytes;
        } else if (!failed) {
            it.embedding = s->row;
        }
        int rc = fn ? fn(ctx, &it) : 0;
        pthread_mutex_lock(&p->mu);
        if (failed)
            p->st.failed++;
        else
            p->st.ok++;
        s->state = S_FREE;
        s->msg[0] = 0;
        p->emit_next++;
        if (rc)
            set_stop(p, "stopped by the caller");
        pthread_cond_signal(&p->cv_load);
        pthread_cond_broadcast(&p->cv_work); /* the window moved */
    }
    pthread_mutex_unlock(&p->mu);
}

int vr_pipeline_embed(const vr_model *m, const char *const *paths, size_t n,
                      const vr_pipeline_opts *o, vr_pipeline_fn fn, void *ctx,
                      vr_pipeline_stats *st, char *err, size_t errlen)
{
    if (st)
        memset(st, 0, sizeof *st);
    if (!m || (n && !paths))
        return vf_fail(err, errlen, "pipeline: no model or no paths");
    pipe *p = calloc(1, sizeof *p);
    if (!p)
        return vf_fail(err, errlen, "pipeline: out of memory");
    double t0 = now_s();
    p->m = m;
    p->paths = paths;
    p->n = n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_emit, NULL);
    pthread_cond_init(&p->cv_load, NULL);
    char vkerr[256];
    int rc = -1;
    if (vk_ops_init(vkerr, sizeof vkerr)) {
        vf_fail(err, errlen, "%s", vkerr);
        goto out;
    }
    if (vr_preproc_from_model(m, &p->pp, err, errlen))
        goto out;
    p->pp.scaled_decode = o && o->scaled_decode;
    p->tbytes = vr_preproc_bytes(&p->pp);
    p->dim = vr_pipeline_dim(m);
    if (configure(p, o, err, errlen) || allocate(p, err, errlen))
        goto out;
    vr_loader_opts lo = {.queue_depth = p->qd, .max_file_bytes = p->max_file_bytes,
                         .force_pread = p->force_pread};
    vr_loader *l = vr_loader_create(&lo, err, errlen);
    if (!l)
        goto out;
    p->backend = vr_loader_backend(l);

    pthread_t lt, *wt = calloc((size_t)p->threads, sizeof *wt);
    loader_arg la = {p, l};
    int started = 0, loader_ok = 0;
    if (wt && n) {
        loader_ok = pthread_create(&lt, NULL, loader_main, &la) == 0;
        for (int k = 0; loader_ok && k < p->threads; k++, started++)
            if (pthread_create(&wt[k], NULL, worker_main, p))
                break;
    }
    if (n && (!loader_ok || started == 0)) {
        pthread_mutex_lock(&p->mu);
        set_stop(p, "pipeline: cannot start threads");
        pthread_mutex_unlock(&p->mu);
    } else {
        report(p, fn, ctx);
    }
    if (!p->stop && p->emit_next < n) { /* cannot happen: report runs to the end or a stop */
        pthread_mutex_lock(&p->mu);
        set_stop(p, "pipeline: internal error");
        pthread_mutex_unlock(&p->mu);
    }
    for (int k = 0; k < started; k++)
        pthread_join(wt[k], NULL);
    if (loader_ok)
        pthread_join(lt, NULL);
    free(wt);
    vr_loader_destroy(l);
    if (p->stop)
        vf_fail(err, errlen, "%s", p->stop_msg);
    else
        rc = 0;
out:
    p->st.seconds = now_s() - t0;
    p->st.backend = p->backend ? p->backend : "none";
    p->st.threads = p->threads;
    p->st.batch = p->batch;
    p->st.lanes = p->nlanes;
    p->st.window = p->window;
    if (st)
        *st = p->st;
    teardown(p);
    free(p);
    return rc;
}
