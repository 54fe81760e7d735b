/* Winograd F(4,3) weight packing and scratch size (layout: kernels.h,
 * conv_wino_f32; matrices: kernels/wino.h). Each 3×3 filter g becomes
 * U = G g Gᵀ, computed in double and rounded once to f32. */
#include <stdlib.h>

#include "pack.h"
#include "wino.h"

static const double G[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

size_t vk_pack_wino_f32_size(int OC, int C)
{
    return (size_t)VK_WINO_XI * vk_pack_f32_b_size(C, OC);
}

void vk_pack_wino_f32(int OC, int C, const float *w_ohwi, float *Wp)
{
    const size_t blk = vk_pack_f32_b_size(C, OC);
    const int np = (OC + VK_F32_NR - 1) / VK_F32_NR;
    for (int oc = 0; oc < np * VK_F32_NR; oc++)
        for (int c = 0; c < C; c++) {
            double u[6][6] = {{0}};
            if (oc < OC) {
                double t[6][3]; /* G g */
                for (int i = 0; i < 6; i++)
                    for (int kw = 0; kw < 3; kw++) {
                        double s = 0;
                        for (int kh = 0; kh < 3; kh++)
                            s += G[i][kh] * w_ohwi[(((size_t)oc * 3 + kh) * 3 + kw) * C + c];
                        t[i][kw] = s;
                    }
                for (int i = 0; i < 6; i++)
                    for (int j = 0; j < 6; j++)
                        u[i][j] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
            }
            const size_t at = ((size_t)(oc / VK_F32_NR) * C + c) * VK_F32_NR + oc % VK_F32_NR;
            for (int x = 0; x < VK_WINO_XI; x++)
                Wp[x * blk + at] = (float)u[x / 6][x % 6];
        }
}

size_t vk_conv_wino_f32_scratch(const vk_conv_geom *g)
{
    const size_t tb = (size_t)vk_wino_tile_block(g);
    return (size_t)VK_WINO_XI * tb *
           (vk_round_up((size_t)g->C, 16) + vk_round_up((size_t)g->OC, 16)) * sizeof(float);
}
