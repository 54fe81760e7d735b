/* Quantized convolution, NHWC, AVX-512 VNNI: implicit GEMM with M = output
 * pixels, N = output channels (panels of 16), K = KH·KW·C in (kh, kw, c)
 * order, on the register tiles of conv2d_q8_tile.c.
 *
 * A rows: a 1×1 convolution without padding, C a multiple of 4 (the VNNI
 * group: the K loop has no masked tail), reads its pixels in place (one
 * strided span per output row, or a single span over the whole row range when
 * stride 1 makes pixels contiguous); everything else gathers blocks of pixels
 * into an im2col buffer in the scratch, padding with the input zero point.
 *
 * vpdpbusd multiplies u8 by s8, so s8 activations enter as u = x + 128 (a byte
 * XOR, in the tile for in-place spans, during the gather otherwise) and the
 * zero point becomes zu = a_zero + 128. Then, modulo 2^32 (vpdpbusd wraps, so
 * this is exact):
 *   Σ_k (x - a_zero)(w + bo) = Σ_k u·w - zu·colsum + bo·Σ_k u - zu·bo·K
 * The per-channel part (with the bias) is folded once per call into the
 * scratch beside the requantization constants; the per-pixel row sum is only
 * needed for b_offset != 0 (uint8 models): vpsadbw over the pixel in place, or
 * summed during the gather.
 *
 * Loop order: blocks of up to 96 pixels whose A rows fit in ~32 KB (L1);
 * inside, groups of up to 4 panels (balanced: 9 panels run as 3+3+3), and the
 * block's register tiles (balanced heights) over each group's weights.
 *
 * scratch (vk_conv2d_q8_scratch, pack_conv.c, follows this layout):
 *   [ceil(OC/16) × 640-byte cq_panel (constants)][cq_block(Kp) × Kp im2col]
 */
#include <string.h>

#include "../pack.h"
#include "avx512.h"
#include "conv2d_q8.h"

/* vk_conv2d_q8_scratch (pack_conv.c, compiled for every architecture) counts
 * 640 bytes per panel: enough for this layout (512 since requantization rounds
 * once and needs two constants fewer). */
_Static_assert(sizeof(cq_panel) <= 640, "cq_panel must fit what pack_conv.c reserves");
/* What the im2col block may write past its last row (im2col_small_body's
 * full-width stores): the unused part of the 640 bytes per panel, which all
 * sit before the block, leaves at least this much room after it. */
#define CQ_COL_SLACK 64
_Static_assert(640 - sizeof(cq_panel) >= CQ_COL_SLACK, "no room after the im2col block");

/* Pixels per block: A rows of Kp bytes in ~32 KB, a multiple of every tile
 * height (12, 8, 6). Mirrored by vk_conv2d_q8_scratch. */
static int cq_block(int Kp)
{
    const int pb = 32768 / Kp / 24 * 24;
    return pb < 24 ? 24 : pb > 96 ? 96 : pb;
}

/* Fills the per-panel constants; returns whether some channel shifts left,
 * and the smallest right shift. (Shared with conv2d_q8_stem.c.) */
int vk_cq_setup(const vk_conv2d_q8_args *a, cq_panel *cst, int32_t zu, int K, int *min_rsh)
{
    const int OC = a->g.OC, P = (OC + 15) / 16;
    const __m512i zk =
        _mm512_set1_epi32((int32_t)((uint32_t)zu * (uint32_t)a->b_offset * (uint32_t)K));
    const __m512i zuv = _mm512_set1_epi32(zu);
    for (int p = 0; p < P; p++) {
        const int c0 = p * 16;
        const __mmask16 valid = OC - c0 >= 16 ? 0xFFFF : (__mmask16)((1u << (OC - c0)) - 1);
        const __m512i bias = a->bias ? _mm512_maskz_loadu_epi32(valid, a->bias + c0)
                                     : _mm512_setzero_si512();
        const __m512i cs = _mm512_maskz_loadu_epi32(valid, a->w_colsum + c0);
        /* bias - zu·colsum - zu·bo·K, modulo 2^32; 0 past OC */
        cst[p].fold = _mm512_maskz_sub_epi32(
            valid, _mm512_sub_epi32(bias, _mm512_mullo_epi32(zuv, cs)), zk);
        cst[p].q = vq_rq_load(a->rq.mult, a->rq.shift, a->rq.per_channel, c0, valid);
    }
    int has_left = 0;
    *min_rsh = 31;
    for (int c = 0; c < (a->rq.per_channel ? OC : 1); c++) {
        const int sh = a->rq.shift[c], rsh = sh < 0 ? -sh : 0;
        has_left |= sh > 0;
        *min_rsh = rsh < *min_rsh ? rsh : *min_rsh;
    }
    return has_left;
}

/* Σ of the bytes of one pixel (+128 each when flip) as 8 partial u64 sums. */
VQ_AI __m512i pixel_sums(const uint8_t *p, int C, __m512i flip)
{
    const __m512i z = _mm512_setzero_si512();
    __m512i s = z;
    int c = 0;
    for (; c + 64 <= C; c += 64)
        s = _mm512_add_epi64(
            s, _mm512_sad_epu8(_mm512_xor_si512(_mm512_loadu_si512(p + c), flip), z));
    if (c < C) {
        const __mmask64 m = _bzhi_u64(~0ull, (unsigned)(C - c));
        const __m512i v = _mm512_maskz_mov_epi8(
            m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, p + c), flip));
        s = _mm512_add_epi64(s, _mm512_sad_epu8(v, z));
    }
    return s;
}

/* Pairwise sums of the 64-bit lanes of a and b: lane pairs of each 128-bit
 * block, a's in the low lane, b's in the high one. */
VQ_AI __m512i hadd2(__m512i a, __m512i b)
{
    return _mm512_add_epi64(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
}

/* Sums of the 128-bit blocks pairwise: (a0+a1, a2+a3, b0+b1, b2+b3). */
VQ_AI __m512i hadd4(__m512i a, __m512i b)
{
    return _mm512_add_epi64(_mm512_shuffle_i64x2(a, b, 0x88), _mm512_shuffle_i64x2(a, b, 0xDD));
}

/* rs[i] = bo · Σ (bytes of pixel i, +128 when sgn), in place; eight pixels'
 * partial sums reduced together (a transposing add tree) rather than one by
 * one. */
static void rowsums(const uint8_t *A, ptrdiff_t lda, int M, int C, int sgn, int32_t bo,
                    int32_t *rs)
{
    const __m512i flip = _mm512_set1_epi8(sgn ? (char)0x80 : 0);
    const __m512i bov = _mm512_set1_epi32(bo);
    int i = 0;
    for (; i + 8 <= M; i += 8) {
        __m512i s[8];
        for (int j = 0; j < 8; j++)
            s[j] = pixel_sums(A + (i + j) * lda, C, flip);
        const __m512i t = hadd4(hadd4(hadd2(s[0], s[1]), hadd2(s[2], s[3])),
                                hadd4(hadd2(s[4], s[5]), hadd2(s[6], s[7])));
        /* lanes 0..7 = pixels i..i+7 */
        const __m256i v = _mm512_cvtepi64_epi32(t);
        _mm256_storeu_si256((__m256i *)(rs + i),
                            _mm256_mullo_epi32(v, _mm512_castsi512_si256(bov)));
    }
    for (; i < M; i++)
        rs[i] = (int32_t)((uint32_t)bo *
                          (uint32_t)_mm512_reduce_add_epi64(pixel_sums(A + i * lda, C, flip)));
}

/* n bytes src -> dst with the sign flip, summed into *sum (u64 lanes) when RS. */
VQ_AI void put(uint8_t *dst, const uint8_t *src, int n, __m512i flip, __m512i *sum, const int RS)
{
    const __m512i z = _mm512_setzero_si512();
    for (; n >= 64; n -= 64, src += 64, dst += 64) {
        const __m512i v = _mm512_xor_si512(_mm512_loadu_si512(src), flip);
        _mm512_storeu_si512(dst, v);
        if (RS)
            *sum = _mm512_add_epi64(*sum, _mm512_sad_epu8(v, z));
    }
    if (n > 0) {
        const __mmask64 m = _bzhi_u64(~0ull, (unsigned)n);
        const __m512i v =
            _mm512_maskz_mov_epi8(m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, src), flip));
        _mm512_mask_storeu_epi8(dst, m, v);
        if (RS)
            *sum = _mm512_add_epi64(*sum, _mm512_sad_epu8(v, z));
    }
}

VQ_AI void pad(uint8_t *dst, int n, __m512i padv)
{
    for (; n >= 64; n -= 64, dst += 64)
        _mm512_storeu_si512(dst, padv);
    if (n > 0)
        _mm512_mask_storeu_epi8(dst, _bzhi_u64(~0ull, (unsigned)n), padv);
}

/* Gathers output pixels [m0, m0 + M) into rows of Kp bytes (u8 domain, zero
 * point zu outside the image, zeros past K) and, when RS, their row-sum terms. */
VQ_AI void im2col_body(const vk_conv2d_q8_args *a, int m0, int M, int Kp, int32_t zu,
                       uint8_t *col, int32_t *rs, const int RS)
{
    /* locals: the byte stores below may alias *a as far as the compiler knows */
    const int C = a->g.C, KH = a->g.KH, KW = a->g.KW, H = a->g.H, W = a->g.W;
    const int OH = a->g.OH, OW = a->g.OW, sh = a->g.stride_h, sw = a->g.stride_w;
    const int pt = a->g.pad_t, pl = a->g.pad_l, dh = a->g.dil_h, dw = a->g.dil_w;
    const ptrdiff_t ld = a->g.in_ld;
    const int K = KH * KW * C, KWC = KW * C;
    const uint32_t bo = (uint32_t)a->b_offset;
    const __m512i flip = _mm512_set1_epi8(a->a_signed ? (char)0x80 : 0);
    const __m512i padv = _mm512_set1_epi8((char)zu);
    const __mmask64 ktail = _bzhi_u64(~0ull, (unsigned)(Kp - K)); /* 0..3 zero bytes */
    const int contig = dw == 1 && ld == C; /* a kernel row is one run */
    const uint8_t *in = a->in;
    int r = m0 / OW, ow = m0 % OW, n = r / OH, oh = r % OH;
    for (int i = 0; i < M; i++) {
        const int iw0 = ow * sw - pl;
        uint8_t *dst = col + (ptrdiff_t)i * Kp;
        __m512i sum = _mm512_setzero_si512();
        int npad = 0;
        /* in-image kernel columns [lo, hi) of a contiguous row */
        const int lo = iw0 < 0 ? (-iw0 < KW ? -iw0 : KW) : 0;
        const int hi = W - iw0 < lo ? lo : W - iw0 > KW ? KW : W - iw0;
        for (int kh = 0; kh < KH; kh++, dst += KWC) {
            const int ih = oh * sh - pt + kh * dh;
            if (ih < 0 || ih >= H) {
                pad(dst, KWC, padv);
                npad += KWC;
                continue;
            }
            const uint8_t *row = in + ((ptrdiff_t)n * H + ih) * W * ld;
            if (contig) {
                if (lo > 0)
                    pad(dst, lo * C, padv);
                put(dst + lo * C, row + (ptrdiff_t)(iw0 + lo) * C, (hi - lo) * C, flip, &sum, RS);
                if (hi < KW)
                    pad(dst + hi * C, (KW - hi) * C, padv);
                npad += (KW - (hi - lo)) * C;
                continue;
            }
            for (int kw = 0; kw < KW; kw++) {
                const int iw = iw0 + kw * dw;
                if (iw < 0 || iw >= W) {
                    pad(dst + kw * C, C, padv);
                    npad += C;
                } else {
                    put(dst + kw * C, row + (ptrdiff_t)iw * ld, C, flip, &sum, RS);
                }
            }
        }
        _mm512_mask_storeu_epi8(dst, ktail, _mm512_setzero_si512());
        if (RS) {
            const uint32_t s =
                (uint32_t)_mm512_reduce_add_epi64(sum) + (uint32_t)npad * (uint32_t)zu;
            rs[i] = (int32_t)(bo * s);
        }
        if (++ow == OW) {
            ow = 0;
            if (++oh == OH)
                oh = 0, n++;
        }
    }
}

/* im2col_body when a kernel row is one contiguous run of at most 64 bytes
 * (the 3-channel first layer: 3×3 = 9 bytes) and KH <= 16: each kernel row
 * is one masked load, blend and store, and the row pointers are set once per
 * span of pixels within an output row.
 *
 * The stores are full 64-byte ones (masked stores are several times slower
 * on AMD cores, and this loop is store-bound): each runs past its kernel row
 * into bytes that the next row of the pixel, or the next pixel, writes
 * afterwards; the last pixel's spills land in the slack after the block
 * (CQ_COL_SLACK). Bytes K .. Kp are left as they fall: they meet the zero
 * padding of the packed weights, and the row sums count only the masked
 * in-image bytes and the padding. */
VQ_AI void im2col_small_body(const vk_conv2d_q8_args *a, int m0, int M, int Kp, int32_t zu,
                             uint8_t *col, int32_t *rs, const int RS)
{
    const int C = a->g.C, KH = a->g.KH, KW = a->g.KW, H = a->g.H, W = a->g.W;
    const int OH = a->g.OH, OW = a->g.OW, sh = a->g.stride_h, sw = a->g.stride_w;
    const int pt = a->g.pad_t, pl = a->g.pad_l, dh = a->g.dil_h;
    const int KWC = KW * C;
    const uint32_t bo = (uint32_t)a->b_offset;
    const __m512i flip = _mm512_set1_epi8(a->a_signed ? (char)0x80 : 0);
    const __m512i padv = _mm512_set1_epi8((char)zu), z = _mm512_setzero_si512();
    const uint8_t *in = a->in;
    const uint8_t *rowp[16];
    int r = m0 / OW, ow = m0 % OW, n = r / OH, oh = r % OH;
    for (int i = 0; i < M;) {
        const int seg = M - i < OW - ow ? M - i : OW - ow;
        int prow = 0; /* kernel rows outside the image */
        for (int kh = 0; kh < KH; kh++) {
            const int ih = oh * sh - pt + kh * dh;
            rowp[kh] = ih >= 0 && ih < H ? in + ((ptrdiff_t)n * H + ih) * W * C : NULL;
            prow += !rowp[kh];
        }
        for (const int i1 = i + seg; i < i1; i++, ow++) {
            const int iw0 = ow * sw - pl;
            const int lo = iw0 < 0 ? (-iw0 < KW ? -iw0 : KW) : 0;
            const int hi = W - iw0 < lo ? lo : W - iw0 > KW ? KW : W - iw0;
            const __mmask64 m_in =
                _bzhi_u64(~0ull, (unsigned)(hi * C)) & ~_bzhi_u64(~0ull, (unsigned)(lo * C));
            uint8_t *dst = col + (ptrdiff_t)i * Kp;
            __m512i sum = z;
            for (int kh = 0; kh < KH; kh++, dst += KWC) {
                if (!rowp[kh]) {
                    _mm512_storeu_si512(dst, padv);
                    continue;
                }
                /* the load's mask skips the bytes outside the image */
                const __m512i v = _mm512_xor_si512(
                    _mm512_maskz_loadu_epi8(m_in, rowp[kh] + (ptrdiff_t)iw0 * C), flip);
                _mm512_storeu_si512(dst, _mm512_mask_blend_epi8(m_in, padv, v));
                if (RS)
                    sum = _mm512_add_epi64(sum, _mm512_sad_epu8(_mm512_maskz_mov_epi8(m_in, v), z));
            }
            if (RS) {
                const int npad = prow * KWC + (KH - prow) * (KW - (hi - lo)) * C;
                const uint32_t s =
                    (uint32_t)_mm512_reduce_add_epi64(sum) + (uint32_t)npad * (uint32_t)zu;
                rs[i] = (int32_t)(bo * s);
            }
        }
        if (ow == OW) {
            ow = 0;
            if (++oh == OH)
                oh = 0, n++;
        }
    }
}

#define IM2COL(name, body, RS)                                                               \
    __attribute__((noinline)) static void name(const vk_conv2d_q8_args *a, int m0, int M,     \
                                               int Kp, int32_t zu, uint8_t *col, int32_t *rs) \
    {                                                                                        \
        body(a, m0, M, Kp, zu, col, rs, RS);                                                 \
    }
IM2COL(im2col_small_rs, im2col_small_body, 1)
IM2COL(im2col_small, im2col_small_body, 0)
IM2COL(im2col_rs, im2col_body, 1)
IM2COL(im2col_any, im2col_body, 0)
#undef IM2COL

static void im2col(const vk_conv2d_q8_args *a, int m0, int M, int Kp, int32_t zu, uint8_t *col,
                   int32_t *rs)
{
    const vk_conv_geom *g = &a->g;
    const int small = g->dil_w == 1 && g->in_ld == g->C && g->KW * g->C <= 64 && g->KH <= 16;
    if (small && a->b_offset)
        im2col_small_rs(a, m0, M, Kp, zu, col, rs);
    else if (small)
        im2col_small(a, m0, M, Kp, zu, col, rs);
    else if (a->b_offset)
        im2col_rs(a, m0, M, Kp, zu, col, rs);
    else
        im2col_any(a, m0, M, Kp, zu, col, rs);
}

/* M rows of A (lda apart) × all output channels into out (pixel stride ldo). */
static void gemm(cq_tile t, int P, int OC, int K4, int sgn, int M, const int8_t *Wp,
                 const cq_panel *cst, uint8_t *out)
{
    const int ng = (P + 3) / 4;
    const cq_epi_fn epi = vk_cq_epi[t.o.mode];
    __m512i acc[24];
    const uint8_t *A = t.a;
    const int32_t *rs = t.rs;
    t.bstride = (ptrdiff_t)K4 * 64;
    for (int gi = 0, p0 = 0; gi < ng; gi++) {
        const int nv = P / ng + (gi < P % ng);
        const int mr = cq_mr[nv], nt = (M + mr - 1) / mr;
        t.b = Wp + (ptrdiff_t)p0 * K4 * 64;
        t.cst = cst + p0;
        t.lastmask = p0 + nv == P && OC % 16 ? (__mmask16)((1u << (OC % 16)) - 1) : 0xFFFF;
        for (int ti = 0, i = 0; ti < nt; ti++) {
            const int R = M / nt + (ti < M % nt);
            t.a = A + i * t.lda;
            t.rs = rs ? rs + i : NULL;
            t.out = out + i * t.ldo + p0 * 16;
            vk_cq_tiles[sgn][nv - 1][R - 1](&t, acc);
            epi(&t, R, nv, acc);
            i += R;
        }
        p0 += nv;
    }
}

void vk_conv2d_q8_avx512(const vk_conv2d_q8_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    if (r0 >= r1)
        return;
    if (vk_conv2d_q8_stem_avx512(a, r0, r1) == 0) /* C <= 4: no im2col */
        return;
    const int C = g->C, OC = g->OC, K = g->KH * g->KW * C, K4 = (K + 3) / 4, Kp = 4 * K4;
    const int P = (OC + 15) / 16, PB = cq_block(Kp);
    const int sgn = a->a_signed;
    const int32_t zu = a->a_zero + (sgn ? 128 : 0);
    cq_panel *cst = a->scratch;
    uint8_t *col = (uint8_t *)(cst + P);
    int32_t rs[96];

    cq_tile t;
    memset(&t, 0, sizeof t);
    int min_rsh;
    const int has_left = vk_cq_setup(a, cst, zu, K, &min_rsh);
    t.o = vq_out_make(sgn, a->rq.out_min, a->rq.out_max, a->rq.out_zero, has_left, min_rsh);
    t.ldo = g->out_ld;
    uint8_t *out = a->out;

    const int direct = g->KH == 1 && g->KW == 1 && C % 4 == 0 && g->pad_t == 0 && g->pad_l == 0 &&
                       (g->OH - 1) * g->stride_h < g->H && (g->OW - 1) * g->stride_w < g->W;
    if (direct) {
        t.kg = C / 4;
        const int flat = g->stride_h == 1 && g->stride_w == 1 && g->OH == g->H && g->OW == g->W;
        /* spans: one over all rows when flat, else one per output row */
        for (int r = r0; r < r1; r = flat ? r1 : r + 1) {
            const int M = flat ? (r1 - r0) * g->OW : g->OW;
            const int n = r / g->OH, oh = r % g->OH;
            const uint8_t *A = (const uint8_t *)a->in +
                               (flat ? (ptrdiff_t)r * g->W
                                     : ((ptrdiff_t)n * g->H + oh * g->stride_h) * g->W) *
                                   g->in_ld;
            uint8_t *O = out + (ptrdiff_t)r * g->OW * g->out_ld;
            t.lda = flat ? g->in_ld : g->stride_w * g->in_ld;
            for (int i = 0; i < M; i += PB) {
                const int mb = M - i < PB ? M - i : PB;
                t.a = A + i * t.lda;
                if (a->b_offset)
                    rowsums(t.a, t.lda, mb, C, sgn, a->b_offset, rs);
                t.rs = a->b_offset ? rs : NULL;
                gemm(t, P, OC, K4, sgn, mb, a->Wp, cst, O + (ptrdiff_t)i * g->out_ld);
            }
        }
        return;
    }
    t.kg = K4, t.lda = Kp;
    const int m1 = r1 * g->OW;
    for (int m = r0 * g->OW; m < m1; m += PB) {
        const int mb = m1 - m < PB ? m1 - m : PB;
        im2col(a, m, mb, Kp, zu, col, rs);
        t.a = col, t.rs = a->b_offset ? rs : NULL;
        gemm(t, P, OC, K4, 0, mb, a->Wp, cst, out + (ptrdiff_t)m * g->out_ld);
    }
}
