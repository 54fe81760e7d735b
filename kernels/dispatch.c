/* The op table: filled once per level, from the lowest level up, each level
 * overriding the ops it implements. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

static vk_ops g_tables[VK_ISA_COUNT];
static int g_built[VK_ISA_COUNT];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const op_names[VK_OP_COUNT] = {
#define X(name, type) #name,
    VK_OPS(X)
#undef X
};

const char *vk_op_name(int op) { return (unsigned)op < VK_OP_COUNT ? op_names[op] : "?"; }

static void build(vk_ops *t, vk_isa level)
{
    memset(t, 0, sizeof *t);
    vk_register_ref(t);
#if defined(__x86_64__)
    if (level == VK_ISA_AVX512 || level == VK_ISA_AMX)
        vk_register_avx512(t);
    if (level == VK_ISA_AMX)
        vk_register_amx(t);
#elif defined(__aarch64__)
    if (level == VK_ISA_NEON)
        vk_register_neon(t);
#endif
    t->level = level;
}

const vk_ops *vk_ops_for(vk_isa level)
{
    if ((unsigned)level >= VK_ISA_COUNT || !vk_isa_supported(level))
        return NULL;
    pthread_mutex_lock(&g_lock);
    if (!g_built[level]) {
        build(&g_tables[level], level);
        g_built[level] = 1;
    }
    pthread_mutex_unlock(&g_lock);
    return &g_tables[level];
}

static const vk_ops *g_current;
static char g_err[256];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    const char *env = getenv("VIREO_ISA");
    vk_isa level = vk_cpu_get()->best;
    if (env && *env) {
        int want = vk_isa_parse(env);
        if (want < 0) {
            snprintf(g_err, sizeof g_err,
                     "VIREO_ISA=%s is not a level (ref, avx512, amx, neon)", env);
            return;
        }
        if (!vk_isa_supported((vk_isa)want)) {
            snprintf(g_err, sizeof g_err,
                     "VIREO_ISA=%s: this machine cannot run that level (best: %s)", env,
                     vk_isa_name(level));
            return;
        }
        level = (vk_isa)want;
    }
    g_current = vk_ops_for(level);
}

int vk_ops_init(char *err, size_t errlen)
{
    pthread_once(&g_once, init_once);
    if (!g_current && err && errlen)
        snprintf(err, errlen, "%s", g_err);
    return g_current ? 0 : -1;
}

const vk_ops *vk_ops_get(void)
{
    if (vk_ops_init(NULL, 0) != 0) {
        fprintf(stderr, "vireo: %s\n", g_err);
        abort();
    }
    return g_current;
}
