/* AVX-512 VNNI int8 scan, symmetric codes (kernels.h "Flat-index scans";
 * loops in scan_q8.h). Codes are made unsigned by XOR 0x80 (c + 128), so each
 * dot is Σ(c+128)·q − 128·Σq. Narrow batches: row by row × up to 4 queries.
 * Wide batches (≥ 6 queries left in a group of 16, packed queries given):
 * queries on lanes. */
#include "avx512.h"
#include "scan_q8.h"

#define NARROW_Q 4
#define WIDE_MIN_Q 6

/* Queries [j0, j0+Q) over rows [r0, r1); qcorr[j]: 128·Σq of query j0 + j. */
SCAN_INLINE void narrow_group(const vk_scan_args *a, size_t r0, size_t r1, int j0, int Q,
                              const int32_t *qcorr)
{
    const int8_t *q = (const int8_t *)a->q + (size_t)j0 * a->qlen;
    int32_t *out = a->out, d[NARROW_Q];
    for (size_t r = r0; r < r1; r++) {
        scan_row_q8(a->codes + r * a->row_bytes, a->row_bytes, q, a->qlen, Q, 1, d);
        int32_t *o = out + (r - r0) * a->ldo + j0;
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++)
            o[j] = (int32_t)((uint32_t)d[j] - (uint32_t)qcorr[j]);
    }
}

SCAN_INLINE void wide_tile(const vk_scan_args *a, size_t r, int R, int g, int32_t *out)
{
    __m512i acc[SCAN_WIDE_ROWS], rsum[SCAN_WIDE_ROWS];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
        acc[i] = rsum[i] = _mm512_setzero_si512();
    size_t nslots = a->row_bytes / 4;
    const uint8_t *qt = (const uint8_t *)a->qt + (size_t)g * nslots * 64;
    scan_wide_rows(acc, rsum, R, a->codes + r * a->row_bytes, a->row_bytes, qt, nslots);
    scan_wide_store(acc, rsum, R, out, a->ldo, scan_group_mask(a->nq, g));
}

void vk_scan_s8_avx512(const vk_scan_args *a, size_t r0, size_t r1)
{
    int32_t qcorr[NARROW_Q];
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
            int Q = j1 - j < NARROW_Q ? j1 - j : NARROW_Q;
            for (int t = 0; t < Q; t++)
                qcorr[t] = (int32_t)((uint32_t)scan_qsum((const int8_t *)a->q +
                                                             (size_t)(j + t) * a->qlen,
                                                         a->qlen)
                                     << 7);
            switch (Q) {
            case 1: narrow_group(a, r0, r1, j, 1, qcorr); break;
            case 2: narrow_group(a, r0, r1, j, 2, qcorr); break;
            case 3: narrow_group(a, r0, r1, j, 3, qcorr); break;
            default: narrow_group(a, r0, r1, j, 4, qcorr); break;
            }
        }
    }
}
