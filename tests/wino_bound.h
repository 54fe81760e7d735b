/* Winograd F(4×4, 3×3) in double for the tests' error bounds: the matrices
 * (kernels/wino.h), U = G g Gᵀ of one filter, and the magnitude
 *     S_w = |Aᵀ| (Σ_c |U_c| ⊙ |Bᵀ| |d_c| |B|) |A|
 * of every output of a 3×3 stride-1 conv, which bounds the rounding of its
 * Winograd evaluation: |ŷ − y| ≤ γ_{C+23}·(S_w + |b| + |r|) (derivation:
 * tests/kernels/test_conv_wino_f32.c). Used by the kernel test and by the
 * model-level checks (tests/wino_check.h). */
#ifndef VIREO_TESTS_WINO_BOUND_H
#define VIREO_TESTS_WINO_BOUND_H

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

static const double WB_BT[6][6] = {
    {4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
    {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1},
};
static const double WB_G[6][3] = {
    {1.0 / 4, 0, 0},          {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1},
};
static const double WB_AT[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1},
};

/* U = G g Gᵀ of filter (oc, c) of OHWI [OC][3][3][C] weights */
static inline void wb_u(const float *w_ohwi, int C, int oc, int c, double u[6][6])
{
    double t[6][3];
    for (int i = 0; i < 6; i++)
        for (int kw = 0; kw < 3; kw++) {
            t[i][kw] = 0;
            for (int kh = 0; kh < 3; kh++)
                t[i][kw] += WB_G[i][kh] * w_ohwi[(((size_t)oc * 3 + kh) * 3 + kw) * C + c];
        }
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            u[i][j] = t[i][0] * WB_G[j][0] + t[i][1] * WB_G[j][1] + t[i][2] * WB_G[j][2];
}

/* S_w of every output of a 3×3 stride-1 conv: input x NHWC with pixel
 * stride x_ld, output [n][oh][ow][oc] (OC per pixel) into sw. */
static inline void wb_sw(const float *x, ptrdiff_t x_ld, int N, int H, int W, int C,
                         const float *w_ohwi, int OC, int pt, int pl, int OH, int OW, double *sw)
{
    double *ua = malloc((size_t)OC * C * 36 * sizeof *ua), *va = malloc((size_t)C * 36 * sizeof *va);
    for (int oc = 0; oc < OC; oc++)
        for (int c = 0; c < C; c++) {
            double u[6][6];
            wb_u(w_ohwi, C, oc, c, u);
            for (int i = 0; i < 36; i++)
                ua[((size_t)oc * C + c) * 36 + i] = fabs(u[i / 6][i % 6]);
        }
    for (int n = 0; n < N; n++)
        for (int th = 0; th < (OH + 3) / 4; th++)
            for (int tw = 0; tw < (OW + 3) / 4; tw++) {
                for (int c = 0; c < C; c++) { /* |Bᵀ| |d| |B| */
                    double d[6][6], t[6][6];
                    for (int i = 0; i < 6; i++)
                        for (int j = 0; j < 6; j++) {
                            int ih = 4 * th - pt + i, iw = 4 * tw - pl + j;
                            d[i][j] = ih >= 0 && ih < H && iw >= 0 && iw < W
                                          ? fabs(x[(((size_t)n * H + ih) * W + iw) * x_ld + c])
                                          : 0;
                        }
                    for (int i = 0; i < 6; i++)
                        for (int j = 0; j < 6; j++) {
                            t[i][j] = 0;
                            for (int k = 0; k < 6; k++)
                                t[i][j] += fabs(WB_BT[i][k]) * d[k][j];
                        }
                    for (int i = 0; i < 6; i++)
                        for (int j = 0; j < 6; j++) {
                            double s = 0;
                            for (int k = 0; k < 6; k++)
                                s += t[i][k] * fabs(WB_BT[j][k]);
                            va[(size_t)c * 36 + i * 6 + j] = s;
                        }
                }
                for (int oc = 0; oc < OC; oc++) {
                    double m[36] = {0};
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < 36; i++)
                            m[i] += ua[((size_t)oc * C + c) * 36 + i] * va[(size_t)c * 36 + i];
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++) {
                            int oh = 4 * th + i, ow = 4 * tw + j;
                            if (oh >= OH || ow >= OW)
                                continue;
                            double s = 0;
                            for (int r = 0; r < 6; r++)
                                for (int q = 0; q < 6; q++)
                                    s += fabs(WB_AT[i][r]) * m[r * 6 + q] * fabs(WB_AT[j][q]);
                            sw[(((size_t)n * OH + oh) * OW + ow) * OC + oc] = s;
                        }
                }
            }
    free(ua);
    free(va);
}

#endif
