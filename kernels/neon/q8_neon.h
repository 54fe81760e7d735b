/* Shared by the NEON int8 kernels (matmul_q8.c, conv2d_q8.c, dwconv_q8.c):
 * the sdot register tile (q8_tile.c) and the TFLite output stage on 4 lanes.
 *
 * sdot multiplies s8 by s8, so u8 activations enter the tile as
 * a' = a XOR 0x80 = a − 128 (s = 128; s8 activations: a' = a, s = 0), and
 * everything else becomes per-column and per-row terms, all modulo 2^32
 * (sdot wraps, as the int32 accumulator of kernels.h does):
 *   Σ_k (a − za)(b + bo) = Σ_k a'·b + (s − za)·colsum + bo·Σ_k a' + K·bo·(s − za)
 */
#ifndef VIREO_KERNELS_NEON_Q8_NEON_H
#define VIREO_KERNELS_NEON_Q8_NEON_H

#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

#include "../kernels.h"

#define VQN_AI static inline __attribute__((always_inline))

/* Rows of the register tile: 4 rows × 16 columns = 16 int32x4 accumulators,
 * plus 4 B vectors and 4 A vectors: 24 of the 32 q registers. */
#define VK_Q8N_MR 4

/* acc[r][v] (columns 4v..4v+3 of row r) += Σ_k a'[r][k]·B[k][4v..4v+3] over k < K.
 * a: R rows lda bytes apart (R = 1..4), read as a XOR flip (0x80: u8
 * activations, 0: s8 or already flipped). bp: one packed panel (kernels.h int8
 * B layout), ceil(K/4) groups of 64 bytes. readable: every row may be read 16
 * bytes from any 16-byte chunk start below K (the im2col buffer), else nothing
 * at or past K is read. Bytes past K within the last group of 4 meet B's zero
 * padding, so their values do not matter. */
void vk_q8_tile_neon(const uint8_t *a, ptrdiff_t lda, int R, int K, uint8_t flip, int readable,
                     const int8_t *bp, int32x4_t acc[VK_Q8N_MR][4]);

/* a + b modulo 2^32. GCC's vaddq_s32 is a C vector addition, whose signed
 * overflow is undefined (and UBSan reports it); the sums here are meant to
 * wrap, like the int32 accumulator of kernels.h. */
VQN_AI int32x4_t vqn_add_wrap(int32x4_t a, int32x4_t b)
{
    return vreinterpretq_s32_u32(vaddq_u32(vreinterpretq_u32_s32(a), vreinterpretq_u32_s32(b)));
}

/* Σ_k (a[k] XOR flip) as s8, over n bytes (mod 2^32). */
int32_t vk_q8_rowsum_neon(const uint8_t *a, int n, uint8_t flip);

/* Output-stage constants of 4 output channels (requant.h): the Q31
 * multiplier, the left shift (saturating) and, per 64-bit product, minus the
 * rounding right shift 31 + right (vrshl rounds half up, from the exact
 * product, as vk_mbqm does). */
typedef struct vqn_rq {
    int32x4_t mult, left;
    int64x2_t nsh_lo, nsh_hi;
} vqn_rq;

/* From n <= 4 channels at c (or channel 0 for every lane when !per_channel);
 * lanes past n repeat channel c (harmless: never stored). */
static inline vqn_rq vqn_rq_load(const vk_requant *rq, int c, int n)
{
    int32_t m[4], l[4];
    int64_t s[4];
    for (int i = 0; i < 4; i++) {
        const int ch = rq->per_channel ? c + (i < n ? i : 0) : 0;
        int sh = rq->shift[ch];
        sh = sh < -31 ? -31 : sh > 30 ? 30 : sh; /* as requant.h */
        m[i] = rq->mult[ch];
        l[i] = sh > 0 ? sh : 0;
        s[i] = -(31 + (sh < 0 ? -sh : 0));
    }
    vqn_rq q;
    q.mult = vld1q_s32(m);
    q.left = vld1q_s32(l);
    q.nsh_lo = vld1q_s64(s);
    q.nsh_hi = vld1q_s64(s + 2);
    return q;
}

/* vk_mbqm on 4 lanes, bit for bit. */
VQN_AI int32x4_t vqn_mbqm(int32x4_t x, const vqn_rq *q)
{
    x = vqshlq_s32(x, q->left); /* saturates like requant.h's clamp of x·2^left */
    const int64x2_t lo = vrshlq_s64(vmull_s32(vget_low_s32(x), vget_low_s32(q->mult)), q->nsh_lo);
    const int64x2_t hi = vrshlq_s64(vmull_high_s32(x, q->mult), q->nsh_hi);
    return vuzp1q_s32(vreinterpretq_s32_s64(lo), vreinterpretq_s32_s64(hi));
}

/* The clamp after vk_mbqm: [lo, hi] already within the output type. */
typedef struct vqn_out {
    int32x4_t zero, lo, hi;
} vqn_out;

static inline vqn_out vqn_out_make(int is_signed, const vk_requant *rq)
{
    int32_t lo = rq->out_min, hi = rq->out_max;
    const int32_t tlo = is_signed ? -128 : 0, thi = is_signed ? 127 : 255;
    lo = lo < tlo ? tlo : lo;
    hi = hi > thi ? thi : hi;
    vqn_out o = {vdupq_n_s32(rq->out_zero), vdupq_n_s32(lo), vdupq_n_s32(hi)};
    return o;
}

/* requant.h adds the zero point in 64 bits and clamps; a saturating add
 * followed by the clamp gives the same value, as [lo, hi] lies inside int32. */
VQN_AI int32x4_t vqn_out_val(int32x4_t acc, const vqn_rq *q, const vqn_out *o)
{
    const int32x4_t v = vqaddq_s32(vqn_mbqm(acc, q), o->zero);
    return vminq_s32(vmaxq_s32(v, o->lo), o->hi);
}

/* 16 clamped values (each within the output type) to their bytes. */
VQN_AI uint8x16_t vqn_bytes(int32x4_t v0, int32x4_t v1, int32x4_t v2, int32x4_t v3)
{
    const int16x8_t h0 = vcombine_s16(vmovn_s32(v0), vmovn_s32(v1));
    const int16x8_t h1 = vcombine_s16(vmovn_s32(v2), vmovn_s32(v3));
    return vreinterpretq_u8_s8(vcombine_s8(vmovn_s16(h0), vmovn_s16(h1)));
}

/* Stores the first n (1..16) bytes of v. */
VQN_AI void vqn_store_bytes(uint8_t *p, uint8x16_t v, int n)
{
    if (n == 16) {
        vst1q_u8(p, v);
        return;
    }
    uint8_t t[16];
    vst1q_u8(t, v);
    for (int i = 0; i < n; i++)
        p[i] = t[i];
}

/* act.h's ReLU / ReLU6 exactly: compares, not fmax/fmin, so that −0 and NaN
 * come out as there (ReLU: +0 for both; ReLU6 keeps them). */
VQN_AI float32x4_t vqn_relu(float32x4_t x, int six)
{
    const float32x4_t z = vdupq_n_f32(0.0f), s = vdupq_n_f32(6.0f);
    if (!six)
        return vbslq_f32(vcgtq_f32(x, z), x, z);
    x = vbslq_f32(vcltq_f32(x, z), z, x);
    return vbslq_f32(vcgtq_f32(x, s), s, x);
}

#endif
