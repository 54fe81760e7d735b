/* The C side of tests/unit/retrieval_reference.py: named arrays written to a
 * temporary file, the numpy reference run on them with /usr/bin/python3, its
 * arrays read back. Used by test_linalg.c, test_retrieval.c, test_metrics.c.
 * When /usr/bin/python3 with numpy is missing, rf_run returns RF_SKIP and the
 * test skips that comparison only (it says so on stderr).
 * File format: see the Python file's docstring. */
#ifndef VIREO_TESTS_RETRIEVAL_REFIO_H
#define VIREO_TESTS_RETRIEVAL_REFIO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { RF_F32 = 0, RF_I32 = 1, RF_F64 = 2, RF_U32 = 3, RF_U8 = 4 };
enum { RF_OK = 0, RF_SKIP = 77, RF_FAIL = -1 };
#define RF_MAX 512

typedef struct rf_arr {
    char name[32];
    int dtype, ndim;
    uint64_t dims[4];
    void *data;
} rf_arr;

/* Arrays added or looked up get `prefix` in front of their names: a batch
 * of cases runs in one Python start (rf_case; see the Python docstring). */
typedef struct rf_set {
    rf_arr a[RF_MAX];
    int n;
    int cases;
    char prefix[16];
} rf_set;

/* Starts case c of a batch: later rf_add / rf_get use the prefix "c:". The
 * input must get rf_finish_cases before rf_run. */
static inline void rf_case(rf_set *s, int c) { snprintf(s->prefix, sizeof s->prefix, "%d:", c); }

static inline size_t rf_elem(int dtype) { return dtype == RF_F64 ? 8 : dtype == RF_U8 ? 1 : 4; }

static inline size_t rf_count(const rf_arr *a)
{
    size_t c = 1;
    for (int i = 0; i < a->ndim; i++)
        c *= (size_t)a->dims[i];
    return c;
}

/* Copies data (rows × cols; cols 0: a vector of rows). */
static inline void rf_add(rf_set *s, const char *name, int dtype, const void *data, size_t rows, size_t cols)
{
    if (s->n >= RF_MAX) {
        fprintf(stderr, "rf_add: too many arrays\n");
        abort();
    }
    rf_arr *a = &s->a[s->n++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s%s", s->prefix, name);
    a->dtype = dtype;
    a->ndim = cols ? 2 : 1;
    a->dims[0] = rows;
    a->dims[1] = cols;
    size_t bytes = rf_count(a) * rf_elem(dtype);
    a->data = malloc(bytes ? bytes : 1);
    if (bytes)
        memcpy(a->data, data, bytes);
}

static inline void rf_add_i(rf_set *s, const char *name, int32_t v) { rf_add(s, name, RF_I32, &v, 1, 0); }
static inline void rf_add_f(rf_set *s, const char *name, float v) { rf_add(s, name, RF_F32, &v, 1, 0); }
static inline void rf_add_op(rf_set *s, const char *op) { rf_add(s, "op", RF_U8, op, strlen(op), 0); }

static inline const rf_arr *rf_get(const rf_set *s, const char *name)
{
    char full[48];
    snprintf(full, sizeof full, "%s%s", s->prefix, name);
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->a[i].name, full) == 0)
            return &s->a[i];
    fprintf(stderr, "reference output has no array %s\n", name);
    return NULL;
}

/* Element t of an output array as a double (any dtype). */
static inline double rf_at(const rf_arr *a, size_t t)
{
    switch (a->dtype) {
    case RF_F32: return ((const float *)a->data)[t];
    case RF_I32: return ((const int32_t *)a->data)[t];
    case RF_F64: return ((const double *)a->data)[t];
    case RF_U32: return ((const uint32_t *)a->data)[t];
    default: return ((const uint8_t *)a->data)[t];
    }
}

static inline void rf_free(rf_set *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->a[i].data);
    s->n = 0;
    s->prefix[0] = 0;
}

/* Ends a batch of `cases` cases (adds the count, clears the prefix). */
static inline void rf_finish_cases(rf_set *s, int cases)
{
    s->prefix[0] = 0;
    int32_t c = cases;
    rf_add(s, "cases", RF_I32, &c, 1, 0);
}

static inline int rf_python_ok(void)
{
    static int state = -1;
    if (state < 0) {
        state = system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
        if (!state)
            fprintf(stderr, "SKIP (comparison only): /usr/bin/python3 with numpy is not available\n");
    }
    return state;
}

static inline int rf_write(const rf_set *s, FILE *f)
{
    uint32_t cnt = (uint32_t)s->n;
    fwrite("VRT1", 1, 4, f);
    fwrite(&cnt, 4, 1, f);
    for (int i = 0; i < s->n; i++) {
        const rf_arr *a = &s->a[i];
        uint32_t nl = (uint32_t)strlen(a->name), nd = (uint32_t)a->ndim;
        uint8_t dt = (uint8_t)a->dtype;
        fwrite(&nl, 4, 1, f);
        fwrite(a->name, 1, nl, f);
        fwrite(&dt, 1, 1, f);
        fwrite(&nd, 4, 1, f);
        fwrite(a->dims, 8, nd, f);
        fwrite(a->data, rf_elem(a->dtype), rf_count(a), f);
    }
    return ferror(f) ? -1 : 0;
}

static inline int rf_read(rf_set *s, FILE *f)
{
    char magic[4];
    uint32_t cnt;
    if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "VRT1", 4) != 0 || fread(&cnt, 4, 1, f) != 1 ||
        cnt > RF_MAX)
        return -1;
    for (uint32_t i = 0; i < cnt; i++) {
        rf_arr *a = &s->a[s->n];
        memset(a, 0, sizeof *a);
        uint32_t nl, nd;
        uint8_t dt;
        if (fread(&nl, 4, 1, f) != 1 || nl >= sizeof a->name || fread(a->name, 1, nl, f) != nl ||
            fread(&dt, 1, 1, f) != 1 || dt > RF_U8 || fread(&nd, 4, 1, f) != 1 || nd > 4 ||
            fread(a->dims, 8, nd, f) != nd)
            return -1;
        a->dtype = dt;
        a->ndim = (int)nd;
        size_t c = rf_count(a);
        a->data = malloc(c * rf_elem(dt) + 1);
        s->n++;
        if (!a->data || fread(a->data, rf_elem(dt), c, f) != c)
            return -1;
    }
    return 0;
}

/* Runs the reference on `in`; fills `out` (rf_free it). */
static inline int rf_run(const rf_set *in, rf_set *out)
{
    out->n = 0;
    out->prefix[0] = 0;
    if (!rf_python_ok())
        return RF_SKIP;
    const char *tmp = getenv("TMPDIR");
    char pin[512], pout[520], cmd[1200];
    snprintf(pin, sizeof pin, "%s/vireo_rf_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(pin);
    if (fd < 0)
        return RF_FAIL;
    FILE *f = fdopen(fd, "wb");
    int bad = !f || rf_write(in, f) != 0;
    if (f)
        fclose(f);
    snprintf(pout, sizeof pout, "%s.out", pin);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/unit/retrieval_reference.py %s %s",
             VIREO_SOURCE_DIR, pin, pout);
    if (!bad && system(cmd) != 0) {
        fprintf(stderr, "reference failed: %s\n", cmd);
        bad = 1;
    }
    if (!bad) {
        f = fopen(pout, "rb");
        bad = !f || rf_read(out, f) != 0;
        if (f)
            fclose(f);
    }
    unlink(pin);
    unlink(pout);
    return bad ? RF_FAIL : RF_OK;
}

#endif
