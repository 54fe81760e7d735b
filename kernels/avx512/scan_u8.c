/* AVX-512 VNNI 8-bit asymmetric scan (kernels.h "Flat-index scans"; loops in
 * scan_q8.h). The codes are already unsigned bytes, the operand vpdpbusd
 * wants, so the narrow path multiplies them by the signed query as they are:
 * no offset, no correction. Wide batches (≥ 6 queries left in a group of 16,
 * packed queries given): queries on lanes, see wide_tile. */
#include "avx512.h"
#include "scan_q8.h"

#define NARROW_Q 4
#define WIDE_MIN_Q 6
#define WIDE_CHUNK 256 /* code bytes per row staged at a time */

SCAN_INLINE void narrow_group(const vk_scan_args *a, size_t r0, size_t r1, int j0, int Q)
{
    const int8_t *q = (const int8_t *)a->q + (size_t)j0 * a->qlen;
    int32_t *out = a->out;
    for (size_t r = r0; r < r1; r++)
        scan_row_q8(a->codes + r * a->row_bytes, a->row_bytes, q, a->qlen, Q, 0,
                    out + (r - r0) * a->ldo + j0);
}

/* Wide batches: vpdpbusd broadcasts from memory only into its signed
 * operand, so the row must be the signed side: each row is copied chunk by
 * chunk into a stack buffer as e = c − 128 (XOR 0x80, signed), and the loop
 * of scan_s8 computes Σ (q + 128)·e − 128·Σ e = Σ q·e; then
 *   Σ q·c = Σ q·e + 128·Σ q,
 * with 128·Σ q per query lane (qs128) from the packed bytes. A register
 * broadcast of unsigned row bytes instead measured half this rate. */
SCAN_INLINE void wide_tile(const vk_scan_args *a, size_t r, int R, int g, __m512i qs128,
                           int32_t *out)
{
    _Alignas(64) uint8_t buf[SCAN_WIDE_ROWS][WIDE_CHUNK];
    const __m512i f = _mm512_set1_epi8((char)0x80);
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
                /* the same bytes of the next tile: the copy stalls on every miss otherwise */
                _mm_prefetch((const char *)((uintptr_t)(src + o) + SCAN_WIDE_ROWS * a->row_bytes),
                             _MM_HINT_T0);
                _mm512_store_si512(buf[i] + o, _mm512_xor_si512(_mm512_load_si512(src + o), f));
            }
        }
        scan_wide_rows(acc, rsum, R, buf[0], sizeof buf[0], qt + (cb / 4) * 64, n / 4);
    }
    __mmask16 m = scan_group_mask(a->nq, g);
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
        __m512i corr = _mm512_set1_epi32((int32_t)((uint32_t)scan_hsum(rsum[i]) << 7));
        _mm512_mask_storeu_epi32(out + (size_t)i * a->ldo, m,
                                 _mm512_add_epi32(_mm512_sub_epi32(acc[i], corr), qs128));
    }
}

/* 128·Σ q per query lane of group g: the packed bytes are q + 128, so
 * Σ bytes = Σ q + 128·qlen. */
static __m512i packed_qsum128(const vk_scan_args *a, int g)
{
    size_t nslots = a->qlen / 4;
    const uint8_t *qt = (const uint8_t *)a->qt + (size_t)g * nslots * 64;
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i s = _mm512_setzero_si512();
    for (size_t t = 0; t < nslots; t++)
        s = _mm512_dpbusd_epi32(s, _mm512_loadu_si512(qt + t * 64), ones);
    s = _mm512_sub_epi32(s, _mm512_set1_epi32((int32_t)(a->qlen * 128)));
    return _mm512_slli_epi32(s, 7);
}

void vk_scan_u8_avx512(const vk_scan_args *a, size_t r0, size_t r1)
{
    int32_t *out = a->out;
    for (int g = 0; g * VK_SCAN_QGROUP < a->nq; g++) {
        int j0 = g * VK_SCAN_QGROUP;
        int j1 = a->nq - j0 < VK_SCAN_QGROUP ? a->nq : j0 + VK_SCAN_QGROUP;
        if (a->qt && j1 - j0 >= WIDE_MIN_Q) {
            __m512i qs = packed_qsum128(a, g);
            size_t r = r0;
            for (; r + SCAN_WIDE_ROWS <= r1; r += SCAN_WIDE_ROWS)
                wide_tile(a, r, SCAN_WIDE_ROWS, g, qs, out + (r - r0) * a->ldo + j0);
            for (; r < r1; r++)
                wide_tile(a, r, 1, g, qs, out + (r - r0) * a->ldo + j0);
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
