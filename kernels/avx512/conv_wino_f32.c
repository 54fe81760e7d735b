/* AVX-512 Winograd F(4×4, 3×3) f32 convolution, NHWC (kernels.h,
 * conv_wino_f32; matrices and blocking: kernels/wino.h).
 *
 * The thread's tiles (all 4×4 output blocks of its tile rows) are taken in
 * blocks of TB = vk_wino_tile_block() tiles, three phases per block:
 *   1. input transform, 16 channels per vector: the 6×6 patch's columns then
 *      rows through Bᵀ (adds and FMAs by 2, 4, 5), into V[ξ][tile][Cp];
 *   2. for each ξ of the 36, M_ξ = V_ξ · U_ξ: a register-tiled product of up
 *      to 6 tiles × 64 output channels (row tiles balanced, never a 1-row tail) (24 accumulators; per k 4 panel loads
 *      and 6 broadcasts for 24 FMAs), U_ξ read in the matmul-B panel layout
 *      the weight file stores, the whole K = C per call;
 *   3. output transform through Aᵀ, + bias (+ residual), the activation, and
 *      stores clipped to the output's edges (masked on the channel tail).
 * V and M of a block stay in L2 (the budget in wino.h); U_ξ is streamed once
 * per block. Interior patches are loaded without bounds checks; patches over
 * the border load zeros where the input has none.
 */
#include <immintrin.h>

#include "../wino.h"
#include "avx512.h"
#include "mask.h"
#include "uk6x64.h"
#include "vmath.h"

#define MR UK6_MR
#define NV UK6_NV

/* t = Bᵀ d over one line of 6 vectors */
static inline void in_1d(const __m512 d[6], __m512 t[6])
{
    const __m512 c2 = _mm512_set1_ps(2.0f), c4 = _mm512_set1_ps(4.0f), c5 = _mm512_set1_ps(5.0f);
    t[0] = _mm512_fmadd_ps(c4, d[0], _mm512_fnmadd_ps(c5, d[2], d[4]));
    t[1] = _mm512_fnmadd_ps(c4, _mm512_add_ps(d[1], d[2]), _mm512_add_ps(d[3], d[4]));
    t[2] = _mm512_fmadd_ps(c4, _mm512_sub_ps(d[1], d[2]), _mm512_sub_ps(d[4], d[3]));
    t[3] = _mm512_fmadd_ps(c2, _mm512_sub_ps(d[3], d[1]), _mm512_sub_ps(d[4], d[2]));
    t[4] = _mm512_fmadd_ps(c2, _mm512_sub_ps(d[1], d[3]), _mm512_sub_ps(d[4], d[2]));
    t[5] = _mm512_fmadd_ps(c4, d[1], _mm512_fnmadd_ps(c5, d[3], d[5]));
}

/* y = Aᵀ m over one line of 6 vectors */
static inline void out_1d(const __m512 m[6], __m512 y[4])
{
    const __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
    const __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
    y[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
    y[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d34, d12);
    y[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), s34, s12);
    y[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), d34, d12), m[5]);
}

typedef struct blk {
    const vk_conv_wino_f32_args *a;
    int tw_n, th_n;
    int Cp, OCp, tb;
    float *V, *M;
} blk;

/* Tile q of the range starting at tile row t0: image n, tile (th, tw). */
static inline void tile_at(const blk *b, int t0, int q, int *n, int *th, int *tw)
{
    const int t = t0 + q / b->tw_n;
    *n = t / b->th_n, *th = t % b->th_n, *tw = q % b->tw_n;
}

static void input_transform(const blk *b, int t0, int q0, int nt)
{
    const vk_conv_wino_f32_args *a = b->a;
    const vk_conv_geom *g = &a->g;
    const ptrdiff_t xs = (ptrdiff_t)b->tb * b->Cp; /* floats between ξ planes */
    for (int i = 0; i < nt; i++) {
        int n, th, tw;
        tile_at(b, t0, q0 + i, &n, &th, &tw);
        const int ih0 = 4 * th - g->pad_t, iw0 = 4 * tw - g->pad_l;
        const float *img = a->in + (ptrdiff_t)n * g->H * g->W * g->in_ld;
        const int inside = ih0 >= 0 && iw0 >= 0 && ih0 + 6 <= g->H && iw0 + 6 <= g->W;
        float *v = b->V + (ptrdiff_t)i * b->Cp;
        for (int c = 0; c < g->C; c += 16) {
            const __mmask16 mc = tail_mask(g->C - c);
            __m512 r[6][6];
            for (int j = 0; j < 6; j++) { /* columns: Bᵀ d */
                __m512 d[6], t[6];
                const int iw = iw0 + j;
                for (int k = 0; k < 6; k++) {
                    const int ih = ih0 + k;
                    const float *p = img + ((ptrdiff_t)ih * g->W + iw) * g->in_ld + c;
                    if (inside || (ih >= 0 && ih < g->H && iw >= 0 && iw < g->W))
                        d[k] = _mm512_maskz_loadu_ps(mc, p);
                    else
                        d[k] = _mm512_setzero_ps();
                }
                in_1d(d, t);
                for (int k = 0; k < 6; k++)
                    r[k][j] = t[k];
            }
            for (int k = 0; k < 6; k++) { /* rows: (Bᵀ d) B */
                __m512 t[6];
                in_1d(r[k], t);
                for (int j = 0; j < 6; j++)
                    _mm512_storeu_ps(v + (6 * k + j) * xs + c, t[j]);
            }
        }
    }
}

/* U is one stream: the (ξ, panel block) blocks follow each other in memory
 * in the order they are used. While a block is multiplied, the next one is
 * prefetched into L2 by the row tiles after the first (which reads its own
 * block from wherever it is), or by the only one. */
static void products(const blk *b, int nt)
{
    const vk_conv_geom *g = &b->a->g;
    const int C = g->C, np = b->OCp / 16;
    const size_t ublk = vk_pack_f32_b_size(C, g->OC);
    const ptrdiff_t bs = (ptrdiff_t)C * 16;
    const float *u_end = b->a->Wp + VK_WINO_XI * ublk;
    const int R = (nt + MR - 1) / MR;
    for (int x = 0; x < VK_WINO_XI; x++) {
        const float *V = b->V + (ptrdiff_t)x * b->tb * b->Cp;
        const float *U = b->a->Wp + x * ublk;
        float *M = b->M + (ptrdiff_t)x * b->tb * b->OCp;
        for (int p = 0; p < np; p += NV) {
            const int nv = np - p < NV ? np - p : NV;
            const float *next = U + (p + nv) * bs;
            ptrdiff_t lines = (u_end - next) / 16;
            lines = lines < (ptrdiff_t)NV * C ? lines : (ptrdiff_t)NV * C;
            const int share = R > 1 ? (int)((lines + R - 2) / (R - 1)) : (int)lines;
            const int per_k = (share + C - 1) / C;
            for (int i = 0, r = 0; r < R; i += nt / R + (r < nt % R), r++) {
                const int mr = nt / R + (r < nt % R); /* balanced: 49 = 5·6 + 4·5 */
                uk6_pf pf = {0};
                if (R == 1 || r > 0) {
                    const int first = R == 1 ? 0 : (r - 1) * share;
                    pf.p = (const char *)next + (ptrdiff_t)first * 64;
                    pf.n = (int)(lines - first < share ? lines - first : share);
                    pf.k = per_k;
                }
                uk6_table[mr - 1][nv - 1](V + (ptrdiff_t)i * b->Cp, b->Cp, U + p * bs, bs, C,
                                         M + (ptrdiff_t)i * b->OCp + p * 16, b->OCp, pf);
            }
        }
    }
}

static void output_transform(const blk *b, int t0, int q0, int nt)
{
    const vk_conv_wino_f32_args *a = b->a;
    const vk_conv_geom *g = &a->g;
    const ptrdiff_t xs = (ptrdiff_t)b->tb * b->OCp;
    for (int i = 0; i < nt; i++) {
        int n, th, tw;
        tile_at(b, t0, q0 + i, &n, &th, &tw);
        const int oh0 = 4 * th, ow0 = 4 * tw;
        const int rows = g->OH - oh0 < 4 ? g->OH - oh0 : 4;
        const int cols = g->OW - ow0 < 4 ? g->OW - ow0 : 4;
        const float *m = b->M + (ptrdiff_t)i * b->OCp;
        for (int oc = 0; oc < g->OC; oc += 16) {
            const __mmask16 mo = tail_mask(g->OC - oc);
            __m512 r[4][6];
            for (int j = 0; j < 6; j++) { /* columns: Aᵀ M */
                __m512 col[6], y[4];
                for (int k = 0; k < 6; k++)
                    col[k] = _mm512_loadu_ps(m + (6 * k + j) * xs + oc);
                out_1d(col, y);
                for (int k = 0; k < 4; k++)
                    r[k][j] = y[k];
            }
            const __m512 bias =
                a->bias ? _mm512_maskz_loadu_ps(mo, a->bias + oc) : _mm512_setzero_ps();
            for (int k = 0; k < rows; k++) { /* rows: (Aᵀ M) A */
                __m512 y[4];
                out_1d(r[k], y);
                const ptrdiff_t pix = ((ptrdiff_t)n * g->OH + oh0 + k) * g->OW + ow0;
                for (int j = 0; j < cols; j++) {
                    const ptrdiff_t o = (pix + j) * g->out_ld + oc;
                    __m512 v = _mm512_add_ps(bias, y[j]);
                    if (a->residual)
                        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mo, a->residual + o));
                    store_k(a->out + o, mo, vk_act512(v, a->act));
                }
            }
        }
    }
}

void vk_conv_wino_f32_avx512(const vk_conv_wino_f32_args *a, int t0, int t1)
{
    const vk_conv_geom *g = &a->g;
    blk b = {.a = a, .tw_n = vk_wino_tiles_w(g), .th_n = vk_wino_tiles_h(g),
             .Cp = (int)vk_round_up((size_t)g->C, 16), .OCp = (int)vk_round_up((size_t)g->OC, 16),
             .tb = vk_wino_tile_block(g)};
    b.V = a->scratch;
    b.M = b.V + (ptrdiff_t)VK_WINO_XI * b.tb * b.Cp;
    const int total = (t1 - t0) * b.tw_n;
    for (int q0 = 0; q0 < total; q0 += b.tb) {
        const int nt = total - q0 < b.tb ? total - q0 : b.tb;
        input_transform(&b, t0, q0, nt);
        products(&b, nt);
        output_transform(&b, t0, q0, nt);
    }
}
