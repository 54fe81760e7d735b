/* f32 conv micro-kernels: MR output pixels × 16·NV output channels, all of it
 * in registers (14 × 32 = 28 accumulators + 2 weight vectors + 1 broadcast).
 *
 * Two families over the same accumulator code: uk_* reads the im2col tile
 * the driver gathered (MR rows of VK_CONV_KC floats: the fixed stride makes
 * every broadcast address base + constant), dk_* reads the input in place
 * through one pointer per pixel and tap (padding taps point at a zero row).
 * The weights stream from the packed panels (64 contiguous bytes per k and
 * panel). One variant per (NV, MR) so that tiles of any height run at full
 * register blocking: the driver balances the tile heights instead of leaving
 * a short tail.
 */
#include <immintrin.h>
#include <math.h>

#include "conv2d_f32_uk.h"

#define UK_INLINE static inline __attribute__((always_inline))

/* The accumulators are named variables, not an array: gcc keeps a 1.8 KB
 * array in memory across the k loops (SRA gives up on aggregates that big),
 * which costs a store and a reload of all 28 per tap. Rows >= MR are dead
 * code once MR is a constant. */
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)
#define ACC_DECL(i) __m512 c##i##_0 = _mm512_setzero_ps(), c##i##_1 = _mm512_setzero_ps();
#define ACC_SET(i)                                                                    \
    if (i < MR) {                                                                     \
        c##i##_0 = b0;                                                                \
        c##i##_1 = b1;                                                                \
    }
#define ACC_ADD_RES(i)                                                                \
    if (i < MR) {                                                                     \
        const float *r_ = u->res + i * u->ldr;                                        \
        c##i##_0 = _mm512_add_ps(c##i##_0, _mm512_maskz_loadu_ps(m0, r_));           \
        if (NV == 2)                                                                  \
            c##i##_1 = _mm512_add_ps(c##i##_1, _mm512_maskz_loadu_ps(m1, r_ + 16));  \
    }
#define ACC_LOAD(i)                                                                   \
    if (i < MR) {                                                                     \
        const float *c_ = u->c + i * u->ldc;                                          \
        c##i##_0 = _mm512_maskz_loadu_ps(m0, c_);                                     \
        if (NV == 2)                                                                  \
            c##i##_1 = _mm512_maskz_loadu_ps(m1, c_ + 16);                            \
    }
#define ACC_CLAMP(i)                                                                  \
    if (i < MR) {                                                                     \
        c##i##_0 = _mm512_min_ps(_mm512_max_ps(c##i##_0, lo), hi);                    \
        c##i##_1 = _mm512_min_ps(_mm512_max_ps(c##i##_1, lo), hi);                    \
    }
#define ACC_STORE(i)                                                                  \
    if (i < MR) {                                                                     \
        float *c_ = u->c + i * u->ldc;                                                \
        _mm512_mask_storeu_ps(c_, m0, c##i##_0);                                      \
        if (NV == 2)                                                                  \
            _mm512_mask_storeu_ps(c_ + 16, m1, c##i##_1);                             \
    }
/* One k step for row i, if i is in [i0_, i1_): x = UK_ROW(i)[k]. */
#define ACC_FMA(i)                                                                    \
    if (i >= i0_ && i < i1_) {                                                        \
        const __m512 x_ = _mm512_set1_ps(UK_ROW(i)[k]);                               \
        c##i##_0 = _mm512_fmadd_ps(x_, wv0, c##i##_0);                                \
        if (NV == 2)                                                                  \
            c##i##_1 = _mm512_fmadd_ps(x_, wv1, c##i##_1);                            \
    }

/* bias (+ residual) on the first K block, the partial sums after that */
#define UK_INIT(u)                                                                    \
    do {                                                                              \
        if ((u)->first) {                                                             \
            __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();                \
            if ((u)->bias) {                                                          \
                b0 = _mm512_maskz_loadu_ps(m0, (u)->bias);                            \
                if (NV == 2)                                                          \
                    b1 = _mm512_maskz_loadu_ps(m1, (u)->bias + 16);                   \
            }                                                                         \
            UK_ROWS(ACC_SET)                                                          \
            if ((u)->res) {                                                           \
                UK_ROWS(ACC_ADD_RES)                                                  \
            }                                                                         \
        } else {                                                                      \
            UK_ROWS(ACC_LOAD)                                                         \
        }                                                                             \
    } while (0)

#define UK_STORE(u)                                                                   \
    do {                                                                              \
        if ((u)->last && ((u)->act == VK_ACT_RELU || (u)->act == VK_ACT_RELU6)) {     \
            const __m512 lo = _mm512_setzero_ps();                                    \
            const __m512 hi = _mm512_set1_ps((u)->act == VK_ACT_RELU6 ? 6.0f : INFINITY); \
            UK_ROWS(ACC_CLAMP)                                                        \
        }                                                                             \
        UK_ROWS(ACC_STORE)                                                            \
    } while (0)

/* k loop over rows [I0, I1) of the tile and the two weight streams. */
#define UK_KLOOP(I0, I1, KN)                                                          \
    do {                                                                              \
        const int i0_ = (I0), i1_ = (I1);                                             \
        for (int k = 0; k < (KN); k++) {                                              \
            const __m512 wv0 = _mm512_loadu_ps(w0);                                   \
            const __m512 wv1 = NV == 2 ? _mm512_loadu_ps(w1) : wv0;                   \
            UK_ROWS(ACC_FMA)                                                          \
            w0 += 16;                                                                 \
            w1 += 16;                                                                 \
        }                                                                             \
    } while (0)

UK_INLINE void uk_body(const vk_conv_uk_args *u, const int MR, const int NV)
{
    const __mmask16 m0 = u->m0, m1 = NV == 2 ? u->m1 : 0;
    UK_ROWS(ACC_DECL)
    UK_INIT(u);
    const float *a = u->a;
    const float *w0 = u->w, *w1 = u->w + u->wps;
#define UK_ROW(i) (a + (i) * VK_CONV_KC)
    UK_KLOOP(0, MR, u->kc);
#undef UK_ROW
    UK_STORE(u);
}

UK_INLINE void dk_body(const vk_conv_dk_args *d, const int MR, const int NV)
{
    const vk_conv_geom *g = d->g;
    const vk_conv_uk_args *u = &d->u;
    const int C = g->C;
    const __mmask16 m0 = u->m0, m1 = NV == 2 ? u->m1 : 0;
    UK_ROWS(ACC_DECL)
    UK_INIT(u);
    const float *w0 = u->w, *w1 = u->w + u->wps;
    if (d->use_pix) {
#define UK_ROW(i) d->pix[i]
        UK_KLOOP(0, MR, C);
#undef UK_ROW
        UK_STORE(u);
        return;
    }
    for (int kh = 0; kh < g->KH; kh++) {
        for (int kw = 0; kw < g->KW; kw++) {
            const float *p[VK_CONV_MR];
            unsigned valid = 0;
            for (int i = 0; i < MR; i++) {
                const int ih = d->ih0[i] + kh * g->dil_h, iw = d->iw0[i] + kw * g->dil_w;
                const int ok = (unsigned)ih < (unsigned)g->H && (unsigned)iw < (unsigned)g->W;
                p[i] = ok ? d->img[i] + ((ptrdiff_t)ih * g->W + iw) * g->in_ld : d->zero;
                valid |= (unsigned)ok << i;
            }
            const unsigned all = (1u << MR) - 1;
            /* A tap outside the image for the first or last pixel only (the
             * left / right border with pad 1) skips that row instead of
             * multiplying zeros; other partial taps read the zero row. */
#define UK_ROW(i) p[i]
            if (valid == all || MR < 3)
                UK_KLOOP(0, MR, C);
            else if (valid == (all & ~1u))
                UK_KLOOP(1, MR, C);
            else if (valid == (all >> 1))
                UK_KLOOP(0, MR - 1, C);
            else if (valid)
                UK_KLOOP(0, MR, C);
            else {
                w0 += (ptrdiff_t)C * 16;
                w1 += (ptrdiff_t)C * 16;
            }
#undef UK_ROW
        }
    }
    UK_STORE(u);
}

#define UK_DEF(NV, MR)                                                       \
    static void uk_##NV##_##MR(const vk_conv_uk_args *u) { uk_body(u, MR, NV); } \
    static void dk_##NV##_##MR(const vk_conv_dk_args *d) { dk_body(d, MR, NV); }
#define UK_ROW(NV)                                                                       \
    UK_DEF(NV, 1) UK_DEF(NV, 2) UK_DEF(NV, 3) UK_DEF(NV, 4) UK_DEF(NV, 5) UK_DEF(NV, 6) \
    UK_DEF(NV, 7) UK_DEF(NV, 8) UK_DEF(NV, 9) UK_DEF(NV, 10) UK_DEF(NV, 11) UK_DEF(NV, 12) \
    UK_DEF(NV, 13) UK_DEF(NV, 14)
UK_ROW(1)
UK_ROW(2)

#define UK_PTRS(P, NV)                                                                  \
    {P##_##NV##_1, P##_##NV##_2, P##_##NV##_3, P##_##NV##_4, P##_##NV##_5, P##_##NV##_6, \
     P##_##NV##_7, P##_##NV##_8, P##_##NV##_9, P##_##NV##_10, P##_##NV##_11, P##_##NV##_12, \
     P##_##NV##_13, P##_##NV##_14}
const vk_conv_uk_fn vk_conv_f32_uk[2][VK_CONV_MR] = {UK_PTRS(uk, 1), UK_PTRS(uk, 2)};
const vk_conv_dk_fn vk_conv_f32_dk[2][VK_CONV_MR] = {UK_PTRS(dk, 1), UK_PTRS(dk, 2)};
