/* The index store (runtime/index.h): round trips of every code kind, with and
 * without the f16 copy and the transform; add / delete / compact / re-open
 * against a plain in-test model of what the index should hold; duplicate ids;
 * crash-safe saves (a save that fails mid-write or at the rename leaves the
 * old file intact and no temp file); a reader that has the old file mapped
 * while a save replaces it. Not ISA dependent (codes are encoded by
 * kernels/codes.c, which has no per-level variants), so it runs once. */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/crc32c.h"
#include "formats/index_file.h"
#include "formats/le.h"
#include "runtime/index.h"
#include "testutil.h"

static char g_dir[64];

static int setup(void **state)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/vireo-ix-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", g_dir, name);
}

/* Temp files the writer left behind in g_dir. */
static int leftover_temps(void)
{
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------ the model */
/* What the index should hold, kept the plain way. */
typedef struct {
    size_t n, dim;
    float *x;
    uint64_t *ids;
    char **paths, **titles;
    uint8_t *dead;
} ref;

static void ref_add(ref *r, size_t n, const float *x, const uint64_t *ids,
                    const char *const *paths, const char *const *titles)
{
    size_t t = r->n + n;
    r->x = realloc(r->x, t * r->dim * sizeof *r->x);
    r->ids = realloc(r->ids, t * sizeof *r->ids);
    r->paths = realloc(r->paths, t * sizeof *r->paths);
    r->titles = realloc(r->titles, t * sizeof *r->titles);
    r->dead = realloc(r->dead, t);
    assert_true(r->x && r->ids && r->paths && r->titles && r->dead);
    memcpy(r->x + r->n * r->dim, x, n * r->dim * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        r->ids[r->n + i] = ids[i];
        r->paths[r->n + i] = strdup(paths && paths[i] ? paths[i] : "");
        r->titles[r->n + i] = strdup(titles && titles[i] ? titles[i] : "");
        r->dead[r->n + i] = 0;
    }
    r->n = t;
}

static int ref_delete(ref *r, uint64_t id)
{
    for (size_t i = 0; i < r->n; i++)
        if (!r->dead[i] && r->ids[i] == id)
            return r->dead[i] = 1;
    return 0;
}

static void ref_compact(ref *r)
{
    size_t w = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (r->dead[i]) {
            free(r->paths[i]);
            free(r->titles[i]);
            continue;
        }
        memmove(r->x + w * r->dim, r->x + i * r->dim, r->dim * sizeof *r->x);
        r->ids[w] = r->ids[i];
        r->paths[w] = r->paths[i];
        r->titles[w] = r->titles[i];
        r->dead[w] = 0;
        w++;
    }
    r->n = w;
}

static void ref_free(ref *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->paths[i]);
        free(r->titles[i]);
    }
    free(r->x);
    free(r->ids);
    free(r->paths);
    free(r->titles);
    free(r->dead);
    memset(r, 0, sizeof *r);
}

/* Every row of ix matches the model: its code bytes are exactly what
 * vk_code_encode makes of the row with the index's parameters (and the f16
 * copy likewise), ids, strings and tombstones agree, and the id lookup finds
 * the live rows and not the deleted ones. */
static void check_index(const vr_index *ix, const ref *r, const char *what)
{
    vr_index_view v;
    vr_index_get_view(ix, &v);
    assert_int_equal(v.n, r->n);
    assert_int_equal(v.dim, r->dim);
    assert_int_equal(v.row_bytes, vk_code_row_bytes(v.kind, v.dim));
    assert_int_equal((uintptr_t)v.codes % 64, 0);
    size_t f16 = vk_code_row_bytes(VK_CODE_F16, v.dim), ndead = 0;
    uint8_t *row = tu_alloc(v.row_bytes > f16 ? v.row_bytes : f16);
    float *one = malloc(v.dim * sizeof *one), *zero = calloc(v.dim, sizeof *zero);
    for (size_t d = 0; d < v.dim; d++)
        one[d] = 1;
    char err[256];
    for (size_t i = 0; i < r->n; i++) {
        const float *x = r->x + i * r->dim;
        vk_code_encode(v.kind, x, v.dim, v.a, v.b, row);
        if (memcmp(row, (const uint8_t *)v.codes + i * v.row_bytes, v.row_bytes))
            tu_fail("%s: row %zu: code bytes differ from vk_code_encode", what, i);
        if (v.rescore) {
            vk_code_encode(VK_CODE_F16, x, v.dim, one, zero, row);
            if (memcmp(row, (const uint8_t *)v.rescore + i * f16, f16))
                tu_fail("%s: row %zu: f16 copy differs", what, i);
        }
        if (v.ids[i] != r->ids[i] || vr_index_id(ix, i) != r->ids[i])
            tu_fail("%s: row %zu: id %llu, want %llu", what, i, (unsigned long long)v.ids[i],
                    (unsigned long long)r->ids[i]);
        assert_string_equal(vr_index_path(ix, i), r->paths[i]);
        assert_string_equal(vr_index_title(ix, i), r->titles[i]);
        int dead = v.dead ? (v.dead[i / 8] >> (i % 8)) & 1 : 0;
        if (dead != r->dead[i] || vr_index_is_dead(ix, i) != r->dead[i])
            tu_fail("%s: row %zu: dead %d, want %d", what, i, dead, r->dead[i]);
        ndead += dead;
        size_t got = SIZE_MAX;
        int found = vr_index_find(ix, r->ids[i], &got, err, sizeof err);
        if (found < 0)
            tu_fail("%s: find: %s", what, err);
        if (!r->dead[i] && (found != 1 || got != i))
            tu_fail("%s: id %llu: find gave %d / row %zu, want row %zu", what,
                    (unsigned long long)r->ids[i], found, got, i);
        if (r->dead[i] && found == 1 && (got == i || r->ids[got] != r->ids[i] || r->dead[got]))
            tu_fail("%s: deleted id %llu still found at row %zu", what,
                    (unsigned long long)r->ids[i], got);
    }
    assert_int_equal(vr_index_live(ix), r->n - ndead);
    assert_int_equal(vr_index_rows(ix), r->n);
    assert_null(vr_index_path(ix, r->n));
    assert_true(vr_index_is_dead(ix, r->n));
    tu_free(row);
    free(one);
    free(zero);
}

static void fill_strings(size_t n, size_t base, char (*pb)[40], char (*tb)[40],
                         const char **paths, const char **titles)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(pb[i], 40, "photos/%zu.jpg", base + i);
        snprintf(tb[i], 40, "product #%zu", base + i);
        paths[i] = i % 5 == 3 ? NULL : pb[i]; /* some items without strings */
        titles[i] = i % 7 == 2 ? NULL : tb[i];
    }
}

/* ------------------------------------------------------------ round trips */
static void round_trip_case(vk_code_kind kind, size_t dim, int rescore, int transform,
                            int fit_all)
{
    enum { N = 40 };
    char what[96], path[128], err[256];
    snprintf(what, sizeof what, "%s dim %zu rescore %d transform %d fit_all %d",
             vk_code_name(kind), dim, rescore, transform, fit_all);
    tu_rng rng = tu_rng_make(1000 + kind * 100 + dim + rescore * 7 + transform * 3);
    float *x = malloc(N * dim * sizeof *x);
    tu_fill_f32(&rng, x, N * dim, -2, 3);
    float mean[3] = {0.5f, -1, 2}, proj[2 * 3];
    tu_fill_f32(&rng, proj, 6, -1, 1);
    vr_index_tensor t[2] = {{"whiten.mean", 1, 3, mean}, {"whiten.proj", 2, 3, proj}};
    vr_index_kv kv[2] = {{"transform", "l2,whiten,l2"}, {"created", "2025-01-01T00:00:00Z"}};
    vr_index_params p = {.kind = kind, .dim_in = 3, .dim = dim, .model = "resnet50.vwt:9f3a",
                         .rescore = rescore, .tensors = transform ? t : NULL,
                         .ntensors = transform ? 2 : 0, .kv = kv, .nkv = 2};
    vr_index *ix;
    if (vr_index_create(&p, &ix, err, sizeof err))
        tu_fail("%s: create: %s", what, err);
    if (fit_all && vr_index_fit(ix, x, N, err, sizeof err))
        tu_fail("%s: fit: %s", what, err);
    ref r = {.dim = dim};
    char pb[N][40], tb[N][40];
    const char *paths[N], *titles[N];
    fill_strings(N, 0, pb, tb, paths, titles);
    uint64_t ids[N];
    for (size_t i = 0; i < N; i++)
        ids[i] = tu_next(&rng);
    size_t batches[] = {0, 1, 17, N};
    for (int k = 0; k < 3; k++) {
        size_t b0 = batches[k], b1 = batches[k + 1];
        if (vr_index_add(ix, b1 - b0, x + b0 * dim, ids + b0, paths + b0, titles + b0, err,
                         sizeof err))
            tu_fail("%s: add: %s", what, err);
        ref_add(&r, b1 - b0, x + b0 * dim, ids + b0, paths + b0, titles + b0);
    }
    /* The parameters: fitted on the training set, or on the first batch
     * (here one row), or fixed for the float kinds. */
    float *a = malloc(dim * sizeof *a), *b = malloc(dim * sizeof *b);
    vk_code_fit(kind, x, fit_all ? N : 1, dim, a, b);
    vr_index_view v;
    vr_index_get_view(ix, &v);
    assert_memory_equal(v.a, a, dim * sizeof *a);
    assert_memory_equal(v.b, b, dim * sizeof *b);
    assert_int_equal(v.rescore != NULL, rescore);
    check_index(ix, &r, what);

    /* Fitted on every row, decoding is within half a step of the input:
     * |x − a·c (− b)| ≤ a/2 for int8 / int4 (rounding to the nearest code),
     * plus the f32 rounding of x/a and a·c + b, each under 2^-23 relative to
     * operands below 15a + |b| + |x|: 1e-5 of those covers it. f16: relative
     * 2^-11 (round to nearest, 11-bit significand) above the normal range
     * start, 2^-25 absolute below it. f32: exact. */
    float *dec = malloc(dim * sizeof *dec);
    for (size_t i = 0; fit_all && i < N; i++) {
        vk_code_decode(kind, (const uint8_t *)v.codes + i * v.row_bytes, dim, v.a, v.b, dec);
        for (size_t d = 0; d < dim; d++) {
            double xv = x[i * dim + d], tol;
            if (kind == VK_CODE_S8 || kind == VK_CODE_U4)
                tol = a[d] * 0.5 + 1e-5 * (15 * a[d] + fabs(b[d]) + fabs(xv));
            else if (kind == VK_CODE_U8) /* the same, operands below 255a + |b| + |x| */
                tol = a[d] * 0.5 + 1e-5 * (255 * a[d] + fabs(b[d]) + fabs(xv));
            else if (kind == VK_CODE_F16)
                tol = fabs(xv) * 0x1p-11 + 0x1p-25;
            else
                tol = 0;
            if (fabs(dec[d] - xv) > tol)
                tu_fail("%s: row %zu dim %zu: decoded %g from %g (tolerance %g)", what, i, d,
                        dec[d], xv, tol);
        }
    }

    snprintf(path, sizeof path, "%s/rt.vix", g_dir);
    if (vr_index_save(ix, path, err, sizeof err))
        tu_fail("%s: save: %s", what, err);
    vr_index_close(ix);
    unsigned flags = dim % 2 ? VR_INDEX_OPEN_SKIP_BULK_CRC : 0;
    if (vr_index_open(path, flags, &ix, err, sizeof err))
        tu_fail("%s: open: %s", what, err);
    check_index(ix, &r, what);
    vr_index_get_view(ix, &v);
    assert_memory_equal(v.a, a, dim * sizeof *a);
    assert_memory_equal(v.b, b, dim * sizeof *b);
    assert_string_equal(vr_index_model(ix), "resnet50.vwt:9f3a");
    assert_string_equal(vr_index_meta(ix, "transform"), "l2,whiten,l2");
    assert_string_equal(vr_index_meta(ix, "created"), "2025-01-01T00:00:00Z");
    assert_null(vr_index_meta(ix, "nonesuch"));
    assert_int_equal(vr_index_meta_count(ix), 3);
    assert_int_equal(vr_index_tensor_count(ix), transform ? 2 : 0);
    vr_index_tensor got;
    assert_int_equal(vr_index_tensor_find(ix, "whiten.proj", &got), transform);
    if (transform) {
        assert_int_equal(got.rows, 2);
        assert_int_equal(got.cols, 3);
        assert_memory_equal(got.data, proj, sizeof proj);
        assert_int_equal(vr_index_tensor_at(ix, 0, &got), 1);
        assert_string_equal(got.name, "whiten.mean");
        assert_memory_equal(got.data, mean, sizeof mean);
    }
    vr_index_info info;
    vr_index_get_info(ix, &info);
    assert_int_equal(info.kind, kind);
    assert_int_equal(info.dim, dim);
    assert_int_equal(info.dim_in, 3);
    assert_int_equal(info.rows, N);
    assert_int_equal(info.live, N);
    assert_int_equal(info.rescore, rescore);
    assert_int_equal(info.generation, 1);
    assert_int_equal(info.modified, 0);
    assert_int_equal(info.bulk_crc_checked, !flags);
    assert_int_equal(info.nsections, 6 + rescore + transform);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(info.file_size, (uint64_t)st.st_size);
    if (vr_index_verify(ix, err, sizeof err))
        tu_fail("%s: verify: %s", what, err);
    vr_index_get_info(ix, &info);
    assert_int_equal(info.bulk_crc_checked, 1);
    vr_index_close(ix);
    ref_free(&r);
    free(x);
    free(a);
    free(b);
    free(dec);
}

static void test_round_trip_every_kind(void **state)
{
    static const vk_code_kind kinds[] = {VK_CODE_F32, VK_CODE_S8, VK_CODE_U4, VK_CODE_F16,
                                         VK_CODE_U8};
    static const size_t dims[] = {1, 33, 129};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        for (size_t d = 0; d < 3; d++)
            for (int rescore = 0; rescore < 2; rescore++)
                for (int tr = 0; tr < 2; tr++) {
                    int quant = vk_code_is_quantized(kinds[k]);
                    if (rescore && !quant)
                        continue;
                    round_trip_case(kinds[k], dims[d], rescore, tr, quant ? (d + tr) % 2 : 1);
                }
}

/* ------------------------------------------------------------ changes */
static vr_index *new_s8(size_t dim, int rescore)
{
    vr_index_params p = {.kind = VK_CODE_S8, .dim_in = dim, .dim = dim, .model = "m",
                         .rescore = rescore};
    vr_index *ix;
    char err[256];
    if (vr_index_create(&p, &ix, err, sizeof err))
        tu_fail("create: %s", err);
    return ix;
}

static void add_random(vr_index *ix, ref *r, tu_rng *rng, size_t n, size_t base)
{
    float *x = malloc(n * r->dim * sizeof *x);
    uint64_t *ids = malloc(n * sizeof *ids);
    char (*pb)[40] = malloc(n * 40), (*tb)[40] = malloc(n * 40);
    const char **paths = malloc(n * sizeof *paths), **titles = malloc(n * sizeof *titles);
    tu_fill_f32(rng, x, n * r->dim, -1, 1);
    for (size_t i = 0; i < n; i++)
        ids[i] = tu_next(rng) >> 1; /* the top bit clear: ids with it set never occur */
    fill_strings(n, base, pb, tb, paths, titles);
    char err[256];
    if (vr_index_add(ix, n, x, ids, paths, titles, err, sizeof err))
        tu_fail("add: %s", err);
    ref_add(r, n, x, ids, paths, titles);
    free(x);
    free(ids);
    free(pb);
    free(tb);
    free(paths);
    free(titles);
}

static uint8_t *file_bytes(const char *path, size_t *len)
{
    uint8_t *b = tu_read_file(path, len);
    assert_non_null(b);
    return b;
}

static void test_add_delete_compact_reopen(void **state)
{
    enum { DIM = 48 };
    char err[256], path[128];
    path_in(path, sizeof path, "life.vix");
    tu_rng rng = tu_rng_make(5);
    float train[64 * DIM];
    tu_fill_f32(&rng, train, 64 * DIM, -1, 1);
    vr_index *ix = new_s8(DIM, 1);
    assert_int_equal(vr_index_fit(ix, train, 64, err, sizeof err), 0);
    ref r = {.dim = DIM};
    add_random(ix, &r, &rng, 200, 0);
    check_index(ix, &r, "after add");

    /* Delete 50 live ids, 5 unknown ones, and one of them twice. */
    uint64_t del[56];
    for (int i = 0; i < 50; i++)
        del[i] = r.ids[i * 4];
    for (int i = 50; i < 55; i++)
        del[i] = (1ull << 63) + (uint64_t)i; /* add_random never makes these */
    del[55] = del[0];
    uint8_t found[56];
    size_t deleted;
    assert_int_equal(vr_index_delete(ix, del, 56, &deleted, found, err, sizeof err), 0);
    assert_int_equal(deleted, 50);
    for (int i = 0; i < 56; i++) {
        assert_int_equal(found[i], i < 50);
        if (i < 50)
            assert_true(ref_delete(&r, del[i]));
    }
    check_index(ix, &r, "after delete");
    size_t row;
    assert_int_equal(vr_index_find(ix, del[0], &row, err, sizeof err), 0);
    assert_int_equal(vr_index_live(ix), 150);

    /* Refused adds leave everything as it was. */
    float x1[2 * DIM];
    tu_fill_f32(&rng, x1, 2 * DIM, -1, 1);
    uint64_t live_id = r.ids[1], pair[2] = {12345, live_id};
    assert_int_equal(vr_index_add(ix, 2, x1, pair, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "already in the index"));
    uint64_t twice[2] = {777, 777};
    assert_int_equal(vr_index_add(ix, 2, x1, twice, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "twice in the batch"));
    float keep = x1[DIM + 3];
    x1[DIM + 3] = NAN;
    uint64_t fresh[2] = {1, 2};
    assert_int_equal(vr_index_add(ix, 2, x1, fresh, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "row 1 (id 2), dimension 3 is not finite"));
    x1[DIM + 3] = keep;
    check_index(ix, &r, "after refused adds");

    /* A deleted id may come back. */
    uint64_t back[2] = {del[3], 99};
    const char *bp[2] = {"back.jpg", NULL}, *bt[2] = {NULL, "ninety-nine"};
    assert_int_equal(vr_index_add(ix, 2, x1, back, bp, bt, err, sizeof err), 0);
    ref_add(&r, 2, x1, back, bp, bt);
    check_index(ix, &r, "after re-adding a deleted id");

    assert_int_equal(vr_index_save(ix, path, err, sizeof err), 0);
    vr_index_close(ix);
    size_t len0;
    uint8_t *disk0 = file_bytes(path, &len0);

    /* Opened: deleting copies only the tombstones, the codes stay mapped. */
    assert_int_equal(vr_index_open(path, 0, &ix, err, sizeof err), 0);
    check_index(ix, &r, "re-opened");
    vr_index_view v0, v1;
    vr_index_get_view(ix, &v0);
    uint64_t del2[10];
    for (size_t i = 150, k = 0; k < 10; i++)
        if (!r.dead[i])
            del2[k++] = r.ids[i];
    assert_int_equal(vr_index_delete(ix, del2, 10, &deleted, NULL, err, sizeof err), 0);
    assert_int_equal(deleted, 10);
    for (int i = 0; i < 10; i++)
        ref_delete(&r, del2[i]);
    vr_index_get_view(ix, &v1);
    assert_ptr_equal(v1.codes, v0.codes);
    assert_ptr_equal(v1.ids, v0.ids);
    check_index(ix, &r, "opened, after delete");

    /* Adding copies the columns into memory; the file never changes. */
    add_random(ix, &r, &rng, 30, 1000);
    check_index(ix, &r, "opened, after add");
    size_t len1;
    uint8_t *disk1 = file_bytes(path, &len1);
    assert_int_equal(len1, len0);
    assert_memory_equal(disk1, disk0, len0);
    free(disk1);

    vr_index_info info;
    vr_index_get_info(ix, &info);
    assert_int_equal(info.modified, 1);
    assert_int_equal(info.dead, 60);
    assert_int_equal(vr_index_compact(ix, err, sizeof err), 0);
    ref_compact(&r);
    check_index(ix, &r, "after compact");
    assert_int_equal(vr_index_rows(ix), 172);

    /* Save over the file it was opened from, then re-open. */
    assert_int_equal(vr_index_save(ix, path, err, sizeof err), 0);
    vr_index_close(ix);
    assert_int_equal(vr_index_open(path, 0, &ix, err, sizeof err), 0);
    check_index(ix, &r, "compacted and re-opened");
    vr_index_get_info(ix, &info);
    assert_int_equal(info.generation, 2);
    assert_int_equal(info.dead, 0);
    vr_index_close(ix);
    assert_int_equal(leftover_temps(), 0);
    free(disk0);
    ref_free(&r);
}

/* Columns past 1 MiB live in anonymous mappings that grow by remapping:
 * grow one across that line and past it several times, from a file. */
static void test_large_columns_grow(void **state)
{
    enum { DIM = 16 };
    char err[256], path[128];
    path_in(path, sizeof path, "large.vix");
    tu_rng rng = tu_rng_make(6);
    /* 64-byte rows: 12000 rows are 768 KB; under qemu (VIREO_TEST_QUICK) grow
     * just past 1 MiB, else to 2 MiB in four steps. */
    size_t step = getenv("VIREO_TEST_QUICK") ? 1500 : 5000;
    vr_index *ix = new_s8(DIM, 0);
    ref r = {.dim = DIM};
    add_random(ix, &r, &rng, 12000, 0);
    assert_int_equal(vr_index_save(ix, path, err, sizeof err), 0);
    vr_index_close(ix);
    assert_int_equal(vr_index_open(path, 0, &ix, err, sizeof err), 0);
    for (size_t k = 0; k < 4; k++)
        add_random(ix, &r, &rng, step, 20000 + step * k);
    check_index(ix, &r, "grown");
    uint64_t del[3] = {r.ids[0], r.ids[12000 + step], r.ids[r.n - 1]};
    assert_int_equal(vr_index_delete(ix, del, 3, NULL, NULL, err, sizeof err), 0);
    for (int i = 0; i < 3; i++)
        ref_delete(&r, del[i]);
    assert_int_equal(vr_index_compact(ix, err, sizeof err), 0);
    ref_compact(&r);
    check_index(ix, &r, "grown and compacted");
    vr_index_close(ix);
    ref_free(&r);
}

static vr_index *sample_index(size_t rows, uint64_t seed, ref *r);

/* Compacting an index straight from its file (every column still borrowed
 * from the mapping) copies the survivors out; the file is not touched. */
static void test_compact_opened_file(void **state)
{
    char err[256], path[128];
    path_in(path, sizeof path, "compact.vix");
    ref r;
    vr_index *ix = sample_index(100, 10, &r);
    assert_int_equal(vr_index_save(ix, path, err, sizeof err), 0);
    vr_index_close(ix);
    size_t len0;
    uint8_t *disk0 = file_bytes(path, &len0);
    assert_int_equal(vr_index_open(path, 0, &ix, err, sizeof err), 0);
    uint64_t del[30];
    for (int i = 0; i < 30; i++)
        del[i] = r.ids[(size_t)i * 3 + 1];
    assert_int_equal(vr_index_delete(ix, del, 30, NULL, NULL, err, sizeof err), 0);
    for (int i = 0; i < 30; i++)
        ref_delete(&r, del[i]);
    assert_int_equal(vr_index_compact(ix, err, sizeof err), 0);
    ref_compact(&r);
    check_index(ix, &r, "compacted from the file");
    size_t len1;
    uint8_t *disk1 = file_bytes(path, &len1);
    assert_int_equal(len1, len0);
    assert_memory_equal(disk1, disk0, len0);
    /* and again, now in place */
    uint64_t more[2] = {r.ids[0], r.ids[69]};
    assert_int_equal(vr_index_delete(ix, more, 2, NULL, NULL, err, sizeof err), 0);
    ref_delete(&r, more[0]);
    ref_delete(&r, more[1]);
    assert_int_equal(vr_index_compact(ix, err, sizeof err), 0);
    ref_compact(&r);
    check_index(ix, &r, "compacted twice");
    add_random(ix, &r, &(tu_rng){42}, 5, 500);
    check_index(ix, &r, "compacted, then added to");
    vr_index_close(ix);
    free(disk0);
    free(disk1);
    ref_free(&r);
}

static void test_empty_index(void **state)
{
    char err[256], path[128];
    path_in(path, sizeof path, "empty.vix");
    vr_index *ix = new_s8(8, 1);
    vr_index_info info;
    vr_index_get_info(ix, &info);
    assert_int_equal(info.fitted, 0);
    assert_int_equal(vr_index_save(ix, path, err, sizeof err), 0);
    vr_index_close(ix);
    assert_int_equal(vr_index_open(path, 0, &ix, err, sizeof err), 0);
    assert_int_equal(vr_index_rows(ix), 0);
    vr_index_get_info(ix, &info);
    assert_int_equal(info.fitted, 0); /* so the first add still fits the parameters */
    size_t row;
    assert_int_equal(vr_index_find(ix, 5, &row, err, sizeof err), 0);
    size_t deleted = 9;
    uint64_t id = 5;
    assert_int_equal(vr_index_delete(ix, &id, 1, &deleted, NULL, err, sizeof err), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(vr_index_compact(ix, err, sizeof err), 0);
    ref r = {.dim = 8};
    tu_rng rng = tu_rng_make(8);
    add_random(ix, &r, &rng, 3, 0);
    check_index(ix, &r, "empty file, then added to");
    float a[8], b[8];
    vk_code_fit(VK_CODE_S8, r.x, 3, 8, a, b);
    vr_index_view v;
    vr_index_get_view(ix, &v);
    assert_memory_equal(v.a, a, sizeof a);
    /* and once fitted, that survives a save */
    assert_int_equal(vr_index_save(ix, path, err, sizeof err), 0);
    vr_index_close(ix);
    assert_int_equal(vr_index_open(path, 0, &ix, err, sizeof err), 0);
    vr_index_get_info(ix, &info);
    assert_int_equal(info.fitted, 1);
    check_index(ix, &r, "fitted, saved, re-opened");
    vr_index_close(ix);
    ref_free(&r);
}

static void test_fit_rules(void **state)
{
    char err[256];
    float x[4 * 4] = {1, -2, 3, 0, 4, 5, -6, 0, 1, 1, 1, 0, -1, 2, 0.5f, 0};
    vr_index *ix = new_s8(4, 0);
    assert_int_equal(vr_index_fit(ix, x, 0, err, sizeof err), -1);
    x[5] = INFINITY;
    assert_int_equal(vr_index_fit(ix, x, 4, err, sizeof err), -1);
    assert_non_null(strstr(err, "not finite"));
    x[5] = 5;
    assert_int_equal(vr_index_fit(ix, x, 4, err, sizeof err), 0);
    vr_index_view v;
    vr_index_get_view(ix, &v);
    assert_true(fabsf(v.a[2] - 6.0f / 127) < 1e-7f);
    uint64_t ids[1] = {1};
    assert_int_equal(vr_index_add(ix, 1, x, ids, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(vr_index_fit(ix, x, 4, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
    vr_index_close(ix);
}

/* ------------------------------------------------------------ crash safety */
static vr_index *sample_index(size_t rows, uint64_t seed, ref *r)
{
    tu_rng rng = tu_rng_make(seed);
    vr_index_params p = {.kind = VK_CODE_F32, .dim_in = 64, .dim = 64, .model = "m"};
    vr_index *ix;
    char err[256];
    assert_int_equal(vr_index_create(&p, &ix, err, sizeof err), 0);
    *r = (ref){.dim = 64};
    add_random(ix, r, &rng, rows, 0);
    return ix;
}

/* A save that fails mid-write (the file size limit stands in for a full
 * disk): the old file is intact and no temp file is left. */
static void test_failed_write_keeps_old_file(void **state)
{
    char err[256], path[128];
    path_in(path, sizeof path, "safe.vix");
    ref ra, rb;
    vr_index *a = sample_index(10, 1, &ra), *b = sample_index(2000, 2, &rb);
    assert_int_equal(vr_index_save(a, path, err, sizeof err), 0);
    size_t len0;
    uint8_t *old = file_bytes(path, &len0);
    struct rlimit lim, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &lim), 0);
    small = lim;
    small.rlim_cur = 256 * 1024; /* b needs 512 KB of codes */
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = vr_index_save(b, path, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "write"));
    size_t len1;
    uint8_t *now = file_bytes(path, &len1);
    assert_int_equal(len1, len0);
    assert_memory_equal(now, old, len0);
    assert_int_equal(leftover_temps(), 0);
    vr_index *re;
    assert_int_equal(vr_index_open(path, 0, &re, err, sizeof err), 0);
    check_index(re, &ra, "old file after a failed save");
    vr_index_close(re);
    free(old);
    free(now);
    vr_index_close(a);
    vr_index_close(b);
    ref_free(&ra);
    ref_free(&rb);
}

/* A save that fails after the temp file is complete (the rename is refused:
 * the target is a directory) removes the temp file. */
static void test_failed_rename_leaves_no_temp(void **state)
{
    char err[256], path[128];
    path_in(path, sizeof path, "dir.vix");
    assert_int_equal(mkdir(path, 0755), 0);
    ref r;
    vr_index *ix = sample_index(5, 3, &r);
    assert_int_equal(vr_index_save(ix, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "rename"));
    assert_int_equal(leftover_temps(), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(rmdir(path), 0);
    /* No directory at all: refused before anything is written. */
    assert_int_equal(vr_index_save(ix, "/nonexistent-vireo-dir/x.vix", err, sizeof err), -1);
    assert_non_null(strstr(err, "temporary"));
    vr_index_close(ix);
    ref_free(&r);
}

/* A reader keeps the file it mapped: replacing it (rename) never tears it. */
static void test_reader_keeps_old_file(void **state)
{
    char err[256], path[128];
    path_in(path, sizeof path, "live.vix");
    ref ra, rb;
    vr_index *a = sample_index(30, 4, &ra), *b = sample_index(50, 5, &rb);
    assert_int_equal(vr_index_save(a, path, err, sizeof err), 0);
    vr_index *reader;
    assert_int_equal(vr_index_open(path, 0, &reader, err, sizeof err), 0);
    vr_index_view before;
    vr_index_get_view(reader, &before);
    assert_int_equal(vr_index_save(b, path, err, sizeof err), 0);
    vr_index_view after;
    vr_index_get_view(reader, &after);
    assert_ptr_equal(after.codes, before.codes);
    check_index(reader, &ra, "old reader after the file was replaced");
    assert_int_equal(vr_index_verify(reader, err, sizeof err), 0);
    vr_index *fresh;
    assert_int_equal(vr_index_open(path, 0, &fresh, err, sizeof err), 0);
    check_index(fresh, &rb, "new reader");
    vr_index_close(fresh);
    vr_index_close(reader);
    vr_index_close(a);
    vr_index_close(b);
    ref_free(&ra);
    ref_free(&rb);
}

/* ------------------------------------------------------------ refusals */
static void test_open_errors(void **state)
{
    char err[512], path[128];
    vr_index *ix = (vr_index *)1;
    path_in(path, sizeof path, "missing.vix");
    assert_int_equal(vr_index_open(path, 0, &ix, err, sizeof err), -1);
    assert_null(ix);
    assert_non_null(strstr(err, "missing.vix"));
    assert_int_equal(vr_index_open(g_dir, 0, &ix, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    path_in(path, sizeof path, "empty-file.vix");
    FILE *f = fopen(path, "w");
    fclose(f);
    assert_int_equal(vr_index_open(path, 0, &ix, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
    assert_int_equal(vr_index_open(VIREO_SOURCE_DIR "/README.md", 0, &ix, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad magic"));
    /* Truncated: the message names the file and says so. */
    ref r;
    vr_index *good = sample_index(20, 7, &r);
    path_in(path, sizeof path, "cut.vix");
    assert_int_equal(vr_index_save(good, path, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 100), 0);
    assert_int_equal(vr_index_open(path, 0, &ix, err, sizeof err), -1);
    assert_non_null(strstr(err, "cut.vix: truncated"));
    vr_index_close(good);
    ref_free(&r);
}

static void test_create_refuses(void **state)
{
    float a[4] = {1, 1, 0, 1}, b[4] = {0}, bad[2] = {1, NAN};
    vr_index_tensor t2[2] = {{"w", 1, 2, b}, {"w", 1, 2, b}}, tnan[1] = {{"w", 1, 2, bad}};
    vr_index_kv model_kv[1] = {{"model", "x"}}, dup_kv[2] = {{"k", "1"}, {"k", "2"}};
    const vr_index_params base = {.kind = VK_CODE_S8, .dim_in = 4, .dim = 4, .model = "m"};
    struct {
        vr_index_params p;
        const char *expect;
    } cases[] = {
        {{.kind = VK_CODE_S8, .dim_in = 4, .dim = 0, .model = "m"}, "dim 0"},
        {{.kind = VK_CODE_S8, .dim_in = 4, .dim = 70000, .model = "m"}, "out of range"},
        {{.kind = VK_CODE_S8, .dim_in = 4, .dim = 4, .model = ""}, "identity"},
        {{.kind = VK_CODE_S8, .dim_in = 4, .dim = 4}, "identity"},
        {{.kind = (vk_code_kind)7, .dim_in = 4, .dim = 4, .model = "m"}, "kind"},
        {{.kind = VK_CODE_F32, .dim_in = 4, .dim = 4, .model = "m", .rescore = 1}, "re-scoring"},
        {{.kind = VK_CODE_S8, .dim_in = 4, .dim = 4, .model = "m", .a = a}, "both"},
        {{.kind = VK_CODE_S8, .dim_in = 4, .dim = 4, .model = "m", .a = a, .b = b}, "a[2] = 0"},
        {{.kind = VK_CODE_S8, .dim_in = 4, .dim = 4, .model = "m", .tensors = t2, .ntensors = 2},
         "duplicate transform tensor 'w'"},
        {{.kind = VK_CODE_S8, .dim_in = 4, .dim = 4, .model = "m", .tensors = tnan, .ntensors = 1},
         "not finite"},
        {{.kind = VK_CODE_S8, .dim_in = 4, .dim = 4, .model = "m", .kv = model_kv, .nkv = 1},
         "vr_index_params.model"},
        {{.kind = VK_CODE_S8, .dim_in = 4, .dim = 4, .model = "m", .kv = dup_kv, .nkv = 2},
         "duplicate key 'k'"},
    };
    char err[256];
    vr_index *ix;
    assert_int_equal(vr_index_create(&base, &ix, err, sizeof err), 0);
    vr_index_close(ix);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ix = (vr_index *)1;
        if (vr_index_create(&cases[i].p, &ix, err, sizeof err) == 0)
            tu_fail("create case %zu: accepted", i);
        assert_null(ix);
        if (!strstr(err, cases[i].expect))
            tu_fail("create case %zu: '%s' does not mention '%s'", i, err, cases[i].expect);
    }
}

/* A file whose checksums are right but whose ids repeat among live rows
 * (only a hand-made file can): opening for search works, anything that
 * needs the id map fails naming the id and both rows. */
static void test_duplicate_live_ids_in_file(void **state)
{
    char err[256], path[128];
    path_in(path, sizeof path, "dup.vix");
    ref r;
    vr_index *ix = sample_index(3, 12, &r);
    assert_int_equal(vr_index_save(ix, path, err, sizeof err), 0);
    vr_index_close(ix);
    size_t len;
    uint8_t *b = file_bytes(path, &len);
    uint32_t nsec = le32(b + 20);
    for (uint32_t i = 0; i < nsec; i++) {
        uint8_t *e = b + 128 + 32 * i;
        if (le32(e) != VF_IX_IDS)
            continue;
        uint8_t *ids = b + le64(e + 8);
        memcpy(ids + 16, ids, 8); /* row 2 takes row 0's id */
        put32(e + 24, vf_crc32c(0, ids, le64(e + 16)));
    }
    put32(b + 124, vf_crc32c(vf_crc32c(0, b, 124), b + 128, 32 * (size_t)nsec));
    FILE *f = fopen(path, "wb");
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
    free(b);
    assert_int_equal(vr_index_open(path, 0, &ix, err, sizeof err), 0);
    char want[96];
    snprintf(want, sizeof want, "id %llu is live in rows 0 and 2", (unsigned long long)r.ids[0]);
    size_t row;
    assert_int_equal(vr_index_find(ix, r.ids[1], &row, err, sizeof err), -1);
    assert_non_null(strstr(err, want));
    assert_int_equal(vr_index_verify(ix, err, sizeof err), -1);
    assert_non_null(strstr(err, want));
    float x[64] = {0};
    uint64_t id = 99;
    assert_int_equal(vr_index_add(ix, 1, x, &id, NULL, NULL, err, sizeof err), -1);
    assert_int_equal(vr_index_rows(ix), 3);
    vr_index_close(ix);
    ref_free(&r);
}

/* ------------------------------------------------------------ threads */
typedef struct {
    const vr_index *ix;
    const ref *r;
    int bad;
} finder;

static void *find_all(void *arg)
{
    finder *f = arg;
    char err[256];
    for (size_t i = 0; i < f->r->n; i++) {
        size_t row;
        if (vr_index_find(f->ix, f->r->ids[i], &row, err, sizeof err) != 1 || row != i)
            f->bad++;
    }
    return NULL;
}

/* Readers may race to the first lookup, which builds the id map. */
static void test_concurrent_first_lookups(void **state)
{
    char err[256], path[128];
    path_in(path, sizeof path, "threads.vix");
    ref r;
    vr_index *ix = sample_index(3000, 9, &r);
    assert_int_equal(vr_index_save(ix, path, err, sizeof err), 0);
    vr_index_close(ix);
    assert_int_equal(vr_index_open(path, 0, &ix, err, sizeof err), 0);
    finder f[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        f[i] = (finder){ix, &r, 0};
        assert_int_equal(pthread_create(&th[i], NULL, find_all, &f[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(f[i].bad, 0);
    }
    vr_index_close(ix);
    ref_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_kind),
        cmocka_unit_test(test_add_delete_compact_reopen),
        cmocka_unit_test(test_large_columns_grow),
        cmocka_unit_test(test_compact_opened_file),
        cmocka_unit_test(test_empty_index),
        cmocka_unit_test(test_fit_rules),
        cmocka_unit_test(test_failed_write_keeps_old_file),
        cmocka_unit_test(test_failed_rename_leaves_no_temp),
        cmocka_unit_test(test_reader_keeps_old_file),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_create_refuses),
        cmocka_unit_test(test_duplicate_live_ids_in_file),
        cmocka_unit_test(test_concurrent_first_lookups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
