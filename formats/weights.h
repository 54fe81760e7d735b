/* The vireo weight file (docs/WEIGHT_FORMAT.md): memory-mapped, validated,
 * zero-copy. Every pointer a reader hands out points into the mapping and is
 * valid until vw_close. */
#ifndef VIREO_FORMATS_WEIGHTS_H
#define VIREO_FORMATS_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#define VW_MAX_DIMS 6
#define VW_MAX_SECTIONS 16
#define VW_MAX_NAME 255

typedef enum vw_dtype {
    VW_F32 = 1,
    VW_F16 = 2,
    VW_BF16 = 3,
    VW_S8 = 4,
    VW_U8 = 5,
    VW_S32 = 6,
} vw_dtype;

typedef enum vw_layout {
    VW_PLAIN = 0,
    VW_F32_B16 = 1,   /* [K, N]  vk_pack_f32_b */
    VW_S8_B16X4 = 2,  /* [K, N]  vk_pack_s8_b */
    VW_CONV_F32 = 3,  /* [OC, KH, KW, C] vk_pack_conv_f32 */
    VW_CONV_S8 = 4,   /* [OC, KH, KW, C] vk_pack_conv_s8 */
    VW_DW_F32 = 5,    /* [KH, KW, C] vk_pack_dw_f32 */
    VW_DW_S8 = 6,     /* [KH, KW, C] vk_pack_dw_s8 */
    VW_BF16_B16X2 = 7, /* [K, N]  vk_pack_bf16_b */
    VW_CONV_BF16 = 8, /* [OC, KH, KW, C] vk_pack_conv_bf16 */
    VW_DW_BF16 = 9,   /* [KH, KW, C] vk_pack_dw_bf16 */
    VW_CONV_WINO_F32 = 10, /* [OC, 3, 3, C] vk_pack_wino_f32 (Winograd F(4,3)) */
    VW_LAYOUT_COUNT
} vw_layout;

typedef enum vw_qscheme { VW_Q_NONE = 0, VW_Q_TENSOR = 1, VW_Q_CHANNEL = 2 } vw_qscheme;

typedef struct vw_tensor {
    const char *name;
    vw_dtype dtype;
    vw_layout layout;
    int ndim;
    int64_t dims[VW_MAX_DIMS];
    const void *data;
    size_t size;
    uint64_t offset; /* within the DATA section */
    vw_qscheme qscheme;
    int qaxis;
    float qscale;
    int32_t qzero;
    const float *qscales;  /* per-channel: dims[qaxis] scales */
    const int32_t *qzeros; /* per-channel: dims[qaxis] zero points, or NULL (zeros) */
} vw_tensor;

typedef enum vw_kv_type {
    VW_KV_U64 = 1,
    VW_KV_I64 = 2,
    VW_KV_F64 = 3,
    VW_KV_STR = 4,
    VW_KV_F32S = 5,
    VW_KV_I64S = 6,
} vw_kv_type;

typedef struct vw_kv {
    const char *key;
    vw_kv_type type;
    uint32_t n; /* elements, for arrays */
    union {
        uint64_t u;
        int64_t i;
        double f;
        const char *s; /* NUL-terminated, length in n */
        const float *f32s;
        const int64_t *i64s;
    } v;
} vw_kv;

typedef struct vw_section_info {
    uint32_t type;
    uint64_t offset, size;
    uint32_t crc;
} vw_section_info;

typedef struct vw_file vw_file;

/* Maps and validates a file. On failure returns -1 with a message in err. */
int vw_open(const char *path, vw_file **out, char *err, size_t errlen);
/* Validates a buffer the caller keeps alive (tests, fuzzing). Data pointers
 * alias it. */
int vw_open_mem(const void *buf, size_t len, vw_file **out, char *err, size_t errlen);
void vw_close(vw_file *f); /* accepts NULL */
/* Checks the DATA section's CRC (reads every weight). 0 if it matches or none
 * was recorded (then *recorded = 0). */
int vw_verify_data(const vw_file *f, int *recorded, char *err, size_t errlen);

size_t vw_tensor_count(const vw_file *f);
const vw_tensor *vw_tensor_at(const vw_file *f, size_t i);
const vw_tensor *vw_find(const vw_file *f, const char *name);

size_t vw_kv_count(const vw_file *f);
const vw_kv *vw_kv_at(const vw_file *f, size_t i);
const vw_kv *vw_kv_find(const vw_file *f, const char *key);

void vw_version(const vw_file *f, int *major, int *minor);
uint32_t vw_alignment(const vw_file *f);
uint64_t vw_file_size(const vw_file *f);
int vw_section_count(const vw_file *f);
vw_section_info vw_section_at(const vw_file *f, int i);
const void *vw_graph(const vw_file *f, size_t *size); /* NULL if none */

const char *vw_dtype_name(vw_dtype t);
const char *vw_layout_name(vw_layout l);
size_t vw_dtype_size(vw_dtype t); /* 0 if unknown */
/* Bytes the layout implies for dtype and dims; 0 if the combination is
 * invalid or the size overflows. */
size_t vw_expected_size(vw_dtype t, vw_layout l, int ndim, const int64_t *dims);

/* ---------------------------------------------------------------- writer */
typedef struct vw_writer vw_writer;
vw_writer *vw_writer_new(void);
void vw_writer_free(vw_writer *w); /* accepts NULL */
/* Adds a tensor (data copied). Returns its index, or -1 (message via
 * vw_writer_error). For VW_Q_CHANNEL, q_scales / q_zeros are indices of
 * tensors added earlier (q_zeros -1: none). */
typedef struct vw_quant {
    vw_qscheme scheme;
    int axis;
    float scale;
    int32_t zero;
    int scales_tensor, zeros_tensor;
} vw_quant;
int vw_writer_add_tensor(vw_writer *w, const char *name, vw_dtype t, vw_layout l, int ndim,
                         const int64_t *dims, const void *data, size_t size, const vw_quant *q);
int vw_writer_kv_u64(vw_writer *w, const char *key, uint64_t v);
int vw_writer_kv_i64(vw_writer *w, const char *key, int64_t v);
int vw_writer_kv_f64(vw_writer *w, const char *key, double v);
int vw_writer_kv_str(vw_writer *w, const char *key, const char *v);
int vw_writer_kv_f32s(vw_writer *w, const char *key, const float *v, uint32_t n);
int vw_writer_kv_i64s(vw_writer *w, const char *key, const int64_t *v, uint32_t n);
int vw_writer_set_graph(vw_writer *w, const void *graph, size_t size);
/* Serialises to memory (caller frees *buf). */
int vw_writer_serialize(vw_writer *w, void **buf, size_t *len);
/* Writes crash-safely: a temp file beside path, fsync, rename over path,
 * fsync of the directory. An existing file at path is untouched on failure. */
int vw_writer_save(vw_writer *w, const char *path);
const char *vw_writer_error(const vw_writer *w);

#endif
