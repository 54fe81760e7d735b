/* vireo-bench pipeline: the image pipeline's stages and the whole of it.
 *
 * Modes (one row each per configuration; --json: one object per line):
 *   data      each set: how many files, mean megapixels and KiB, where from
 *   load      the loader alone (runtime/loader.h) reading every file of a set:
 *             pread vs io_uring, cold (pages dropped with posix_fadvise
 *             DONTNEED before each run; the row says how much stayed cached)
 *             and hot
 *   decode    sequential read + decode + resize to the model input, one
 *             thread, full-size vs DCT-scaled JPEG decoding; timed on the
 *             thread's CPU clock, so load from other processes counts little
 *   loader    the pipeline without the model (read + decode + preprocess on
 *             `threads` workers), hot, full vs scaled decoding
 *   model     the model alone, `threads` lanes of one thread each, on a
 *             preprocessed batch in memory
 *   pipeline  everything (runtime/pipeline.h) over the GroceryStore set, per
 *             model, threads, layout (lanes: one model run per worker;
 *             shared: one run at a time on a pool of all threads), decoding
 *             and batch; hot, plus one cold row per model
 *   target    the targets, computed from the rows above
 * Multi-thread rows are timed on the wall clock; cpu_ms_per_image (user +
 * sys of the process per image) is given beside, as it is robust to the
 * machine being shared. Medians over --runs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"
#include "pipeline.h"
#include "runtime/loader.h"
#include "runtime/pipeline.h"
#include "runtime/preprocess.h"

#define MAX_SETS 4
#define MAX_MODELS 4
#define MAX_RUNS 16

typedef struct popts {
    int json, quick, runs, generate;
    int threads[BENCH_MAX_THREADS], nthreads;
    size_t grocery_images, camera_images;
    const char *mode; /* only this mode (NULL: all) */
    const char *sets[MAX_SETS];
    int nsets;
    const char *models[MAX_MODELS];
    int nmodels;
} popts;

typedef struct prow {
    const char *mode, *set, *backend, *cache, *decode, *model, *layout, *clock;
    size_t images;
    int threads, batch;
    double images_per_s, cpu_ms_per_image, mb_per_s;
    double cached_after_drop;          /* load cold: fraction of pages still cached, -1 unknown */
    double load_ms, decode_ms, model_ms; /* pipeline: per image, summed over threads */
    double want, ratio, ratio_cpu;     /* target rows (ratio_cpu: from CPU time, 0 unknown) */
    int met;
    const char *note;
} prow;

/* Figures kept for the target rows. */
static struct {
    double dct_full, dct_scaled;           /* decode, camera-baseline */
    double loader_full[BENCH_MAX_THREADS + 1], loader_scaled[BENCH_MAX_THREADS + 1]; /* grocery */
    double mnv2[BENCH_MAX_THREADS + 1];    /* model alone */
    /* the same as CPU ms per image (robust when the machine is shared) */
    double loader_full_cpu[BENCH_MAX_THREADS + 1], loader_scaled_cpu[BENCH_MAX_THREADS + 1];
    double mnv2_cpu[BENCH_MAX_THREADS + 1];
} g_fig;

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static double thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ output */
static void jstr(const char *k, const char *v)
{
    if (!v)
        return;
    printf(",\"%s\":\"", k);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void jnum(const char *k, double v, int show)
{
    if (show)
        printf(",\"%s\":%.4g", k, v);
}

static void emit(const popts *o, const prow *r)
{
    if (o->json) {
        printf("{\"bench\":\"pipeline\",\"mode\":\"%s\"", r->mode);
        jstr("set", r->set);
        jnum("images", (double)r->images, r->images > 0);
        jnum("threads", r->threads, r->threads > 0);
        jnum("images_per_s", r->images_per_s, r->images_per_s > 0);
        jnum("cpu_ms_per_image", r->cpu_ms_per_image, r->cpu_ms_per_image > 0);
        jnum("mb_per_s", r->mb_per_s, r->mb_per_s > 0);
        jstr("backend", r->backend);
        jstr("cache", r->cache);
        jnum("cached_after_drop", r->cached_after_drop, r->cache && !strcmp(r->cache, "cold"));
        jstr("decode", r->decode);
        jstr("model", r->model);
        jstr("layout", r->layout);
        jnum("batch", r->batch, r->batch > 0);
        jnum("load_ms_per_image", r->load_ms, r->load_ms > 0);
        jnum("decode_ms_per_image", r->decode_ms, r->decode_ms > 0);
        jnum("model_ms_per_image", r->model_ms, r->model_ms > 0);
        jstr("clock", r->clock);
        if (!strcmp(r->mode, "target")) {
            jnum("value", r->ratio, 1);
            jnum("value_cpu", r->ratio_cpu, r->ratio_cpu > 0);
            jnum("want", r->want, 1);
            printf(",\"met\":%s", r->met ? "true" : "false");
        }
        jstr("note", r->note);
        printf("}\n");
    } else {
        char what[160] = "";
        const char *parts[] = {r->backend, r->cache, r->decode, r->model, r->layout};
        for (size_t k = 0; k < sizeof parts / sizeof *parts; k++)
            if (parts[k])
                snprintf(what + strlen(what), sizeof what - strlen(what), "%s%s",
                         what[0] ? " " : "", parts[k]);
        if (r->batch)
            snprintf(what + strlen(what), sizeof what - strlen(what), " b%d", r->batch);
        if (!strcmp(r->mode, "target"))
            printf("%-9s %-20s %s: %.2f (want >= %.2f) %s; from CPU time %.2f\n", r->mode,
                   r->set ? r->set : "", r->note, r->ratio, r->want, r->met ? "MET" : "NOT MET",
                   r->ratio_cpu);
        else
            printf("%-9s %-20s %6zu %2d %-36s %9.1f %8.2f%s%s\n", r->mode, r->set ? r->set : "",
                   r->images, r->threads, what, r->images_per_s, r->cpu_ms_per_image,
                   r->note ? "  " : "", r->note ? r->note : "");
    }
    fflush(stdout);
}

/* -------------------------------------------------------------------- load */
static void bench_load(const popts *o, const pb_set *s)
{
    const char *const *paths = (const char *const *)s->files.paths;
    size_t n = s->files.n;
    vr_loaded *out = calloc(n, sizeof *out);
    if (!out)
        return;
    for (int be = 0; be < 2; be++) {
        char err[256];
        vr_loader_opts lo = {.force_pread = be == 0};
        vr_loader *l = vr_loader_create(&lo, err, sizeof err);
        if (!l)
            continue;
        const char *backend = be == 0 ? "pread" : "io_uring";
        if (strcmp(vr_loader_backend(l), backend)) {
            prow r = {.mode = "load", .set = s->name, .backend = backend,
                      .note = "skipped: io_uring refused here"};
            emit(o, &r);
            vr_loader_destroy(l);
            continue;
        }
        for (int cold = 1; cold >= 0; cold--) {
            double ips[MAX_RUNS], cpu[MAX_RUNS], mbs[MAX_RUNS], cached = -1;
            if (!cold) { /* warm the cache */
                vr_loader_read(l, paths, n, out);
                vr_loaded_free(out, n);
            }
            for (int k = 0; k < o->runs; k++) {
                if (cold)
                    cached = pb_drop_cache(&s->files);
                double c0 = cpu_now(), t0 = bench_now();
                int failed = vr_loader_read(l, paths, n, out);
                double dt = bench_now() - t0, dc = cpu_now() - c0;
                double bytes = 0;
                for (size_t i = 0; i < n; i++)
                    bytes += (double)out[i].size;
                vr_loaded_free(out, n);
                ips[k] = (double)(n - (size_t)(failed > 0 ? failed : 0)) / dt;
                mbs[k] = bytes / dt / 1e6;
                cpu[k] = 1e3 * dc / (double)n;
            }
            prow r = {.mode = "load", .set = s->name, .images = n, .threads = 1,
                      .backend = backend, .cache = cold ? "cold" : "hot", .clock = "wall",
                      .images_per_s = bench_median(ips, o->runs),
                      .mb_per_s = bench_median(mbs, o->runs),
                      .cpu_ms_per_image = bench_median(cpu, o->runs), .cached_after_drop = cached};
            emit(o, &r);
        }
        vr_loader_destroy(l);
    }
    free(out);
}

/* ------------------------------------------------------------------ decode */
static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = b ? (size_t)n : 0;
    return b;
}

static void bench_decode(const popts *o, const pb_set *s, const vr_preproc *pp0,
                         const char *model)
{
    vr_preproc pp = *pp0;
    void *tensor = malloc(vr_preproc_bytes(&pp));
    if (!tensor)
        return;
    for (int scaled = 0; scaled < 2; scaled++) {
        pp.scaled_decode = scaled;
        double ips[MAX_RUNS];
        size_t ok = 0;
        for (int k = 0; k < o->runs; k++) {
            double t0 = thread_cpu_now();
            ok = 0;
            for (size_t i = 0; i < s->files.n; i++) {
                size_t len;
                uint8_t *buf = read_all(s->files.paths[i], &len);
                char err[256];
                ok += buf && !vr_preprocess_encoded(&pp, buf, len, NULL, tensor, err, sizeof err);
                free(buf);
            }
            ips[k] = (double)ok / (thread_cpu_now() - t0);
        }
        double v = bench_median(ips, o->runs);
        prow r = {.mode = "decode", .set = s->name, .images = ok, .threads = 1,
                  .decode = scaled ? "scaled" : "full", .model = model, .clock = "thread-cpu",
                  .images_per_s = v, .cpu_ms_per_image = 1e3 / v,
                  .note = "sequential read + decode + resize to the model input"};
        emit(o, &r);
        if (!strcmp(s->name, "camera-baseline")) {
            if (scaled)
                g_fig.dct_scaled = v;
            else
                g_fig.dct_full = v;
        }
    }
    free(tensor);
}

/* ---------------------------------------------------------- loader, pipeline */
typedef struct count_ctx {
    size_t ok, failed;
} count_ctx;

static int count_item(void *ctx, const vr_pipeline_item *it)
{
    count_ctx *c = ctx;
    if (it->error)
        c->failed++;
    else
        c->ok++;
    return 0;
}

/* Runs the pipeline o->runs times; fills r's rates (medians). */
static int run_pipeline(const popts *o, const vr_model *m, const pb_set *s,
                        const vr_pipeline_opts *po, int cold, prow *r)
{
    double ips[MAX_RUNS], cpu[MAX_RUNS], ld[MAX_RUNS], dc[MAX_RUNS], md[MAX_RUNS];
    for (int k = 0; k < o->runs; k++) {
        if (cold)
            r->cached_after_drop = pb_drop_cache(&s->files);
        count_ctx c = {0};
        vr_pipeline_stats st;
        char err[512];
        double c0 = cpu_now();
        if (vr_pipeline_embed(m, (const char *const *)s->files.paths, s->files.n, po, count_item,
                              &c, &st, err, sizeof err)) {
            fprintf(stderr, "vireo-bench pipeline: %s\n", err);
            return -1;
        }
        double n = (double)s->files.n;
        ips[k] = n / st.seconds;
        cpu[k] = 1e3 * (cpu_now() - c0) / n;
        ld[k] = 1e3 * st.load_s / n;
        dc[k] = 1e3 * st.decode_s / n;
        md[k] = 1e3 * st.model_s / n;
        r->images = c.ok;
        r->backend = st.backend;
    }
    r->images_per_s = bench_median(ips, o->runs);
    r->cpu_ms_per_image = bench_median(cpu, o->runs);
    r->load_ms = bench_median(ld, o->runs);
    r->decode_ms = bench_median(dc, o->runs);
    r->model_ms = bench_median(md, o->runs);
    r->clock = "wall";
    return 0;
}

static void bench_loader(const popts *o, const pb_set *s, const vr_model *m, const char *model)
{
    for (int ti = 0; ti < o->nthreads; ti++) {
        int t = o->threads[ti];
        for (int scaled = 0; scaled < 2; scaled++) {
            vr_pipeline_opts po = {.threads = t, .preprocess_only = 1, .scaled_decode = scaled};
            prow r = {.mode = "loader", .set = s->name, .threads = t, .cache = "hot",
                      .decode = scaled ? "scaled" : "full", .model = model,
                      .note = "read + decode + preprocess on all workers, no model"};
            if (run_pipeline(o, m, s, &po, 0, &r))
                return;
            emit(o, &r);
            if (!strcmp(s->name, "grocery")) {
                (scaled ? g_fig.loader_scaled : g_fig.loader_full)[t] = r.images_per_s;
                (scaled ? g_fig.loader_scaled_cpu : g_fig.loader_full_cpu)[t] = r.cpu_ms_per_image;
            }
        }
    }
}

typedef struct model_job {
    vr_plan *plan;
    int reps;
    const void *in;
    void *out;
    int rc;
} model_job;

static void *model_thread(void *arg)
{
    model_job *j = arg;
    for (int k = 0; !j->rc && k < j->reps; k++)
        j->rc = vr_plan_run(j->plan, NULL, j->in, j->out) != 0;
    return NULL;
}

static void bench_model(const popts *o, const vr_model *m, const char *model, const pb_set *s)
{
    /* one real image, preprocessed, repeated over the batch */
    enum { MAX_BATCH = 4 };
    vr_preproc pp;
    char err[256];
    if (vr_preproc_from_model(m, &pp, err, sizeof err) || s->files.n == 0)
        return;
    size_t tb = vr_preproc_bytes(&pp), len;
    uint8_t *in = malloc(tb * MAX_BATCH), *buf = read_all(s->files.paths[0], &len);
    if (!in || !buf || vr_preprocess_encoded(&pp, buf, len, NULL, in, err, sizeof err)) {
        free(in);
        free(buf);
        return;
    }
    free(buf);
    for (int k = 1; k < MAX_BATCH; k++)
        memcpy(in + (size_t)k * tb, in, tb);
    for (int batch = 1; batch <= MAX_BATCH; batch *= 4) {
        int reps = (o->quick ? 8 : 200) / batch; /* batches per thread */
        for (int ti = 0; ti < o->nthreads; ti++) {
            int t = o->threads[ti];
            double ips[MAX_RUNS], cpu[MAX_RUNS];
            /* plans made and their arenas touched before the clock starts */
            model_job jobs[BENCH_MAX_THREADS] = {{0}};
            const vr_value *ov = vr_graph_value(m->graph, vr_graph_output(m->graph));
            size_t ob = (size_t)batch * ov->h * ov->w * ov->c * vr_dtype_size(ov->dtype);
            int ready = 1;
            for (int k = 0; k < t; k++) {
                jobs[k] = (model_job){vr_plan_create(m->graph, batch, vk_ops_get(), err,
                                                     sizeof err), reps, in, malloc(ob), 0};
                ready &= jobs[k].plan && jobs[k].out &&
                         vr_plan_run(jobs[k].plan, NULL, in, jobs[k].out) == 0;
            }
            for (int r = 0; ready && r < o->runs; r++) {
                pthread_t th[BENCH_MAX_THREADS];
                double c0 = cpu_now(), t0 = bench_now();
                int started = 0;
                for (int k = 0; k < t; k++)
                    if (pthread_create(&th[k], NULL, model_thread, &jobs[k]) == 0)
                        started++;
                for (int k = 0; k < started; k++)
                    pthread_join(th[k], NULL);
                double dt = bench_now() - t0, imgs = (double)started * reps * batch;
                ips[r] = imgs / dt;
                cpu[r] = 1e3 * (cpu_now() - c0) / imgs;
                for (int k = 0; k < t; k++)
                    ready &= !jobs[k].rc;
            }
            for (int k = 0; k < t; k++) {
                vr_plan_free(jobs[k].plan);
                free(jobs[k].out);
            }
            if (!ready) {
                fprintf(stderr, "vireo-bench pipeline: %s: the model failed to plan or run\n",
                        model);
                continue;
            }
            prow r = {.mode = "model", .set = s->name, .images = (size_t)t * reps * batch,
                      .threads = t, .model = model, .layout = "lanes", .batch = batch,
                      .clock = "wall", .images_per_s = bench_median(ips, o->runs),
                      .cpu_ms_per_image = bench_median(cpu, o->runs),
                      .note = "one preprocessed image repeated; a plan per thread"};
            emit(o, &r);
            if (!strcmp(model, "mnv2") && batch == VR_PIPELINE_DEFAULT_BATCH) {
                g_fig.mnv2[t] = r.images_per_s;
                g_fig.mnv2_cpu[t] = r.cpu_ms_per_image;
            }
        }
    }
    free(in);
}

static void bench_pipeline(const popts *o, const pb_set *s, const vr_model *m, const char *model)
{
    int tmax = o->threads[o->nthreads - 1];
    for (int ti = 0; ti < o->nthreads; ti++) {
        int t = o->threads[ti];
        for (int layout = 0; layout < (t > 1 ? 2 : 1); layout++) {
            for (int scaled = 0; scaled < 2; scaled++) {
                for (int batch = 1; batch <= (o->quick ? 1 : 4); batch *= 4) {
                    vr_pipeline_opts po = {.threads = t, .batch = batch, .scaled_decode = scaled,
                                           .lanes = layout ? 1 : t, .lane_threads = layout ? t : 1};
                    prow r = {.mode = "pipeline", .set = s->name, .threads = t, .cache = "hot",
                              .decode = scaled ? "scaled" : "full", .model = model,
                              .layout = layout ? "shared" : "lanes", .batch = batch};
                    if (run_pipeline(o, m, s, &po, 0, &r))
                        return;
                    emit(o, &r);
                }
            }
        }
    }
    vr_pipeline_opts po = {.threads = tmax};
    prow r = {.mode = "pipeline", .set = s->name, .threads = tmax, .cache = "cold",
              .decode = "full", .model = model, .layout = "lanes",
              .batch = VR_PIPELINE_DEFAULT_BATCH};
    if (run_pipeline(o, m, s, &po, 1, &r) == 0)
        emit(o, &r);
}

static void targets(const popts *o)
{
    if (g_fig.dct_full > 0 && g_fig.dct_scaled > 0) {
        double v = g_fig.dct_scaled / g_fig.dct_full;
        prow r = {.mode = "target", .set = "camera-baseline", .ratio = v, .ratio_cpu = v,
                  .want = 1.5, .met = v >= 1.5,
                  .note = "DCT-scaled decode vs full decode + resize (speed)"};
        emit(o, &r);
    }
    int t = o->threads[o->nthreads - 1];
    for (int scaled = 0; scaled < 2; scaled++) {
        double l = (scaled ? g_fig.loader_scaled : g_fig.loader_full)[t], mo = g_fig.mnv2[t];
        double lc = (scaled ? g_fig.loader_scaled_cpu : g_fig.loader_full_cpu)[t];
        double mc = g_fig.mnv2_cpu[t];
        if (l > 0 && mo > 0) {
            prow r = {.mode = "target", .set = "grocery", .threads = t, .ratio = l / mo, .want = 3,
                      .ratio_cpu = lc > 0 ? mc / lc : 0, .met = l / mo >= 3,
                      .note = scaled ? "loader alone (scaled decode) vs MobileNetV2 int8, images/s"
                                     : "loader alone (full decode) vs MobileNetV2 int8, images/s"};
            emit(o, &r);
        }
    }
}

/* ------------------------------------------------------------------- main */
static void usage(FILE *f)
{
    fprintf(f,
            "usage: vireo-bench pipeline [FLAGS]\n\n"
            "The image pipeline's stages and the whole of it (bench/pipeline.c says what each\n"
            "mode measures). Sets: grocery (GroceryStore photos, ../shared), camera-baseline and\n"
            "camera-progressive (made into /tmp/vireo-bench-camera by bench/make_camera_set.py\n"
            "when missing), wallpapers (/usr/share/wallpapers, if a wallpaper package is in).\n\n"
            "  --json            one JSON object per line (default: a table)\n"
            "  --quick           a smoke run: 24 GroceryStore photos, the small model,\n"
            "                    1 thread, 1 run, camera sets only if already made\n"
            "  --threads LIST    e.g. 1,2 (default 1,2)\n"
            "  --runs N          runs per row, median reported (default 3)\n"
            "  --images N        GroceryStore photos (default 1000)\n"
            "  --camera-images N camera-sized photos per set (default 24)\n"
            "  --mode M          only load, decode, loader, model or pipeline (and data)\n"
            "  --models LIST     of mnv1-embed, mnv2, mnv1-0.25 (default mnv1-embed,mnv2)\n"
            "  --no-generate     do not make the camera sets when they are missing\n");
}

static int parse_list(const char *s, const char **out, int *n, int max)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (*n == max)
            return -1;
        out[(*n)++] = tok;
    }
    return *n ? 0 : -1;
}

static int want(const popts *o, const char *mode)
{
    return !o->mode || !strcmp(o->mode, mode);
}

int cmd_pipeline(int argc, char **argv)
{
    popts o = {.runs = 3, .generate = 1, .grocery_images = 1000, .camera_images = 24};
    const char *threads = "1,2", *models = "mnv1-embed,mnv2";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json"))
            o.json = 1;
        else if (!strcmp(a, "--quick"))
            o.quick = 1;
        else if (!strcmp(a, "--no-generate"))
            o.generate = 0;
        else if (!strcmp(a, "--threads") && v)
            threads = argv[++i];
        else if (!strcmp(a, "--models") && v)
            models = argv[++i];
        else if (!strcmp(a, "--mode") && v)
            o.mode = argv[++i];
        else if (!strcmp(a, "--runs") && v)
            o.runs = atoi(argv[++i]);
        else if (!strcmp(a, "--images") && v)
            o.grocery_images = (size_t)atol(argv[++i]);
        else if (!strcmp(a, "--camera-images") && v)
            o.camera_images = (size_t)atol(argv[++i]);
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "vireo-bench pipeline: unknown flag '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (o.quick) {
        o.runs = 1;
        o.generate = 0;
        o.grocery_images = 24;
        o.camera_images = 4;
        threads = "1";
        models = "mnv1-0.25";
    }
    const char *tl[BENCH_MAX_THREADS];
    if (o.runs < 1 || o.runs > MAX_RUNS || o.grocery_images < 1 || o.camera_images < 1 ||
        parse_list(threads, tl, &o.nthreads, BENCH_MAX_THREADS)) {
        fprintf(stderr, "vireo-bench pipeline: bad --runs (1..%d), --images or --threads\n",
                MAX_RUNS);
        return 2;
    }
    for (int k = 0; k < o.nthreads; k++) {
        o.threads[k] = atoi(tl[k]);
        if (o.threads[k] < 1 || o.threads[k] > BENCH_MAX_THREADS) {
            fprintf(stderr, "vireo-bench pipeline: threads 1..%d\n", BENCH_MAX_THREADS);
            return 2;
        }
    }
    static char mbuf[256];
    snprintf(mbuf, sizeof mbuf, "%s", models);
    o.nmodels = 0;
    for (char *tok = strtok(mbuf, ","); tok && o.nmodels < MAX_MODELS; tok = strtok(NULL, ","))
        o.models[o.nmodels++] = tok;
    char err[512];
    if (vk_ops_init(err, sizeof err)) {
        fprintf(stderr, "vireo-bench: %s\n", err);
        return 1;
    }
    double t0 = bench_now();
    if (!o.json)
        printf("%-9s %-20s %6s %2s %-36s %9s %8s\n", "mode", "set", "images", "t",
               "backend/cache/decode/model/layout", "images/s", "cpu-ms/im");

    /* Sets: made (or found) first, before any thread starts. */
    static const char *const set_names[] = {"grocery", "camera-baseline", "camera-progressive",
                                            "wallpapers"};
    pb_set sets[MAX_SETS];
    int have[MAX_SETS] = {0};
    for (int k = 0; k < MAX_SETS; k++) {
        size_t max = k == 0 ? o.grocery_images : o.camera_images;
        if (pb_set_load(&sets[k], set_names[k], max, o.generate, err, sizeof err)) {
            fprintf(stderr, "vireo-bench pipeline: set %s skipped: %s\n", set_names[k], err);
            prow r = {.mode = "data", .set = set_names[k], .note = err};
            emit(&o, &r);
            continue;
        }
        have[k] = 1;
        fprintf(stderr, "vireo-bench pipeline: set %s: %zu files, %.1f MP, %.0f KiB mean: %s\n",
                set_names[k], sets[k].files.n, sets[k].mean_mp, sets[k].mean_kb, sets[k].source);
        if (o.json) {
            printf("{\"bench\":\"pipeline\",\"mode\":\"data\",\"set\":\"%s\",\"images\":%zu,"
                   "\"mean_mp\":%.3g,\"mean_kib\":%.4g",
                   set_names[k], sets[k].files.n, sets[k].mean_mp, sets[k].mean_kb);
            jstr("source", sets[k].source);
            printf("}\n");
        }
    }
    vr_model *ms[MAX_MODELS] = {0};
    for (int k = 0; k < o.nmodels; k++)
        if (pb_model_open(o.models[k], &ms[k], err, sizeof err)) {
            fprintf(stderr, "vireo-bench pipeline: model %s skipped: %s\n", o.models[k], err);
            ms[k] = NULL;
        }
    /* The decode rows preprocess for the first model that opened. */
    int m0 = -1;
    for (int k = 0; k < o.nmodels && m0 < 0; k++)
        if (ms[k])
            m0 = k;
    vr_preproc pp;
    int have_pp = m0 >= 0 && vr_preproc_from_model(ms[m0], &pp, err, sizeof err) == 0;

    for (int k = 0; k < MAX_SETS; k++) {
        if (!have[k])
            continue;
        if (want(&o, "load"))
            bench_load(&o, &sets[k]);
        if (want(&o, "decode") && have_pp)
            bench_decode(&o, &sets[k], &pp, o.models[m0]);
        if (want(&o, "loader") && have_pp && k == 0)
            bench_loader(&o, &sets[k], ms[m0], o.models[m0]);
    }
    for (int k = 0; k < o.nmodels && have[0]; k++) {
        if (!ms[k])
            continue;
        if (want(&o, "model"))
            bench_model(&o, ms[k], o.models[k], &sets[0]);
        if (want(&o, "pipeline"))
            bench_pipeline(&o, &sets[0], ms[k], o.models[k]);
    }
    targets(&o);
    for (int k = 0; k < o.nmodels; k++)
        vr_model_close(ms[k]);
    for (int k = 0; k < MAX_SETS; k++)
        if (have[k])
            pb_set_free(&sets[k]);
    fprintf(stderr, "vireo-bench pipeline: done in %.1f s\n", bench_now() - t0);
    return 0;
}
