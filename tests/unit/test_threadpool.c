#include <stdatomic.h>
#include <stdlib.h>

#include "runtime/threadpool.h"
#include "testutil.h"

typedef struct {
    int n;
    int *hits;
    atomic_int calls;
} job;

static void mark(void *ctx, int tid, int nthreads)
{
    job *j = ctx;
    int b, e;
    vr_split(j->n, 16, tid, nthreads, &b, &e);
    for (int i = b; i < e; i++)
        j->hits[i]++;
    atomic_fetch_add(&j->calls, 1);
}

static void test_split_covers_exactly_once(void **state)
{
    int sizes[] = {0, 1, 15, 16, 17, 100, 1000, 4097};
    for (int threads = 1; threads <= 5; threads++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            for (int align = 1; align <= 32; align *= 4) {
                int n = sizes[s], prev = 0;
                for (int t = 0; t < threads; t++) {
                    int b, e;
                    vr_split(n, align, t, threads, &b, &e);
                    assert_int_equal(b, prev);
                    assert_true(e >= b);
                    if (e < n)
                        assert_int_equal(e % align, 0);
                    prev = e;
                }
                assert_int_equal(prev, n);
            }
}

static void test_pool_runs_every_thread_once_per_job(void **state)
{
    for (int threads = 1; threads <= 4; threads++) {
        vr_pool *p = vr_pool_create(threads);
        assert_non_null(p);
        assert_int_equal(vr_pool_size(p), threads);
        for (int rep = 0; rep < 200; rep++) {
            job j = {.n = 1000 + rep};
            j.hits = calloc((size_t)j.n, sizeof *j.hits);
            atomic_init(&j.calls, 0);
            vr_pool_run(p, mark, &j);
            assert_int_equal(atomic_load(&j.calls), threads);
            for (int i = 0; i < j.n; i++)
                assert_int_equal(j.hits[i], 1);
            free(j.hits);
        }
        vr_pool_destroy(p);
    }
    vr_pool_destroy(NULL);
}

static void test_cpu_count_positive(void **state) { assert_true(vr_cpu_count() >= 1); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_covers_exactly_once),
        cmocka_unit_test(test_pool_runs_every_thread_once_per_job),
        cmocka_unit_test(test_cpu_count_positive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
