/* Quantized convolution, NHWC, NEON sdot: implicit GEMM with M = output
 * pixels, N = output channels (16-column panels), K = KH·KW·C in (kh, kw, c)
 * order, on the 4×16 register tile of q8_tile.c (zero-point algebra:
 * q8_neon.h).
 *
 * A rows: a 1×1 convolution without padding and with C >= 16 reads its
 * pixels in place (the tile flips u8 to s8 itself and loads its K tail
 * without reading past the pixel); everything else gathers blocks of pixels
 * into an im2col buffer in the scratch, already flipped, padded with the
 * input zero point (which then contributes (za − za)·w = 0, as TFLite's
 * padding does) and with zeros up to Kp = K rounded up to 4.
 *
 * Loop order: blocks of pixels (as many as the scratch holds, at most 96),
 * then every panel, then the block's row tiles over that panel. Column terms
 * and requantization constants of every panel are computed once per call into
 * the scratch.
 *
 * scratch (vk_conv2d_q8_scratch bytes, the size pack_conv.c defines for
 * every level): [im2col block][per-panel constants]; the block size is derived
 * from that size, so the layout never outgrows it. Reading a full 16-byte
 * chunk at a row's K tail stays inside the scratch (the constants follow).
 *
 * The zero point must be a value of the input type (it is the padding byte);
 * every TFLite model's is. Otherwise the reference runs.
 */
#include <string.h>

#include "../pack.h"
#include "../ref/ref.h"
#include "neon.h"
#include "q8_neon.h"

#define MR VK_Q8N_MR
#define PB_MAX 96

typedef struct cq_panel {
    int32x4_t cterm[4];
    vqn_rq rq[4];
} cq_panel;

static void panels_setup(const vk_conv2d_q8_args *a, int K, uint32_t sz, cq_panel *cst)
{
    const int OC = a->g.OC, P = (OC + 15) / 16;
    const uint32_t kconst = 0u - (uint32_t)K * (uint32_t)a->b_offset * sz;
    for (int p = 0; p < P; p++) {
        const int c0 = 16 * p, w = OC - c0 < 16 ? OC - c0 : 16;
        int32_t ct[16];
        for (int j = 0; j < 16; j++) {
            const int c = c0 + (j < w ? j : 0);
            uint32_t t = kconst - sz * (uint32_t)a->w_colsum[c];
            t += a->bias ? (uint32_t)a->bias[c] : 0u;
            ct[j] = (int32_t)t;
        }
        for (int v = 0; v < 4; v++) {
            cst[p].cterm[v] = vld1q_s32(ct + 4 * v);
            const int nv = w - 4 * v;
            cst[p].rq[v] = vqn_rq_load(&a->rq, nv > 0 ? c0 + 4 * v : c0, nv > 0 ? nv : 1);
        }
    }
}

/* n bytes src -> dst, XOR flip. */
static inline void copy_flip(uint8_t *dst, const uint8_t *src, int n, uint8_t flip)
{
    const uint8x16_t f = vdupq_n_u8(flip);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        vst1q_u8(dst + i, veorq_u8(vld1q_u8(src + i), f));
    for (; i < n; i++)
        dst[i] = src[i] ^ flip;
}

/* Output pixels [m0, m0 + M) as rows of Kp bytes: flipped activations, the
 * flipped zero point outside the image, zeros past K. */
static void im2col(const vk_conv2d_q8_args *a, int m0, int M, int Kp, uint8_t flip, uint8_t *col)
{
    const vk_conv_geom *g = &a->g;
    const int C = g->C, KW = g->KW, KWC = KW * C, K = g->KH * KWC;
    const uint8_t padb = (uint8_t)((uint8_t)a->a_zero ^ flip);
    const int contig = g->dil_w == 1 && g->in_ld == C; /* a kernel row is one run */
    const uint8_t *in = a->in;
    int r = m0 / g->OW, ow = m0 % g->OW;
    for (int i = 0; i < M; i++) {
        const int n = r / g->OH, oh = r % g->OH, iw0 = ow * g->stride_w - g->pad_l;
        uint8_t *dst = col + (ptrdiff_t)i * Kp;
        for (int kh = 0; kh < g->KH; kh++, dst += KWC) {
            const int ih = oh * g->stride_h - g->pad_t + kh * g->dil_h;
            if (ih < 0 || ih >= g->H) {
                memset(dst, padb, (size_t)KWC);
                continue;
            }
            const uint8_t *row = in + ((ptrdiff_t)n * g->H + ih) * g->W * g->in_ld;
            if (contig) {
                /* in-image kernel columns [lo, hi) */
                const int lo = iw0 < 0 ? (-iw0 < KW ? -iw0 : KW) : 0;
                const int hi = g->W - iw0 < lo ? lo : g->W - iw0 > KW ? KW : g->W - iw0;
                memset(dst, padb, (size_t)lo * C);
                copy_flip(dst + lo * C, row + (ptrdiff_t)(iw0 + lo) * C, (hi - lo) * C, flip);
                memset(dst + hi * C, padb, (size_t)(KW - hi) * C);
                continue;
            }
            for (int kw = 0; kw < KW; kw++) {
                const int iw = iw0 + kw * g->dil_w;
                if (iw < 0 || iw >= g->W)
                    memset(dst + kw * C, padb, (size_t)C);
                else
                    copy_flip(dst + kw * C, row + (ptrdiff_t)iw * g->in_ld, C, flip);
            }
        }
        memset(col + (ptrdiff_t)i * Kp + K, 0, (size_t)(Kp - K));
        if (++ow == g->OW)
            ow = 0, r++;
    }
}

/* M rows of A (lda apart; flip and readable as vk_q8_tile_neon) × every
 * panel, into out (pixel stride out_ld). */
static void gemm(const vk_conv2d_q8_args *a, const uint8_t *A, ptrdiff_t lda, int M, int K,
                 uint8_t flip, int readable, const int32_t *rs, const cq_panel *cst,
                 const vqn_out *o, uint8_t *out)
{
    const int OC = a->g.OC, P = (OC + 15) / 16;
    const ptrdiff_t bs = (ptrdiff_t)((K + 3) / 4) * 64, ldo = a->g.out_ld;
    for (int p = 0; p < P; p++) {
        const int w = OC - 16 * p < 16 ? OC - 16 * p : 16;
        const cq_panel *c = &cst[p];
        const int8_t *bp = a->Wp + p * bs;
        for (int i = 0; i < M; i += MR) {
            const int R = M - i < MR ? M - i : MR;
            int32x4_t acc[MR][4];
            for (int r = 0; r < R; r++) {
                const int32x4_t rt = vdupq_n_s32(rs ? rs[i + r] : 0);
                for (int v = 0; v < 4; v++)
                    acc[r][v] = vqn_add_wrap(c->cterm[v], rt);
            }
            vk_q8_tile_neon(A + i * lda, lda, R, K, flip, readable, bp, acc);
            for (int r = 0; r < R; r++) {
                const int32x4_t *x = acc[r];
                const uint8x16_t b =
                    vqn_bytes(vqn_out_val(x[0], &c->rq[0], o), vqn_out_val(x[1], &c->rq[1], o),
                              vqn_out_val(x[2], &c->rq[2], o), vqn_out_val(x[3], &c->rq[3], o));
                vqn_store_bytes(out + (i + r) * ldo + 16 * p, b, w);
            }
        }
    }
}

/* rs[i] = bo·Σ_k a'[i][k] (mod 2^32) for M rows. */
static void rowsums(const uint8_t *A, ptrdiff_t lda, int M, int K, uint8_t flip, int32_t bo,
                    int32_t *rs)
{
    for (int i = 0; i < M; i++)
        rs[i] = (int32_t)((uint32_t)bo * (uint32_t)vk_q8_rowsum_neon(A + i * lda, K, flip));
}

void vk_conv2d_q8_neon(const vk_conv2d_q8_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    if (r0 >= r1)
        return;
    const int sgn = a->a_signed;
    if (a->a_zero < (sgn ? -128 : 0) || a->a_zero > (sgn ? 127 : 255)) {
        vk_conv2d_q8_ref(a, r0, r1);
        return;
    }
    const int C = g->C, K = g->KH * g->KW * C, Kp = 4 * ((K + 3) / 4), P = (g->OC + 15) / 16;
    const uint8_t flip = sgn ? 0 : 0x80;
    const uint32_t sz = (uint32_t)a->a_zero - (sgn ? 0u : 128u); /* za − s */
    /* Scratch: the im2col block, then the constants (16-byte aligned). */
    const size_t total = vk_conv2d_q8_scratch(g), cbytes = (size_t)P * sizeof(cq_panel);
    size_t pbs = total > cbytes + 32 && K > 0 ? (total - cbytes - 32) / (size_t)Kp : 0;
    if (pbs < 1) { /* no K, or a scratch size pack_conv.c does not give */
        vk_conv2d_q8_ref(a, r0, r1);
        return;
    }
    const int PB = pbs > PB_MAX ? PB_MAX : (int)pbs;
    uint8_t *col = a->scratch;
    cq_panel *cst = (cq_panel *)(col + vk_round_up((size_t)PB * Kp, 16));
    panels_setup(a, K, sz, cst);
    const vqn_out o = vqn_out_make(sgn, &a->rq);
    int32_t rs[PB_MAX];
    int32_t *rsp = a->b_offset ? rs : NULL;
    uint8_t *out = a->out;

    const int direct = g->KH == 1 && g->KW == 1 && C >= 16 && g->pad_t == 0 && g->pad_l == 0 &&
                       (g->OH - 1) * g->stride_h < g->H && (g->OW - 1) * g->stride_w < g->W;
    if (direct) {
        const int flat = g->stride_h == 1 && g->stride_w == 1 && g->OH == g->H && g->OW == g->W;
        /* spans: one over all rows when flat, else one per output row */
        for (int r = r0; r < r1; r = flat ? r1 : r + 1) {
            const int M = flat ? (r1 - r0) * g->OW : g->OW;
            const int n = r / g->OH, oh = r % g->OH;
            const uint8_t *A = (const uint8_t *)a->in +
                               (flat ? (ptrdiff_t)r * g->W
                                     : ((ptrdiff_t)n * g->H + oh * g->stride_h) * g->W) *
                                   g->in_ld;
            const ptrdiff_t lda = flat ? g->in_ld : g->stride_w * g->in_ld;
            uint8_t *O = out + (ptrdiff_t)r * g->OW * g->out_ld;
            for (int i = 0; i < M; i += PB_MAX) {
                const int mb = M - i < PB_MAX ? M - i : PB_MAX;
                if (rsp)
                    rowsums(A + i * lda, lda, mb, C, flip, a->b_offset, rs);
                gemm(a, A + i * lda, lda, mb, C, flip, 0, rsp, cst, &o, O + (ptrdiff_t)i * g->out_ld);
            }
        }
        return;
    }
    const int m1 = r1 * g->OW;
    for (int m = r0 * g->OW; m < m1; m += PB) {
        const int mb = m1 - m < PB ? m1 - m : PB;
        im2col(a, m, mb, Kp, flip, col);
        if (rsp)
            rowsums(col, Kp, mb, Kp, 0, a->b_offset, rs);
        gemm(a, col, Kp, mb, Kp, 0, 1, rsp, cst, &o, out + (ptrdiff_t)m * g->out_ld);
    }
}
