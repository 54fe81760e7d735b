#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kernels/kernels.h"
#include "runtime/threadpool.h"

int cmd_cpu(int argc, char **argv)
{
    int json = argc > 1 && !strcmp(argv[1], "--json");
    const vk_cpu *c = vk_cpu_get();
    char err[256];
    if (vk_ops_init(err, sizeof err) != 0) {
        fprintf(stderr, "vireo: %s\n", err);
        return 1;
    }
    const vk_ops *ops = vk_ops_get();
    struct {
        const char *name;
        bool on;
    } feats[] = {
        {"avx2", c->avx2},           {"fma", c->fma},
        {"avx512f", c->avx512f},     {"avx512bw", c->avx512bw},
        {"avx512dq", c->avx512dq},   {"avx512vl", c->avx512vl},
        {"avx512vnni", c->avx512vnni}, {"avx512bf16", c->avx512bf16},
        {"avx512fp16", c->avx512fp16}, {"avx_vnni", c->avx_vnni},
        {"amx_tile", c->amx_tile},   {"amx_int8", c->amx_int8},
        {"amx_bf16", c->amx_bf16},   {"amx_permitted", c->amx_permitted},
        {"os_zmm", c->os_zmm},       {"neon", c->neon},
        {"dotprod", c->dotprod},     {"i8mm", c->i8mm},
    };
    size_t nf = sizeof feats / sizeof *feats;
    if (json) {
        printf("{\"vendor\":\"%s\",\"brand\":\"%s\",\"best\":\"%s\",\"level\":\"%s\",\"cpus\":%d,"
               "\"features\":{",
               c->vendor, c->brand, vk_isa_name(c->best), vk_isa_name(ops->level), vr_cpu_count());
        for (size_t i = 0; i < nf; i++)
            printf("%s\"%s\":%s", i ? "," : "", feats[i].name, feats[i].on ? "true" : "false");
        printf("},\"ops\":{");
        for (int i = 0; i < VK_OP_COUNT; i++)
            printf("%s\"%s\":{\"isa\":\"%s\",\"kernel\":\"%s\"}", i ? "," : "", vk_op_name(i),
                   vk_isa_name(ops->isa[i]), ops->impl[i] ? ops->impl[i] : "missing");
        printf("}}\n");
        return 0;
    }
    printf("cpu:      %s (%s), %d usable\n", c->brand[0] ? c->brand : "?", c->vendor,
           vr_cpu_count());
    printf("features:");
    for (size_t i = 0; i < nf; i++)
        if (feats[i].on)
            printf(" %s", feats[i].name);
    printf("\nbest:     %s\nlevel:    %s%s\n\n", vk_isa_name(c->best), vk_isa_name(ops->level),
           ops->level != c->best ? " (forced by VIREO_ISA)" : "");
    printf("%-15s %-8s %s\n", "op", "isa", "kernel");
    for (int i = 0; i < VK_OP_COUNT; i++)
        printf("%-15s %-8s %s\n", vk_op_name(i), vk_isa_name(ops->isa[i]),
               ops->impl[i] ? ops->impl[i] : "(missing)");
    return 0;
}
