#include "onednn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* From libgomp, which libdnnl (OpenMP build) already loads. */
void omp_set_num_threads(int n);

static dnnl_engine_t g_engine;
static dnnl_stream_t g_stream;

void dn_report(const char *what, dnnl_status_t st, const char *file, int line)
{
    fprintf(stderr, "vireo-bench: oneDNN: %s failed (status %d) at %s:%d\n", what, (int)st, file,
            line);
}

dnnl_engine_t dn_engine(void)
{
    if (!g_engine) {
        if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success ||
            dnnl_stream_create(&g_stream, g_engine, dnnl_stream_default_flags) != dnnl_success) {
            fprintf(stderr, "vireo-bench: cannot create the oneDNN CPU engine\n");
            exit(1);
        }
    }
    return g_engine;
}

dnnl_stream_t dn_stream(void)
{
    dn_engine();
    return g_stream;
}

void dn_threads(int n) { omp_set_num_threads(n); }

dnnl_memory_desc_t dn_md(int ndims, const dnnl_dim_t *dims, dnnl_data_type_t dt,
                         dnnl_format_tag_t tag)
{
    dnnl_memory_desc_t md;
    memset(&md, 0, sizeof md);
    if (dnnl_memory_desc_init_by_tag(&md, ndims, dims, dt, tag) != dnnl_success)
        memset(&md, 0, sizeof md);
    return md;
}

dnnl_memory_desc_t dn_md_strided(int ndims, const dnnl_dim_t *dims, dnnl_data_type_t dt,
                                 const dnnl_dim_t *strides)
{
    dnnl_memory_desc_t md;
    memset(&md, 0, sizeof md);
    if (dnnl_memory_desc_init_by_strides(&md, ndims, dims, dt, strides) != dnnl_success)
        memset(&md, 0, sizeof md);
    return md;
}

int dn_prim_create(dn_prim *p, const void *op_desc, const_dnnl_primitive_attr_t attr)
{
    memset(p, 0, sizeof *p);
    DN_TRY(dnnl_primitive_desc_create(&p->pd, op_desc, attr, dn_engine(), NULL));
    DN_TRY(dnnl_primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0, &p->impl));
    DN_TRY(dnnl_primitive_create(&p->prim, p->pd));
    return 0;
fail:
    dn_prim_destroy(p);
    return -1;
}

void dn_prim_destroy(dn_prim *p)
{
    if (p->prim)
        dnnl_primitive_destroy(p->prim);
    if (p->pd)
        dnnl_primitive_desc_destroy(p->pd);
    memset(p, 0, sizeof *p);
}

const dnnl_memory_desc_t *dn_prim_md(const dn_prim *p, dnnl_query_t what, int idx)
{
    return dnnl_primitive_desc_query_md(p->pd, what, idx);
}

dnnl_memory_t dn_mem(const dnnl_memory_desc_t *md, void *handle)
{
    dnnl_memory_t m = NULL;
    if (dnnl_memory_create(&m, md, dn_engine(), handle) != dnnl_success)
        return NULL;
    return m;
}

size_t dn_md_size(const dnnl_memory_desc_t *md) { return dnnl_memory_desc_get_size(md); }

int dn_reorder(const dnnl_memory_desc_t *src_md, void *src, const dnnl_memory_desc_t *dst_md,
               void *dst)
{
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t ms = NULL, md = NULL;
    int rc = -1;
    DN_TRY(dnnl_reorder_primitive_desc_create(&pd, src_md, dn_engine(), dst_md, dn_engine(),
                                              NULL));
    DN_TRY(dnnl_primitive_create(&prim, pd));
    ms = dn_mem(src_md, src);
    md = dn_mem(dst_md, dst);
    if (!ms || !md)
        goto fail;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, ms}, {DNNL_ARG_TO, md}};
    DN_TRY(dnnl_primitive_execute(prim, dn_stream(), 2, args));
    DN_TRY(dnnl_stream_wait(dn_stream()));
    rc = 0;
fail:
    if (ms)
        dnnl_memory_destroy(ms);
    if (md)
        dnnl_memory_destroy(md);
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return rc;
}

int dn_exec(const dn_prim *p, int nargs, const dnnl_exec_arg_t *args)
{
    DN_TRY(dnnl_primitive_execute(p->prim, dn_stream(), nargs, args));
    DN_TRY(dnnl_stream_wait(dn_stream()));
    return 0;
fail:
    return -1;
}

void dn_call_run(void *ctx, int iter)
{
    dn_call *c = ctx;
    int r = c->nrot > 1 ? iter % c->nrot : 0;
    for (int i = 0; i < c->nrot_args; i++)
        c->args[c->rot_slot[i]].memory = c->rot_mem[i][r];
    if (dnnl_primitive_execute(c->p->prim, dn_stream(), c->nargs, c->args) != dnnl_success)
        c->failed = 1;
    dnnl_stream_wait(dn_stream());
}
