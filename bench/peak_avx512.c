/* Peak throughput probes: register-resident loops of 24 independent
 * vfmadd231ps / vpdpbusd chains (enough to cover latency × pipes on any
 * current core). Written in asm because gcc spills an array of 24 __m512
 * accumulators. Compiled with the AVX-512 flags; called only after the CPU
 * check. */
#include "bench.h"

#if defined(__x86_64__)

#define R8(op, a) op " %%zmm1, %%zmm0, %%zmm" #a "\n\t"
#define BODY(op)                                                                          \
    R8(op, 8) R8(op, 9) R8(op, 10) R8(op, 11) R8(op, 12) R8(op, 13) R8(op, 14) R8(op, 15)  \
    R8(op, 16) R8(op, 17) R8(op, 18) R8(op, 19) R8(op, 20) R8(op, 21) R8(op, 22)           \
    R8(op, 23) R8(op, 24) R8(op, 25) R8(op, 26) R8(op, 27) R8(op, 28) R8(op, 29)           \
    R8(op, 30) R8(op, 31)
#define ZERO(a) "vpxord %%zmm" #a ", %%zmm" #a ", %%zmm" #a "\n\t"
#define ZEROS                                                                              \
    ZERO(8) ZERO(9) ZERO(10) ZERO(11) ZERO(12) ZERO(13) ZERO(14) ZERO(15) ZERO(16) ZERO(17) \
    ZERO(18) ZERO(19) ZERO(20) ZERO(21) ZERO(22) ZERO(23) ZERO(24) ZERO(25) ZERO(26)        \
    ZERO(27) ZERO(28) ZERO(29) ZERO(30) ZERO(31)
#define CLOBBERS                                                                           \
    "zmm0", "zmm1", "zmm8", "zmm9", "zmm10", "zmm11", "zmm12", "zmm13", "zmm14", "zmm15",   \
    "zmm16", "zmm17", "zmm18", "zmm19", "zmm20", "zmm21", "zmm22", "zmm23", "zmm24",        \
    "zmm25", "zmm26", "zmm27", "zmm28", "zmm29", "zmm30", "zmm31", "cc"

#define CHAINS 24

double bench_peak_fma_f32(long iters)
{
    if (iters < 1)
        return 0;
    long n = iters;
    unsigned one = 0x3f800000u, half = 0x3f000000u; /* 1.0f, 0.5f */
    __asm__ volatile("vpbroadcastd %1, %%zmm0\n\t"
                     "vpbroadcastd %2, %%zmm1\n\t" ZEROS "1:\n\t" BODY("vfmadd231ps")
                     "dec %0\n\t"
                     "jnz 1b\n\t"
                     : "+r"(n)
                     : "r"(one), "r"(half)
                     : CLOBBERS);
    return (double)iters * CHAINS * 16 * 2;
}

double bench_peak_vnni_s8(long iters)
{
    if (iters < 1)
        return 0;
    long n = iters;
    unsigned a = 0x03030303u, b = 0xfefefefeu; /* u8 3, s8 -2 */
    __asm__ volatile("vpbroadcastd %1, %%zmm0\n\t"
                     "vpbroadcastd %2, %%zmm1\n\t" ZEROS "1:\n\t" BODY("vpdpbusd")
                     "dec %0\n\t"
                     "jnz 1b\n\t"
                     : "+r"(n)
                     : "r"(a), "r"(b)
                     : CLOBBERS);
    /* 16 lanes × 4 multiply-adds, 2 ops each */
    return (double)iters * CHAINS * 16 * 4 * 2;
}

/* vdpbf16ps: 16 lanes × 2 bf16 multiply-adds, 2 ops each. The assembler
 * takes the mnemonic whatever the compiler flags; only called when cpuid
 * reports AVX512_BF16. */
double bench_peak_dpbf16(long iters)
{
    if (iters < 1)
        return 0;
    long n = iters;
    unsigned a = 0x3f803f80u, b = 0x3f003f00u; /* bf16 pairs (1, 1), (0.5, 0.5) */
    __asm__ volatile("vpbroadcastd %1, %%zmm0\n\t"
                     "vpbroadcastd %2, %%zmm1\n\t" ZEROS "1:\n\t" BODY("vdpbf16ps")
                     "dec %0\n\t"
                     "jnz 1b\n\t"
                     : "+r"(n)
                     : "r"(a), "r"(b)
                     : CLOBBERS);
    return (double)iters * CHAINS * 16 * 2 * 2;
}

#else
/* Other architectures: no probe yet; peaks report as unknown (null). */
double bench_peak_fma_f32(long iters) { return 0 * (double)iters; }
double bench_peak_vnni_s8(long iters) { return 0 * (double)iters; }
double bench_peak_dpbf16(long iters) { return 0 * (double)iters; }
#endif
