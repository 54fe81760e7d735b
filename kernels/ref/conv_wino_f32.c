/* Reference Winograd F(4×4, 3×3) f32 convolution (kernels.h, conv_wino_f32;
 * matrices: kernels/wino.h), one tile at a time in plain C:
 *   V = Bᵀ d B per input channel (rows first, then columns),
 *   M_ξ = Σ_c U_ξ[c][oc] · V_ξ[c] in channel order,
 *   Y = Aᵀ M A (rows first), then + bias + residual and the activation.
 * The scratch holds one tile's V (36 × C floats). */
#include "../act.h"
#include "../wino.h"
#include "ref.h"

static void in_1d(const float d[6], float t[6])
{
    t[0] = 4 * d[0] - 5 * d[2] + d[4];
    t[1] = -4 * d[1] - 4 * d[2] + d[3] + d[4];
    t[2] = 4 * d[1] - 4 * d[2] - d[3] + d[4];
    t[3] = -2 * d[1] - d[2] + 2 * d[3] + d[4];
    t[4] = 2 * d[1] - d[2] - 2 * d[3] + d[4];
    t[5] = 4 * d[1] - 5 * d[3] + d[5];
}

static void out_1d(const float m[6], float y[4])
{
    y[0] = m[0] + m[1] + m[2] + m[3] + m[4];
    y[1] = m[1] - m[2] + 2 * m[3] - 2 * m[4];
    y[2] = m[1] + m[2] + 4 * m[3] + 4 * m[4];
    y[3] = m[1] - m[2] + 8 * m[3] - 8 * m[4] + m[5];
}

void vk_conv_wino_f32_ref(const vk_conv_wino_f32_args *a, int t0, int t1)
{
    const vk_conv_geom *g = &a->g;
    const int th_n = vk_wino_tiles_h(g), tw_n = vk_wino_tiles_w(g), C = g->C;
    const size_t blk = vk_pack_f32_b_size(C, g->OC);
    float *V = a->scratch; /* [c][36] */
    for (int t = t0; t < t1; t++) {
        const int n = t / th_n, th = t % th_n;
        const float *img = a->in + (ptrdiff_t)n * g->H * g->W * g->in_ld;
        for (int tw = 0; tw < tw_n; tw++) {
            const int ih0 = 4 * th - g->pad_t, iw0 = 4 * tw - g->pad_l;
            for (int c = 0; c < C; c++) {
                float d[6][6], r[6][6], col[6], tc[6];
                for (int i = 0; i < 6; i++)
                    for (int j = 0; j < 6; j++) {
                        const int ih = ih0 + i, iw = iw0 + j;
                        d[i][j] = ih >= 0 && ih < g->H && iw >= 0 && iw < g->W
                                      ? img[((ptrdiff_t)ih * g->W + iw) * g->in_ld + c]
                                      : 0.0f;
                    }
                for (int i = 0; i < 6; i++) /* rows: d B */
                    in_1d(d[i], r[i]);
                for (int j = 0; j < 6; j++) { /* columns: Bᵀ (d B) */
                    for (int i = 0; i < 6; i++)
                        col[i] = r[i][j];
                    in_1d(col, tc);
                    for (int i = 0; i < 6; i++)
                        V[(size_t)c * 36 + i * 6 + j] = tc[i];
                }
            }
            for (int oc = 0; oc < g->OC; oc++) {
                const float *u = a->Wp + (ptrdiff_t)(oc / VK_F32_NR) * C * VK_F32_NR + oc % VK_F32_NR;
                float m[6][6], r[6][4], y[4][4], col[6], yc[4];
                for (int x = 0; x < 36; x++) {
                    float s = 0.0f;
                    for (int c = 0; c < C; c++)
                        s += u[x * blk + (size_t)c * VK_F32_NR] * V[(size_t)c * 36 + x];
                    m[x / 6][x % 6] = s;
                }
                for (int i = 0; i < 6; i++) /* rows: M A */
                    out_1d(m[i], r[i]);
                for (int j = 0; j < 4; j++) { /* columns: Aᵀ (M A) */
                    for (int i = 0; i < 6; i++)
                        col[i] = r[i][j];
                    out_1d(col, yc);
                    for (int i = 0; i < 4; i++)
                        y[i][j] = yc[i];
                }
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) {
                        const int oh = 4 * th + i, ow = 4 * tw + j;
                        if (oh >= g->OH || ow >= g->OW)
                            continue;
                        const ptrdiff_t o =
                            (((ptrdiff_t)n * g->OH + oh) * g->OW + ow) * g->out_ld + oc;
                        float v = (a->bias ? a->bias[oc] : 0.0f) + y[i][j];
                        if (a->residual)
                            v += a->residual[o];
                        a->out[o] = vk_act1(v, a->act);
                    }
            }
        }
    }
}
