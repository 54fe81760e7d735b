/* conv_wino_f32 (Winograd F(4×4,3×3)): the dispatched kernel and the
 * reference against a direct double-precision conv computed from the
 * unpacked OHWI weights, and against each other; the packer against
 * G g Gᵀ in double.
 *
 * Tolerance, per output (derived; Higham, Accuracy and Stability, 3.1, to
 * first order in the unit roundoff u). Winograd computes
 *     y = Aᵀ [ Σ_c Û_c ⊙ V̂_c ] A,   V_c = Bᵀ d_c B,   U_c = G g_c Gᵀ.
 *  - Û_c is G g Gᵀ evaluated in double, rounded once: |Û − U| ≤ u·|U|.
 *  - V̂_c: two 1-D transforms, each output a combination of at most 4 terms
 *    with coefficients 1, 2, 4, 5: |V̂ − V| ≤ γ_8·(|Bᵀ| |d| |B|).
 *  - the C products per point ξ: γ_C relative to Σ_c |Û_c|·|V̂_c|.
 *  - Aᵀ M A: two 1-D transforms of at most 6 terms: γ_12 relative to
 *    |Aᵀ| |M| |A|; then bias and residual: 2 more roundings.
 * All together, with W = Σ_c |U_c| ⊙ (|Bᵀ| |d_c| |B|),
 *     |ŷ − v| ≤ γ_{C+23} · ( |Aᵀ| W |A| + |bias| + |residual| ) =: γ·S_w
 * (the factors |Bᵀ|, |A| of up to 10 and 19 per dimension are why
 * Winograd's error is larger than the direct conv's γ_{9C}·Σ|w·x|).
 * The activation as in test_conv2d_f32.c (Lipschitz L, 1e-6·|v|):
 *   vs oracle:    tol = L·γ·S_w + 1e-6·|v|
 *   vs reference: tol = 2·L·γ·S_w + 2e-6·|v|
 * Splitting the tile-row range must not change a bit, a sub-range writes
 * only its rows, and channels past OC within out_ld are never written.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pack.h"
#include "kernels/wino.h"
#include "testutil.h"
#include "wino_bound.h"

#define SENTINEL 1234.5f

typedef struct wcase {
    int N, H, W, C, OC, pt, pl, OH, OW;
    int in_extra, out_extra;
    int bias, residual;
    vk_act act;
} wcase;

static int run_case(const wcase *cs, uint64_t salt)
{
    char desc[200];
    snprintf(desc, sizeof desc, "N%d %dx%d C%d OC%d pad t%d l%d -> %dx%d ld+%d/+%d%s%s act%d",
             cs->N, cs->H, cs->W, cs->C, cs->OC, cs->pt, cs->pl, cs->OH, cs->OW, cs->in_extra,
             cs->out_extra, cs->bias ? " bias" : "", cs->residual ? " res" : "", (int)cs->act);
    tu_rng rng = tu_rng_make(salt);
    vk_conv_geom g = {cs->N, cs->H, cs->W, cs->C, cs->OH, cs->OW, cs->OC, 3, 3, 1, 1,
                      cs->pt, cs->pl, 1, 1, cs->C + cs->in_extra, cs->OC + cs->out_extra};
    const int C = cs->C, OC = cs->OC, th_n = vk_wino_tiles_h(&g);
    const int T = cs->N * th_n;
    const size_t n_in = (size_t)cs->N * cs->H * cs->W * g.in_ld;
    const size_t n_out = (size_t)cs->N * cs->OH * cs->OW * g.out_ld;
    const size_t n_w = (size_t)OC * 9 * C;
    float *in = tu_alloc(n_in * 4), *w = tu_alloc(n_w * 4);
    float *wp = tu_alloc(vk_pack_wino_f32_size(OC, C) * 4);
    float *bias = tu_alloc((size_t)OC * 4), *res = tu_alloc(n_out * 4);
    float *want = tu_alloc(n_out * 4), *got = tu_alloc(n_out * 4), *one = tu_alloc(n_out * 4);
    float *tol_o = tu_alloc(n_out * 4), *tol_r = tu_alloc(n_out * 4);
    double *ref_d = tu_alloc(n_out * 8);
    double *sw = tu_alloc((size_t)cs->N * cs->OH * cs->OW * OC * 8); /* S_w, OC per pixel */
    void *scratch = tu_alloc(vk_conv_wino_f32_scratch(&g));

    tu_fill_f32(&rng, in, n_in, -1.0f, 1.0f);
    for (size_t p = 0; p < n_in / g.in_ld; p++)
        for (int c = C; c < g.in_ld; c++)
            in[p * g.in_ld + c] = 1e30f; /* past C: must not be read */
    tu_fill_f32(&rng, w, n_w, -1.0f, 1.0f);
    tu_fill_f32(&rng, bias, OC, -1.0f, 1.0f);
    tu_fill_f32(&rng, res, n_out, -2.0f, 2.0f);
    vk_pack_wino_f32(OC, C, w, wp);
    wb_sw(in, g.in_ld, cs->N, cs->H, cs->W, C, w, OC, cs->pt, cs->pl, cs->OH, cs->OW, sw);

    const double L = (cs->act == VK_ACT_GELU || cs->act == VK_ACT_QUICKGELU) ? 1.2 : 1.0;
    const double gm = tu_gamma(C + 23);
    for (int n = 0; n < cs->N; n++)
        for (int oh = 0; oh < cs->OH; oh++)
            for (int ow = 0; ow < cs->OW; ow++)
                for (int oc = 0; oc < OC; oc++) {
                    const size_t px = ((size_t)n * cs->OH + oh) * cs->OW + ow;
                    const size_t o = px * g.out_ld + oc;
                    double s = cs->bias ? bias[oc] : 0, mag = sw[px * OC + oc] + fabs(s);
                    if (cs->residual) {
                        s += res[o];
                        mag += fabs(res[o]);
                    }
                    for (int kh = 0; kh < 3; kh++) {
                        int ih = oh - cs->pt + kh;
                        if (ih < 0 || ih >= cs->H)
                            continue;
                        for (int kw = 0; kw < 3; kw++) {
                            int iw = ow - cs->pl + kw;
                            if (iw < 0 || iw >= cs->W)
                                continue;
                            const float *x = in + (((size_t)n * cs->H + ih) * cs->W + iw) * g.in_ld;
                            const float *wk = w + (((size_t)oc * 3 + kh) * 3 + kw) * C;
                            for (int c = 0; c < C; c++)
                                s += (double)x[c] * wk[c];
                        }
                    }
                    ref_d[o] = tu_act_d(s, cs->act);
                    tol_o[o] = (float)(L * gm * mag + 1e-6 * fabs(s));
                    tol_r[o] = (float)(2 * L * gm * mag + 2e-6 * fabs(s));
                }

    vk_conv_wino_f32_args args = {g, in, wp, cs->bias ? bias : NULL, cs->residual ? res : NULL,
                                  NULL, cs->act, scratch};
    for (size_t i = 0; i < n_out; i++)
        want[i] = one[i] = got[i] = SENTINEL;
    args.out = want;
    tu_ref()->conv_wino_f32(&args, 0, T);
    args.out = one;
    tu_ops()->conv_wino_f32(&args, 0, T);
    int a = (int)(tu_next(&rng) % (T + 1)), b = (int)(tu_next(&rng) % (T + 1));
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    args.out = got;
    tu_ops()->conv_wino_f32(&args, b, T);
    tu_ops()->conv_wino_f32(&args, 0, a);
    tu_ops()->conv_wino_f32(&args, a, b);

    int fail = 0;
    for (size_t p = 0; p < n_out / g.out_ld && !fail; p++)
        for (int c = 0; c < g.out_ld && !fail; c++) {
            const size_t i = p * g.out_ld + c;
            if (c >= OC) {
                if (want[i] != SENTINEL || got[i] != SENTINEL || one[i] != SENTINEL) {
                    tu_fail("%s: pixel %zu channel %d past OC was written", desc, p, c);
                    fail = 1;
                }
            } else if (!(fabs(want[i] - ref_d[i]) <= tol_o[i])) {
                tu_fail("%s: ref vs oracle at pixel %zu oc %d: %.9g vs %.9g (tol %.3g)", desc, p,
                        c, want[i], ref_d[i], tol_o[i]);
                fail = 1;
            } else if (!(fabs(got[i] - ref_d[i]) <= tol_o[i])) {
                tu_fail("%s: %s vs oracle at pixel %zu oc %d: %.9g vs %.9g (tol %.3g)", desc,
                        tu_level(), p, c, got[i], ref_d[i], tol_o[i]);
                fail = 1;
            } else if (!(fabsf(got[i] - want[i]) <= tol_r[i])) {
                tu_fail("%s: %s vs ref at pixel %zu oc %d: %.9g vs %.9g (tol %.3g)", desc,
                        tu_level(), p, c, got[i], want[i], tol_r[i]);
                fail = 1;
            } else if (memcmp(&got[i], &one[i], 4) != 0) {
                tu_fail("%s: split [0,%d) [%d,%d) [%d,%d) differs from one call at pixel %zu "
                        "oc %d",
                        desc, a, a, b, b, T, p, c);
                fail = 1;
            }
        }

    /* tile rows [1, T-1) write exactly their output rows */
    if (!fail && T >= 3) {
        for (size_t i = 0; i < n_out; i++)
            got[i] = SENTINEL;
        args.out = got;
        tu_ops()->conv_wino_f32(&args, 1, T - 1);
        for (size_t i = 0; i < n_out && !fail; i++) {
            const size_t pix = i / g.out_ld;
            const int c = (int)(i % g.out_ld);
            const int r = (int)(pix / cs->OW), n = r / cs->OH, oh = r % cs->OH;
            const int t = n * th_n + oh / 4;
            const int inside = t >= 1 && t < T - 1;
            const float expect = inside && c < OC ? one[i] : SENTINEL;
            if (memcmp(&got[i], &expect, 4) != 0) {
                tu_fail("%s: tile rows [1,%d): element %zu: got %.9g want %.9g", desc, T - 1, i,
                        got[i], expect);
                fail = 1;
            }
        }
    }

    tu_free(in), tu_free(w), tu_free(wp), tu_free(bias), tu_free(res);
    tu_free(want), tu_free(got), tu_free(one), tu_free(tol_o), tu_free(tol_r);
    tu_free(ref_d), tu_free(sw), tu_free(scratch);
    return fail;
}

static wcase mk(int N, int H, int W, int C, int OC, int pad)
{
    wcase c = {N, H, W, C, OC, pad, pad, H + 2 * pad - 2, W + 2 * pad - 2, 0, 0, 1, 0,
               VK_ACT_NONE};
    return c;
}

/* Sizes around the tile (4) and the 6×6 patch, channels around the 16-lane
 * vector and the 64-channel register tile, and the register tile's 6 rows. */
static void test_curated(void **state)
{
    (void)state;
    wcase cases[] = {
        mk(1, 1, 1, 1, 1, 1),     mk(1, 3, 3, 1, 1, 0),     mk(1, 2, 5, 3, 7, 1),
        mk(1, 4, 4, 16, 16, 1),   mk(1, 5, 6, 17, 15, 1),   mk(1, 6, 6, 15, 17, 0),
        mk(1, 7, 7, 64, 64, 1),   mk(1, 8, 9, 33, 65, 1),   mk(2, 9, 8, 31, 63, 1),
        mk(1, 14, 14, 64, 80, 1), mk(1, 13, 11, 48, 129, 1), mk(3, 6, 10, 16, 48, 2),
        mk(1, 17, 5, 5, 33, 0),   mk(1, 28, 28, 32, 32, 1), mk(2, 12, 12, 24, 24, 1),
    };
    int fail = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wcase c = cases[i];
        c.in_extra = i % 3 == 1 ? 5 : 0;
        c.out_extra = i % 3 == 2 ? 3 : 0;
        c.bias = i % 4 != 3;
        c.residual = i % 5 == 2;
        c.act = (vk_act)(i % 5);
        fail |= run_case(&c, 0x5100 + i);
    }
    assert_int_equal(fail, 0);
}

/* Several tile blocks per call (vk_wino_tile_block: C = OC = 256 holds 14 tiles,
 * 512 holds 7) and ResNet-50's stage shapes. */
static void test_blocks_and_models(void **state)
{
    (void)state;
    wcase cases[] = {
        mk(1, 14, 14, 256, 256, 1), mk(1, 7, 7, 512, 512, 1), mk(1, 11, 18, 512, 96, 1),
        mk(1, 56, 56, 64, 64, 1),   mk(1, 28, 28, 128, 128, 1),
    };
    int fail = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cases[i].act = VK_ACT_RELU;
        fail |= run_case(&cases[i], 0x5200 + i);
    }
    assert_int_equal(fail, 0);
}

static void test_random_edges(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(0x5300);
    int fail = 0;
    for (int i = 0; i < 24 && !fail; i++) {
        const int pad = (int)(tu_next(&r) % 3);
        int H = 1 + (int)(tu_next(&r) % 13), W = 1 + (int)(tu_next(&r) % 13);
        if (H + 2 * pad < 3)
            H = 3;
        if (W + 2 * pad < 3)
            W = 3;
        wcase c = mk(1 + (int)(tu_next(&r) % 2), H, W, 1 + (int)(tu_next(&r) % 40),
                     1 + (int)(tu_next(&r) % 70), pad);
        c.in_extra = (int)(tu_next(&r) % 3);
        c.out_extra = (int)(tu_next(&r) % 3);
        c.bias = (int)(tu_next(&r) % 2);
        c.residual = (int)(tu_next(&r) % 2);
        c.act = (vk_act)(tu_next(&r) % 5);
        fail |= run_case(&c, 0x5400 + i);
    }
    assert_int_equal(fail, 0);
}

/* The packer: U_ξ[c][oc] = (G g Gᵀ)[ξ] rounded from double, in the matmul-B
 * panel layout, zero past OC. */
static void test_packer(void **state)
{
    (void)state;
    const int OC = 19, C = 5;
    tu_rng r = tu_rng_make(0x5500);
    float *w = tu_alloc((size_t)OC * 9 * C * 4);
    const size_t blk = vk_pack_f32_b_size(C, OC);
    assert_int_equal(vk_pack_wino_f32_size(OC, C), 36 * blk);
    float *wp = tu_alloc(36 * blk * 4);
    tu_fill_f32(&r, w, (size_t)OC * 9 * C, -1, 1);
    vk_pack_wino_f32(OC, C, w, wp);
    int fail = 0;
    for (int oc = 0; oc < 32 && !fail; oc++)
        for (int c = 0; c < C && !fail; c++) {
            double u[6][6] = {{0}};
            if (oc < OC)
                wb_u(w, C, oc, c, u);
            for (int x = 0; x < 36; x++) {
                float want = (float)u[x / 6][x % 6];
                float got = wp[x * blk + ((size_t)(oc / 16) * C + c) * 16 + oc % 16];
                if (memcmp(&want, &got, 4) != 0) {
                    tu_fail("packer: oc %d c %d xi %d: %.9g vs %.9g", oc, c, x, got, want);
                    fail = 1;
                    break;
                }
            }
        }
    tu_free(w);
    tu_free(wp);
    assert_int_equal(fail, 0);
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packer),
        cmocka_unit_test(test_curated),
        cmocka_unit_test(test_random_edges),
        cmocka_unit_test(test_blocks_and_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
