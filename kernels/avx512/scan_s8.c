/* AVX-512 VNNI int8 scan (kernels.h "Flat-index scans"; loops in scan_q8.h).
 * Narrow batches: 4 rows × up to 4 queries per pass, codes made unsigned by
 * XOR 0x80 (c + 128), so each dot is Σ(c+128)·q − 128·Σq. Wide batches (≥ 6
 * queries left in a group of 16, packed queries given): queries on lanes. */
#include "avx512.h"
#include "scan_q8.h"

#define NARROW_R 4
#define NARROW_R1 8 /* rows per tile for a single query: more loads in flight */
#define NARROW_Q 4
#define WIDE_MIN_Q 6

/* Rows [r, r+R) of a (rows and out based at 0) × queries [j0, j0+Q);
 * qcorr[j]: 128·Σq of query j0 + j. */
SCAN_INLINE void narrow_tile(const vk_scan_args *a, size_t r, int R, int j0, int Q,
                             const int32_t *qcorr)
{
    const int8_t *q = a->q;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i acc[NARROW_R1][NARROW_Q];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++)
            acc[i][j] = _mm512_setzero_si512();
    for (size_t o = 0; o < a->row_bytes; o += 64) {
        __m512i c[NARROW_R1];
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            const uint8_t *p = a->codes + (r + (size_t)i) * a->row_bytes + o;
            scan_prefetch(p);
            c[i] = _mm512_xor_si512(_mm512_load_si512(p), flip);
        }
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++) {
            __m512i qv = _mm512_loadu_si512(q + (size_t)(j0 + j) * a->qlen + o);
#pragma GCC unroll 8
            for (int i = 0; i < R; i++)
                acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], c[i], qv);
        }
    }
    int32_t *out = a->out;
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++)
            out[(r + (size_t)i) * a->ldo + (size_t)(j0 + j)] =
                (int32_t)((uint32_t)scan_hsum(acc[i][j]) - (uint32_t)qcorr[j]);
}

/* qcorr[j − j0]: 128·Σq of query j. */
static void narrow_rows(const vk_scan_args *a, size_t r0, size_t r1, int j0, int j1,
                        const int32_t *qcorr, int32_t *out_r0)
{
    vk_scan_args b = *a;
    b.out = out_r0; /* narrow_tile indexes out by (r − r0): rebase rows to 0 */
    b.codes = a->codes + r0 * a->row_bytes;
    size_t n = r1 - r0;
    for (int j = j0; j < j1; j += NARROW_Q) {
        int Q = j1 - j < NARROW_Q ? j1 - j : NARROW_Q;
        const int32_t *qc = qcorr + (j - j0);
        size_t r = 0;
        if (Q == 1)
            for (; r + NARROW_R1 <= n; r += NARROW_R1)
                narrow_tile(&b, r, NARROW_R1, j, 1, qc);
        for (; r + NARROW_R <= n; r += NARROW_R) {
            switch (Q) {
            case 1: narrow_tile(&b, r, NARROW_R, j, 1, qc); break;
            case 2: narrow_tile(&b, r, NARROW_R, j, 2, qc); break;
            case 3: narrow_tile(&b, r, NARROW_R, j, 3, qc); break;
            default: narrow_tile(&b, r, NARROW_R, j, 4, qc); break;
            }
        }
        for (; r < n; r++) {
            switch (Q) {
            case 1: narrow_tile(&b, r, 1, j, 1, qc); break;
            case 2: narrow_tile(&b, r, 1, j, 2, qc); break;
            case 3: narrow_tile(&b, r, 1, j, 3, qc); break;
            default: narrow_tile(&b, r, 1, j, 4, qc); break;
            }
        }
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
    int32_t qcorr[VK_SCAN_QGROUP];
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
        for (int j = j0; j < j1; j++)
            qcorr[j - j0] = (int32_t)((uint32_t)scan_qsum((const int8_t *)a->q + (size_t)j * a->qlen,
                                                  a->qlen)
                              << 7);
        narrow_rows(a, r0, r1, j0, j1, qcorr, out);
    }
}
