#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "formats/weights.h"

static const char *const sec_names[] = {"?", "STRINGS", "KV", "TENSORS", "DATA", "GRAPH"};

static void print_kv(const vw_kv *kv)
{
    printf("  %-28s ", kv->key);
    switch (kv->type) {
    case VW_KV_U64: printf("%" PRIu64 "\n", kv->v.u); break;
    case VW_KV_I64: printf("%" PRId64 "\n", kv->v.i); break;
    case VW_KV_F64: printf("%g\n", kv->v.f); break;
    case VW_KV_STR:
        if (kv->n > 60 || strchr(kv->v.s, '\n'))
            printf("(%u bytes of text)\n", kv->n);
        else
            printf("\"%s\"\n", kv->v.s);
        break;
    case VW_KV_F32S:
    case VW_KV_I64S:
        printf("[");
        for (uint32_t i = 0; i < kv->n && i < 8; i++) {
            if (kv->type == VW_KV_F32S)
                printf("%s%g", i ? ", " : "", kv->v.f32s[i]);
            else
                printf("%s%" PRId64, i ? ", " : "", kv->v.i64s[i]);
        }
        printf("%s]\n", kv->n > 8 ? ", ..." : "");
        break;
    }
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    int verify = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--verify"))
            verify = 1;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "vireo info: unknown option %s\n", argv[i]);
            return 2;
        } else
            path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: vireo info MODEL.vwt [--verify]\n");
        return 2;
    }
    vw_file *f;
    char err[512];
    if (vw_open(path, &f, err, sizeof err) != 0) {
        fprintf(stderr, "vireo info: %s\n", err);
        return 1;
    }
    int major, minor;
    vw_version(f, &major, &minor);
    printf("%s: vireo weight file v%d.%d, %" PRIu64 " bytes, alignment %u\n", path, major, minor,
           vw_file_size(f), vw_alignment(f));
    printf("sections:\n");
    for (int i = 0; i < vw_section_count(f); i++) {
        vw_section_info s = vw_section_at(f, i);
        printf("  %-8s offset %-10" PRIu64 " size %-10" PRIu64 " crc32c %08x\n",
               s.type < 6 ? sec_names[s.type] : "unknown", s.offset, s.size, s.crc);
    }
    printf("metadata (%zu keys):\n", vw_kv_count(f));
    for (size_t i = 0; i < vw_kv_count(f); i++)
        print_kv(vw_kv_at(f, i));
    size_t total = 0, by_dtype[8] = {0}; /* bytes per vw_dtype: f32 / bf16 / s8 weights */
    printf("tensors (%zu):\n", vw_tensor_count(f));
    for (size_t i = 0; i < vw_tensor_count(f); i++) {
        const vw_tensor *t = vw_tensor_at(f, i);
        char shape[128] = "";
        size_t p = 0;
        for (int d = 0; d < t->ndim && p < sizeof shape; d++)
            p += (size_t)snprintf(shape + p, sizeof shape - p, "%s%" PRId64, d ? "x" : "",
                                  t->dims[d]);
        printf("  %-40s %-4s %-10s %-18s %10zu B", t->name, vw_dtype_name(t->dtype),
               vw_layout_name(t->layout), t->ndim ? shape : "scalar", t->size);
        if (t->qscheme == VW_Q_TENSOR)
            printf("  q: scale %g zero %d", t->qscale, t->qzero);
        else if (t->qscheme == VW_Q_CHANNEL)
            printf("  q: per-channel axis %d", t->qaxis);
        printf("\n");
        total += t->size;
        if ((unsigned)t->dtype < 8)
            by_dtype[t->dtype] += t->size;
    }
    printf("total tensor bytes: %zu (", total);
    for (int d = 0, first = 1; d < 8; d++)
        if (by_dtype[d]) {
            printf("%s%s %zu", first ? "" : ", ", vw_dtype_name((vw_dtype)d), by_dtype[d]);
            first = 0;
        }
    printf(")\n");
    int rc = 0;
    if (verify) {
        int recorded;
        if (vw_verify_data(f, &recorded, err, sizeof err) != 0) {
            fprintf(stderr, "vireo info: %s\n", err);
            rc = 1;
        } else {
            printf("data checksum: %s\n", recorded ? "ok" : "not recorded");
        }
    }
    vw_close(f);
    return rc;
}
