/* runtime/loader: whole files via io_uring and via pread, byte-exact against
 * fread, per-file errors that never fail the batch, several queue depths. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "runtime/loader.h"

typedef struct {
    char **paths;
    size_t n;
} pathlist;

static pathlist g_ukb, g_groc;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_push(pathlist *pl, const char *s) {
    pl->paths = realloc(pl->paths, (pl->n + 1) * sizeof *pl->paths);
    assert_non_null(pl->paths);
    pl->paths[pl->n] = strdup(s);
    assert_non_null(pl->paths[pl->n]);
    pl->n++;
}

static void list_free(pathlist *pl) {
    for (size_t i = 0; i < pl->n; i++) free(pl->paths[i]);
    free(pl->paths);
    memset(pl, 0, sizeof *pl);
}

static void load_lists(void) {
    if (g_ukb.n) return;
    const char *sh = tu_require_shared();
    char dir[4096], line[2048], p[8192];
    snprintf(dir, sizeof dir, "%s/data/ukbench1000/images", sh);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t k = strlen(e->d_name);
        if (k > 4 && strcmp(e->d_name + k - 4, ".jpg") == 0) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            list_push(&g_ukb, p);
        }
    }
    closedir(d);
    qsort(g_ukb.paths, g_ukb.n, sizeof *g_ukb.paths, cmp_str);
    assert_int_equal(g_ukb.n, 1000);

    /* ~500 GroceryStore photos: every 5th line of train.txt. */
    snprintf(p, sizeof p, "%s/data/grocery/train.txt", sh);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t ln = 0;
    while (fgets(line, sizeof line, f)) {
        char *c = strchr(line, ',');
        if (!c || ln++ % 5) continue;
        *c = 0;
        snprintf(p, sizeof p, "%s/data/grocery/%s", sh, line);
        list_push(&g_groc, p);
    }
    fclose(f);
    assert_true(g_groc.n >= 500);
}

static uint8_t *fread_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    uint8_t *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) b = realloc(b, cap *= 2);
    }
    fclose(f);
    *n = len;
    return b;
}

static vr_loader *make(unsigned qd, uint64_t maxb, int force_pread) {
    vr_loader_opts o = {.queue_depth = qd, .max_file_bytes = maxb, .force_pread = force_pread};
    char err[256] = "";
    vr_loader *l = vr_loader_create(&o, err, sizeof err);
    if (!l) tu_fail("vr_loader_create: %s", err);
    assert_non_null(l);
    if (force_pread) assert_string_equal(vr_loader_backend(l), "pread");
    return l;
}

/* Skips (with the reason) when io_uring is refused here. */
static vr_loader *make_uring(unsigned qd, uint64_t maxb) {
    vr_loader *l = make(qd, maxb, 0);
    if (strcmp(vr_loader_backend(l), "io_uring") != 0) {
        const char *env = getenv("VIREO_NO_IO_URING");
        fprintf(stderr, "[  SKIP    ] io_uring refused here (%s): the pread fallback is in use\n",
                env && !strcmp(env, "1") ? "VIREO_NO_IO_URING=1"
                                                 : "see the 'vireo: io_uring unavailable' line");
        vr_loader_destroy(l);
        skip();
    }
    return l;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Reads every path, checks every byte against fread. */
static void check_all(vr_loader *l, const pathlist *pl, const char *what) {
    vr_loaded *out = calloc(pl->n, sizeof *out);
    assert_non_null(out);
    double t0 = now_s();
    int failed = vr_loader_read(l, (const char *const *)pl->paths, pl->n, out);
    double t = now_s() - t0;
    for (size_t i = 0; i < pl->n; i++) {
        if (out[i].err) tu_fail("%s [%s]: %s", what, vr_loader_backend(l), out[i].msg);
        size_t rn = 0;
        uint8_t *ref = fread_all(pl->paths[i], &rn);
        assert_non_null(ref);
        if (out[i].size != rn) tu_fail("%s: %s: size %zu, fread %zu", what, pl->paths[i], out[i].size, rn);
        assert_non_null(out[i].data);
        if (memcmp(out[i].data, ref, rn) != 0) tu_fail("%s: %s: bytes differ", what, pl->paths[i]);
        assert_int_equal(out[i].data[rn], 0);
        assert_string_equal(out[i].msg, "");
        free(ref);
    }
    assert_int_equal(failed, 0);
    vr_loaded_free(out, pl->n);
    assert_null(out[0].data);
    free(out);
    fprintf(stderr, "  %s: %zu files, backend %s, %.1f ms\n", what, pl->n, vr_loader_backend(l),
            t * 1e3);
}

static void ukbench(int force_pread) {
    load_lists();
    vr_loader *l = force_pread ? make(64, 0, 1) : make_uring(64, 0);
    check_all(l, &g_ukb, "ukbench (cold or warm)");
    check_all(l, &g_ukb, "ukbench hot");
    vr_loader_destroy(l);
}
static void test_ukbench_uring(void **s) { ukbench(0); }
static void test_ukbench_pread(void **s) { ukbench(1); }

static void test_grocery_uring(void **s) {
    load_lists();
    vr_loader *l = make_uring(7, 0);
    check_all(l, &g_groc, "grocery");
    vr_loader_destroy(l);
}
static void test_grocery_pread(void **s) {
    load_lists();
    vr_loader *l = make(7, 0, 1);
    check_all(l, &g_groc, "grocery");
    vr_loader_destroy(l);
}

/* Queue depths 1, 7, 64 (and one bigger than the batch) on 150 files. */
static void depths(int force_pread) {
    load_lists();
    pathlist sub = {g_ukb.paths + 300, 150};
    const unsigned qds[] = {1, 7, 64, 4096};
    for (size_t k = 0; k < sizeof qds / sizeof qds[0]; k++) {
        vr_loader *l = force_pread ? make(qds[k], 0, 1) : make_uring(qds[k], 0);
        char what[64];
        snprintf(what, sizeof what, "queue depth %u", qds[k]);
        check_all(l, &sub, what);
        vr_loader_destroy(l);
    }
}
static void test_depths_uring(void **s) { depths(0); }
static void test_depths_pread(void **s) { depths(1); }

static void write_file(const char *path, size_t n, uint8_t fill) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) fputc(fill + (int)(i % 251), f);
    assert_int_equal(fclose(f), 0);
}

/* Good files mixed with a missing path, a directory, a device, an empty file
 * and a file over max_file_bytes: each failure reported, the rest loaded. */
static void mixed(int force_pread) {
    load_lists();
    if (!force_pread) vr_loader_destroy(make_uring(0, 0)); /* skip before making files */
    char tmpl[] = "/tmp/vireo-loader-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char empty[256], big[256], small[256], missing[256];
    snprintf(empty, sizeof empty, "%s/empty", dir);
    snprintf(big, sizeof big, "%s/big", dir);
    snprintf(small, sizeof small, "%s/small", dir);
    snprintf(missing, sizeof missing, "%s/no-such-file.jpg", dir);
    const uint64_t maxb = 300000; /* every UKBench image is smaller */
    write_file(empty, 0, 0);
    write_file(big, maxb + 1, 7);
    write_file(small, maxb, 3); /* exactly at the limit: fine */

    enum { N = 12 };
    const char *paths[N] = {g_ukb.paths[0], missing, g_ukb.paths[1], dir, empty, g_ukb.paths[2],
                            big, "/dev/null", small, g_ukb.paths[3], missing, g_ukb.paths[999]};
    const int want_err[N] = {0, ENOENT, 0, EISDIR, 0, 0, EFBIG, EINVAL, 0, 0, ENOENT, 0};
    const char *want_msg[N] = {NULL, "No such file", NULL, "directory", NULL, NULL,
                               "over the limit", "not a regular file", NULL, NULL, "No such file", NULL};
    const unsigned qds[] = {1, 7, 64};
    for (size_t k = 0; k < 3; k++) {
        vr_loader *l = force_pread ? make(qds[k], maxb, 1) : make_uring(qds[k], maxb);
        vr_loaded out[N];
        int failed = vr_loader_read(l, paths, N, out);
        assert_int_equal(failed, 5);
        for (int i = 0; i < N; i++) {
            if (out[i].err != want_err[i])
                tu_fail("[%s qd %u] %s: err %d (%s), want %d", vr_loader_backend(l), qds[k], paths[i],
                        out[i].err, out[i].msg, want_err[i]);
            if (want_err[i]) {
                assert_null(out[i].data);
                assert_int_equal(out[i].size, 0);
                assert_non_null(strstr(out[i].msg, paths[i]));
                if (!strstr(out[i].msg, want_msg[i]))
                    tu_fail("%s: message '%s' lacks '%s'", paths[i], out[i].msg, want_msg[i]);
                continue;
            }
            size_t rn = 0;
            uint8_t *ref = fread_all(paths[i], &rn);
            assert_non_null(ref);
            assert_non_null(out[i].data);
            assert_int_equal(out[i].size, rn);
            assert_memory_equal(out[i].data, ref, rn);
            free(ref);
        }
        assert_int_equal(out[4].size, 0);
        vr_loaded_free(out, N);
        vr_loader_destroy(l);
    }
    unlink(empty);
    unlink(big);
    unlink(small);
    rmdir(dir);
}
static void test_mixed_uring(void **s) { mixed(0); }
static void test_mixed_pread(void **s) { mixed(1); }

static void test_empty_batch_and_args(void **s) {
    for (int fp = 0; fp < 2; fp++) {
        vr_loader *l = make(0, 0, fp);
        assert_int_equal(vr_loader_read(l, NULL, 0, NULL), 0);
        vr_loaded one;
        assert_int_equal(vr_loader_read(NULL, NULL, 0, &one), -1);
        assert_int_equal(vr_loader_read(l, NULL, 1, &one), -1);
        const char *p[2] = {NULL, "/dev/null"};
        vr_loaded two[2];
        assert_int_equal(vr_loader_read(l, p, 2, two), 2);
        assert_int_equal(two[0].err, EINVAL);
        assert_int_equal(two[1].err, EINVAL);
        vr_loaded_free(two, 2);
        vr_loader_destroy(l);
    }
    vr_loader_destroy(NULL);
    vr_loaded_free(NULL, 3);
}

static void test_env_forces_pread(void **s) {
    const char *old = getenv("VIREO_NO_IO_URING");
    char *save = old ? strdup(old) : NULL;
    setenv("VIREO_NO_IO_URING", "1", 1);
    vr_loader *l = make(0, 0, 0);
    assert_string_equal(vr_loader_backend(l), "pread");
    vr_loader_destroy(l);
    if (save) {
        setenv("VIREO_NO_IO_URING", save, 1);
        free(save);
    } else {
        unsetenv("VIREO_NO_IO_URING");
    }
}

static int teardown_all(void **s) {
    list_free(&g_ukb);
    list_free(&g_groc);
    return 0;
}

int main(void) {
    tu_require_shared();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_batch_and_args),
        cmocka_unit_test(test_env_forces_pread),
        cmocka_unit_test(test_mixed_uring),
        cmocka_unit_test(test_mixed_pread),
        cmocka_unit_test(test_depths_uring),
        cmocka_unit_test(test_depths_pread),
        cmocka_unit_test(test_ukbench_uring),
        cmocka_unit_test(test_ukbench_pread),
        cmocka_unit_test(test_grocery_uring),
        cmocka_unit_test(test_grocery_pread),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
