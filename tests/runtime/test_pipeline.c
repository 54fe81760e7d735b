/* runtime/pipeline: the threaded pipeline gives, bit for bit and in list
 * order, what the simple sequential path gives (read the file, vf_image_decode,
 * vr_preprocess, a batch-1 plan, dequantize), on ~50 real images with broken
 * and missing ones mixed in (reported with their path, skipped, order kept),
 * over batch sizes 1/3/8, threads 1/2, both lane layouts, a tiny memory cap,
 * a window of one batch, and the io_uring and pread loaders. Also: the
 * preprocess-only mode, DCT-scaled decoding reaching the decoder, stopping
 * from the callback, an empty list.
 *
 * The model is the Coral MobileNetV1 0.25 128×128 uint8 model (fast at every
 * ISA level); its integer kernels are exact, so "bit for bit" holds for any
 * batch size. Runs once per ISA level: 52 images (46 good), or 20 (17 good)
 * at the slow reference level and under VIREO_TEST_QUICK. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/image.h"
#include "runtime/convert.h"
#include "runtime/loader.h"
#include "runtime/model.h"
#include "runtime/pipeline.h"
#include "runtime/pipeline_internal.h"
#include "runtime/preprocess.h"
#include "testutil.h"

typedef struct ref_item {
    int ok;
    float *emb;
    void *tensor;
} ref_item;

static struct {
    char tmpdir[64];
    vr_model *m;
    char **paths;
    size_t n;
    size_t dim, tbytes;
    ref_item *ref;
    size_t nbroken, nbroken_made;
} G;

static char *dupf(const char *fmt, const char *a, const char *b)
{
    char buf[4096];
    snprintf(buf, sizeof buf, fmt, a, b);
    char *s = strdup(buf);
    assert_non_null(s);
    return s;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* The list: GroceryStore test photos (every 60th), UKBench photos, the
 * Coral BMPs, and broken entries at the start, the end and in between. */
static void build_list(const char *sh, int quick)
{
    size_t cap = 128;
    G.paths = calloc(cap, sizeof *G.paths);
    assert_non_null(G.paths);
    char p[4096], line[1024];
    snprintf(p, sizeof p, "%s/data/grocery/test.txt", sh);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    int want = quick ? 12 : 36, ln = 0;
    /* broken: a missing file first */
    G.paths[G.n++] = dupf("%s/%s", G.tmpdir, "missing.jpg");
    G.nbroken_made++;
    while (fgets(line, sizeof line, f) && want > 0) {
        char *c = strchr(line, ',');
        if (!c || ln++ % 60)
            continue;
        *c = 0;
        G.paths[G.n++] = dupf("%s/data/grocery/%s", sh, line);
        want--;
        if (want % 9 == 4) { /* broken ones between good ones */
            static const char *const broken[] = {"trunc.jpg", "text.jpg", "empty.jpg", "dir.jpg"};
            G.paths[G.n++] = dupf("%s/%s", G.tmpdir, broken[(want / 9) % 4]);
            G.nbroken_made++;
        }
    }
    fclose(f);
    for (int i = 0; i < (quick ? 3 : 8); i++) {
        snprintf(line, sizeof line, "images/ukbench%05d.jpg", 37 * i);
        G.paths[G.n++] = dupf("%s/data/ukbench1000/%s", sh, line);
    }
    G.paths[G.n++] = dupf("%s/models/coral/%s", sh, "cat.bmp");
    G.paths[G.n++] = dupf("%s/models/coral/%s", sh, "grace_hopper.bmp");
    G.paths[G.n++] = dupf("%s/%s", G.tmpdir, "badbmp.bmp"); /* broken: the last entry */
    G.nbroken_made++;

    /* Make the broken files: a JPEG cut in half, text, empty, a directory, a
     * BMP header whose dimensions exceed the data. */
    snprintf(p, sizeof p, "%s/data/ukbench1000/images/ukbench00001.jpg", sh);
    size_t len;
    uint8_t *jpg = tu_read_file(p, &len);
    assert_non_null(jpg);
    snprintf(p, sizeof p, "%s/trunc.jpg", G.tmpdir);
    write_file(p, jpg, len / 2);
    free(jpg);
    snprintf(p, sizeof p, "%s/text.jpg", G.tmpdir);
    write_file(p, "not an image\n", 13);
    snprintf(p, sizeof p, "%s/empty.jpg", G.tmpdir);
    write_file(p, "", 0);
    snprintf(p, sizeof p, "%s/dir.jpg", G.tmpdir);
    assert_int_equal(mkdir(p, 0755), 0);
    uint8_t bmp[54] = {'B', 'M'};
    bmp[10] = 54, bmp[14] = 40, bmp[18] = 0xff, bmp[19] = 0x7f, bmp[22] = 0xff, bmp[23] = 0x7f;
    bmp[26] = 1, bmp[28] = 24;
    snprintf(p, sizeof p, "%s/badbmp.bmp", G.tmpdir);
    write_file(p, bmp, sizeof bmp);
    assert_true(G.n < cap);
}

/* A whole regular file (tu_read_file takes a directory's ftell at face value). */
static uint8_t *read_regular(const char *path, size_t *len)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return NULL;
    return tu_read_file(path, len);
}

/* The simple sequential path, one image at a time. */
static void build_reference(void)
{
    char err[512];
    vr_preproc pp;
    if (vr_preproc_from_model(G.m, &pp, err, sizeof err))
        tu_fail("preproc: %s", err);
    G.tbytes = vr_preproc_bytes(&pp);
    G.dim = vr_pipeline_dim(G.m);
    const vr_value *ov = vr_graph_value(G.m->graph, vr_graph_output(G.m->graph));
    vr_plan *plan = vr_plan_create(G.m->graph, 1, tu_ops(), err, sizeof err);
    if (!plan)
        tu_fail("plan: %s", err);
    void *out = malloc(G.dim * vr_dtype_size(ov->dtype));
    G.ref = calloc(G.n, sizeof *G.ref);
    assert_non_null(out);
    assert_non_null(G.ref);
    for (size_t i = 0; i < G.n; i++) {
        size_t len;
        uint8_t *buf = read_regular(G.paths[i], &len);
        vf_image img;
        if (!buf || vf_image_decode(buf, len, NULL, &img, err, sizeof err)) {
            free(buf);
            G.nbroken++;
            continue;
        }
        free(buf);
        G.ref[i].tensor = malloc(G.tbytes);
        G.ref[i].emb = malloc(G.dim * sizeof(float));
        assert_non_null(G.ref[i].tensor);
        assert_non_null(G.ref[i].emb);
        if (vr_preprocess(&pp, &img, G.ref[i].tensor, err, sizeof err))
            tu_fail("%s: %s", G.paths[i], err);
        vf_image_free(&img);
        assert_int_equal(vr_plan_run(plan, NULL, G.ref[i].tensor, out), 0);
        pl_dequantize(ov, out, G.ref[i].emb, G.dim);
        G.ref[i].ok = 1;
    }
    free(out);
    vr_plan_free(plan);
    /* every broken entry fails, and nothing else */
    assert_int_equal(G.nbroken, G.nbroken_made);
}

static int setup(void **state)
{
    const char *sh = tu_require_shared();
    snprintf(G.tmpdir, sizeof G.tmpdir, "/tmp/vireo-pipeline-XXXXXX");
    if (!mkdtemp(G.tmpdir))
        return -1;
    char src[4096], dst[128], err[512];
    snprintf(src, sizeof src, "%s/models/coral/mobilenet_v1_0.25_128_quant.tflite", sh);
    snprintf(dst, sizeof dst, "%s/m.vwt", G.tmpdir);
    if (vr_convert_tflite(src, dst, NULL, err, sizeof err)) {
        fprintf(stderr, "convert: %s\n", err);
        return -1;
    }
    if (vr_model_open(dst, &G.m, err, sizeof err)) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    /* The reference kernels are ~15x slower than AVX-512 (and ~10 model
     * passes over the list follow): the smaller list there and under qemu. */
    const char *q = getenv("VIREO_TEST_QUICK");
    build_list(sh, (q && *q && strcmp(q, "0")) || !strcmp(tu_level(), "ref"));
    build_reference();
    return 0;
}

static int teardown(void **state)
{
    for (size_t i = 0; i < G.n; i++) {
        free(G.paths[i]);
        free(G.ref[i].emb);
        free(G.ref[i].tensor);
    }
    free(G.paths);
    free(G.ref);
    vr_model_close(G.m);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", G.tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

typedef struct check_ctx {
    size_t next, ok, failed;
    int preprocess_only;
    size_t stop_at; /* return non-zero at this index (0: never) */
    const char *what;
} check_ctx;

static int check_item(void *ctx, const vr_pipeline_item *it)
{
    check_ctx *c = ctx;
    if (it->index != c->next)
        tu_fail("%s: item %zu reported when %zu was due", c->what, it->index, c->next);
    c->next++;
    const ref_item *r = &G.ref[it->index];
    if (it->path != G.paths[it->index])
        tu_fail("%s: item %zu: wrong path", c->what, it->index);
    if (!r->ok) {
        if (!it->error || it->embedding || it->tensor)
            tu_fail("%s: %s should fail", c->what, G.paths[it->index]);
        if (strncmp(it->error, G.paths[it->index], strlen(G.paths[it->index])))
            tu_fail("%s: message '%s' does not start with the path", c->what, it->error);
        c->failed++;
    } else if (it->error) {
        tu_fail("%s: %s failed: %s", c->what, G.paths[it->index], it->error);
    } else if (c->preprocess_only) {
        if (!it->tensor || it->embedding || it->tensor_bytes != G.tbytes ||
            memcmp(it->tensor, r->tensor, G.tbytes))
            tu_fail("%s: %s: tensor differs from the sequential path", c->what,
                    G.paths[it->index]);
        c->ok++;
    } else {
        if (!it->embedding || it->dim != G.dim)
            tu_fail("%s: %s: no embedding", c->what, G.paths[it->index]);
        if (memcmp(it->embedding, r->emb, G.dim * sizeof(float)))
            tu_fail("%s: %s: embedding differs from the sequential path", c->what,
                    G.paths[it->index]);
        c->ok++;
    }
    return c->stop_at && it->index == c->stop_at;
}

/* How many model runs the batching rule (pipeline.c, next_batch) makes for
 * this list: the next `batch` decoded images, failures passed over, shorter
 * only at the list's end or when a window starting at the batch's first
 * image holds fewer. It depends on which images fail, never on timing. */
static size_t expected_batches(int batch, int window)
{
    size_t runs = 0, i = 0;
    for (;;) {
        while (i < G.n && !G.ref[i].ok)
            i++;
        if (i >= G.n)
            return runs;
        size_t end = i + (size_t)window, last = i;
        int r = 0;
        for (size_t j = i; j < G.n && j < end && r < batch; j++)
            if (G.ref[j].ok) {
                r++;
                last = j;
            }
        runs++;
        i = last + 1;
    }
}

static void run_config(const char *what, const vr_pipeline_opts *o)
{
    check_ctx c = {.what = what, .preprocess_only = o->preprocess_only};
    vr_pipeline_stats st;
    char err[512];
    int rc = vr_pipeline_embed(G.m, (const char *const *)G.paths, G.n, o, check_item, &c, &st,
                               err, sizeof err);
    if (rc)
        tu_fail("%s: %s", what, err);
    assert_int_equal(c.next, G.n);
    assert_int_equal(c.failed, G.nbroken);
    assert_int_equal(st.ok, c.ok);
    assert_int_equal(st.failed, c.failed);
    if (!o->preprocess_only) {
        size_t want = expected_batches(st.batch, st.window);
        if (st.batches != want)
            tu_fail("%s: %zu model runs, the batching rule gives %zu", what, st.batches, want);
    }
    printf("%-32s ok %zu failed %zu: %s, %d threads, %d lanes x %d, batch %d, window %d, "
           "%zu model runs, %.2f s\n", what, c.ok, c.failed, st.backend, st.threads, st.lanes,
           st.lane_threads, st.batch, st.window, st.batches, st.seconds);
}

static void test_configurations(void **state)
{
    static const struct {
        const char *what;
        vr_pipeline_opts o;
    } cases[] = {
        {"batch 1, 1 thread", {.threads = 1, .batch = 1}},
        {"batch 3, 2 threads, 2 lanes", {.threads = 2, .batch = 3}},
        {"batch 8, 2 threads, 1 lane x 2", {.threads = 2, .batch = 8, .lanes = 1}},
        {"batch 8, 1 thread, pread", {.threads = 1, .batch = 8, .force_pread = 1}},
        {"batch 3, 2 threads, 1 MB cap", {.threads = 2, .batch = 3, .memory_mb = 1}},
        {"batch 3, window 3, qd 1, pread", {.threads = 2, .batch = 3, .window = 3,
                                            .queue_depth = 1, .force_pread = 1}},
        {"batch 8, window 8, 2 threads", {.threads = 2, .batch = 8, .window = 8}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        run_config(cases[k].what, &cases[k].o);
}

/* The io_uring backend when the kernel allows it (else a note: the pread
 * fallback is what runs, and is covered above). */
static void test_io_uring_backend(void **state)
{
    char err[256];
    vr_loader *l = vr_loader_create(NULL, err, sizeof err);
    assert_non_null(l);
    int uring = !strcmp(vr_loader_backend(l), "io_uring");
    vr_loader_destroy(l);
    if (!uring) {
        printf("io_uring refused here: the pipeline reads with pread (covered)\n");
        return;
    }
    vr_pipeline_opts o = {.threads = 2, .batch = 3, .queue_depth = 4};
    vr_pipeline_stats st;
    check_ctx c = {.what = "io_uring"};
    assert_int_equal(vr_pipeline_embed(G.m, (const char *const *)G.paths, G.n, &o, check_item,
                                       &c, &st, err, sizeof err), 0);
    assert_string_equal(st.backend, "io_uring");
    assert_int_equal(c.next, G.n);
}

static void test_preprocess_only(void **state)
{
    vr_pipeline_opts o = {.threads = 2, .preprocess_only = 1, .window = 2};
    run_config("preprocess only, window 2", &o);
}

static int check_one(void *ctx, const vr_pipeline_item *it)
{
    assert_int_equal(it->index, 0);
    assert_null(it->error);
    assert_non_null(it->embedding);
    assert_memory_equal(it->embedding, G.ref[1].emb, G.dim * sizeof(float));
    return 0;
}

/* scaled_decode reaches the decoder: tensors equal vr_preprocess_encoded's
 * with the flag on (DCT-scaled JPEGs differ from full decodes, so this also
 * shows the flag is not dropped). */
typedef struct scaled_ctx {
    vr_preproc pp;
    size_t checked, differ_from_full;
} scaled_ctx;

static int check_scaled(void *ctx, const vr_pipeline_item *it)
{
    scaled_ctx *c = ctx;
    if (it->error)
        return 0;
    size_t len;
    uint8_t *buf = read_regular(it->path, &len);
    void *want = malloc(G.tbytes);
    char err[256];
    assert_non_null(buf);
    assert_non_null(want);
    if (vr_preprocess_encoded(&c->pp, buf, len, NULL, want, err, sizeof err))
        tu_fail("%s: %s", it->path, err);
    if (memcmp(it->tensor, want, G.tbytes))
        tu_fail("%s: scaled tensor differs from vr_preprocess_encoded's", it->path);
    c->differ_from_full += memcmp(it->tensor, G.ref[it->index].tensor, G.tbytes) != 0;
    c->checked++;
    free(want);
    free(buf);
    return 0;
}

static void test_scaled_decode(void **state)
{
    scaled_ctx c = {0};
    char err[256];
    assert_int_equal(vr_preproc_from_model(G.m, &c.pp, err, sizeof err), 0);
    c.pp.scaled_decode = 1;
    vr_pipeline_opts o = {.threads = 2, .preprocess_only = 1, .scaled_decode = 1};
    assert_int_equal(vr_pipeline_embed(G.m, (const char *const *)G.paths, G.n, &o, check_scaled,
                                       &c, NULL, err, sizeof err), 0);
    assert_int_equal(c.checked, G.n - G.nbroken);
    assert_true(c.differ_from_full > 0); /* the JPEGs here are 2.7x the input or more */
}

static void test_stop_and_edges(void **state)
{
    char err[256];
    vr_pipeline_opts o = {.threads = 2, .batch = 3};
    check_ctx c = {.what = "stop", .stop_at = 10};
    vr_pipeline_stats st;
    assert_int_equal(vr_pipeline_embed(G.m, (const char *const *)G.paths, G.n, &o, check_item, &c,
                                       &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "stopped"));
    assert_int_equal(c.next, 11); /* nothing reported after the stop */

    check_ctx e = {.what = "empty"};
    assert_int_equal(vr_pipeline_embed(G.m, NULL, 0, &o, check_item, &e, &st, err, sizeof err), 0);
    assert_int_equal(e.next, 0);
    assert_int_equal(st.ok + st.failed, 0);

    assert_int_equal(vr_pipeline_embed(NULL, (const char *const *)G.paths, 1, &o, check_item, &e,
                                       NULL, err, sizeof err), -1);
    vr_pipeline_opts bad = {.batch = 65};
    assert_int_equal(vr_pipeline_embed(G.m, (const char *const *)G.paths, 1, &bad, check_item, &e,
                                       NULL, err, sizeof err), -1);
    bad = (vr_pipeline_opts){.threads = -1};
    assert_int_equal(vr_pipeline_embed(G.m, (const char *const *)G.paths, 1, &bad, check_item, &e,
                                       NULL, err, sizeof err), -1);
    assert_int_equal(e.next, 0);

    /* One image, batch 8: the short batch runs alone. */
    const char *one[] = {G.paths[1]};
    assert_true(G.ref[1].ok);
    o.batch = 8;
    assert_int_equal(vr_pipeline_embed(G.m, one, 1, &o, check_one, NULL, &st, err, sizeof err), 0);
    assert_int_equal(st.ok, 1);
    assert_int_equal(st.batches, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configurations),
        cmocka_unit_test(test_io_uring_backend),
        cmocka_unit_test(test_preprocess_only),
        cmocka_unit_test(test_scaled_decode),
        cmocka_unit_test(test_stop_and_edges),
    };
    tu_ops(); /* exits 77 when the machine lacks the level */
    alarm(600); /* a deadlock fails the test instead of hanging CI */
    return cmocka_run_group_tests(tests, setup, teardown);
}
