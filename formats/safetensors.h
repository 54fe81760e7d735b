/* safetensors reader (docs/FORMATS.md, "safetensors"): an 8-byte
 * little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value", ...}}
 * then the byte buffer the offsets are relative to.
 *
 * The file (or caller buffer) is hostile: st_open validates everything before
 * handing anything out: header length against the file and the 100 MB limit,
 * strict JSON (formats/json.h), every entry's fields and types, dtype known,
 * shape product x dtype size == end - begin without overflow, offsets inside
 * the byte buffer, tensors contiguous and non-overlapping and covering the
 * byte buffer exactly (no holes, nothing after the last tensor), names unique.
 *
 * Zero-copy: st_tensor.data points into the mapping (or the caller's buffer)
 * and is valid until st_close. It is NOT guaranteed to be aligned: writers pad
 * the header so the buffer starts at a multiple of 8, but the format does not
 * require it; check ((uintptr_t)data % st_dtype_size(dtype)) or memcpy.
 * Data is little-endian, row-major (C order), as the format defines.
 */
#ifndef VIREO_FORMATS_SAFETENSORS_H
#define VIREO_FORMATS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_HEADER 100000000u /* bytes of JSON, the reference implementation's limit */
#define ST_MAX_DIMS 64

/* The safetensors dtype names, in the format's order. */
typedef enum st_dtype {
    ST_BOOL,
    ST_U8,
    ST_I8,
    ST_F8_E5M2,
    ST_F8_E4M3,
    ST_I16,
    ST_U16,
    ST_F16,
    ST_BF16,
    ST_I32,
    ST_U32,
    ST_F32,
    ST_F64,
    ST_I64,
    ST_U64,
    ST_DTYPE_COUNT
} st_dtype;

typedef struct st_tensor {
    const char *name;     /* NUL-terminated, no embedded NUL */
    st_dtype dtype;
    int ndim;             /* 0: a scalar */
    const int64_t *shape; /* ndim entries, each >= 0 (0: an empty tensor) */
    uint64_t nelems;      /* product of shape (1 for a scalar) */
    const void *data;     /* size bytes; see the alignment note above */
    size_t size;          /* end - begin */
    uint64_t begin, end;  /* data_offsets, relative to the byte buffer */
} st_tensor;

typedef struct st_file st_file;

/* Maps and validates a file. On failure returns -1 with a message in err. */
int st_open(const char *path, st_file **out, char *err, size_t errlen);
/* Validates a buffer the caller keeps alive until st_close; data pointers
 * alias it. */
int st_open_mem(const void *buf, size_t len, st_file **out, char *err, size_t errlen);
void st_close(st_file *f); /* accepts NULL */

/* Tensors in header order. */
size_t st_tensor_count(const st_file *f);
const st_tensor *st_tensor_at(const st_file *f, size_t i);
const st_tensor *st_find(const st_file *f, const char *name); /* NULL if absent */

/* __metadata__ entries (string to string), in header order. */
size_t st_meta_count(const st_file *f);
const char *st_meta_key_at(const st_file *f, size_t i);
const char *st_meta_value_at(const st_file *f, size_t i);
const char *st_meta_get(const st_file *f, const char *key); /* NULL if absent */

uint64_t st_header_size(const st_file *f); /* N */
const void *st_buffer(const st_file *f, size_t *size); /* the byte buffer */

const char *st_dtype_name(st_dtype t); /* "F32", ...; "?" if out of range */
size_t st_dtype_size(st_dtype t);      /* bytes per element; 0 if out of range */
int st_dtype_parse(const char *name, st_dtype *out); /* 0, or -1 if unknown */

#endif
