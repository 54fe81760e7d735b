/* CPU feature detection and ISA levels.
 *
 * A level is a set of features that a family of kernels may assume. Levels are
 * ordered per architecture: a machine that has a level has every lower one.
 * The kernels of a level live in kernels/<level>/ and are compiled with that
 * level's flags only (see CMakeLists.txt); nothing else is.
 */
#ifndef VIREO_KERNELS_CPU_H
#define VIREO_KERNELS_CPU_H

#include <stdbool.h>

typedef enum vk_isa {
    VK_ISA_REF = 0,    /* portable C, every machine */
    VK_ISA_AVX512 = 1, /* x86-64: AVX-512 F/BW/DQ/VL + VNNI, OS saves ZMM state */
    VK_ISA_AMX = 2,    /* x86-64: AVX512 level + AMX-TILE/INT8/BF16, permission granted */
    VK_ISA_NEON = 3,   /* aarch64: Advanced SIMD + dot product */
    VK_ISA_COUNT
} vk_isa;

typedef struct vk_cpu {
    /* x86 features, as cpuid reports them AND the OS enables them (XGETBV). */
    bool avx2, fma, avx512f, avx512bw, avx512dq, avx512vl, avx512vnni;
    bool avx512bf16, avx512fp16, avx_vnni;
    bool amx_tile, amx_int8, amx_bf16;
    bool amx_permitted; /* arch_prctl(ARCH_REQ_XCOMP_PERM) succeeded */
    bool os_zmm;        /* XCR0 has opmask, ZMM_Hi256 and Hi16_ZMM */
    /* aarch64 features */
    bool neon, dotprod, i8mm, bf16;
    char vendor[13];
    char brand[49];
    vk_isa best; /* the highest level this machine supports */
} vk_cpu;

/* Detected once per process; thread-safe. */
const vk_cpu *vk_cpu_get(void);

const char *vk_isa_name(vk_isa isa);
/* Parses "ref", "avx512", "amx", "neon". Returns -1 for anything else. */
int vk_isa_parse(const char *s);
/* True when the machine (and OS) can run kernels of this level. */
bool vk_isa_supported(vk_isa isa);

#endif
