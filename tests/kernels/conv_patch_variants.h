/* The patchify-route variants shared by test_conv2d_f32.c and
 * test_conv_bf16.c. Include after the file's conv_case (fields N … OW,
 * in_extra, out_extra, bias, residual, act) and its run_case, which checks
 * one case against the reference and returns its failures. */
#ifndef VIREO_TESTS_CONV_PATCH_VARIANTS_H
#define VIREO_TESTS_CONV_PATCH_VARIANTS_H

#include <stdlib.h>

#include "kernels/pack.h"
#include "testutil.h"

/* vk_conv_patch_rows_f32 or _bf16 */
typedef int (*patch_rows_fn)(const vk_conv_geom *g);

/* Patchify case i (chunks: 1 = one chunk per whole call, 2 = several, 0 =
 * not the route) in three variants of bias, residual and activation, the
 * third with a wider output row and, every other case, a wider input pixel
 * (not dense: not the route either); under VIREO_TEST_QUICK (qemu) one
 * variant per case. Checks how the route chunks the call, then runs it.
 * Returns the failures. */
static int patch_variants(conv_case base, int chunks, size_t i, patch_rows_fn rows_of)
{
    const int quick = getenv("VIREO_TEST_QUICK") != NULL;
    int fails = 0;
    for (int v = quick ? (int)(i % 3) : 0; v < (quick ? (int)(i % 3) + 1 : 3); v++) {
        conv_case c = base;
        c.bias = v != 1;
        c.residual = v >= 1;
        c.act = v == 0 ? VK_ACT_NONE : v == 1 ? VK_ACT_RELU : VK_ACT_GELU;
        c.in_extra = v == 2 && i % 2 ? 1 : 0;
        c.out_extra = v == 2 ? 3 : 0;
        vk_conv_geom g = {c.N, c.H, c.W, c.C, c.OH, c.OW, c.OC, c.KH, c.KW, c.sh, c.sw,
                          c.pt, c.pl, c.dh, c.dw, c.C + c.in_extra, c.OC + c.out_extra};
        const int rows = rows_of(&g), M = c.N * c.OH * c.OW;
        const int want = c.in_extra ? 0 : chunks;
        const int got = rows == 0 ? 0 : M > rows ? 2 : 1;
        if (got != want) {
            tu_fail("patch case %zu.%d: %d rows per chunk for %d pixels, expected %s", i, v, rows,
                    M, want == 0 ? "no route" : want == 1 ? "one chunk" : "several");
            fails++;
        }
        fails += run_case(&c, 700 + i * 3 + (size_t)v);
    }
    return fails;
}

#endif
