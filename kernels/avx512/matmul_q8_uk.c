/* int8 matmul microkernels, AVX-512 VNNI (see matmul_q8.c for the whole).
 *
 * Per group of 4 k: one 64-byte load per B panel, one 4-byte broadcast per A
 * row (XOR 0x80 for s8 activations: vpdpbusd multiplies u8 by s8), one
 * vpdpbusd per accumulator. 12 rows × 32 columns = 24 accumulators, enough
 * independent chains to keep both VNNI pipes busy; tiles too small for that
 * split K across up to 4 accumulator sets (interleaved groups) instead.
 *
 * Half tiles (17-24 columns: MobileNet's 24-channel layers) would waste half
 * of their second vector; there two rows share it instead: 16 rows take 16
 * full vectors and 8 shared ones (24 accumulators, 18 vpdpbusd per 16×24
 * outputs instead of 24), the shared A operand being two broadcasts blended
 * and the B operand columns 16-23 repeated in both halves.
 */
#include <string.h>

#include "matmul_q8_uk.h"

#define AI static inline __attribute__((always_inline))
#define MRA 16 /* accumulator rows allocated */

/* Inline asm: GCC deletes loops whose only statements are __builtin_prefetch. */
static inline void prefetch(const int8_t *p) { __asm__ volatile("prefetcht0 %0" : : "m"(*p)); }
/* For the next tile's B: measured faster than t2 (and t1) both when B comes
 * from memory and when it is in L2 (less pollution of L1). */
static inline void prefetch_nta(const int8_t *p) { __asm__ volatile("prefetchnta %0" : : "m"(*p)); }

/* One group of 4 k for every row: rows at p[i / 3] + (i % 3)·lda + off (few
 * enough base registers that no address spills in the loop), nb bytes each
 * (4 but in the K tail, which must not read past the row). */
AI void kstep(const int MRr, const int NF, const int HF, const int SGN, __m512i acc[MRA][2],
              const uint8_t *const p[6], ptrdiff_t lda, const int8_t *b0, const int8_t *b1,
              int off, int nb)
{
    const __m512i b0v = _mm512_loadu_si512(b0);
    const __m512i b1v = NF > 1 || HF ? _mm512_loadu_si512(b1) : _mm512_setzero_si512();
    /* Columns 16-23 in both halves. */
    const __m512i bh = HF ? _mm512_shuffle_i64x2(b1v, b1v, 0x44) : b1v;
    __m512i prev = _mm512_setzero_si512();
#pragma GCC unroll 16
    for (int i = 0; i < MRr; i++) {
        int32_t x = 0;
        memcpy(&x, p[i / 3] + (i % 3) * lda + off, (size_t)nb);
        __m512i av = _mm512_set1_epi32(x);
        if (SGN)
            av = _mm512_xor_si512(av, _mm512_set1_epi32((int)0x80808080));
        acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], av, b0v);
        if (NF > 1)
            acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], av, b1v);
        if (HF && (i & 1))
            acc[i / 2][1] = _mm512_dpbusd_epi32(acc[i / 2][1], _mm512_mask_blend_epi32(0xff00, prev, av), bh);
        else if (HF && i == MRr - 1)
            acc[i / 2][1] = _mm512_dpbusd_epi32(acc[i / 2][1], av, bh);
        prev = av;
    }
}

AI void ukr(const int MRr, const int NF, const int HF, const int SGN, const uint8_t *a,
            ptrdiff_t lda, const int8_t *b, ptrdiff_t bs, int kg, int ktail, const vk_q8_ukr_io *io)
{
    const int NP = HF ? (MRr + 1) / 2 : 0; /* shared vectors */
    const int NACC = MRr * NF + NP;
    const int U = NACC >= 8 ? 1 : NACC >= 4 ? 2 : 4;
    /* B prefetch distance (bytes ahead in each panel): some 500 cycles of
     * this tile's K loop, for weights streamed from memory (the next panels:
     * io->pf). Small tiles leave their own panels to the hardware prefetcher:
     * their K loop is load-bound already. */
    const int PFD = MRr >= 8 ? 2048 : 0;
    const int32_t *rt = io->rterm;
    const __m512i ct0 = io->init[0], ct1 = NF > 1 || HF ? io->init[1] : _mm512_setzero_si512();
    __m512i acc[4][MRA][2];
#pragma GCC unroll 4
    for (int u = 0; u < U; u++) {
#pragma GCC unroll 16
        for (int i = 0; i < MRr; i++) {
            const __m512i r = _mm512_set1_epi32(rt && !u ? rt[i] : 0);
            acc[u][i][0] = u ? r : _mm512_add_epi32(ct0, r);
            if (NF > 1)
                acc[u][i][1] = u ? r : _mm512_add_epi32(ct1, r);
        }
#pragma GCC unroll 8
        for (int q = 0; q < NP; q++) {
            const int i1 = 2 * q + 1 < MRr ? 2 * q + 1 : 2 * q;
            const __m512i r = rt && !u ? _mm512_mask_blend_epi32(0xff00, _mm512_set1_epi32(rt[2 * q]),
                                                                 _mm512_set1_epi32(rt[i1]))
                                       : _mm512_setzero_si512();
            acc[u][q][1] = u ? r : _mm512_add_epi32(ct1, r);
        }
    }

    const uint8_t *p[6];
#pragma GCC unroll 6
    for (int q = 0; q < 6; q++)
        p[q] = 3 * q < MRr ? a + 3 * q * lda : a;
    const int8_t *b0 = b, *b1 = b + bs;
    const int8_t *pf = io->pf;
    int pfn = io->pfn;
    int g = 0;
    for (; g + U <= kg; g += U) {
#pragma GCC unroll 4
        for (int u = 0; u < U; u++) {
            if (pfn > 0) {
                prefetch_nta(pf);
                if (io->pf2)
                    prefetch_nta(pf + 64);
                pf += io->pf2 ? 128 : 64, pfn -= io->pf2 ? 2 : 1;
            }
            if (PFD && 64 * (g + u) + PFD < 64 * kg) { /* within the panel */
                prefetch(b0 + 64 * u + PFD);
                if (NF > 1 || HF)
                    prefetch(b1 + 64 * u + PFD);
            }
            kstep(MRr, NF, HF, SGN, acc[u], p, lda, b0 + 64 * u, b1 + 64 * u, 4 * u, 4);
        }
        b0 += 64 * U, b1 += 64 * U;
#pragma GCC unroll 6
        for (int q = 0; q < 6; q++)
            if (3 * q < MRr)
                p[q] += 4 * U;
    }
    /* Leftover full groups, then the partial group: only K % 4 bytes of each
     * A row remain, so they are copied rather than loaded as a dword (the
     * packed B is zero past K, whatever stands in the other bytes). */
    const int rest = kg - g + (ktail ? 1 : 0);
    for (int r = 0; r < rest; r++, g++) {
        kstep(MRr, NF, HF, SGN, acc[0], p, lda, b0, b1, 0, g < kg ? 4 : ktail);
        b0 += 64, b1 += 64;
#pragma GCC unroll 6
        for (int q = 0; q < 6; q++)
            if (3 * q < MRr)
                p[q] += 4;
    }

    /* Unmasked stores: with a masked store GCC keeps acc in memory and
     * spills every accumulator in the loop above. */
#pragma GCC unroll 16
    for (int i = 0; i < MRr; i++)
#pragma GCC unroll 2
        for (int j = 0; j < NF; j++) {
            __m512i s = acc[0][i][j];
#pragma GCC unroll 4
            for (int u = 1; u < U; u++)
                s = _mm512_add_epi32(s, acc[u][i][j]);
            _mm512_storeu_si512(io->c + i * io->ldc + 16 * j, s);
        }
#pragma GCC unroll 8
    for (int q = 0; q < NP; q++) {
        __m512i s = acc[0][q][1];
#pragma GCC unroll 4
        for (int u = 1; u < U; u++)
            s = _mm512_add_epi32(s, acc[u][q][1]);
        _mm512_storeu_si512(io->c2 + 16 * q, s);
    }
}

#define UKR_DEF(M_, NF_, HF_, S_)                                                             \
    static void ukr_##M_##_##NF_##_##HF_##_##S_(const uint8_t *a, ptrdiff_t lda,              \
                                                const int8_t *b, ptrdiff_t bs, int kg,        \
                                                int ktail, const vk_q8_ukr_io *io)            \
    {                                                                                         \
        ukr(M_, NF_, HF_, S_, a, lda, b, bs, kg, ktail, io);                                  \
    }
#define UKR_ROWS12(X, NF_, HF_, S_)                                                           \
    X(1, NF_, HF_, S_) X(2, NF_, HF_, S_) X(3, NF_, HF_, S_) X(4, NF_, HF_, S_)                \
    X(5, NF_, HF_, S_) X(6, NF_, HF_, S_) X(7, NF_, HF_, S_) X(8, NF_, HF_, S_)                \
    X(9, NF_, HF_, S_) X(10, NF_, HF_, S_) X(11, NF_, HF_, S_) X(12, NF_, HF_, S_)
#define UKR_ROWS16(X, NF_, HF_, S_)                                                           \
    UKR_ROWS12(X, NF_, HF_, S_)                                                               \
    X(13, NF_, HF_, S_) X(14, NF_, HF_, S_) X(15, NF_, HF_, S_) X(16, NF_, HF_, S_)
UKR_ROWS12(UKR_DEF, 1, 0, 0)
UKR_ROWS12(UKR_DEF, 2, 0, 0)
UKR_ROWS12(UKR_DEF, 1, 0, 1)
UKR_ROWS12(UKR_DEF, 2, 0, 1)
UKR_ROWS16(UKR_DEF, 1, 1, 0)
UKR_ROWS16(UKR_DEF, 1, 1, 1)
#define UKR_REF(M_, NF_, HF_, S_) ukr_##M_##_##NF_##_##HF_##_##S_,

const vk_q8_ukr_fn vk_q8_ukr[2][2][VK_Q8_MR] = {
    {{UKR_ROWS12(UKR_REF, 1, 0, 0)}, {UKR_ROWS12(UKR_REF, 2, 0, 0)}},
    {{UKR_ROWS12(UKR_REF, 1, 0, 1)}, {UKR_ROWS12(UKR_REF, 2, 0, 1)}},
};
const vk_q8_ukr_fn vk_q8_ukr_half[2][VK_Q8_MRH] = {
    {UKR_ROWS16(UKR_REF, 1, 1, 0)},
    {UKR_ROWS16(UKR_REF, 1, 1, 1)},
};
