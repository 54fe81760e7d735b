#include "cpu.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static unsigned long long xgetbv0(void)
{
    unsigned eax, edx;
    /* Encoded by hand: older assemblers lack the mnemonic and -mxsave is not
     * wanted for a file that must run everywhere. */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static void detect_x86(vk_cpu *c)
{
    unsigned a, b, cx, d;
    if (!__get_cpuid(0, &a, &b, &cx, &d))
        return;
    unsigned max_leaf = a;
    memcpy(c->vendor + 0, &b, 4);
    memcpy(c->vendor + 4, &d, 4);
    memcpy(c->vendor + 8, &cx, 4);

    __get_cpuid(1, &a, &b, &cx, &d);
    bool osxsave = cx & (1u << 27);
    bool cpu_fma = cx & (1u << 12);
    bool cpu_avx = cx & (1u << 28);
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    bool os_ymm = (xcr0 & 0x6) == 0x6;
    /* opmask (5), ZMM_Hi256 (6), Hi16_ZMM (7) */
    c->os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;
    bool os_amx = (xcr0 & (3ull << 17)) == (3ull << 17); /* XTILECFG, XTILEDATA */

    c->fma = cpu_fma && cpu_avx && os_ymm;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, cx, d);
        c->avx2 = os_ymm && (b & (1u << 5));
        c->avx512f = c->os_zmm && (b & (1u << 16));
        c->avx512dq = c->os_zmm && (b & (1u << 17));
        c->avx512bw = c->os_zmm && (b & (1u << 30));
        c->avx512vl = c->os_zmm && (b & (1u << 31));
        c->avx512vnni = c->os_zmm && (cx & (1u << 11));
        c->avx512fp16 = c->os_zmm && (d & (1u << 23));
        c->amx_bf16 = os_amx && (d & (1u << 22));
        c->amx_tile = os_amx && (d & (1u << 24));
        c->amx_int8 = os_amx && (d & (1u << 25));
        unsigned max_sub = a;
        if (max_sub >= 1) {
            __cpuid_count(7, 1, a, b, cx, d);
            c->avx_vnni = os_ymm && (a & (1u << 4));
            c->avx512bf16 = c->os_zmm && (a & (1u << 5));
        }
    }
    if (c->amx_tile) {
        /* Linux refuses AMX state to a process that has not asked for it:
         * the first tile instruction would fault. */
        c->amx_permitted =
            syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
    }

    __get_cpuid(0x80000000, &a, &b, &cx, &d);
    if (a >= 0x80000004) {
        unsigned *p = (unsigned *)c->brand;
        for (unsigned leaf = 0; leaf < 3; leaf++)
            __get_cpuid(0x80000002 + leaf, &p[4 * leaf], &p[4 * leaf + 1],
                        &p[4 * leaf + 2], &p[4 * leaf + 3]);
        c->brand[48] = 0;
    }

    c->best = VK_ISA_REF;
    if (c->avx512f && c->avx512bw && c->avx512dq && c->avx512vl && c->avx512vnni && c->fma)
        c->best = VK_ISA_AVX512;
    if (c->best == VK_ISA_AVX512 && c->amx_tile && c->amx_int8 && c->amx_bf16 &&
        c->amx_permitted)
        c->best = VK_ISA_AMX;
}
#endif

#if defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1 << 14)
#endif
static void detect_arm(vk_cpu *c)
{
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    c->neon = true; /* mandatory on aarch64 */
    c->dotprod = hw & HWCAP_ASIMDDP;
    c->i8mm = hw2 & HWCAP2_I8MM;
    c->bf16 = hw2 & HWCAP2_BF16;
    strcpy(c->vendor, "arm");
    c->best = c->dotprod ? VK_ISA_NEON : VK_ISA_REF;
}
#endif

static vk_cpu g_cpu;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void detect(void)
{
#if defined(__x86_64__)
    detect_x86(&g_cpu);
#elif defined(__aarch64__)
    detect_arm(&g_cpu);
#else
    g_cpu.best = VK_ISA_REF;
#endif
}

const vk_cpu *vk_cpu_get(void)
{
    pthread_once(&g_once, detect);
    return &g_cpu;
}

static const char *const isa_names[VK_ISA_COUNT] = {"ref", "avx512", "amx", "neon"};

const char *vk_isa_name(vk_isa isa)
{
    return (unsigned)isa < VK_ISA_COUNT ? isa_names[isa] : "?";
}

int vk_isa_parse(const char *s)
{
    for (int i = 0; i < VK_ISA_COUNT; i++)
        if (s && strcmp(s, isa_names[i]) == 0)
            return i;
    return -1;
}

bool vk_isa_supported(vk_isa isa)
{
    const vk_cpu *c = vk_cpu_get();
    switch (isa) {
    case VK_ISA_REF: return true;
    case VK_ISA_AVX512: return c->best == VK_ISA_AVX512 || c->best == VK_ISA_AMX;
    case VK_ISA_AMX: return c->best == VK_ISA_AMX;
    case VK_ISA_NEON: return c->best == VK_ISA_NEON;
    default: return false;
    }
}
