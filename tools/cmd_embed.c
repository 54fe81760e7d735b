/* vireo embed: runs a model over images through the pipeline
 * (runtime/pipeline.h) and writes its output per image as one row of f32
 * (dequantized when the output is quantized: scale·(q − zero)) to OUT, raw
 * little-endian, N×D with D = the output value's h·w·c, and the path of each
 * row to OUT.paths (one per line, in row order, as opened: relative paths
 * are relative to the working directory). Both files are written under a
 * ".part" name and renamed when complete. An image that cannot be read or
 * decoded is reported and skipped; the exit status is non-zero only if no
 * image worked (or on a model / output error).
 *
 * Images: IMAGE arguments, and --images DIR|@LIST (runtime/filelist.h for the
 * rules), in the order given. Progress on stderr: an updating line (count,
 * rate, ETA) on a terminal, a plain line every 10 s otherwise. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "runtime/filelist.h"
#include "runtime/model.h"
#include "runtime/pipeline.h"

static const char usage_text[] =
    "usage: vireo embed -m MODEL.vwt -o OUT.f32 [options] [IMAGE...] [--images DIR|@LIST]...\n"
    "  --images DIR     every .jpg/.jpeg/.png/.bmp below DIR (recursive, sorted)\n"
    "  --images @LIST   the paths in LIST, one per line (relative ones: to LIST's directory)\n"
    "  -t THREADS       worker threads (default: the CPUs this process may use)\n"
    "  -b BATCH         images per model run (default 4)\n"
    "  --lanes L        model runs at once (default: THREADS)\n"
    "  --lane-threads P kernel threads per model run (default 1; THREADS when --lanes 1)\n"
    "  --memory MB      cap on the pipeline's buffers (default 256)\n"
    "  --queue-depth Q  file reads in flight (default 64)\n"
    "  --pread          read with pread, not io_uring\n"
    "  -q, --quiet      no progress line\n"
    "writes OUT (N x D little-endian f32) and OUT.paths (the path of each row)\n";

static int write_f32_le(FILE *f, const float *x, size_t n)
{
    uint8_t b[4 * 256];
    while (n) {
        size_t k = n < 256 ? n : 256;
        for (size_t i = 0; i < k; i++) {
            uint32_t u;
            memcpy(&u, &x[i], 4);
            b[4 * i] = (uint8_t)u;
            b[4 * i + 1] = (uint8_t)(u >> 8);
            b[4 * i + 2] = (uint8_t)(u >> 16);
            b[4 * i + 3] = (uint8_t)(u >> 24);
        }
        if (fwrite(b, 4, k, f) != k)
            return -1;
        x += k;
        n -= k;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct embed_ctx {
    FILE *rows, *paths;
    const char *outp;
    size_t total, done, ok, skipped;
    double t0, last;
    int tty, quiet, line_shown;
} embed_ctx;

static void fmt_eta(char *b, size_t n, double s)
{
    long t = s > 0 && s < 1e8 ? (long)(s + 0.5) : 0;
    if (t >= 3600)
        snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(b, n, "%ld:%02ld", t / 60, t % 60);
}

static void progress(embed_ctx *c, double t)
{
    double el = t - c->t0, rate = el > 0 ? (double)c->done / el : 0;
    char eta[32];
    fmt_eta(eta, sizeof eta, rate > 0 ? (double)(c->total - c->done) / rate : 0);
    if (c->tty) {
        fprintf(stderr, "\r\033[Kvireo embed: %zu/%zu images (%zu skipped), %.1f images/s, ETA %s",
                c->done, c->total, c->skipped, rate, eta);
        c->line_shown = 1;
    } else {
        fprintf(stderr, "vireo embed: %zu/%zu images (%zu skipped), %.1f images/s, ETA %s\n",
                c->done, c->total, c->skipped, rate, eta);
    }
    fflush(stderr);
    c->last = t;
}

static int on_image(void *ctx, const vr_pipeline_item *it)
{
    embed_ctx *c = ctx;
    c->done++;
    if (it->error) {
        if (c->line_shown)
            fputs("\r\033[K", stderr);
        c->line_shown = 0;
        fprintf(stderr, "vireo embed: skipped %s\n", it->error);
        c->skipped++;
    } else {
        if (write_f32_le(c->rows, it->embedding, it->dim) || fputs(it->path, c->paths) < 0 ||
            fputc('\n', c->paths) == EOF) {
            fprintf(stderr, "vireo embed: %s: write error: %s\n", c->outp, strerror(errno));
            return 1;
        }
        c->ok++;
    }
    if (!c->quiet) {
        double t = now_s();
        if (t - c->last >= (c->tty ? 0.25 : 10.0))
            progress(c, t);
    }
    return 0;
}

/* Options with a value: returns 1 and sets *v if argv[*i] is `name` with a value. */
static int opt(int argc, char **argv, int *i, const char *name, const char **v)
{
    if (strcmp(argv[*i], name) || *i + 1 >= argc)
        return 0;
    *v = argv[++*i];
    return 1;
}

static int parse_int(const char *s, const char *what, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "vireo embed: %s must be an integer in %ld..%ld, not '%s'\n", what, lo, hi,
                s);
        return -1;
    }
    *out = v;
    return 0;
}

static int finish_file(FILE *f, const char *part, const char *final, int ok)
{
    int bad = fclose(f) != 0;
    if (!ok || bad) {
        unlink(part);
        return bad ? -1 : 0;
    }
    if (rename(part, final)) {
        fprintf(stderr, "vireo embed: %s: %s\n", final, strerror(errno));
        unlink(part);
        return -1;
    }
    return 0;
}

int cmd_embed(int argc, char **argv)
{
    const char *model = NULL, *outp = NULL, *v;
    vr_pipeline_opts po = {0};
    vr_filelist fl = {0};
    int quiet = 0, rc = 1;
    char err[512];
    for (int i = 1; i < argc; i++) {
        long x;
        if (opt(argc, argv, &i, "-m", &v)) {
            model = v;
        } else if (opt(argc, argv, &i, "-o", &v)) {
            outp = v;
        } else if (opt(argc, argv, &i, "-t", &v)) {
            if (parse_int(v, "-t", 1, 256, &x))
                goto done2;
            po.threads = (int)x;
        } else if (opt(argc, argv, &i, "-b", &v)) {
            if (parse_int(v, "-b", 1, 64, &x))
                goto done2;
            po.batch = (int)x;
        } else if (opt(argc, argv, &i, "--lanes", &v)) {
            if (parse_int(v, "--lanes", 1, 256, &x))
                goto done2;
            po.lanes = (int)x;
        } else if (opt(argc, argv, &i, "--lane-threads", &v)) {
            if (parse_int(v, "--lane-threads", 1, 64, &x))
                goto done2;
            po.lane_threads = (int)x;
        } else if (opt(argc, argv, &i, "--memory", &v)) {
            if (parse_int(v, "--memory", 1, 1 << 20, &x))
                goto done2;
            po.memory_mb = (unsigned)x;
        } else if (opt(argc, argv, &i, "--queue-depth", &v)) {
            if (parse_int(v, "--queue-depth", 1, 4096, &x))
                goto done2;
            po.queue_depth = (unsigned)x;
        } else if (opt(argc, argv, &i, "--images", &v)) {
            if (vr_filelist_add_spec(&fl, v, err, sizeof err)) {
                fprintf(stderr, "vireo embed: %s\n", err);
                goto done2;
            }
        } else if (!strcmp(argv[i], "--pread")) {
            po.force_pread = 1;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage_text, stdout);
            rc = 0;
            goto done2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "vireo embed: unknown option or missing value: %s\n%s", argv[i],
                    usage_text);
            rc = 2;
            goto done2;
        } else if (vr_filelist_add(&fl, argv[i])) {
            fprintf(stderr, "vireo embed: out of memory\n");
            goto done2;
        }
    }
    if (!model || !outp || fl.n == 0) {
        fprintf(stderr, "%s%s", fl.n == 0 && model && outp ? "vireo embed: no images\n" : "",
                usage_text);
        rc = 2;
        goto done2;
    }
    /* OUT.paths has one path per line: a path with a line break cannot be
     * listed, so it is skipped like an unreadable image. */
    size_t kept = 0, unlistable = 0;
    for (size_t i = 0; i < fl.n; i++) {
        if (strpbrk(fl.paths[i], "\n\r")) {
            fprintf(stderr, "vireo embed: skipped a path with a line break (cannot be listed in "
                            "%s.paths)\n", outp);
            free(fl.paths[i]);
            unlistable++;
        } else {
            fl.paths[kept++] = fl.paths[i];
        }
    }
    fl.n = kept;

    vr_model *m = NULL;
    if (vr_model_open(model, &m, err, sizeof err)) {
        fprintf(stderr, "vireo embed: %s\n", err);
        goto done2;
    }
    size_t plen = strlen(outp) + 16;
    char *rows_part = malloc(plen), *paths_final = malloc(plen), *paths_part = malloc(plen);
    embed_ctx c = {.outp = outp, .total = fl.n, .tty = isatty(2), .quiet = quiet};
    if (!rows_part || !paths_final || !paths_part)
        goto done;
    snprintf(rows_part, plen, "%s.part", outp);
    snprintf(paths_final, plen, "%s.paths", outp);
    snprintf(paths_part, plen, "%s.paths.part", outp);
    c.rows = fopen(rows_part, "wb");
    c.paths = c.rows ? fopen(paths_part, "w") : NULL;
    if (!c.rows || !c.paths) {
        fprintf(stderr, "vireo embed: %s: cannot create: %s\n", c.rows ? paths_part : rows_part,
                strerror(errno));
        if (c.rows)
            finish_file(c.rows, rows_part, outp, 0);
        goto done;
    }
    c.t0 = c.last = now_s();
    vr_pipeline_stats st;
    int bad = vr_pipeline_embed(m, (const char *const *)fl.paths, fl.n, &po, on_image, &c, &st,
                                err, sizeof err);
    if (c.line_shown)
        fputs("\r\033[K", stderr);
    if (bad)
        fprintf(stderr, "vireo embed: %s\n", err);
    int ok = !bad && c.ok > 0;
    if (finish_file(c.rows, rows_part, outp, ok) | finish_file(c.paths, paths_part, paths_final, ok)) {
        fprintf(stderr, "vireo embed: %s: write error\n", outp);
        ok = 0;
        bad = 1;
    }
    if (!bad) {
        fprintf(stderr,
                "vireo embed: N=%zu D=%zu (%zu of %zu images, %zu skipped) in %.2f s, %.1f "
                "images/s [%s, %d threads, %d lanes x %d, batch %d] -> %s, %s\n",
                c.ok, vr_pipeline_dim(m), c.ok, fl.n + unlistable, c.skipped + unlistable,
                st.seconds, st.seconds > 0 ? (double)c.done / st.seconds : 0, st.backend,
                st.threads, st.lanes, st.lane_threads, st.batch, outp, paths_final);
        if (c.ok == 0)
            fprintf(stderr, "vireo embed: no image could be embedded; %s not written\n", outp);
    }
    rc = ok ? 0 : 1;
done:
    free(rows_part);
    free(paths_final);
    free(paths_part);
    vr_model_close(m);
done2:
    vr_filelist_free(&fl);
    return rc;
}
