/* AVX-512 VNNI 4-bit scan (kernels.h "Flat-index scans"; loops in scan_q8.h).
 * A 64-byte chunk of codes is 128 dims: AND 0x0F gives the low nibbles and a
 * 16-bit shift by 4 plus AND the high ones, already in the query's nibble
 * order, so no shuffles. Narrow batches: row by row (pairs of rows for 3–4
 * queries) × up to 4 queries, nibbles (unsigned) × query (signed), no
 * correction. Wide batches: rows are
 * unpacked chunk by chunk into a small stack buffer of signed bytes 0 … 15,
 * then the queries-on-lanes loop of scan_s8 runs over it. */
#include "avx512.h"
#include "scan_q8.h"

#define NARROW_Q 4
#define WIDE_MIN_Q 6
#define WIDE_CHUNK 256 /* code bytes per row unpacked at a time (512 values) */

/* Rows [r, r+R) × queries [j0, j0+Q), each row's chunks in address order
 * (scan_q8.h); below 4 (row, query) pairs, low and high nibbles go into
 * separate accumulators (two chains).
 * R = 2 for 3–4 queries: the pair shares each query load, which otherwise
 * bound the loop (2 loads per 2 vpdpbusd). */
SCAN_INLINE void narrow_tile(const vk_scan_args *a, size_t r, int R, size_t r0, int j0, int Q)
{
    const int8_t *q = (const int8_t *)a->q + (size_t)j0 * a->qlen;
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    const uint8_t *p = a->codes + r * a->row_bytes;
    __m512i al[2][NARROW_Q], ah[2][NARROW_Q];
#pragma GCC unroll 2
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++)
            al[i][j] = ah[i][j] = _mm512_setzero_si512();
    for (size_t o = 0; o < a->row_bytes; o += 64) {
        __m512i lo[2], hi[2];
#pragma GCC unroll 2
        for (int i = 0; i < R; i++) {
            scan_prefetch(p + (size_t)i * a->row_bytes + o);
            __m512i c = _mm512_load_si512(p + (size_t)i * a->row_bytes + o);
            lo[i] = _mm512_and_si512(c, lo4);
            hi[i] = _mm512_and_si512(_mm512_srli_epi16(c, 4), lo4);
        }
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++) {
            const int8_t *qj = q + (size_t)j * a->qlen + 2 * o;
            __m512i ql = _mm512_loadu_si512(qj), qh = _mm512_loadu_si512(qj + 64);
#pragma GCC unroll 2
            for (int i = 0; i < R; i++) {
                al[i][j] = _mm512_dpbusd_epi32(al[i][j], lo[i], ql);
                if (R * Q >= 4) /* enough chains already: fewer registers */
                    al[i][j] = _mm512_dpbusd_epi32(al[i][j], hi[i], qh);
                else
                    ah[i][j] = _mm512_dpbusd_epi32(ah[i][j], hi[i], qh);
            }
        }
    }
    int32_t *out = a->out;
#pragma GCC unroll 2
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++)
            out[(r + (size_t)i - r0) * a->ldo + (size_t)(j0 + j)] =
                scan_hsum(_mm512_add_epi32(al[i][j], ah[i][j]));
}

/* Lane t of the result = Σ of the 16 lanes of v[t], mod 2^32: a transpose-
 * and-add tree (4 levels, 45 ops for 16 dots where scan_hsum takes 9 each). */
SCAN_INLINE __m512i hsum16(const __m512i v[16])
{
    __m512i t[8], u[4];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) /* 128-bit lane L: [a0+a2, b0+b2, a1+a3, b1+b3] */
        t[k] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * k], v[2 * k + 1]),
                                _mm512_unpackhi_epi32(v[2 * k], v[2 * k + 1]));
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) /* lane L: Σ of lane L of v[4m + 0 … 3] */
        u[m] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * m], t[2 * m + 1]),
                                _mm512_unpackhi_epi64(t[2 * m], t[2 * m + 1]));
    /* [u0 L0+L1, u0 L2+L3, u1 L0+L1, u1 L2+L3] and the same for u2, u3 */
    __m512i w0 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], 0x88),
                                  _mm512_shuffle_i32x4(u[0], u[1], 0xDD));
    __m512i w1 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2], u[3], 0x88),
                                  _mm512_shuffle_i32x4(u[2], u[3], 0xDD));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(w0, w1, 0x88), _mm512_shuffle_i32x4(w0, w1, 0xDD));
}

/* 1 or 2 queries: R = 16/Q rows, each read whole before the next (one
 * sequential stream, as narrow_tile), one accumulator per (row, query), the
 * 16 dots reduced together at the end instead of one scan_hsum per row. */
SCAN_INLINE void narrow_block(const vk_scan_args *a, size_t r, size_t r0, int j0, int Q)
{
    const int R = 16 / Q;
    const int8_t *q = (const int8_t *)a->q + (size_t)j0 * a->qlen;
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    __m512i acc[16];
#pragma GCC unroll 16
    for (int t = 0; t < 16; t++)
        acc[t] = _mm512_setzero_si512();
    const uint8_t *p = a->codes + r * a->row_bytes;
#pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
        const uint8_t *pi = p + (size_t)i * a->row_bytes;
        for (size_t o = 0; o < a->row_bytes; o += 64) {
            scan_prefetch(pi + o);
            __m512i c = _mm512_load_si512(pi + o);
            __m512i lo = _mm512_and_si512(c, lo4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(c, 4), lo4);
#pragma GCC unroll 2
            for (int j = 0; j < Q; j++) {
                const int8_t *qj = q + (size_t)j * a->qlen + 2 * o;
                acc[i * Q + j] = _mm512_dpbusd_epi32(acc[i * Q + j], lo, _mm512_loadu_si512(qj));
                acc[i * Q + j] = _mm512_dpbusd_epi32(acc[i * Q + j], hi, _mm512_loadu_si512(qj + 64));
            }
        }
    }
    _Alignas(64) int32_t d[16];
    _mm512_store_si512(d, hsum16(acc));
    int32_t *out = (int32_t *)a->out + (r - r0) * a->ldo + (size_t)j0;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < Q; j++)
            out[(size_t)i * a->ldo + (size_t)j] = d[i * Q + j];
}

SCAN_INLINE void narrow_group(const vk_scan_args *a, size_t r0, size_t r1, int j0, int Q)
{
    size_t r = r0;
    if (Q <= 2)
        for (; r + (size_t)(16 / Q) <= r1; r += (size_t)(16 / Q))
            narrow_block(a, r, r0, j0, Q);
    if (Q >= 3)
        for (; r + 2 <= r1; r += 2)
            narrow_tile(a, r, 2, r0, j0, Q);
    for (; r < r1; r++)
        narrow_tile(a, r, 1, r0, j0, Q);
}

SCAN_INLINE void wide_tile(const vk_scan_args *a, size_t r, int R, int g, int32_t *out)
{
    _Alignas(64) uint8_t buf[SCAN_WIDE_ROWS][2 * WIDE_CHUNK];
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    __m512i acc[SCAN_WIDE_ROWS], rsum[SCAN_WIDE_ROWS];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
        acc[i] = rsum[i] = _mm512_setzero_si512();
    const uint8_t *qt = (const uint8_t *)a->qt + (size_t)g * (a->qlen / 4) * 64;
    for (size_t cb = 0; cb < a->row_bytes; cb += WIDE_CHUNK) {
        size_t n = a->row_bytes - cb < WIDE_CHUNK ? a->row_bytes - cb : WIDE_CHUNK;
        for (int i = 0; i < R; i++) {
            const uint8_t *src = a->codes + (r + (size_t)i) * a->row_bytes + cb;
            for (size_t o = 0; o < n; o += 64) {
                /* the same bytes of the next tile: the unpacking stalls on every miss otherwise */
                _mm_prefetch((const char *)((uintptr_t)(src + o) + SCAN_WIDE_ROWS * a->row_bytes),
                             _MM_HINT_T0);
                __m512i c = _mm512_load_si512(src + o);
                _mm512_store_si512(buf[i] + 2 * o, _mm512_and_si512(c, lo4));
                _mm512_store_si512(buf[i] + 2 * o + 64,
                                   _mm512_and_si512(_mm512_srli_epi16(c, 4), lo4));
            }
        }
        scan_wide_rows(acc, rsum, R, buf[0], sizeof buf[0], qt + (2 * cb / 4) * 64, 2 * n / 4);
    }
    scan_wide_store(acc, rsum, R, out, a->ldo, scan_group_mask(a->nq, g));
}

void vk_scan_u4_avx512(const vk_scan_args *a, size_t r0, size_t r1)
{
    int32_t *out = a->out;
    for (int g = 0; g * VK_SCAN_QGROUP < a->nq; g++) {
        int j0 = g * VK_SCAN_QGROUP;
        int j1 = a->nq - j0 < VK_SCAN_QGROUP ? a->nq : j0 + VK_SCAN_QGROUP;
        if (a->qt && j1 - j0 >= WIDE_MIN_Q) {
            size_t r = r0;
            for (; r + SCAN_WIDE_ROWS <= r1; r += SCAN_WIDE_ROWS)
                wide_tile(a, r, SCAN_WIDE_ROWS, g, out + (r - r0) * a->ldo + j0);
            for (; r < r1; r++)
                wide_tile(a, r, 1, g, out + (r - r0) * a->ldo + j0);
            continue;
        }
        for (int j = j0; j < j1; j += NARROW_Q) {
            switch (j1 - j < NARROW_Q ? j1 - j : NARROW_Q) {
            case 1: narrow_group(a, r0, r1, j, 1); break;
            case 2: narrow_group(a, r0, r1, j, 2); break;
            case 3: narrow_group(a, r0, r1, j, 3); break;
            default: narrow_group(a, r0, r1, j, 4); break;
            }
        }
    }
}
