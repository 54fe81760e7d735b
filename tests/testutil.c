#include "testutil.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const vk_ops *g_ops;

const vk_ops *tu_ops(void)
{
    if (g_ops)
        return g_ops;
    const char *env = getenv("VIREO_ISA");
    if (env && *env) {
        int lvl = vk_isa_parse(env);
        if (lvl < 0) {
            fprintf(stderr, "VIREO_ISA=%s is not a level\n", env);
            exit(1);
        }
        if (!vk_isa_supported((vk_isa)lvl)) {
            fprintf(stderr, "SKIP: this machine cannot run level %s\n", env);
            exit(77);
        }
    }
    char err[256];
    if (vk_ops_init(err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    g_ops = vk_ops_get();
    return g_ops;
}

const vk_ops *tu_ref(void) { return vk_ops_for(VK_ISA_REF); }

const char *tu_level(void) { return vk_isa_name(tu_ops()->level); }

uint64_t tu_seed(void)
{
    static uint64_t seed;
    static int init;
    if (!init) {
        const char *env = getenv("VIREO_TEST_SEED");
        seed = env && *env ? strtoull(env, NULL, 0) : 0x5eedf00dULL;
        init = 1;
    }
    return seed;
}

tu_rng tu_rng_make(uint64_t salt)
{
    tu_rng r = {tu_seed() ^ (salt * 0x9e3779b97f4a7c15ULL)};
    return r;
}

uint64_t tu_next(tu_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

float tu_uniform(tu_rng *r, float lo, float hi)
{
    double u = (double)(tu_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(lo + (hi - lo) * u);
}

void tu_fill_f32(tu_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = tu_uniform(r, lo, hi);
}

void tu_fill_u8(tu_rng *r, uint8_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (uint8_t)tu_next(r);
}

void tu_fill_s8(tu_rng *r, int8_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (int8_t)(uint8_t)tu_next(r);
}

void tu_fill_s32(tu_rng *r, int32_t *x, size_t n, int32_t lo, int32_t hi)
{
    uint64_t span = (uint64_t)((int64_t)hi - lo + 1);
    for (size_t i = 0; i < n; i++)
        x[i] = (int32_t)(lo + (int64_t)(tu_next(r) % span));
}

void *tu_alloc(size_t bytes)
{
    size_t sz = (bytes + 63) / 64 * 64;
    if (sz == 0)
        sz = 64;
    void *p = aligned_alloc(64, sz);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", bytes);
        abort();
    }
    memset(p, 0, sz);
    return p;
}

void tu_free(void *p) { free(p); }

void *tu_read_file(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    /* Regular files only: a directory opens and ftell's answer for it is
     * meaningless (LONG_MAX on some file systems). */
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
        (uint64_t)st.st_size > (uint64_t)SIZE_MAX / 2) {
        fclose(f);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n > 0 ? n : 1);
    if (b && fread(b, 1, n, f) != n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b)
        *len = n;
    return b;
}

void tu_fail_at(const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s:%d: [level %s, VIREO_TEST_SEED=0x%" PRIx64 "] %s\n", file, line,
            vk_isa_name(tu_ops()->level), tu_seed(), msg);
    fail_msg("%s", msg);
}

int tu_check_f32(const char *what, const float *got, const float *want, const float *tol,
                 float tol_all, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float t = tol ? tol[i] : tol_all;
        float d = fabsf(got[i] - want[i]);
        if (!(d <= t)) { /* also catches NaN */
            tu_fail("%s: element %zu: got %.9g want %.9g (|diff| %.3g > tol %.3g)", what, i,
                    got[i], want[i], d, t);
            return 1;
        }
    }
    return 0;
}

#define CHECK_INT(fn, T, FMT)                                                                \
    int fn(const char *what, const T *got, const T *want, size_t n)                          \
    {                                                                                        \
        for (size_t i = 0; i < n; i++)                                                       \
            if (got[i] != want[i]) {                                                         \
                tu_fail("%s: element %zu: got " FMT " want " FMT, what, i, (int)got[i],     \
                        (int)want[i]);                                                       \
                return 1;                                                                    \
            }                                                                                \
        return 0;                                                                            \
    }
CHECK_INT(tu_check_i32, int32_t, "%d")
CHECK_INT(tu_check_u8, uint8_t, "%d")
CHECK_INT(tu_check_s8, int8_t, "%d")

double tu_gamma(int n)
{
    double nu = n * TU_U_F32;
    return nu / (1.0 - nu);
}

const char *tu_shared_dir(void)
{
    static char path[4096];
    const char *env = getenv("VIREO_SHARED_DIR");
    if (env && *env)
        snprintf(path, sizeof path, "%s", env);
    else
        snprintf(path, sizeof path, "%s/../shared", VIREO_SOURCE_DIR);
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? path : NULL;
}

const char *tu_require_shared(void)
{
    const char *d = tu_shared_dir();
    if (!d) {
        fprintf(stderr, "SKIP: shared data not found (set VIREO_SHARED_DIR or put it at "
                        "%s/../shared)\n", VIREO_SOURCE_DIR);
        exit(77);
    }
    return d;
}

double tu_act_d(double x, vk_act act)
{
    switch (act) {
    case VK_ACT_RELU: return x > 0 ? x : 0;
    case VK_ACT_RELU6: return x < 0 ? 0 : x > 6 ? 6 : x;
    case VK_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case VK_ACT_QUICKGELU: return x / (1.0 + exp(-1.702 * x));
    default: return x;
    }
}
