/* vireo embed: runs a model over images through the pipeline
 * (runtime/pipeline.h) and writes its output per image as one row of f32
 * (dequantized when the output is quantized: scale·(q − zero)) to OUT, raw
 * little-endian, N×D with D = the output value's h·w·c, and the path of each
 * row to OUT.paths (one per line, in row order, as opened: relative paths
 * are relative to the working directory). Both files are written under a
 * ".part" name and renamed when complete (so an existing OUT that is not a
 * regular file, /dev/null or a FIFO, is refused rather than replaced). An image that cannot be read or
 * decoded is reported and skipped; the exit status is non-zero only if no
 * image worked (or on a model / output error).
 *
 * Images: IMAGE arguments, and --images DIR|@LIST (runtime/filelist.h for the
 * rules), in the order given. Progress on stderr (tools/progress.h): an
 * updating line (count, rate, ETA) on a terminal, a plain line every 10 s
 * otherwise. --features writes the model's pooled features instead of its
 * output (runtime/features.h: what retrieval uses from a classifier). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"
#include "runtime/features.h"
#include "runtime/filelist.h"
#include "runtime/model.h"
#include "runtime/pipeline.h"

static const char usage_text[] =
    "usage: vireo embed -m MODEL.vwt -o OUT.f32 [options] [IMAGE...] [--images DIR|@LIST]...\n"
    "  --images DIR     every .jpg/.jpeg/.png/.bmp below DIR (recursive, sorted)\n"
    "  --images @LIST   the paths in LIST, one per line (relative ones: to LIST's directory)\n"
    "  -t THREADS       worker threads (default: the CPUs this process may use)\n"
    "  -b BATCH         images per model run (default 1)\n"
    "  --lanes L        model runs at once (default: THREADS)\n"
    "  --lane-threads P kernel threads per model run (default 1; THREADS when --lanes 1)\n"
    "  --memory MB      cap on the pipeline's buffers (default 256)\n"
    "  --queue-depth Q  file reads in flight (default 64)\n"
    "  --pread          read with pread, not io_uring\n"
    "  --scaled-decode  decode JPEGs DCT-scaled (faster; not equal to a full-size decode)\n"
    "  --features       the model's pooled features (before a classifier head) as rows\n"
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

typedef struct embed_ctx {
    FILE *rows, *paths;
    const char *outp;
    size_t ok;
    progress pr;
} embed_ctx;

static int on_image(void *ctx, const vr_pipeline_item *it)
{
    embed_ctx *c = ctx;
    if (it->error) {
        progress_clear(&c->pr);
        fprintf(stderr, "vireo embed: skipped %s\n", it->error);
    } else if (write_f32_le(c->rows, it->embedding, it->dim) || fputs(it->path, c->paths) < 0 ||
               fputc('\n', c->paths) == EOF) {
        progress_clear(&c->pr);
        fprintf(stderr, "vireo embed: %s: write error: %s\n", c->outp, strerror(errno));
        return 1;
    } else {
        c->ok++;
    }
    progress_step(&c->pr, it->error != NULL);
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
    int quiet = 0, features = 0, rc = 1;
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
        } else if (!strcmp(argv[i], "--scaled-decode")) {
            po.scaled_decode = 1;
        } else if (!strcmp(argv[i], "--features")) {
            features = 1;
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
    embed_ctx c = {.outp = outp};
    if (!rows_part || !paths_final || !paths_part)
        goto done;
    if (features && vr_model_use_features(m, err, sizeof err) <= 0) {
        fprintf(stderr, "vireo embed: %s: %s\n", model, err);
        goto done;
    }
    /* OUT and OUT.paths are renamed into place: a device or FIFO there
     * (-o /dev/null run as root) would be replaced by a regular file. */
    struct stat sb;
    const char *special = NULL;
    snprintf(paths_final, plen, "%s.paths", outp);
    if (stat(outp, &sb) == 0 && !S_ISREG(sb.st_mode))
        special = outp;
    else if (stat(paths_final, &sb) == 0 && !S_ISREG(sb.st_mode))
        special = paths_final;
    if (special) {
        fprintf(stderr,
                "vireo embed: %s: exists and is not a regular file (OUT and OUT.paths are "
                "written under .part names and renamed into place)\n",
                special);
        goto done;
    }
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
    progress_start(&c.pr, "vireo embed", "images", fl.n, quiet);
    vr_pipeline_stats st;
    int bad = vr_pipeline_embed(m, (const char *const *)fl.paths, fl.n, &po, on_image, &c, &st,
                                err, sizeof err);
    progress_clear(&c.pr);
    if (bad)
        fprintf(stderr, "vireo embed: %s\n", err);
    int ok = !bad && c.ok > 0;
    int bad_rows = finish_file(c.rows, rows_part, outp, ok);
    if (finish_file(c.paths, paths_part, paths_final, ok) || bad_rows) {
        fprintf(stderr, "vireo embed: %s: write error\n", outp);
        ok = 0;
        bad = 1;
    }
    if (!bad) {
        fprintf(stderr,
                "vireo embed: N=%zu D=%zu (%zu of %zu images, %zu skipped) in %.2f s, %.1f "
                "images/s [%s, %d threads, %d lanes x %d, batch %d%s] -> %s, %s\n",
                c.ok, vr_pipeline_dim(m), c.ok, fl.n + unlistable, c.pr.skipped + unlistable,
                st.seconds, st.seconds > 0 ? (double)fl.n / st.seconds : 0, st.backend,
                st.threads, st.lanes, st.lane_threads, st.batch,
                po.scaled_decode ? ", DCT-scaled decode" : "", outp, paths_final);
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
