/* Thin helpers over the oneDNN 2.6 C API for the baselines. */
#ifndef VIREO_BENCH_ONEDNN_H
#define VIREO_BENCH_ONEDNN_H

#include <oneapi/dnnl/dnnl.h>

/* Engine and stream of the process (CPU, created on first use). */
dnnl_engine_t dn_engine(void);
dnnl_stream_t dn_stream(void);

/* oneDNN sizes its parallel decomposition when a primitive is created, from
 * the OpenMP thread count in force: call before creating AND before running. */
void dn_threads(int n);

#define DN_TRY(call)                                                                 \
    do {                                                                             \
        dnnl_status_t st_ = (call);                                                  \
        if (st_ != dnnl_success) {                                                   \
            dn_report(#call, st_, __FILE__, __LINE__);                               \
            goto fail;                                                               \
        }                                                                            \
    } while (0)
void dn_report(const char *what, dnnl_status_t st, const char *file, int line);

/* md helpers */
dnnl_memory_desc_t dn_md(int ndims, const dnnl_dim_t *dims, dnnl_data_type_t dt,
                         dnnl_format_tag_t tag);
dnnl_memory_desc_t dn_md_strided(int ndims, const dnnl_dim_t *dims, dnnl_data_type_t dt,
                                 const dnnl_dim_t *strides);

/* A primitive with its descriptor; impl is oneDNN's implementation name. */
typedef struct dn_prim {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    const char *impl;
} dn_prim;

/* Creates pd + primitive from an op descriptor; attr may be NULL. 0 on success. */
int dn_prim_create(dn_prim *p, const void *op_desc, const_dnnl_primitive_attr_t attr);
void dn_prim_destroy(dn_prim *p);
const dnnl_memory_desc_t *dn_prim_md(const dn_prim *p, dnnl_query_t what, int idx);

/* Memory object over a caller buffer (never owned). NULL on failure. */
dnnl_memory_t dn_mem(const dnnl_memory_desc_t *md, void *handle);
size_t dn_md_size(const dnnl_memory_desc_t *md);

/* dst = src, converting layouts (outside any timed region). 0 on success. */
int dn_reorder(const dnnl_memory_desc_t *src_md, void *src, const dnnl_memory_desc_t *dst_md,
               void *dst);

/* Executes and waits. 0 on success. */
int dn_exec(const dn_prim *p, int nargs, const dnnl_exec_arg_t *args);

/* A timed call: one primitive, its arguments, and up to DN_ROT_MAX arguments
 * rotated over `nrot` pre-created memory objects (weights/outputs). */
#define DN_ROT_MAX 4
typedef struct dn_call {
    const dn_prim *p;
    int nargs;
    dnnl_exec_arg_t args[12];
    int nrot, nrot_args;
    int rot_slot[DN_ROT_MAX];            /* index into args */
    dnnl_memory_t *rot_mem[DN_ROT_MAX];  /* nrot memories each */
    int failed;
} dn_call;
void dn_call_run(void *ctx, int iter); /* a bench_fn */

#endif
