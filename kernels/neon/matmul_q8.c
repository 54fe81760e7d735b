/* int8 matmul, NEON sdot: driver and epilogues over the 4×16 register tile of
 * q8_tile.c (zero-point algebra: q8_neon.h).
 *
 * Loop order: blocks of rows whose A slice (~128 KB) stays in L2, then the
 * 16-column panels (K×16 bytes of B: L1 for K <= 1024), then the block's row
 * tiles of 4 (the last one 1..4 rows) over each panel. Every accumulator
 * starts at its column term (bias − (za − s)·colsum − K·bo·(za − s)) plus its
 * row term (bo·Σ a'), so the epilogue has nothing left to add. Output stages
 * as kernels.h: s32; requantized u8/s8 exactly as requant.h (q8_neon.h); f32
 * with the reference's operations and roundings (no FMA), the GELU and
 * QuickGELU activations by the scalar act.h definitions.
 */
#include <string.h>

#include "../act.h"
#include "neon.h"
#include "q8_neon.h"

#define MR VK_Q8N_MR
#define A_BLOCK_BYTES (128 * 1024)
#define MC_MAX 256

/* Per-call and per-panel constants of the output stage. */
typedef struct q8_cols {
    int32x4_t cterm[4];
    vqn_rq rq[4];
    float32x4_t wscale[4], bias_f[4];
} q8_cols;

static void cols_setup(const vk_matmul_q8_args *a, int n, int w, uint32_t sz, uint32_t kconst,
                       q8_cols *c)
{
    int32_t ct[16];
    float ws[16], bf[16];
    for (int j = 0; j < 16; j++) {
        const int nj = n + (j < w ? j : 0);
        /* wrapping arithmetic: the exact sum is taken modulo 2^32 */
        uint32_t t = kconst - sz * (uint32_t)a->b_colsum[nj];
        t += a->bias ? (uint32_t)a->bias[nj] : 0u;
        ct[j] = (int32_t)t;
        if (a->out == VK_Q8_OUT_F32) {
            ws[j] = a->w_scale[a->w_scale_per_channel ? nj : 0];
            bf[j] = a->bias_f32 ? a->bias_f32[nj] : 0.0f;
        }
    }
    for (int v = 0; v < 4; v++) {
        c->cterm[v] = vld1q_s32(ct + 4 * v);
        if (a->out == VK_Q8_OUT_U8 || a->out == VK_Q8_OUT_S8) {
            const int cv = n + 4 * v, nv = w - 4 * v;
            c->rq[v] = vqn_rq_load(&a->rq, nv > 0 ? cv : n, nv > 0 ? nv : 1);
        } else if (a->out == VK_Q8_OUT_F32) {
            c->wscale[v] = vld1q_f32(ws + 4 * v);
            c->bias_f[v] = vld1q_f32(bf + 4 * v);
        }
    }
}

/* Row r of a tile: w (1..16) outputs at column n. */
static void epi_row(const vk_matmul_q8_args *a, const q8_cols *c, const vqn_out *o, int m, int n,
                    int w, const int32x4_t acc[4])
{
    const ptrdiff_t off = (ptrdiff_t)m * a->ldc + n;
    switch (a->out) {
    case VK_Q8_OUT_U8:
    case VK_Q8_OUT_S8: {
        const uint8x16_t b =
            vqn_bytes(vqn_out_val(acc[0], &c->rq[0], o), vqn_out_val(acc[1], &c->rq[1], o),
                      vqn_out_val(acc[2], &c->rq[2], o), vqn_out_val(acc[3], &c->rq[3], o));
        vqn_store_bytes((uint8_t *)a->C + off, b, w);
        break;
    }
    case VK_Q8_OUT_F32: {
        float *dst = (float *)a->C + off;
        const float32x4_t as = vdupq_n_f32(a->a_scale[a->a_scale_per_row ? m : 0]);
        float t[16], rbuf[16] = {0};
        const float *res = NULL;
        if (a->residual) { /* whole vectors from a copy: w may be < 16 */
            memcpy(rbuf, a->residual + (ptrdiff_t)m * a->ldr + n, (size_t)w * sizeof *rbuf);
            res = rbuf;
        }
        for (int v = 0; v < 4; v++) {
            /* (float)acc · (sa·sw) + bias: the reference's three roundings */
            float32x4_t f = vmulq_f32(vcvtq_f32_s32(acc[v]), vmulq_f32(as, c->wscale[v]));
            f = vaddq_f32(f, c->bias_f[v]);
            if (res) /* read before the store: may be C itself */
                f = vaddq_f32(f, vld1q_f32(res + 4 * v));
            if (a->act == VK_ACT_RELU || a->act == VK_ACT_RELU6)
                f = vqn_relu(f, a->act == VK_ACT_RELU6);
            vst1q_f32(t + 4 * v, f);
        }
        if (a->act == VK_ACT_GELU || a->act == VK_ACT_QUICKGELU)
            for (int j = 0; j < w; j++)
                t[j] = vk_act1(t[j], a->act);
        memcpy(dst, t, (size_t)w * sizeof *dst);
        break;
    }
    default: {
        int32_t *dst = (int32_t *)a->C + off;
        if (w == 16) {
            for (int v = 0; v < 4; v++)
                vst1q_s32(dst + 4 * v, acc[v]);
        } else {
            int32_t t[16];
            for (int v = 0; v < 4; v++)
                vst1q_s32(t + 4 * v, acc[v]);
            memcpy(dst, t, (size_t)w * sizeof *dst);
        }
    }
    }
}

void vk_matmul_q8_neon(const vk_matmul_q8_args *a, int m0, int m1, int n0, int n1)
{
    if (m0 >= m1 || n0 >= n1)
        return;
    const int K = a->K, K4 = (K + 3) / 4;
    const uint8_t flip = a->a_signed ? 0 : 0x80;
    /* za − s, with s = 128 for u8 activations (a = a' + 128), 0 for s8 */
    const uint32_t sz = (uint32_t)a->a_zero - (a->a_signed ? 0u : 128u);
    const uint32_t kconst = 0u - (uint32_t)K * (uint32_t)a->b_offset * sz;
    const ptrdiff_t bs = (ptrdiff_t)K4 * 64; /* bytes per panel */
    const vqn_out o = vqn_out_make(a->out == VK_Q8_OUT_S8, &a->rq);

    int mc = K > 0 ? A_BLOCK_BYTES / K : MC_MAX;
    mc = mc < MR ? MR : mc > MC_MAX ? MC_MAX : mc;
    int32_t rterm[MC_MAX];
    for (int mb = m0; mb < m1; mb += mc) {
        const int rows = m1 - mb < mc ? m1 - mb : mc;
        const uint8_t *ab = (const uint8_t *)a->A + (ptrdiff_t)mb * a->lda;
        for (int i = 0; i < rows; i++)
            rterm[i] = a->b_offset ? (int32_t)((uint32_t)a->b_offset *
                                               (uint32_t)vk_q8_rowsum_neon(ab + (ptrdiff_t)i * a->lda, K, flip))
                                   : 0;
        for (int n = n0; n < n1; n += VK_Q8_NR) {
            const int w = n1 - n < VK_Q8_NR ? n1 - n : VK_Q8_NR;
            q8_cols c;
            cols_setup(a, n, w, sz, kconst, &c);
            const int8_t *bp = a->Bp + (ptrdiff_t)(n / VK_Q8_NR) * bs;
            for (int i = 0; i < rows; i += MR) {
                const int R = rows - i < MR ? rows - i : MR;
                int32x4_t acc[MR][4];
                for (int r = 0; r < R; r++) {
                    const int32x4_t rt = vdupq_n_s32(rterm[i + r]);
                    for (int v = 0; v < 4; v++)
                        acc[r][v] = vqn_add_wrap(c.cterm[v], rt);
                }
                vk_q8_tile_neon(ab + (ptrdiff_t)i * a->lda, a->lda, R, K, flip, 0, bp, acc);
                for (int r = 0; r < R; r++)
                    epi_row(a, &c, &o, mb + i + r, n, w, acc[r]);
            }
        }
    }
}
