/* Driver of bench/ceiling/attention_ceiling.sh (not part of vireo-bench: its own
 * main, built by the script): times the whole-row attention kernel
 * (kernels/avx512/attention_f32_full.c) against two copies of it with work
 * removed, in one process, alternating, on the bench's attention layout (12
 * heads, batch 1, Q/K/V read in place from one fused QKV buffer):
 *
 *   v0  the kernel as built into vireo (its output is checked against the
 *       library's dispatch entry, bit for bit)
 *   v1  the exponentials replaced by one add (wrong results, by design)
 *   v2  v1, and K/V packed for the first head only (every later head reads
 *       the first head's packed copy: wrong results, by design)
 *
 * v1 and v2 are not kernels: they bound what removing the softmax's
 * exponentials and the K/V packing could ever buy. Times are this thread's
 * CPU time; medians over rounds. Usage: attention_ceiling L D [rounds]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"

int ceiling_v0(const vk_attention_f32_args *a, int w0, int w1);
int ceiling_v1(const vk_attention_f32_args *a, int w0, int w1);
int ceiling_v2(const vk_attention_f32_args *a, int w0, int w1);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmpd(const void *x, const void *y)
{
    const double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: attention_ceiling L D [rounds]\n");
        return 2;
    }
    const int L = atoi(argv[1]), D = atoi(argv[2]), H = 12;
    const int R = argc > 3 ? atoi(argv[3]) : 9;
    if (L < 1 || L > 512 || D < 1 || D > 128 || R < 1 || R > 99) {
        fprintf(stderr, "attention_ceiling: L in 1..512, D in 1..128, rounds in 1..99\n");
        return 2;
    }
    const int ld = 3 * H * D;
    float *qkv = malloc(sizeof(float) * (size_t)L * ld);
    float *o = malloc(sizeof(float) * (size_t)L * H * D), *o2 = malloc(sizeof(float) * (size_t)L * H * D);
    if (!qkv || !o || !o2)
        return 1;
    unsigned s = 1;
    for (int i = 0; i < L * ld; i++) {
        s = s * 1664525u + 1013904223u;
        qkv[i] = (float)(s >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
    }
    vk_attention_f32_args a = {.B = 1, .H = H, .Lq = L, .Lk = L, .D = D, .q = qkv,
                               .k = qkv + H * D, .v = qkv + 2 * H * D, .q_ld = ld, .k_ld = ld,
                               .v_ld = ld, .o = o, .o_ld = H * D, .scale = 0.125f, .causal = 0};
    const int items = vk_attention_items(&a);
    char err[256];
    if (vk_ops_init(err, sizeof err) != 0) {
        fprintf(stderr, "attention_ceiling: %s\n", err);
        return 1;
    }
    const vk_ops *ops = vk_ops_get();
    ops->attention_f32(&a, 0, items);
    memcpy(o2, o, sizeof(float) * (size_t)L * H * D);
    if (!ceiling_v0(&a, 0, items) || memcmp(o, o2, sizeof(float) * (size_t)L * H * D) != 0) {
        fprintf(stderr, "attention_ceiling: v0 is not the library's kernel here "
                        "(dispatch %s, or the whole-row path refused L %d D %d)\n",
                vk_isa_name(ops->isa[VK_OP_attention_f32]), L, D);
        return 1;
    }
    int (*const f[3])(const vk_attention_f32_args *, int, int) = {ceiling_v0, ceiling_v1,
                                                                  ceiling_v2};
    double t[3][99];
    const int calls = 20;
    for (int r = 0; r < R; r++)
        for (int v = 0; v < 3; v++) {
            const double t0 = now();
            for (int c = 0; c < calls; c++)
                f[v](&a, 0, items);
            t[v][r] = (now() - t0) / calls;
        }
    const double flops = 4.0 * H * (double)L * L * D;
    double med[3];
    for (int v = 0; v < 3; v++) {
        qsort(t[v], (size_t)R, sizeof(double), cmpd);
        med[v] = t[v][R / 2];
    }
    printf("L%d D%d  v0 %.4f ms %.1f GFLOP/s  v1 (no exp) %.4f ms %.1f  v2 (no exp, no packing) "
           "%.4f ms %.1f  v0/v2 %.3f\n",
           L, D, med[0] * 1e3, flops / med[0] * 1e-9, med[1] * 1e3, flops / med[1] * 1e-9,
           med[2] * 1e3, flops / med[2] * 1e-9, med[0] / med[2]);
    free(qkv);
    free(o);
    free(o2);
    return 0;
}
