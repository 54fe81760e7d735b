/* Timing, buffer rotation, row output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "kernels/requant.h"

bench_opts g_opt;

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[(n - 1) / 2]; /* lower median for even counts */
}

static double thread_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *bench_clock_name(int threads)
{
    if (g_opt.clock == BENCH_CLOCK_WALL || threads > 1)
        return "wall";
    return "thread-cpu";
}

/* One run: back-to-back calls until min_ms has passed (a call slower than
 * that is a run by itself); returns ms per call. */
static double one_run(bench_fn fn, void *ctx, int *iter, double (*clk)(void))
{
    int n = 0;
    double t0 = clk(), t;
    do {
        fn(ctx, (*iter)++);
        n++;
        t = clk();
    } while ((t - t0) * 1e3 < g_opt.min_ms);
    return (t - t0) * 1e3 / n;
}

/* After a multi-threaded call the other side's threads keep spinning for a
 * while (libgomp ~ms by default, our pool's yield loop): if the next side
 * started at once it would share its cores with them. Wait them out. */
static void settle(int threads)
{
    if (threads <= 1)
        return;
    struct timespec ts = {0, 40 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Both sides, run for run: round r runs ours then theirs (r even) or theirs
 * then ours (r odd), so a swing of the host's speed lasting seconds lands on
 * both sides of a round. Per side the median ms per call; per round the ratio
 * of speeds (their time / ours), whose median, minimum and maximum go in
 * r_med/r_min/r_max (-1 when a side is missing).
 *
 * One thread: both sides run entirely on this thread (our pool of 1 and
 * OpenMP with 1 thread execute on the caller), so its CPU clock excludes the
 * time other processes took the core. More threads: wall clock. */
static void time_rounds(int threads, bench_fn fn[2], void *ctx[2], double ms[2], double *r_med,
                        double *r_min, double *r_max)
{
    double (*clk)(void) = strcmp(bench_clock_name(threads), "wall") ? thread_now : bench_now;
    int runs = g_opt.runs < 1 ? 1 : g_opt.runs, iter[2] = {0, 0};
    double *t[2], *ratio = calloc((size_t)runs, sizeof *ratio);
    for (int s = 0; s < 2; s++) {
        t[s] = calloc((size_t)runs, sizeof *t[s]);
        if (!fn[s])
            continue;
        settle(threads);
        fn[s](ctx[s], iter[s]++); /* warm-up: first-touch faults, oneDNN JIT, pool wake-up */
    }
    for (int r = 0; r < runs; r++)
        for (int i = 0; i < 2; i++) {
            int s = (r & 1) ? 1 - i : i;
            if (!fn[s])
                continue;
            settle(threads);
            t[s][r] = one_run(fn[s], ctx[s], &iter[s], clk);
        }
    int paired = fn[0] && fn[1];
    *r_min = *r_max = -1;
    for (int r = 0; paired && r < runs; r++) {
        ratio[r] = t[0][r] > 0 ? t[1][r] / t[0][r] : 0;
        if (*r_min < 0 || ratio[r] < *r_min)
            *r_min = ratio[r];
        if (ratio[r] > *r_max)
            *r_max = ratio[r];
    }
    *r_med = paired ? bench_median(ratio, runs) : -1;
    for (int s = 0; s < 2; s++) {
        ms[s] = fn[s] ? bench_median(t[s], runs) : -1;
        free(t[s]);
    }
    free(ratio);
}

void bench_time_pair(int threads, bench_fn ours, void *ctx_ours, bench_fn theirs,
                     void *ctx_theirs, double *ms_ours, double *ms_theirs)
{
    bench_fn fn[2] = {ours, theirs};
    void *ctx[2] = {ctx_ours, ctx_theirs};
    double ms[2], med, lo, hi;
    time_rounds(threads, fn, ctx, ms, &med, &lo, &hi);
    *ms_ours = ms[0];
    *ms_theirs = ms[1];
}

void bench_time_row(int threads, bench_fn ours, void *ctx_ours, bench_fn theirs,
                    void *ctx_theirs, bench_row *row)
{
    bench_fn fn[2] = {ours, theirs};
    void *ctx[2] = {ctx_ours, ctx_theirs};
    double ms[2];
    time_rounds(threads, fn, ctx, ms, &row->ratio_med, &row->ratio_min, &row->ratio_max);
    row->ms = ms[0];
    row->baseline_ms = ms[1];
}

double bench_loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static size_t llc_bytes(void)
{
    static size_t cached;
    if (cached)
        return cached;
    size_t best = 0;
    for (int i = 0; i < 8; i++) {
        char path[96], buf[32];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *f = fopen(path, "r");
        if (!f)
            break;
        if (fgets(buf, sizeof buf, f)) {
            char *end;
            size_t v = strtoul(buf, &end, 10);
            if (*end == 'K')
                v <<= 10;
            else if (*end == 'M')
                v <<= 20;
            if (v > best)
                best = v;
        }
        fclose(f);
    }
    cached = best ? best : (size_t)32 << 20;
    return cached;
}

int bench_rotations(size_t bytes)
{
    if (bytes == 0)
        return 1;
    size_t n = 1 + (llc_bytes() + bytes - 1) / bytes;
    return n > 512 ? 512 : (int)n;
}

int bench_selected(const char *op, const char *dtype, const char *shape, const char *layer)
{
    const char *f = g_opt.filter;
    if (!f || !*f)
        return 1;
    char opd[64];
    snprintf(opd, sizeof opd, "%s.%s", op, dtype); /* e.g. depthwise.int8 */
    return strstr(opd, f) || strstr(shape, f) || (layer && strstr(layer, f));
}

void *bench_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0)
        bytes = 64;
    if (posix_memalign(&p, 64, (bytes + 63) / 64 * 64) != 0 || !p) {
        fprintf(stderr, "vireo-bench: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    memset(p, 0, bytes);
    return p;
}

void bench_free(void *p) { free(p); }

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void bench_fill_f32(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)(mix(&seed) >> 40) * (1.0f / 16777216.0f);
}

void bench_fill_u8(uint8_t *x, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (uint8_t)(mix(&seed) >> 56);
}

void bench_fill_s8(int8_t *x, size_t n, uint64_t seed)
{
    /* -127..127: symmetric int8 weights never use -128 */
    for (size_t i = 0; i < n; i++)
        x[i] = (int8_t)((int)(mix(&seed) % 255) - 127);
}

vr_pool *bench_pool(int threads)
{
    static vr_pool *pools[BENCH_MAX_THREADS + 1];
    if (threads < 1 || threads > BENCH_MAX_THREADS)
        return NULL;
    if (!pools[threads])
        pools[threads] = vr_pool_create(threads);
    return pools[threads];
}

const vk_ops *bench_ops(void) { return vk_ops_get(); }

int bench_have(const void *fn, int op)
{
    static unsigned char noted[VK_OP_COUNT];
    if (fn)
        return 1;
    if (op >= 0 && op < VK_OP_COUNT && !noted[op]) {
        fprintf(stderr, "vireo-bench: skipping %s rows: no kernel registered yet\n",
                vk_op_name(op));
        noted[op] = 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ output */
static void json_num(const char *key, double v, int valid)
{
    if (valid && isfinite(v))
        printf(",\"%s\":%.4g", key, v);
    else
        printf(",\"%s\":null", key);
}

/* Implementation names come from oneDNN and our table: escape anyway. */
static void json_str(const char *key, const char *v)
{
    printf(",\"%s\":\"", key);
    for (const char *p = v ? v : "?"; *p; p++) {
        if (*p == '"' || *p == '\\')
            putchar('\\');
        if ((unsigned char)*p >= 0x20)
            putchar(*p);
    }
    putchar('"');
}

static double peak_for(const bench_row *r)
{
    if (r->threads < 1 || r->threads > BENCH_MAX_THREADS)
        return 0;
    if (r->peak_kind == 1)
        return g_opt.peak_f32[r->threads];
    if (r->peak_kind == 2)
        return g_opt.peak_int8[r->threads];
    if (r->peak_kind == 3)
        return g_opt.peak_bf16[r->threads];
    return 0;
}

void bench_table_header(void)
{
    if (g_opt.json)
        return;
    printf("%-10s %-5s %-26s %-22s %3s %-6s %9s %9s %-12s %9s %7s %-11s %6s %s\n", "op",
           "dtype", "shape", "layer", "thr", "isa", "ms", "gops", "baseline", "base_gops", "ratio",
           "rounds", "peak%", "check");
    fflush(stdout);
}

void bench_emit(const bench_row *r)
{
    if (r->check && strcmp(r->check, "ok") && strcmp(r->check, "skipped"))
        fprintf(stderr, "vireo-bench: WARNING: %s %s %s (%s), %d threads: check %s (max error %g)\n",
                r->op, r->dtype, r->shape, r->layer, r->threads, r->check, r->max_err);
    double g = r->ms > 0 ? r->ops / (r->ms * 1e6) : -1;
    double bg = r->baseline_ms > 0 ? r->ops / (r->baseline_ms * 1e6) : -1;
    /* the median of the paired rounds' ratios when measured: it is steadier
     * than the ratio of two medians taken from different rounds */
    double ratio = r->ratio_med > 0 ? r->ratio_med : g > 0 && bg > 0 ? g / bg : -1;
    double peak = peak_for(r);
    double pf = g > 0 && peak > 0 ? g / peak : -1;
    if (g_opt.json) {
        printf("{\"op\":\"%s\",\"dtype\":\"%s\",\"shape\":\"%s\",\"layer\":\"%s\",\"threads\":%d,"
               "\"isa\":\"%s\"",
               r->op, r->dtype, r->shape, r->layer, r->threads, r->isa ? r->isa : "?");
        json_str("impl", r->impl);
        json_num("gops", g, g > 0);
        json_num("ms", r->ms, r->ms > 0);
        printf(",\"baseline\":\"%s\"", r->baseline);
        json_str("baseline_impl", r->baseline_impl);
        json_num("baseline_gops", bg, bg > 0);
        json_num("baseline_ms", r->baseline_ms, r->baseline_ms > 0);
        json_num("ratio", ratio, ratio > 0);
        json_num("ratio_min", r->ratio_min, r->ratio_med > 0);
        json_num("ratio_max", r->ratio_max, r->ratio_med > 0);
        json_num("peak_fraction", pf, pf > 0);
        printf(",\"units\":\"%s\",\"clock\":\"%s\",\"runs\":%d,\"check\":\"%s\"", r->elementwise ? "Gelem/s" : "GOP/s",
               bench_clock_name(r->threads), g_opt.runs, r->check ? r->check : "skipped");
        json_num("max_err", r->max_err, r->check && strcmp(r->check, "skipped"));
        json_num("loadavg", bench_loadavg(), bench_loadavg() >= 0);
        printf("}\n");
    } else {
        char pfs[16] = "-", range[32] = "-";
        if (pf > 0)
            snprintf(pfs, sizeof pfs, "%.1f", 100 * pf);
        if (r->ratio_med > 0)
            snprintf(range, sizeof range, "%.2f-%.2f", r->ratio_min, r->ratio_max);
        printf("%-10s %-5s %-26s %-22s %3d %-6s %9.4f %9.2f %-12s %9.2f %7.3f %-11s %6s %s\n",
               r->op, r->dtype, r->shape, r->layer, r->threads, r->isa ? r->isa : "?", r->ms, g,
               r->baseline, bg, ratio, range, pfs, r->check ? r->check : "skipped");
    }
    fflush(stdout);
}

void bench_emit_peak(const char *dtype, int threads, double gops)
{
    if (g_opt.json) {
        printf("{\"op\":\"peak\",\"dtype\":\"%s\",\"shape\":\"%s\",\"threads\":%d", dtype,
               !strcmp(dtype, "f32") ? "vfmadd231ps zmm" : !strcmp(dtype, "bf16") ? "vdpbf16ps zmm" : "vpdpbusd zmm", threads);
        json_num("gops", gops, gops > 0);
        printf(",\"units\":\"GOP/s\"}\n");
    } else {
        char g[16] = "unknown";
        if (gops > 0)
            snprintf(g, sizeof g, "%.2f", gops);
        printf("%-10s %-5s %-26s %-22s %3d %-6s %9s %9s\n", "peak", dtype,
               !strcmp(dtype, "f32") ? "vfmadd231ps zmm" : !strcmp(dtype, "bf16") ? "vdpbf16ps zmm" : "vpdpbusd zmm", "", threads,
               gops > 0 ? "avx512" : "-", "-", g);
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------ checks */
double bench_cmp_f32(const float *got, const float *want, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]) / (1.0 + fabs((double)want[i]));
        if (!(d <= m)) /* also catches NaN */
            m = isnan(d) ? INFINITY : d;
    }
    return m;
}

double bench_cmp_u8(const uint8_t *got, const uint8_t *want, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)got[i] - (int)want[i]);
        if (d > m)
            m = d;
    }
    return m;
}

const char *bench_verdict(double err, double tol) { return err <= tol ? "ok" : "mismatch"; }

void bench_make_bias_s32(int n, int K, uint64_t seed, int32_t *bias)
{
    /* as large as the accumulators themselves, so that a bias applied at the
     * wrong point (or not at all) shows up in the check */
    double sigma = sqrt((double)K) * 74.0 * 73.0;
    for (int i = 0; i < n; i++)
        bias[i] = (int32_t)(((double)(mix(&seed) >> 11) / 9007199254740992.0 - 0.5) * sigma);
}

void bench_make_requant(int n, int K, uint64_t seed, float *scales, int32_t *mult,
                        int8_t *shift)
{
    /* acc std ~ sqrt(K) * 74 * 73 (uniform u8 - zero, uniform s8); aim the
     * output std at ~40 codes. */
    double sigma = sqrt((double)K) * 74.0 * 73.0;
    for (int i = 0; i < n; i++) {
        double r = (double)(mix(&seed) >> 11) / 9007199254740992.0;
        double s = 40.0 / sigma * (0.75 + 0.5 * r);
        scales[i] = (float)s;
        /* oneDNN gets the float; quantize the same value for ours */
        vk_quantize_multiplier((double)scales[i], &mult[i], &shift[i]);
    }
}
