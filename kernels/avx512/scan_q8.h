/* Shared inner loops of the 8-bit / 4-bit scans (scan_s8.c, scan_u8.c,
 * scan_u4.c).
 *
 * Narrow batches (dims on lanes): one row at a time against up to 4 queries,
 * its 64-byte chunks in address order, vpdpbusd of unsigned row bytes ×
 * signed query bytes into one accumulator per query (two for one query),
 * each reduced to one int32 at the end of the row. Walking the rows one after
 * another keeps the loads a single sequential stream: tiles of 4 or 8 rows
 * read chunk o of each row in turn (streams row_bytes apart) and measured
 * 0.77–0.84 of the read bandwidth against 1.0–1.08 for this order (1 GiB of
 * codes, 512- and 1024-byte rows, one core; docs/RETRIEVAL.md).
 *
 * Wide batches (queries on lanes, vk_scan_pack_queries_q8 layout): the packed
 * slot s holds 4 bytes of each of 16 queries (as q + 128, unsigned); one
 * vpdpbusd with the row's 4 bytes broadcast (signed) adds them into 16 query
 * lanes of that row's accumulator: no reduction, one store of 16 dots per row.
 * The +128 offset costs 128·Σc per row, from one vpdpbusd(ones, 64 row bytes)
 * per 64 bytes into a second accumulator. Sums wrap mod 2^32 (vpdpbusd does
 * not saturate), and the exact result fits in int32 (kernels.h), so the
 * subtraction recovers it exactly.
 */
#ifndef VIREO_AVX512_SCAN_Q8_H
#define VIREO_AVX512_SCAN_Q8_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "../kernels.h"

#define SCAN_INLINE static inline __attribute__((always_inline))
#define SCAN_WIDE_ROWS 8 /* rows sharing each packed query slot load */

/* Σ of the 16 lanes mod 2^32. _mm512_reduce_add_epi32 adds as signed int
 * (overflow is undefined there); these intrinsics add as unsigned. */
SCAN_INLINE int32_t scan_hsum(__m512i v)
{
    __m256i a = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    __m128i b = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    b = _mm_add_epi32(b, _mm_shuffle_epi32(b, 0x4e));
    b = _mm_add_epi32(b, _mm_shuffle_epi32(b, 0xb1));
    return _mm_cvtsi128_si32(b);
}

/* Software prefetch SCAN_PF_BYTES ahead of a narrow scan's loads: rows are
 * contiguous, so that is the same stream further on. Prefetches never fault;
 * the address is formed as an integer (past the end is not a C pointer).
 * 8 KiB: against 4 KiB, 512 MB of codes from DRAM, one core, 4 interleaved
 * pairs: int4 rows 101–117 → 115–124 M/s, int8 45–64 → 57–67 M/s (2 and 16
 * KiB were slower; docs/RETRIEVAL.md "Scan speed"). */
#ifndef SCAN_PF_BYTES
#define SCAN_PF_BYTES 8192
#endif
SCAN_INLINE void scan_prefetch(const uint8_t *p)
{
    _mm_prefetch((const char *)(uintptr_t)((uintptr_t)p + SCAN_PF_BYTES), _MM_HINT_T0);
}

/* Dots of one row (p, rb bytes) with Q ≤ 4 queries (q + j·qlen) into d[j],
 * mod 2^32. flip: the row's bytes XOR 0x80 first (signed codes made
 * unsigned, c + 128; the caller subtracts 128·Σq). */
SCAN_INLINE void scan_row_q8(const uint8_t *p, size_t rb, const int8_t *q, size_t qlen, int Q,
                             int flip, int32_t *d)
{
    const __m512i f = _mm512_set1_epi8((char)0x80);
    __m512i acc[4], acc1 = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int j = 0; j < Q; j++)
        acc[j] = _mm512_setzero_si512();
    size_t o = 0;
    if (Q == 1) /* two chains: one vpdpbusd's latency per 128 bytes */
        for (; o + 128 <= rb; o += 128) {
            scan_prefetch(p + o);
            scan_prefetch(p + o + 64);
            __m512i c0 = _mm512_load_si512(p + o), c1 = _mm512_load_si512(p + o + 64);
            if (flip)
                c0 = _mm512_xor_si512(c0, f), c1 = _mm512_xor_si512(c1, f);
            acc[0] = _mm512_dpbusd_epi32(acc[0], c0, _mm512_loadu_si512(q + o));
            acc1 = _mm512_dpbusd_epi32(acc1, c1, _mm512_loadu_si512(q + o + 64));
        }
    for (; o < rb; o += 64) {
        scan_prefetch(p + o);
        __m512i c = _mm512_load_si512(p + o);
        if (flip)
            c = _mm512_xor_si512(c, f);
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++)
            acc[j] = _mm512_dpbusd_epi32(acc[j], c, _mm512_loadu_si512(q + (size_t)j * qlen + o));
    }
    if (Q == 1)
        acc[0] = _mm512_add_epi32(acc[0], acc1);
#pragma GCC unroll 4
    for (int j = 0; j < Q; j++)
        d[j] = scan_hsum(acc[j]);
}

SCAN_INLINE __m512i scan_bcast32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* acc[r] += Σ_{s<nslots} qt[s] · bcast(rows + r·stride + 4s), rsum[r] +=
 * per-lane partial sums of those row bytes (signed). nslots a multiple of 16. */
SCAN_INLINE void scan_wide_rows(__m512i *acc, __m512i *rsum, int R, const uint8_t *rows,
                                size_t stride, const uint8_t *qt, size_t nslots)
{
    const __m512i ones = _mm512_set1_epi8(1);
    for (size_t s = 0; s < nslots; s += 16) {
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            rsum[r] = _mm512_dpbusd_epi32(rsum[r], ones,
                                          _mm512_loadu_si512(rows + (size_t)r * stride + 4 * s));
#pragma GCC unroll 16
        for (size_t t = 0; t < 16; t++) {
            __m512i qv = _mm512_loadu_si512(qt + (s + t) * 64);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                acc[r] = _mm512_dpbusd_epi32(acc[r], qv,
                                             scan_bcast32(rows + (size_t)r * stride + 4 * (s + t)));
        }
    }
}

/* Stores the 16 (or fewer, mask m) dots of each of R rows. */
SCAN_INLINE void scan_wide_store(const __m512i *acc, const __m512i *rsum, int R, int32_t *out,
                                 size_t ldo, __mmask16 m)
{
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        int32_t sc = scan_hsum(rsum[r]);
        __m512i corr = _mm512_set1_epi32((int32_t)((uint32_t)sc << 7));
        _mm512_mask_storeu_epi32(out + (size_t)r * ldo, m, _mm512_sub_epi32(acc[r], corr));
    }
}

SCAN_INLINE __mmask16 scan_group_mask(int nq, int g)
{
    int cnt = nq - g * VK_SCAN_QGROUP;
    return cnt >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cnt) - 1);
}

/* Σ_i q[i] over qlen bytes (for the +128 correction of the narrow s8 path). */
SCAN_INLINE int32_t scan_qsum(const int8_t *q, size_t qlen)
{
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i s = _mm512_setzero_si512();
    for (size_t i = 0; i < qlen; i += 64)
        s = _mm512_dpbusd_epi32(s, ones, _mm512_loadu_si512(q + i));
    return scan_hsum(s);
}

#endif
